//! The trained FenceGAN model: scoring in eval mode and persistence.
//!
//! The reference scores with D(x), normal labelled 1. Here the score is
//! -logit(D(x)) = log((1 - D(x)) / D(x)): higher = more anomalous, ranked
//! exactly as 1 - D(x) (so the same AUROC), but without the ties a
//! saturated sigmoid gives in f32. Computed in eval mode (BatchNorm running
//! statistics, no dropout) on a device without autodiff, in batches of
//! `score_batch_size` (which therefore cannot change a score).
//!
//! On disk (a store object's folder): `fence_gan-net.json` (the shapes, see
//! [`NetConfig`]) and `fence_gan-discriminator.bpk` (burn's burnpack record
//! of D's weights and BatchNorm statistics). The generator is not kept:
//! scores do not use it.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::{Discriminator, NetConfig};
use crate::data::ImageSet;
use crate::detector::stored::{
    check_channels, load_module, read_net, save_module, score_in_batches, write_net,
};
use crate::detector::{DetectorError, Fitted, RunContext};
use crate::nn::batch::PreparedImages;

const NET_FILE: &str = "fence_gan-net.json";
const WEIGHTS_FILE: &str = "fence_gan-discriminator.bpk";

/// A trained FenceGAN discriminator, in eval mode.
pub struct FenceGanModel {
    pub(super) net: NetConfig,
    pub(super) discriminator: Discriminator,
    pub(super) device: Device,
    pub(super) score_batch_size: usize,
}

impl FenceGanModel {
    /// Wraps a trained discriminator, switched to eval mode.
    pub fn new(
        net: NetConfig,
        discriminator: &Discriminator,
        device: Device,
        score_batch_size: usize,
    ) -> Self {
        FenceGanModel {
            net,
            discriminator: discriminator.valid(),
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
        let net: NetConfig = read_net(dir, NET_FILE, "FenceGAN")?;
        // Shapes only: every value is replaced by the record.
        let blank = net.discriminator(&mut ChaCha8Rng::seed_from_u64(0), &device);
        let discriminator = load_module(blank, dir, WEIGHTS_FILE, "the discriminator")?;
        Ok(FenceGanModel::new(
            net,
            &discriminator,
            device,
            score_batch_size,
        ))
    }

    fn score_batch(&self, images: &PreparedImages, idx: &[usize]) -> Vec<f32> {
        let x = images.batch(idx, &self.device);
        let s = self.discriminator.forward(x, None).neg().into_data();
        s.as_slice::<f32>().map(|v| v.to_vec()).unwrap_or_default()
    }
}

impl Fitted for FenceGanModel {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        check_channels("FenceGAN", self.net.channels, images.channels)?;
        if self.net.resize.is_none()
            && (images.height != self.net.side || images.width != self.net.side)
        {
            return Err(DetectorError::Other(format!(
                "the FenceGAN model was trained on {s}x{s} images but the test images are {}x{}",
                images.height,
                images.width,
                s = self.net.side
            )));
        }
        let prepared = PreparedImages::new(images, &self.net.preprocessing())?;
        score_in_batches(prepared.len(), self.score_batch_size, ctx, |idx| {
            Ok(self.score_batch(&prepared, idx))
        })
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        write_net(dir, NET_FILE, &self.net)?;
        save_module(&self.discriminator, dir, WEIGHTS_FILE, "the discriminator")
    }
}
