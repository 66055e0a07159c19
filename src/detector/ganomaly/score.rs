//! The trained GANomaly model: scoring in eval mode and persistence.
//!
//! Score = mean over the latent code of (G_E(x) - E(G_D(G_E(x))))^2, computed
//! with BatchNorm's running statistics (eval mode) on a device without
//! autodiff, in batches of `score_batch_size` (which therefore cannot change
//! a score). The reference then min-max scales the scores over the test set;
//! that changes no ranking (and so no AUROC) and would make a score depend on
//! the other test images, so it is not done here.
//!
//! On disk (a store object's folder): `ganomaly-net.json` (the shapes, see
//! [`NetConfig`]) and `ganomaly-generator.bpk` (burn's burnpack record of the
//! generator's weights and BatchNorm statistics). The discriminator is not
//! kept: scores do not use it.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::{Generator, NetConfig};
use crate::data::ImageSet;
use crate::detector::stored::{
    check_channels, load_module, read_net, save_module, score_in_batches, write_net,
};
use crate::detector::{DetectorError, Fitted, RunContext};
use crate::nn::batch::PreparedImages;

const NET_FILE: &str = "ganomaly-net.json";
const WEIGHTS_FILE: &str = "ganomaly-generator.bpk";

/// A trained GANomaly generator, in eval mode.
pub struct GanomalyModel {
    pub(super) net: NetConfig,
    pub(super) generator: Generator,
    pub(super) device: Device,
    pub(super) score_batch_size: usize,
}

impl GanomalyModel {
    /// Wraps a trained generator; it is switched to eval mode (no autodiff,
    /// running BatchNorm statistics).
    pub fn new(
        net: NetConfig,
        generator: &Generator,
        device: Device,
        score_batch_size: usize,
    ) -> Self {
        GanomalyModel {
            net,
            generator: generator.valid(),
            device,
            score_batch_size,
        }
    }

    /// Reads a model that `save` wrote into `dir`.
    pub fn load(
        dir: &Path,
        device: Device,
        score_batch_size: usize,
    ) -> Result<Self, DetectorError> {
        let net: NetConfig = read_net(dir, NET_FILE, "GANomaly")?;
        // Shapes only: every value is replaced by the record.
        let blank = net.generator(&mut ChaCha8Rng::seed_from_u64(0), &device);
        let generator = load_module(blank, dir, WEIGHTS_FILE, "the generator")?;
        Ok(GanomalyModel::new(
            net,
            &generator,
            device,
            score_batch_size,
        ))
    }

    fn score_batch(&self, images: &PreparedImages, idx: &[usize]) -> Vec<f32> {
        let x = images.batch(idx, &self.device);
        let out = self.generator.forward(x);
        let n = idx.len();
        let diff = (out.latent - out.latent_hat).reshape([n, self.net.latent]);
        let s = diff.square().mean_dim(1).reshape([n]).into_data();
        s.as_slice::<f32>().map(|v| v.to_vec()).unwrap_or_default()
    }
}

impl Fitted for GanomalyModel {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        check_channels("GANomaly", self.net.channels, images.channels)?;
        let prepared = PreparedImages::new(images, &self.net.preprocessing())?;
        score_in_batches(prepared.len(), self.score_batch_size, ctx, |idx| {
            Ok(self.score_batch(&prepared, idx))
        })
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        write_net(dir, NET_FILE, &self.net)?;
        save_module(&self.generator, dir, WEIGHTS_FILE, "the generator")
    }
}
