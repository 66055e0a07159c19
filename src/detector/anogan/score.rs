//! The trained AnoGAN model: scoring by latent search, save and load.
//!
//! Each test image x is mapped to the latent space by minimising, over z,
//! `(1 - lambda) * sum|x - G(z)| + lambda * sum|f(x) - f(G(z))|` (f: D's last
//! 4x4 feature map) with Adam, from z drawn from U(-1, 1). The score is that
//! loss after `latent_steps` evaluations (higher = more anomalous): as in the
//! reference, whose reported score is the loss computed in the same session
//! run as the last update (so before it), the last evaluation is not followed
//! by an update.
//!
//! Batched search: the loss of a batch is the sum of the images' losses, so
//! the gradient with respect to z_i comes from image i alone, and Adam is
//! elementwise (our own few lines on the z tensor, TensorFlow's formulation:
//! `lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)`, `z -= lr_t * m / (sqrt(v) +
//! 1e-8)`). A batch of n images therefore gives the n single-image searches
//! (up to float rounding). Each image's z is drawn from its own random stream
//! (the run's seed, the image's index in the test set), so a score does not
//! depend on the batch size or on the other images.
//!
//! The networks are in eval mode (BatchNorm running statistics) on a device
//! without autodiff; only z is made an autodiff leaf at each step, so the
//! weights are constants of the graph and get no gradients.
//!
//! On disk (a store object's folder): `anogan-net.json` (the shapes, see
//! [`NetConfig`]), `anogan-generator.bpk` and `anogan-discriminator.bpk`
//! (burn's burnpack records of the weights and BatchNorm statistics).

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::{Discriminator, Generator, NetConfig, uniform_values};
use crate::data::ImageSet;
use crate::detector::stored::{
    check_channels, load_module, read_net, save_module, score_in_batches, write_net,
};
use crate::detector::{DetectorError, Fitted, RunContext};
use crate::nn::NnError;
use crate::nn::batch::PreparedImages;
use crate::nn::init::stream;
use crate::nn::reduce::sum_all;
use crate::spec::methods::AnoGanParams;

const NET_FILE: &str = "anogan-net.json";
const GENERATOR_FILE: &str = "anogan-generator.bpk";
const DISCRIMINATOR_FILE: &str = "anogan-discriminator.bpk";

/// Random stream of test image i's initial z: `LATENT_STREAM + i` (training
/// uses streams 0..3).
const LATENT_STREAM: u64 = 1 << 32;
/// Adam's epsilon in the latent search (TensorFlow's default).
const ADAM_EPSILON: f64 = 1e-8;

/// The scoring parameters of the latent search.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentSearch {
    pub lambda: f64,
    pub steps: usize,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
}

impl LatentSearch {
    pub fn new(p: &AnoGanParams) -> LatentSearch {
        LatentSearch {
            lambda: p.lambda,
            steps: p.latent_steps,
            lr: p.latent_lr,
            beta1: p.latent_beta1,
            beta2: p.latent_beta2,
        }
    }
}

impl LatentSearch {
    /// Adam step `t` (from 1) on `z` with gradient `g` and moments `m`, `v`,
    /// elementwise (TensorFlow's form): the new `(z, m, v)`.
    pub fn adam_step<const D: usize>(
        &self,
        z: Tensor<D>,
        g: Tensor<D>,
        m: Tensor<D>,
        v: Tensor<D>,
        t: usize,
    ) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
        let m = m.mul_scalar(self.beta1) + g.clone().mul_scalar(1.0 - self.beta1);
        let v = v.mul_scalar(self.beta2) + g.square().mul_scalar(1.0 - self.beta2);
        let t = t as i32;
        let lr_t = self.lr * (1.0 - self.beta2.powi(t)).sqrt() / (1.0 - self.beta1.powi(t));
        let update = m.clone().div(v.clone().sqrt().add_scalar(ADAM_EPSILON));
        (z - update.mul_scalar(lr_t), m, v)
    }
}

/// A trained AnoGAN, in eval mode.
pub struct AnoGanModel {
    pub net: NetConfig,
    generator: Generator,
    discriminator: Discriminator,
    device: Device,
    pub search: LatentSearch,
    /// Images whose latent codes are searched at once.
    pub score_batch_size: usize,
}

impl AnoGanModel {
    /// Wraps trained networks; they are switched to eval mode (no autodiff,
    /// running BatchNorm statistics).
    pub fn new(
        net: NetConfig,
        generator: &Generator,
        discriminator: &Discriminator,
        device: Device,
        params: &AnoGanParams,
    ) -> Self {
        AnoGanModel {
            net,
            generator: generator.valid(),
            discriminator: discriminator.valid(),
            device,
            search: LatentSearch::new(params),
            score_batch_size: params.score_batch_size,
        }
    }

    /// Reads a model that `save` wrote into `dir`; `params` gives the
    /// scoring parameters.
    pub fn load(dir: &Path, device: Device, params: &AnoGanParams) -> Result<Self, DetectorError> {
        let net: NetConfig = read_net(dir, NET_FILE, "AnoGAN")?;
        // Shapes only: every value is replaced by the records.
        let mut blank = ChaCha8Rng::seed_from_u64(0);
        let generator = load_module(
            net.generator(&mut blank, &device),
            dir,
            GENERATOR_FILE,
            "the generator",
        )?;
        let discriminator = load_module(
            net.discriminator(&mut blank, &device),
            dir,
            DISCRIMINATOR_FILE,
            "the discriminator",
        )?;
        Ok(AnoGanModel::new(
            net,
            &generator,
            &discriminator,
            device,
            params,
        ))
    }

    /// The generator and the discriminator (eval mode).
    pub fn networks(&self) -> (&Generator, &Discriminator) {
        (&self.generator, &self.discriminator)
    }

    /// The initial latent codes of the images `ids` (indices in the test
    /// set), each from its own stream of `seed`: [n, latent, 1, 1].
    fn initial_latents(&self, ids: &[usize], seed: u64) -> Tensor<4> {
        let values: Vec<f32> = ids
            .iter()
            .flat_map(|&i| {
                uniform_values(self.net.latent, &mut stream(seed, LATENT_STREAM + i as u64))
            })
            .collect();
        Tensor::from_data(
            burn::tensor::TensorData::new(values, [ids.len(), self.net.latent, 1, 1]),
            &self.device,
        )
    }

    /// Per-image loss [n] of the codes `z` for the images `x` with features `fx`.
    fn losses(&self, x: &Tensor<4>, fx: &Tensor<4>, z: Tensor<4>) -> Tensor<1> {
        let n = x.dims()[0];
        let fake = self.generator.forward(z); // [n, c, s, s]
        let (ffake, _) = self.discriminator.forward(fake.clone()); // [n, 4w, 4, 4]
        let residual = (x.clone() - fake).abs().reshape([n as i32, -1]).sum_dim(1); // [n, 1]
        let discrimination = (fx.clone() - ffake)
            .abs()
            .reshape([n as i32, -1])
            .sum_dim(1);
        let l = self.search.lambda;
        (residual.mul_scalar(1.0 - l) + discrimination.mul_scalar(l)).reshape([n])
    }

    /// The latent search of the images `idx` of `images` (their indices also
    /// choose their initial z): one loss per image. Checks `ctx` for a stop
    /// request at every step.
    pub fn search_batch(
        &self,
        images: &PreparedImages,
        idx: &[usize],
        ctx: &RunContext,
    ) -> Result<Vec<f32>, DetectorError> {
        let s = &self.search;
        let x = images.batch(idx, &self.device);
        let (fx, _) = self.discriminator.forward(x.clone());
        let mut z = self.initial_latents(idx, ctx.seed);
        let mut m = z.zeros_like();
        let mut v = z.zeros_like();
        for t in 1..s.steps {
            ctx.check_cancel()?;
            let leaf = z.clone().autodiff().require_grad();
            let grads = sum_all(self.losses(&x, &fx, leaf.clone())).backward();
            let g = leaf.grad(&grads).ok_or_else(|| {
                DetectorError::Other("the latent search got no gradient for z".into())
            })?;
            (z, m, v) = s.adam_step(z, g, m, v, t);
        }
        let data = self.losses(&x, &fx, z).into_data();
        let scores = data
            .as_slice::<f32>()
            .map(|v| v.to_vec())
            .map_err(|e| DetectorError::Other(format!("cannot read the scores: {e:?}")))?;
        for (&score, &i) in scores.iter().zip(idx) {
            if !score.is_finite() {
                return Err(NnError::Diverged {
                    epoch: 0,
                    step: s.steps,
                    what: format!("the latent-search loss of test image {i}"),
                }
                .into());
            }
        }
        Ok(scores)
    }
}

impl Fitted for AnoGanModel {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        check_channels("AnoGAN", self.net.channels, images.channels)?;
        let prepared = PreparedImages::new(images, &self.net.preprocessing())?;
        score_in_batches(prepared.len(), self.score_batch_size, ctx, |idx| {
            self.search_batch(&prepared, idx, ctx)
        })
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        write_net(dir, NET_FILE, &self.net)?;
        save_module(&self.generator, dir, GENERATOR_FILE, "the generator")?;
        save_module(
            &self.discriminator,
            dir,
            DISCRIMINATOR_FILE,
            "the discriminator",
        )
    }
}
