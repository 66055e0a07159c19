//! GANomaly (Akcay, Atapour-Abarghouei and Breckon, ACCV 2018), after the
//! official code samet-akcay/ganomaly: an encoder-decoder-encoder generator
//! trained on normal images with a feature-matching discriminator; an image's
//! anomaly score is how far the re-encoded latent code is from the first one.
//!
//! - [`model`]: the networks (DCGAN blocks from `crate::nn::dcgan`).
//! - [`train`]: the training step (losses, Adam, D re-initialisation).
//! - here: the score, and what the harness (`detector::gan`) needs.
//!
//! Score = mean over the latent code of (G_E(x) - E(G_D(G_E(x))))^2, computed
//! with BatchNorm's running statistics (eval mode) on a device without
//! autodiff. The reference then min-max scales the scores over the test set;
//! that changes no ranking (and so no AUROC) and would make a score depend on
//! the other test images, so it is not done here. Stored: `ganomaly-net.json`
//! and `ganomaly-generator.bpk` (the discriminator is not kept: scores do not
//! use it).
//!
//! Its official settings and every deliberate difference from the reference
//! code: `docs/methods.md`, section GANomaly.

pub mod model;
pub mod train;

use burn::module::Module;
use burn::tensor::Device;
use rand_chacha::ChaCha8Rng;

use crate::data::ImageSet;
use crate::detector::gan::files::column;
use crate::detector::gan::{Batch, Columns, Gan, GanModel};
use crate::detector::DetectorError;
use crate::nn::dcgan::DcganNet;
use crate::spec::methods::GanomalyParams;

use model::Generator;
use train::Trainer;

impl Gan for GanomalyParams {
    const TITLE: &'static str = "GANomaly";
    type Net = DcganNet;
    type Trainer = Trainer;
    type Scorer = Generator;
    const SCORER_FILE: (&'static str, &'static str) = ("generator", "the generator");

    fn score_batch(model: &GanModel<Self>, batch: &Batch) -> Result<Columns, DetectorError> {
        let out = model.scorer.forward(batch.input(&model.device));
        let n = batch.idx.len();
        let diff = (out.latent - out.latent_hat).reshape([n, model.net.latent]);
        Ok(vec![column(diff.square().mean_dim(1).reshape([n]))?])
    }

    fn net(&self, normal: &ImageSet) -> Result<DcganNet, DetectorError> {
        Ok(DcganNet::new(model::shapes(self), normal.channels)?)
    }


    fn scorer(trainer: &Trainer) -> Generator {
        trainer.nets.generator.valid()
    }

    fn blank_scorer(net: &DcganNet, rng: &mut ChaCha8Rng, device: &Device) -> Generator {
        model::generator(net, rng, device)
    }


    fn score_batch_size(&self) -> usize {
        self.score_batch_size
    }

}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::detector::Fitted;
    use crate::detector::NoProgress;
    use crate::detector::gan::GanDetector;
    use crate::detector::gan::contract::{self, gan_contract_tests};
    use crate::detector::testutil::{bars, ctx, digits_with_anomaly};

    /// Tiny networks for fast tests.
    fn tiny(steps: usize) -> GanomalyParams {
        GanomalyParams {
            image_size: 16,
            latent: 8,
            generator_width: 4,
            discriminator_width: 4,
            batch_size: 4,
            max_steps: Some(steps),
            score_batch_size: 5,
            ..GanomalyParams::default()
        }
    }

    gan_contract_tests! {
        two_steps: tiny(2),
        resume: GanomalyParams { epochs: 3, max_steps: None, ..tiny(0) },
        stop_after: 1,
        diverging: GanomalyParams { lr: 1e30, ..tiny(20) },
        images: (1, 16),
    }

    /// Horizontal bars are normal, vertical bars anomalous: 200 steps (about
    /// a second) separate them (AUROC 1.0 for seeds 0 and 1; after only 60
    /// steps the order is still inverted, AUROC 0.05-0.15).
    #[test]
    fn learns_an_easy_case() {
        let cancel = AtomicBool::new(false);
        let c = ctx(0, &cancel, &NoProgress);
        let p = GanomalyParams {
            image_size: 16,
            latent: 16,
            generator_width: 8,
            discriminator_width: 8,
            batch_size: 16,
            epochs: 100,
            max_steps: Some(200),
            ..GanomalyParams::default()
        };
        let model = GanDetector(p)
            .fit_model(&bars(160, 1, 16, false, 0), &c)
            .expect("fit")
            .0;
        let normal = bars(40, 1, 16, false, 100);
        let anomal = bars(40, 1, 16, true, 200);
        let mut s = model.score(&normal, &c).expect("score");
        s.extend(model.score(&anomal, &c).expect("score"));
        let labels: Vec<u8> = (0..80).map(|i| u8::from(i >= 40)).collect();
        let auc = crate::metrics::auroc(&labels, &s).expect("auroc");
        assert!(auc > 0.8, "AUROC {auc}");
    }

    /// The embedded UCI digits (8x8, upsampled to 16), digit 0 as the anomaly.
    #[test]
    fn learns_digits_zero_as_anomaly() {
        let p = GanomalyParams {
            image_size: 16,
            latent: 32,
            generator_width: 16,
            discriminator_width: 16,
            max_steps: Some(300),
            ..GanomalyParams::default()
        };
        let auc = contract::auroc(&GanDetector(p), &digits_with_anomaly(0));
        assert!(auc > 0.6, "AUROC {auc}");
    }
}
