//! The contract every GAN keeps, as tests generated for each method by
//! [`gan_contract_tests!`] with its tiny parameters: a two-step smoke test
//! (finite losses, one finite score per image and column, progress),
//! stopping and too few images, save and load, determinism, independence
//! of the scoring batch and order, bit-identical resume, divergence, host
//! reads per training step and per scoring batch, and (with `--features
//! vulkan`) both devices: a model made on one scores the same on the other,
//! and training steps on Vulkan follow the CPU's.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::{Gan, GanDetector};
use crate::data::{ImageSet, Split};
use crate::detector::testutil::{PhaseLog, bars, ctx};
use crate::detector::{Detector, DetectorError, Fitted, NoProgress, Phase, Progress, RunContext};
#[cfg(feature = "vulkan")]
use crate::device::DeviceChoice;
use crate::nn::NnError;

/// Generates the contract tests of one GAN in a module `gan_contract`:
/// `two_steps` trains two steps, `resume` several epochs of a few steps
/// (stopped after epoch `stop_after`), `diverging` has a huge learning
/// rate; the images are [`Bars`] of `(channels, side)`.
macro_rules! gan_contract_tests {
    (
        two_steps: $two:expr,
        resume: $resume:expr,
        stop_after: $stop:expr,
        diverging: $diverging:expr,
        images: ($c:expr, $side:expr) $(,)?
    ) => {
        mod gan_contract {
            #[allow(unused_imports)]
            use super::*;
            use $crate::detector::gan::{GanDetector, contract};

            const IMAGES: contract::Bars = contract::Bars {
                channels: $c,
                side: $side,
            };

            #[test]
            fn two_steps_give_finite_losses_and_one_score_per_image() {
                contract::two_steps(&GanDetector($two), IMAGES);
            }

            #[test]
            fn cancel_stops_training_and_one_image_is_refused() {
                contract::cancel_and_too_few(&GanDetector($two), IMAGES);
            }

            #[test]
            fn save_and_load_give_identical_scores() {
                contract::save_load(&GanDetector($two), IMAGES);
            }

            #[test]
            fn same_seed_gives_identical_scores_and_another_seed_does_not() {
                contract::determinism(&GanDetector($two), IMAGES);
            }

            #[test]
            fn scores_do_not_depend_on_batching_or_order() {
                contract::batching(&GanDetector($two), IMAGES, |p| p.score_batch_size = 1);
            }

            #[test]
            fn a_stopped_training_resumes_to_the_same_bits() {
                contract::resume(&GanDetector($resume), IMAGES, $stop);
            }

            #[test]
            fn one_host_read_per_training_step_and_per_scoring_batch() {
                contract::host_reads(&GanDetector($two), IMAGES);
            }

            #[test]
            fn a_huge_learning_rate_is_reported_as_divergence() {
                contract::diverges(&GanDetector($diverging), IMAGES);
            }

            #[cfg(feature = "vulkan")]
            #[test]
            fn two_steps_on_vulkan_and_save_load_across_devices() {
                contract::runs_on_vulkan(&GanDetector($two), IMAGES);
            }

            #[cfg(feature = "vulkan")]
            #[test]
            fn training_steps_on_vulkan_follow_the_cpu() {
                contract::steps_follow_the_cpu(&GanDetector($two), IMAGES);
            }
        }
    };
}
pub(crate) use gan_contract_tests;

/// Noisy bar images of `channels` channels, `side` pixels square:
/// horizontal bars to train on, vertical ones to score.
#[derive(Clone, Copy, Debug)]
pub struct Bars {
    pub channels: usize,
    pub side: usize,
}

impl Bars {
    /// `n` normal images.
    pub fn train(self, n: usize) -> ImageSet {
        bars(n, self.channels, self.side, false, 0)
    }

    /// `n` anomalous images drawn with `seed`.
    pub fn test(self, n: usize, seed: u64) -> ImageSet {
        bars(n, self.channels, self.side, true, seed)
    }
}

/// A short training reports finite losses for every epoch; every score
/// column has one finite number per image, `score` is the shown column, and
/// scoring reports its progress.
pub fn two_steps<P: Gan>(det: &GanDetector<P>, images: Bars) {
    let (train, test) = (&images.train(12), &images.test(7, 9));
    let cancel = AtomicBool::new(false);
    let rec = PhaseLog::default();
    let c = ctx(1, &cancel, &rec);
    let (model, _) = det.fit_model(train, &c).expect("fit");
    let variants = model.score_variants(test, &c).expect("score");
    let names: Vec<&str> = variants.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, P::SCORES);
    for (name, s) in &variants {
        assert_eq!(s.len(), test.len(), "{name}");
        assert!(s.iter().all(|v| v.is_finite()), "{name}: {s:?}");
    }
    let shown = det.0.shown_score().unwrap_or(P::SCORES[0]);
    let at = P::SCORES.iter().position(|s| *s == shown).expect("shown");
    assert_eq!(model.score(test, &c).expect("score"), variants[at].1);
    let phases = rec.phases();
    assert!(
        matches!(&phases[0], Phase::Training { epoch: 1, info, .. } if info.contains("img/s")),
        "{phases:?}"
    );
    for p in &phases {
        if let Phase::Training { log: Some(log), .. } = p {
            assert!(!log.values.is_empty());
            assert!(log.values.iter().all(|(_, v)| v.is_finite()), "{log:?}");
        }
    }
    let n = test.len();
    assert!(
        matches!(phases.last(), Some(Phase::Scoring { done, total }) if *done == n && *total == n),
        "{phases:?}"
    );
}

/// The AUROC of each score column, by name, of a model trained on
/// `split.train` (seed 0) and scored on `split.test` (a learning test).
pub fn aurocs<P: Gan>(det: &GanDetector<P>, split: &Split) -> Vec<(String, f64)> {
    let cancel = AtomicBool::new(false);
    let c = ctx(0, &cancel, &NoProgress);
    let (model, _) = det.fit_model(&split.train, &c).expect("fit");
    let variants = model.score_variants(&split.test, &c).expect("score");
    variants
        .into_iter()
        .map(|(name, s)| {
            let auc = crate::metrics::auroc(&split.test_is_anomaly, &s).expect("auroc");
            (name, auc)
        })
        .collect()
}

/// The AUROC of the shown score (see [`aurocs`]).
pub fn auroc<P: Gan>(det: &GanDetector<P>, split: &Split) -> f64 {
    let shown = det.0.shown_score().unwrap_or(P::SCORES[0]);
    let all = aurocs(det, split);
    all.into_iter()
        .find(|(name, _)| name == shown)
        .map(|(_, a)| a)
        .expect("the shown score")
}

/// Same seed, same scores (every column); another seed, other scores.
pub fn determinism<P: Gan>(det: &GanDetector<P>, images: Bars) {
    let (train, test) = (&images.train(12), &images.test(6, 5));
    let cancel = AtomicBool::new(false);
    let run = |seed| {
        let c = ctx(seed, &cancel, &NoProgress);
        let (m, _) = det.fit_model(train, &c).expect("fit");
        m.score_variants(test, &c).expect("score")
    };
    let a = run(4);
    assert_eq!(a, run(4));
    assert_ne!(a, run(5));
}

/// Scoring one image at a time, in reverse order, gives every image its
/// score (to float rounding: other batch shapes sum in other orders).
pub fn batching<P: Gan>(det: &GanDetector<P>, images: Bars, one_at_a_time: impl FnOnce(&mut P)) {
    let (train, test) = (&images.train(8), &images.test(6, 5));
    let cancel = AtomicBool::new(false);
    let c = ctx(2, &cancel, &NoProgress);
    let (mut model, _) = det.fit_model(train, &c).expect("fit");
    let a = model.score_variants(test, &c).expect("score");
    one_at_a_time(&mut model.params);
    let order: Vec<usize> = (0..test.len()).rev().collect();
    let b = model
        .score_variants(&test.subset(&order), &c)
        .expect("score");
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let mut y = y.clone();
        y.reverse();
        for (p, q) in x.iter().zip(&y) {
            assert!(
                (p - q).abs() <= 1e-4 * p.abs().max(1e-3),
                "{name}: {x:?} vs {y:?}"
            );
        }
    }
}

/// The loaded model gives the saved model's scores exactly (every column),
/// and a missing folder is a `Model` error.
pub fn save_load<P: Gan>(det: &GanDetector<P>, images: Bars) {
    let (train, test) = (&images.train(8), &images.test(5, 1));
    let cancel = AtomicBool::new(false);
    let c = ctx(3, &cancel, &NoProgress);
    let model = det.fit(train, &c).expect("fit");
    let dir = tempfile::tempdir().expect("tempdir");
    model.save(dir.path()).expect("save");
    let back = det.load(dir.path(), &c).expect("load");
    assert_eq!(
        model.score_variants(test, &c).expect("a"),
        back.score_variants(test, &c).expect("b")
    );
    let missing = det.load(&dir.path().join("nope"), &c);
    assert!(matches!(missing, Err(DetectorError::Model { .. })));
}

/// A fit asked to stop returns `Cancelled`; one training image is refused.
pub fn cancel_and_too_few<P: Gan>(det: &GanDetector<P>, images: Bars) {
    let (train, one) = (&images.train(8), &images.train(1));
    let stop = AtomicBool::new(true);
    let r = det.fit(train, &ctx(0, &stop, &NoProgress));
    assert!(matches!(r, Err(DetectorError::Cancelled)));
    let go = AtomicBool::new(false);
    let r = det.fit(one, &ctx(0, &go, &NoProgress));
    assert!(matches!(r, Err(DetectorError::TooFewImages(1))));
}

/// A fit (with a huge learning rate) fails as `Diverged`, naming where.
pub fn diverges<P: Gan>(det: &GanDetector<P>, images: Bars) {
    let train = &images.train(8);
    let cancel = AtomicBool::new(false);
    match det.fit(train, &ctx(0, &cancel, &NoProgress)) {
        Err(DetectorError::Nn(NnError::Diverged { epoch, step, .. })) => {
            assert!(epoch >= 1 && step >= 1)
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the fit did not diverge"),
    }
}

/// Host reads (each a GPU sync, see `nn::host`) are pinned: a training step
/// reads nothing itself, early or late in the training (FenceGAN's
/// pre-training and adversarial epochs, OCGAN before and after mining
/// starts), so that a fit reads once per step (its losses, all at once)
/// plus what its epoch ends read (ALAD's held-out score, one read per
/// batch); scoring reads once per batch, whatever the number of score
/// columns (AnoGAN: none inside the latent search).
pub fn host_reads<P: Gan>(det: &GanDetector<P>, images: Bars) {
    use super::training::{self, Step, Training};
    use crate::nn::host::reads;
    let (train, test) = (&images.train(12), &images.test(7, 9));
    let device =
        crate::nn::burn_device::burn_device(crate::device::DeviceChoice::Cpu).expect("cpu");
    let net = det.0.net(train).expect("net");
    let (mut trainer, prepared) = det.0.trainer(&net, train, 3, &device).expect("trainer");
    let budget = trainer.budget();
    let idx: Vec<usize> = (0..budget.batch_size.min(prepared.len())).collect();
    let batches = vec![idx.as_slice(); P::Trainer::SHUFFLES];
    for (epoch, index, total) in [(0, 0, 100), (99, 99, 100)] {
        let step = Step {
            epoch,
            index,
            total,
            batches: &batches,
        };
        let before = reads();
        let losses = trainer.step(&prepared, &step);
        assert_eq!(reads() - before, 0, "host reads inside step {index}");
        assert_eq!(losses.len(), P::Trainer::LOSSES.len());
    }

    let cancel = AtomicBool::new(false);
    let c = ctx(1, &cancel, &NoProgress);
    let (mut trainer, prepared) = det.0.trainer(&net, train, 1, &device).expect("trainer");
    let before = reads();
    let epochs = training::train(&mut trainer, &prepared, &c).expect("train");
    let read = reads() - before;
    let budget = trainer.budget();
    let per_epoch = crate::nn::train::steps_per_epoch(prepared.len(), budget.batch_size);
    let steps = (budget.epochs * per_epoch).min(budget.max_steps.unwrap_or(usize::MAX));
    let before = reads();
    for epoch in 1..=epochs {
        trainer.epoch_end(epoch, steps).expect("epoch end");
    }
    let epoch_ends = reads() - before;
    assert_eq!(
        read,
        steps as u64 + epoch_ends,
        "host reads in a fit of {steps} steps and {epochs} epoch(s)"
    );

    let model = super::GanModel {
        params: det.0.clone(),
        net,
        scorer: P::scorer(&trainer),
        device,
    };
    let batch = det.0.score_batch_size();
    let before = reads();
    model.score_variants(test, &c).expect("score");
    assert_eq!(
        reads() - before,
        test.len().div_ceil(batch) as u64,
        "host reads in scoring {} images in batches of {batch}",
        test.len()
    );
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
pub fn resume<P: Gan>(det: &GanDetector<P>, images: Bars, stop_after: usize) {
    let (train, test) = (&images.train(12), &images.test(5, 1));
    use crate::detector::{CheckpointPlan, CheckpointPolicy};
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
pub fn runs_on_vulkan<P: Gan>(det: &GanDetector<P>, images: Bars) {
    let (train, test) = (&images.train(8), &images.test(5, 1));
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

/// Training on Vulkan computes what training on the CPU does (the check a
/// wrong kernel fails, forward or backward, fused or not): three steps on
/// each device from the same start give the same losses and move the
/// scoring networks' weights the same way, within `device_check`'s limits.
/// Measured on lavapipe: losses apart by at most 2e-7 (relative, limit
/// 1e-3) and moves by at most 2.2e-4 (limit 0.05) for the five GANs; with
/// burn's kernel fusion (Cargo feature `fusion`) ALAD's losses turn NaN at
/// the second step (a wrong gradient through spectral normalisation).
#[cfg(feature = "vulkan")]
pub fn steps_follow_the_cpu<P: Gan>(det: &GanDetector<P>, images: Bars) {
    let Some(vulkan) = crate::nn::vulkan::device_for_tests() else {
        return;
    };
    let c = super::device_check::compare_steps(&det.0, &images.train(12), vulkan, 3, 3)
        .expect("steps on both devices");
    eprintln!("{} on {vulkan}: {c:?}", P::TITLE);
    assert!(c.agrees(), "{} on {vulkan}: {c:?}", P::TITLE);
}
