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
use crate::detector::{DetectorError, Fitted, Phase, RunContext};
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
        let net_path = dir.join(NET_FILE);
        let text = std::fs::read_to_string(&net_path).map_err(|e| DetectorError::Model {
            path: net_path.display().to_string(),
            reason: format!(
                "cannot read it ({e}); the stored model is incomplete: run `runner cache verify`"
            ),
        })?;
        let net: NetConfig = serde_json::from_str(&text).map_err(|e| DetectorError::Model {
            path: net_path.display().to_string(),
            reason: format!("not a FenceGAN network description ({e})"),
        })?;
        // Shapes only: every value is replaced by the record.
        let blank = net.discriminator(&mut ChaCha8Rng::seed_from_u64(0), &device);
        let weights = dir.join(WEIGHTS_FILE);
        let discriminator = blank
            .try_load_file(&weights)
            .map_err(|e| DetectorError::Model {
                path: weights.display().to_string(),
                reason: format!("cannot load the discriminator's weights ({e})"),
            })?;
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
        if images.channels != self.net.channels {
            return Err(DetectorError::Other(format!(
                "the FenceGAN model was trained on {}-channel images but the test images have {} channels",
                self.net.channels, images.channels
            )));
        }
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
        let total = prepared.len();
        let all: Vec<usize> = (0..total).collect();
        let mut scores = Vec::with_capacity(total);
        for idx in all.chunks(self.score_batch_size.max(1)) {
            ctx.check_cancel()?;
            scores.extend(self.score_batch(&prepared, idx));
            ctx.progress.phase(Phase::Scoring {
                done: scores.len(),
                total,
            });
        }
        if scores.len() != total {
            return Err(DetectorError::Other(format!(
                "scoring gave {} scores for {total} images",
                scores.len()
            )));
        }
        Ok(scores)
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        let net_path = dir.join(NET_FILE);
        let text = serde_json::to_string_pretty(&self.net)
            .map_err(|e| DetectorError::Other(format!("cannot describe the network: {e}")))?;
        std::fs::write(&net_path, text).map_err(|e| DetectorError::Model {
            path: net_path.display().to_string(),
            reason: format!("cannot write it ({e})"),
        })?;
        let weights = dir.join(WEIGHTS_FILE);
        self.discriminator
            .clone()
            .save_file(&weights)
            .map_err(|e| DetectorError::Model {
                path: weights.display().to_string(),
                reason: format!("cannot write the discriminator's weights ({e})"),
            })
    }
}
