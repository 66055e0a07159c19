//! OCGAN (Perera, Nallapati and Xiang, CVPR 2019), after the official code
//! PramuPerera/OCGAN (MXNet): a denoising auto-encoder whose latent space is
//! bounded and pushed towards U(-1, 1) by a latent discriminator, whose
//! decoder is pushed by a visual discriminator to make every code look like
//! a normal image, and whose decodings of hard ("informative negative")
//! codes, found by gradient steps against a classifier, are trained to look
//! normal too. An image's anomaly score is its reconstruction error.
//!
//! - [`model`]: the networks (5x5 stride-2 convolutions, as models.py).
//! - [`train`]: the training step and loop (andgan.py `trainadnov`).
//! - [`score`]: the trained model: eval-mode scoring, save and load.
//!
//! Deliberate differences from the reference code:
//! - The encoder ends in tanh, as the paper says; the code ends it in
//!   LeakyReLU(0.2) (`usetanh` is never set): `latent_activation: leaky_relu`.
//! - Images keep their channels (MNIST: one). The reference reads every image
//!   as colour (`mx.image.imread`), so MNIST enters as three equal channels
//!   and leaves as three channels.
//! - Training uses every normal training image, for the configured epochs
//!   (or `max_steps`); the model is the last one. The reference keeps 10% of
//!   the normal images aside as validation (load_image.py) and its
//!   testallclasses.py picks the checkpoint with the lowest validation MSE
//!   (normal images only, so legitimate, but not done here).
//! - Each epoch is one pass over the images. In andgan.py the iterator reset
//!   (and the checkpoint block) sit inside the batch loop, which restarts the
//!   pass after every batch.
//! - The visual discriminator and the classifier have `depth - 1` middle
//!   blocks (the reference fixes `n_layers = 2`, which fits only depth 3).
//! - Mining starts at a fraction of the steps (`mining_from`, 0.75 = the
//!   reference's `epoch > 150` of 200), so short runs mine too.
//! - Scores use no input noise (the reference adds it to test images too)
//!   and are not negated (higher = more anomalous).
//! - BCE is computed from logits (softplus forms), as gluon's
//!   `SigmoidBinaryCrossEntropyLoss` does; the latent discriminator's extra
//!   sigmoid is kept by default (`latent_discriminator_output`).
//! - Losses are means over the batch; gluon sums per-image losses and its
//!   `Trainer.step(batch_size)` divides by the batch size: the same updates.

pub mod model;
pub mod score;
pub mod train;

use std::path::Path;

use crate::data::ImageSet;
use crate::detector::{Detector, DetectorError, Fitted, MethodDetector, RunContext};
use crate::nn::batch::PreparedImages;
use crate::nn::device::burn_device;
use crate::spec::methods::OcGanParams;

pub use score::OcGanModel;

/// OCGAN with its (checked) parameters.
pub struct OcGan {
    pub params: OcGanParams,
}

impl OcGan {
    pub fn new(params: OcGanParams) -> OcGan {
        OcGan { params }
    }

    /// Trains and returns the concrete model.
    pub fn fit_model(
        &self,
        normal: &ImageSet,
        ctx: &RunContext,
    ) -> Result<OcGanModel, DetectorError> {
        let device = burn_device(ctx.device)?;
        let net = model::NetConfig::new(&self.params, normal.channels)?;
        let images = PreparedImages::new(normal, &net.preprocessing())?;
        let trainer = train::train(&images, net.clone(), &self.params, ctx, &device)?;
        Ok(OcGanModel::new(
            net,
            &trainer.autoencoder,
            device,
            self.params.score_batch_size,
        ))
    }
}

impl MethodDetector for OcGanParams {
    fn detector(&self) -> Box<dyn Detector> {
        Box::new(OcGan::new(self.clone()))
    }
}

impl Detector for OcGan {
    fn fit(&self, normal: &ImageSet, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        Ok(Box::new(self.fit_model(normal, ctx)?))
    }

    fn load(&self, dir: &Path, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        let device = burn_device(ctx.device)?;
        Ok(Box::new(OcGanModel::load(
            dir,
            device,
            self.params.score_batch_size,
        )?))
    }

    fn uses_device(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::nn::device::burn_device;
    use crate::data::{DataOptions, Split};
    use crate::detector::testutil::{
        Record, assert_diverges, assert_fit_cancels_and_needs_two_images,
        assert_resume_is_bit_identical, assert_save_load_round_trip, bars, ctx,
    };
    use crate::detector::{NoProgress, Phase};
    use crate::device::DeviceChoice;
    use crate::spec::{DatasetSpec, Limits, Protocol};

    /// Tiny networks for fast tests: depth 1 (13x13 input).
    fn tiny(steps: usize) -> OcGanParams {
        OcGanParams {
            depth: 1,
            latent: 4,
            generator_width: 4,
            discriminator_width: Some(4),
            classifier_width: Some(4),
            batch_size: 4,
            max_steps: Some(steps),
            score_batch_size: 5,
            ..OcGanParams::default()
        }
    }

    #[test]
    fn two_steps_give_finite_losses_and_one_score_per_image() {
        let cancel = AtomicBool::new(false);
        let rec = Record::default();
        let c = ctx(1, &cancel, &rec);
        let train_set = bars(12, 1, 16, false, 0);
        // Depth 2 (29x29, with dropout-free blocks) and mining in both steps.
        let p = OcGanParams {
            depth: 2,
            mining_from: 0.0,
            ..tiny(2)
        };
        let net = model::NetConfig::new(&p, 1).expect("shapes");
        let images = PreparedImages::new(&train_set, &net.preprocessing()).expect("prepared");
        let device = burn_device(DeviceChoice::Cpu).expect("cpu");
        let mut t = train::Trainer::new(net, &p, 1, &device);
        for idx in [[0, 1, 2, 3], [4, 5, 6, 7]] {
            let l = t.step(&images, &idx, true);
            for v in [
                l.visual,
                l.latent,
                l.classifier,
                l.generator,
                l.reconstruction,
            ] {
                assert!(v.is_finite() && v >= 0.0, "{l:?}");
            }
        }
        let model = OcGan::new(p).fit_model(&train_set, &c).expect("fit");
        let test = bars(7, 1, 16, true, 9);
        let s = model.score(&test, &c).expect("score");
        assert_eq!(s.len(), 7);
        assert!(s.iter().all(|v| v.is_finite() && *v >= 0.0));
        let phases = rec.phases();
        assert!(
            matches!(&phases[0], Phase::Training { epoch: 1, epochs: 1, info, .. } if info.contains("img/s")),
            "{phases:?}"
        );
        assert!(matches!(
            phases.last(),
            Some(Phase::Scoring { done: 7, total: 7 })
        ));
    }

    /// Mining moves the codes towards what the classifier calls fake. The
    /// classifier is barely trained here, so a large step makes the change
    /// visible (with the step negated this test fails).
    #[test]
    fn mining_lowers_the_classifier_loss_of_the_codes() {
        let train_set = bars(16, 1, 16, false, 0);
        let p = OcGanParams {
            mining_steps: 3,
            mining_step_size: 50.0,
            dropout: 0.0,
            ..tiny(20)
        };
        let net = model::NetConfig::new(&p, 1).expect("shapes");
        let images = PreparedImages::new(&train_set, &net.preprocessing()).expect("prepared");
        let device = burn_device(DeviceChoice::Cpu).expect("cpu");
        let mut t = train::Trainer::new(net.clone(), &p, 2, &device);
        for k in 0..20 {
            let idx: Vec<usize> = (4 * (k % 4)..4 * (k % 4) + 4).collect();
            t.step(&images, &idx, false);
        }
        let inner = t.inner_device();
        let mu = net.uniform_codes(64, &mut crate::nn::init::stream(9, 0), &inner);
        let before = t.classifier_loss_of_codes(mu.clone());
        let mined = t.mine(mu);
        let after = t.classifier_loss_of_codes(mined);
        assert!(after < before, "before {before}, after {after}");
    }

    #[test]
    fn mining_starts_at_the_configured_fraction() {
        let p = OcGanParams::default();
        // 200 epochs of 10 steps: epochs 151-200 mine (the reference's epoch > 150).
        assert_eq!(train::mining_start(&p, 2000), 1500);
        let never = OcGanParams {
            mining_from: 1.0,
            ..p.clone()
        };
        assert_eq!(train::mining_start(&never, 7), 7);
        let off = OcGanParams {
            mining_steps: 0,
            ..p
        };
        assert_eq!(train::mining_start(&off, 7), 7);
    }

    #[test]
    fn same_seed_gives_identical_scores_and_another_seed_does_not() {
        let cancel = AtomicBool::new(false);
        let train_set = bars(12, 1, 16, false, 0);
        let test = bars(6, 1, 16, true, 5);
        let run = |seed| {
            let c = ctx(seed, &cancel, &NoProgress);
            let p = OcGanParams {
                mining_from: 0.5,
                ..tiny(3)
            };
            let m = OcGan::new(p).fit_model(&train_set, &c).expect("fit");
            m.score(&test, &c).expect("score")
        };
        let a = run(4);
        assert_eq!(a, run(4));
        assert_ne!(a, run(5));
    }

    #[test]
    fn scores_do_not_depend_on_batching_or_order() {
        let cancel = AtomicBool::new(false);
        let c = ctx(2, &cancel, &NoProgress);
        let train_set = bars(8, 1, 16, false, 0);
        let mut model = OcGan::new(tiny(2)).fit_model(&train_set, &c).expect("fit");
        let test = bars(6, 1, 16, true, 5);
        let a = model.score(&test, &c).expect("score");
        model.score_batch_size = 1;
        let rev = test.subset(&[5, 4, 3, 2, 1, 0]);
        let mut b = model.score(&rev, &c).expect("score");
        b.reverse();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1e-3), "{a:?} vs {b:?}");
        }
    }

    /// Four epochs of two steps with mining in the second half, stopped
    /// after the first epoch.
    #[test]
    fn a_stopped_training_resumes_to_the_same_bits() {
        let p = OcGanParams {
            epochs: 4,
            max_steps: None,
            mining_from: 0.5,
            ..tiny(0)
        };
        assert_resume_is_bit_identical(
            &OcGan::new(p),
            &bars(8, 1, 16, false, 0),
            &bars(5, 1, 16, true, 1),
            1,
        );
    }

    #[cfg(feature = "vulkan")]
    #[test]
    fn two_steps_on_vulkan_and_save_load_across_devices() {
        crate::detector::testutil::assert_runs_on_vulkan(
            &OcGan::new(tiny(2)),
            &bars(8, 1, 16, false, 0),
            &bars(5, 1, 16, true, 1),
        );
    }

    #[test]
    fn save_and_load_give_identical_scores() {
        assert_save_load_round_trip(
            &OcGan::new(tiny(2)),
            &bars(8, 1, 16, false, 0),
            &bars(5, 1, 16, true, 1),
        );
    }

    #[test]
    fn cancel_stops_training() {
        assert_fit_cancels_and_needs_two_images(
            &OcGan::new(tiny(2)),
            &bars(8, 1, 16, false, 0),
            &bars(1, 1, 16, false, 0),
        );
    }

    #[test]
    fn a_huge_learning_rate_is_reported_as_divergence() {
        let p = OcGanParams {
            lr: 1e30,
            ..tiny(20)
        };
        assert_diverges(&OcGan::new(p), &bars(8, 1, 16, false, 0));
    }

    /// The embedded UCI digits under the one-class protocol (OCGAN's own):
    /// `normal` is the only normal digit.
    fn digits_one_class(normal: usize) -> Split {
        let located = crate::data::locate(&DatasetSpec::named("digits"), &DataOptions::default())
            .expect("the digits are embedded");
        let ds = crate::data::load(&located).expect("load");
        crate::data::split(&ds, Protocol::OneClass, normal, 0, Limits::default()).expect("split")
    }

    /// Digit 1 of the embedded digits as the normal class (8x8 upsampled to
    /// 13x13), the nine others anomalous: 150 steps (about half a second)
    /// give AUROC 0.996 (seed 0). Untrained (one step), the reconstruction
    /// error ranks the thin ones as the most normal images of all: AUROC 0.02.
    #[test]
    fn learns_digits_one_as_the_normal_class() {
        let cancel = AtomicBool::new(false);
        let c = ctx(0, &cancel, &NoProgress);
        let split = digits_one_class(1);
        let p = OcGanParams {
            depth: 1,
            latent: 8,
            generator_width: 16,
            discriminator_width: Some(8),
            classifier_width: Some(8),
            batch_size: 32,
            epochs: 100,
            max_steps: Some(150),
            lr: 1e-3,
            ..OcGanParams::default()
        };
        let model = OcGan::new(p).fit_model(&split.train, &c).expect("fit");
        let s = model.score(&split.test, &c).expect("score");
        let auc = crate::metrics::auroc(&split.test_is_anomaly, &s).expect("auroc");
        assert!(auc > 0.9, "AUROC {auc}");
    }
}
