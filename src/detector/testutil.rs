//! Fixtures the detectors' tests share: a CPU run context, a progress
//! recorder, synthetic bar images and the embedded digits split with one
//! digit as the anomaly (the GANs' contract tests are in `gan::contract`).

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Phase, Progress, RunContext};
use crate::data::{DataOptions, ImageSet, Split};
use crate::device::DeviceChoice;
use crate::spec::{DatasetSpec, Limits, Protocol};

/// A run on the CPU with `seed`.
pub fn ctx<'a>(seed: u64, cancel: &'a AtomicBool, progress: &'a dyn Progress) -> RunContext<'a> {
    RunContext {
        seed,
        device: DeviceChoice::Cpu,
        progress,
        cancel,
        checkpoint: None,
    }
}

/// Records every phase a job reports.
#[derive(Default)]
pub struct PhaseLog(Mutex<Vec<Phase>>);

impl PhaseLog {
    pub fn phases(&self) -> Vec<Phase> {
        self.0.lock().expect("lock").clone()
    }
}

impl Progress for PhaseLog {
    fn phase(&self, phase: Phase) {
        self.0.lock().expect("lock").push(phase);
    }
}

/// `n` noisy `side x side` images of `c` channels with a bright bar three
/// pixels wide, horizontal (normal, label 0) or vertical (label 1), at a
/// seeded position between 3/16 and 13/16 of the side.
pub fn bars(n: usize, c: usize, side: usize, vertical: bool, seed: u64) -> ImageSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(n * c * side * side);
    for _ in 0..n {
        let at = rng.random_range(side * 3 / 16..side * 13 / 16);
        for _ in 0..c {
            for y in 0..side {
                for x in 0..side {
                    let on = if vertical {
                        x.abs_diff(at) <= 1
                    } else {
                        y.abs_diff(at) <= 1
                    };
                    let base: u8 = if on { 220 } else { 20 };
                    pixels.push(base.saturating_add(rng.random_range(0..30u8)));
                }
            }
        }
    }
    ImageSet {
        channels: c,
        height: side,
        width: side,
        pixels,
        labels: vec![u16::from(vertical); n],
    }
}

/// The embedded UCI digits, digit `anomaly` as the anomaly and the other
/// nine normal (seed 0, no limits).
pub fn digits_with_anomaly(anomaly: usize) -> Split {
    let located = crate::data::locate(&DatasetSpec::named("digits"), &DataOptions::default())
        .expect("the digits are embedded");
    let ds = crate::data::load(&located).expect("load");
    crate::data::split(&ds, Protocol::AnomalyClass, anomaly, 0, Limits::default()).expect("split")
}
