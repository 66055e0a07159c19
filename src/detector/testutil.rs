//! Fixtures the detectors' tests share: a CPU run context, a progress
//! recorder, synthetic bar images, the embedded digits split with one digit
//! as the anomaly, and the checks of what every detector promises
//! (persistence, stopping, divergence).

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Detector, DetectorError, NoProgress, Phase, Progress, RunContext};
use crate::data::{DataOptions, ImageSet, Split};
use crate::device::DeviceChoice;
use crate::nn::NnError;
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
pub struct Record(Mutex<Vec<Phase>>);

impl Record {
    pub fn phases(&self) -> Vec<Phase> {
        self.0.lock().expect("lock").clone()
    }
}

impl Progress for Record {
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

/// What every detector promises about persistence: the loaded model gives
/// the saved model's scores exactly, and a missing folder is a `Model` error.
pub fn assert_save_load_round_trip(det: &dyn Detector, train: &ImageSet, test: &ImageSet) {
    let cancel = AtomicBool::new(false);
    let c = ctx(3, &cancel, &NoProgress);
    let model = det.fit(train, &c).expect("fit");
    let dir = tempfile::tempdir().expect("tempdir");
    model.save(dir.path()).expect("save");
    let back = det.load(dir.path(), &c).expect("load");
    assert_eq!(
        model.score(test, &c).expect("a"),
        back.score(test, &c).expect("b")
    );
    let missing = det.load(&dir.path().join("nope"), &c);
    assert!(matches!(missing, Err(DetectorError::Model { .. })));
}

/// A fit asked to stop returns `Cancelled`; one training image is refused.
pub fn assert_fit_cancels_and_needs_two_images(
    det: &dyn Detector,
    train: &ImageSet,
    one: &ImageSet,
) {
    let stop = AtomicBool::new(true);
    let r = det.fit(train, &ctx(0, &stop, &NoProgress));
    assert!(matches!(r, Err(DetectorError::Cancelled)));
    let go = AtomicBool::new(false);
    let r = det.fit(one, &ctx(0, &go, &NoProgress));
    assert!(matches!(r, Err(DetectorError::TooFewImages(1))));
}

/// A fit (with a huge learning rate) fails as `Diverged`, naming where.
pub fn assert_diverges(det: &dyn Detector, train: &ImageSet) {
    let cancel = AtomicBool::new(false);
    match det.fit(train, &ctx(0, &cancel, &NoProgress)) {
        Err(DetectorError::Nn(NnError::Diverged { epoch, step, .. })) => {
            assert!(epoch >= 1 && step >= 1)
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the fit did not diverge"),
    }
}

/// Asks to stop once training reports epoch `after` (as a kill would, but
/// at a known moment): the fit returns `Cancelled` at its next step.
struct StopAfterEpoch<'a> {
    after: usize,
    cancel: &'a AtomicBool,
    first_epoch: Mutex<Option<usize>>,
}

impl Progress for StopAfterEpoch<'_> {
    fn phase(&self, phase: Phase) {
        if let Phase::Training { epoch, .. } = phase {
            self.first_epoch.lock().expect("lock").get_or_insert(epoch);
            if epoch == self.after {
                self.cancel
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// What every GAN promises about checkpoints: a training stopped after
/// epoch `stop_after` (checkpoints after every epoch) and then run again
/// resumes at epoch `stop_after + 1` and ends with the scores of a training
/// never stopped, bit for bit; without checkpoints it starts over.
pub fn assert_resume_is_bit_identical(
    det: &dyn Detector,
    train: &ImageSet,
    test: &ImageSet,
    stop_after: usize,
) {
    use super::{CheckpointPlan, CheckpointPolicy};
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = CheckpointPlan {
        dir: dir.path().join("ckpt"),
        policy: CheckpointPolicy::every_epoch(),
        build: "test".into(),
    };
    let go = AtomicBool::new(false);
    let plain = ctx(7, &go, &NoProgress);
    let whole = det
        .fit(train, &plain)
        .expect("fit")
        .score(test, &plain)
        .expect("score");

    let stop = AtomicBool::new(false);
    let stopper = StopAfterEpoch {
        after: stop_after,
        cancel: &stop,
        first_epoch: Mutex::new(None),
    };
    let stopped = ctx(7, &stop, &stopper);
    let stopped = RunContext {
        checkpoint: Some(plan.clone()),
        ..stopped
    };
    let r = det.fit(train, &stopped);
    assert!(
        matches!(r, Err(DetectorError::Cancelled)),
        "the training did not stop after epoch {stop_after}: {:?}",
        r.err()
    );
    let saved: Vec<String> = std::fs::read_dir(&plan.dir)
        .expect("checkpoint folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(saved, vec![format!("epoch-{stop_after:06}")]);

    let again = AtomicBool::new(false);
    let watch = StopAfterEpoch {
        after: usize::MAX,
        cancel: &again,
        first_epoch: Mutex::new(None),
    };
    let resumed_ctx = RunContext {
        checkpoint: Some(plan.clone()),
        ..ctx(7, &again, &watch)
    };
    let resumed = det
        .fit(train, &resumed_ctx)
        .expect("resumed fit")
        .score(test, &resumed_ctx)
        .expect("score");
    assert_eq!(
        *watch.first_epoch.lock().expect("lock"),
        Some(stop_after + 1),
        "the second run did not resume after epoch {stop_after}"
    );
    let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&whole),
        bits(&resumed),
        "resumed scores differ from an uninterrupted training"
    );
}

/// What every neural detector promises on Vulkan (lavapipe under `.ci/run`;
/// skipped with a printed reason where no adapter is found, failed under
/// `RUNNER_REQUIRE_VULKAN=1`): a short fit on the Vulkan device gives one
/// finite score per test image, and a model saved on either device and
/// loaded on the other scores as it did where it was made. The two backends
/// round differently (other kernels, other summation orders), so the scores
/// agree within `1e-3` relative to the largest score, not bit for bit (the
/// differences are printed with `--nocapture`; same weights, one forward
/// pass: float32 rounding alone should stay orders of magnitude below).
#[cfg(feature = "vulkan")]
pub fn assert_runs_on_vulkan(det: &dyn Detector, train: &ImageSet, test: &ImageSet) {
    let Some(vulkan) = crate::nn::vulkan::device_for_tests() else {
        return;
    };
    let cancel = AtomicBool::new(false);
    let on = |device| RunContext {
        seed: 3,
        device,
        progress: &NoProgress,
        cancel: &cancel,
        checkpoint: None,
    };
    let (cpu, gpu) = (on(DeviceChoice::Cpu), on(vulkan));
    for (made, other) in [(&gpu, &cpu), (&cpu, &gpu)] {
        let model = det.fit(train, made).expect("fit");
        let here = model.score(test, made).expect("score where made");
        assert_eq!(here.len(), test.len());
        assert!(here.iter().all(|s| s.is_finite()), "{here:?}");
        let dir = tempfile::tempdir().expect("tempdir");
        model.save(dir.path()).expect("save");
        let back = det
            .load(dir.path(), other)
            .expect("load on the other device");
        let there = back.score(test, other).expect("score on the other device");
        let scale = here.iter().fold(1e-3f32, |m, s| m.max(s.abs()));
        let worst = here
            .iter()
            .zip(&there)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0.0f32, f32::max);
        eprintln!(
            "made on {}, loaded on {}: largest score difference {worst:.2e} of the largest score",
            made.device, other.device
        );
        assert!(
            worst <= 1e-3,
            "{here:?} on {} vs {there:?} on {}",
            made.device,
            other.device
        );
    }
}
