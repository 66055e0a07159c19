//! OCGAN (Perera, Nallapati and Xiang, CVPR 2019), after the official code
//! PramuPerera/OCGAN (MXNet): a denoising auto-encoder whose latent space is
//! bounded and pushed towards U(-1, 1) by a latent discriminator, whose
//! decoder is pushed by a visual discriminator to make every code look like
//! a normal image, and whose decodings of hard ("informative negative")
//! codes, found by gradient steps against a classifier, are trained to look
//! normal too. An image's anomaly score is its reconstruction error.
//!
//! - [`model`]: the networks (5x5 stride-2 convolutions, as models.py).
//! - [`train`]: the training step (andgan.py `trainadnov`).
//! - here: the score, and what the harness (`detector::gan`) needs.
//!
//! Score = mean over pixels and channels of (De(En(x)) - x)^2, the
//! reference's reconstruction score (TestNovelty.py, `output3`) with the sign
//! turned (higher = more anomalous), computed with BatchNorm's running
//! statistics and no dropout (eval mode) on a device without autodiff.
//! Stored: `ocgan-net.json` and `ocgan-autoencoder.bpk` (the discriminators
//! and the classifier are not kept: scores do not use them).
//!
//! Its official settings and every deliberate difference from the reference
//! code: `docs/methods.md`, section OCGAN.

pub mod model;
pub mod train;

use burn::module::Module;
use burn::tensor::Device;
use rand_chacha::ChaCha8Rng;

use crate::data::ImageSet;
use crate::detector::gan::files::column;
use crate::detector::gan::{Batch, Columns, Gan, GanModel, Net};
use crate::detector::DetectorError;
use crate::nn::batch::Preprocessing;
use crate::spec::methods::OcGanParams;

use model::{AutoEncoder, NetConfig};
use train::Trainer;

impl Net for NetConfig {
    fn preprocessing(&self) -> Preprocessing {
        NetConfig::preprocessing(self)
    }
}

impl Gan for OcGanParams {
    const TITLE: &'static str = "OCGAN";
    type Net = NetConfig;
    type Trainer = Trainer;
    type Scorer = AutoEncoder;
    const SCORER_FILE: (&'static str, &'static str) = ("autoencoder", "the auto-encoder");

    fn score_batch(model: &GanModel<Self>, batch: &Batch) -> Result<Columns, DetectorError> {
        let x = batch.input(&model.device);
        let ae = &model.scorer;
        let x_hat = ae.decode(ae.encode(x.clone(), model.net.latent_activation), None);
        let n = batch.idx.len();
        let s = (x_hat - x).square().reshape([n as i32, -1]).mean_dim(1);
        Ok(vec![column(s.reshape([n]))?])
    }

    fn net(&self, normal: &ImageSet) -> Result<NetConfig, DetectorError> {
        Ok(NetConfig::new(self, normal.channels)?)
    }


    fn scorer(trainer: &Trainer) -> AutoEncoder {
        trainer.autoencoder.valid()
    }

    fn blank_scorer(net: &NetConfig, rng: &mut ChaCha8Rng, device: &Device) -> AutoEncoder {
        net.autoencoder(rng, device)
    }


    fn score_batch_size(&self) -> usize {
        self.score_batch_size
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DataOptions, Split};
    use crate::detector::gan::{GanDetector, Start, Training};
    use crate::detector::gan::contract::{self, gan_contract_tests};
    use crate::detector::testutil::bars;
    use crate::device::DeviceChoice;
    use crate::nn::batch::PreparedImages;
    use crate::nn::burn_device::burn_device;
    use crate::spec::{DatasetSpec, Limits, Protocol};

    /// The mean classifier loss BCE(C(De(tanh mu)), 0) of codes `mu`
    /// (inner device), in training mode without dropout (as mining sees it).
    fn classifier_loss_of_codes(t: &Trainer, mu: burn::tensor::Tensor<2>) -> f32 {
        let ae = t.autoencoder.clone().no_grad();
        let fake = ae.decode(burn::tensor::activation::tanh(mu.autodiff()), None);
        let classifier = t.classifier.clone().no_grad();
        let loss = crate::nn::loss::bce_with_logits(classifier.forward(fake), false);
        loss.into_scalar::<f32>()
    }

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

    // Mining in the second half of the steps.
    gan_contract_tests! {
        two_steps: OcGanParams { mining_from: 0.5, ..tiny(2) },
        resume: OcGanParams { epochs: 4, max_steps: None, mining_from: 0.5, ..tiny(0) },
        stop_after: 1,
        diverging: OcGanParams { lr: 1e30, ..tiny(20) },
        images: (1, 16),
    }

    /// Depth 2 (29x29) and mining in every step: the contract's smoke test.
    #[test]
    fn a_deeper_network_mining_from_the_start_trains_and_scores() {
        let p = OcGanParams {
            depth: 2,
            mining_from: 0.0,
            ..tiny(2)
        };
        let images = contract::Bars {
            channels: 1,
            side: 16,
        };
        contract::two_steps(&GanDetector(p), images);
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
        let mut t = Trainer::new(&net, &p, Start::new(2, &device)).expect("trainer");
        for k in 0..20 {
            let idx: Vec<usize> = (4 * (k % 4)..4 * (k % 4) + 4).collect();
            t.update(&images, &idx, false);
        }
        let inner = t.inner_device();
        let mu = net.uniform_codes(64, &mut crate::nn::init::stream(9, 0), &inner);
        let before = classifier_loss_of_codes(&t, mu.clone());
        let mined = t.mine(mu);
        let after = classifier_loss_of_codes(&t, mined);
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
        let auc = contract::auroc(&GanDetector(p), &digits_one_class(1));
        assert!(auc > 0.9, "AUROC {auc}");
    }
}
