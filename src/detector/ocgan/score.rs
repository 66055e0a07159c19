//! The trained OCGAN model: scoring in eval mode and persistence.
//!
//! Score = mean over pixels and channels of (De(En(x)) - x)^2, the
//! reference's reconstruction score (TestNovelty.py, `output3`) with the sign
//! turned (higher = more anomalous), computed with BatchNorm's running
//! statistics and no dropout (eval mode) on a device without autodiff, in
//! batches of `score_batch_size` (which therefore cannot change a score).
//! The reference also adds its input noise to test images; here test images
//! are encoded as they are, so a score depends on its image only.
//!
//! On disk (a store object's folder): `ocgan-net.json` (the shapes, see
//! [`NetConfig`]) and `ocgan-autoencoder.bpk` (burn's burnpack record of the
//! encoder's and decoder's weights and BatchNorm statistics). The
//! discriminators and the classifier are not kept: scores do not use them.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::{AutoEncoder, NetConfig};
use crate::data::ImageSet;
use crate::detector::stored::{
    check_channels, load_module, read_net, save_module, score_in_batches, write_net,
};
use crate::detector::{DetectorError, Fitted, RunContext};
use crate::nn::batch::PreparedImages;

const NET_FILE: &str = "ocgan-net.json";
const WEIGHTS_FILE: &str = "ocgan-autoencoder.bpk";

/// A trained OCGAN auto-encoder, in eval mode.
pub struct OcGanModel {
    pub(super) net: NetConfig,
    pub(super) autoencoder: AutoEncoder,
    pub(super) device: Device,
    pub(super) score_batch_size: usize,
}

impl OcGanModel {
    /// Wraps a trained auto-encoder; it is switched to eval mode (no
    /// autodiff, running BatchNorm statistics).
    pub fn new(
        net: NetConfig,
        autoencoder: &AutoEncoder,
        device: Device,
        score_batch_size: usize,
    ) -> Self {
        OcGanModel {
            net,
            autoencoder: autoencoder.valid(),
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
        let net: NetConfig = read_net(dir, NET_FILE, "OCGAN")?;
        // Shapes only: every value is replaced by the record.
        let blank = net.autoencoder(&mut ChaCha8Rng::seed_from_u64(0), &device);
        let autoencoder = load_module(blank, dir, WEIGHTS_FILE, "the auto-encoder")?;
        Ok(OcGanModel::new(net, &autoencoder, device, score_batch_size))
    }

    fn score_batch(&self, images: &PreparedImages, idx: &[usize]) -> Vec<f32> {
        let x = images.batch(idx, &self.device);
        let z = self
            .autoencoder
            .encode(x.clone(), self.net.latent_activation);
        let x_hat = self.autoencoder.decode(z, None);
        let n = idx.len();
        let s = (x_hat - x)
            .square()
            .reshape([n as i32, -1])
            .mean_dim(1)
            .reshape([n])
            .into_data();
        s.as_slice::<f32>().map(|v| v.to_vec()).unwrap_or_default()
    }
}

impl Fitted for OcGanModel {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        check_channels("OCGAN", self.net.channels, images.channels)?;
        let prepared = PreparedImages::new(images, &self.net.preprocessing())?;
        score_in_batches(prepared.len(), self.score_batch_size, ctx, |idx| {
            Ok(self.score_batch(&prepared, idx))
        })
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        write_net(dir, NET_FILE, &self.net)?;
        save_module(&self.autoencoder, dir, WEIGHTS_FILE, "the auto-encoder")
    }
}
