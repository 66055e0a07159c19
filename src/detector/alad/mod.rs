//! ALAD, Adversarially Learned Anomaly Detection (Zenati, Romain, Foo,
//! Lecouat and Chandrasekhar, ICDM 2018), after the official code
//! houssamzenati/Adversarially-Learned-Anomaly-Detection (alad/run.py,
//! alad/cifar10_utilities.py, utils/sn.py), run as its README recommends
//! (`--sn --enable_early_stop --enable_dzz`): a BiGAN (encoder E, generator
//! G, joint discriminator D_xz) with two cycle-consistency discriminators,
//! D_xx on (x, x) against (x, G(E(x))) and D_zz on (z, z) against (z,
//! E(G(z))); an image is anomalous when D_xx tells it from its
//! reconstruction.
//!
//! - [`model`]: the networks (and the MNIST network, which the reference
//!   lacks), and the four scores from one pass ([`model::EvalNets`]).
//! - [`train`]: the losses, the alternating updates, the moving averages and
//!   early stopping.
//! - here: what the harness (`detector::gan`) needs.
//!
//! The scores of alad/run.py, with x_rec = G(E(x)) and f_xx D_xx's
//! features, per image:
//! - `features` = ||f_xx(x, x) - f_xx(x, x_rec)||_1 (`score_fm`, `--d 1`);
//! - `l1` = sum |x - x_rec|, `l2` = sqrt(sum (x - x_rec)^2);
//! - `logits` = BCE(D_xx(x, x_rec), 1) = softplus(-logit) (`score_ch`).
//!
//! All from the moving averages of E, G and D_xx in eval mode (BatchNorm
//! running statistics, no dropout, spectral normalisation from the stored
//! u), on a device without autodiff. Stored: `alad-net.json`,
//! `alad-encoder.bpk`, `alad-generator.bpk` and `alad-dxx.bpk`.
//!
//! Shared blocks: `nn::spectral_norm` (utils/sn.py) and `nn::ema` (TF's
//! ExponentialMovingAverage, 0.999, whose averages are what is scored and
//! saved).
//!
//! The MNIST network is the CIFAR-10 one with one channel (see [`model`]):
//! images resized 28 -> 32 (bilinear) and scaled to [-1, 1].
//!
//! Its official settings, every deliberate difference from the reference
//! code, and what the study's 0.491 on MNIST shows (measured with
//! `examples/alad_explore.rs`): `docs/methods.md`, section ALAD.

pub mod model;
pub mod train;

#[cfg(test)]
mod tests;

use burn::tensor::Device;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::ImageSet;
use crate::detector::gan::{Batch, Columns, Gan, GanModel, ModelFiles, Net, Start, Training};
use crate::detector::DetectorError;
use crate::nn::batch::{PreparedImages, Preprocessing};
use crate::nn::init::stream;
use crate::spec::methods::AladParams;

use model::{EvalNets, NetConfig};
use train::Trainer;

/// The indices of the training and (with early stopping) validation
/// images: a seeded `validation_fraction` of the normal images held out.
pub fn split(params: &AladParams, n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    if !params.early_stop {
        return (order, Vec::new());
    }
    let held = (n as f64 * params.validation_fraction).floor() as usize;
    if held == 0 || n - held < 2 {
        return (order, Vec::new());
    }
    order.shuffle(&mut stream(seed, train::STREAM_VALIDATION));
    let valid = order.split_off(n - held);
    (order, valid)
}

impl Net for NetConfig {
    fn preprocessing(&self) -> Preprocessing {
        NetConfig::preprocessing(self)
    }
}

impl Gan for AladParams {
    const TITLE: &'static str = "ALAD";
    /// As `AladScore::ALL` names them.
    const SCORES: &'static [&'static str] = &["features", "l1", "l2", "logits"];
    type Net = NetConfig;
    type Trainer = Trainer;
    type Scorer = EvalNets;

    fn score_batch(model: &GanModel<Self>, batch: &Batch) -> Result<Columns, DetectorError> {
        model.scorer.variants(batch.input(&model.device))
    }

    fn net(&self, normal: &ImageSet) -> Result<NetConfig, DetectorError> {
        Ok(NetConfig::new(self, normal.channels)?)
    }


    /// Holds out the validation images of early stopping.
    fn trainer(
        &self,
        net: &NetConfig,
        normal: &ImageSet,
        seed: u64,
        device: &Device,
    ) -> Result<(Trainer, PreparedImages), DetectorError> {
        let (train_idx, valid_idx) = split(self, normal.len(), seed);
        let prep = net.preprocessing();
        let images = PreparedImages::new(&normal.subset(&train_idx), &prep)?;
        let validation = if valid_idx.is_empty() {
            None
        } else {
            Some(PreparedImages::new(&normal.subset(&valid_idx), &prep)?)
        };
        let trainer = Trainer::new(net, self, Start::new(seed, device))?.hold_out(validation);
        Ok((trainer, images))
    }

    /// The moving averages.
    fn scorer(trainer: &Trainer) -> EvalNets {
        trainer.eval_nets()
    }

    fn blank_scorer(net: &NetConfig, rng: &mut ChaCha8Rng, device: &Device) -> EvalNets {
        EvalNets {
            encoder: net.encoder(rng, device),
            generator: net.generator(rng, device),
            dxx: net.dxx(rng, device),
        }
    }

    fn scorer_files(nets: &mut EvalNets, files: &mut ModelFiles) -> Result<(), DetectorError> {
        files.module("encoder", "the encoder", &mut nets.encoder)?;
        files.module("generator", "the generator", &mut nets.generator)?;
        files.module("dxx", "D_xx", &mut nets.dxx)
    }

    fn score_batch_size(&self) -> usize {
        self.score_batch_size
    }

}
