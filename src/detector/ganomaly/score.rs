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
use crate::detector::{DetectorError, Fitted, Phase, RunContext};
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
        let net_path = dir.join(NET_FILE);
        let text = std::fs::read_to_string(&net_path).map_err(|e| DetectorError::Model {
            path: net_path.display().to_string(),
            reason: format!(
                "cannot read it ({e}); the stored model is incomplete: run `runner cache verify`"
            ),
        })?;
        let net: NetConfig = serde_json::from_str(&text).map_err(|e| DetectorError::Model {
            path: net_path.display().to_string(),
            reason: format!("not a GANomaly network description ({e})"),
        })?;
        // Shapes only: every value is replaced by the record.
        let blank = net.generator(&mut ChaCha8Rng::seed_from_u64(0), &device);
        let weights = dir.join(WEIGHTS_FILE);
        let generator = blank
            .try_load_file(&weights)
            .map_err(|e| DetectorError::Model {
                path: weights.display().to_string(),
                reason: format!("cannot load the generator's weights ({e})"),
            })?;
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
        if images.channels != self.net.channels {
            return Err(DetectorError::Other(format!(
                "the GANomaly model was trained on {}-channel images but the test images have {} channels",
                self.net.channels, images.channels
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
        self.generator
            .clone()
            .save_file(&weights)
            .map_err(|e| DetectorError::Model {
                path: weights.display().to_string(),
                reason: format!("cannot write the generator's weights ({e})"),
            })
    }
}
