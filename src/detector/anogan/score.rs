//! AnoGAN's score: the latent search.
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
//! Stored: `anogan-net.json`, `anogan-generator.bpk` and
//! `anogan-discriminator.bpk`.

use burn::tensor::Tensor;

use crate::detector::gan::GanModel;
use crate::detector::gan::files::column;
use crate::detector::{DetectorError, RunContext};
use crate::nn::NnError;
use crate::nn::batch::PreparedImages;
use crate::nn::init::stream;
use crate::nn::reduce::sum_all;
use crate::spec::methods::AnoGanParams;

use super::model::uniform_values;

/// A trained AnoGAN.
pub type Model = GanModel<AnoGanParams>;

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

/// The initial latent codes of the images `ids` (indices in the test set),
/// each from its own stream of `seed`: [n, latent, 1, 1].
fn initial_latents(model: &Model, ids: &[usize], seed: u64) -> Tensor<4> {
    let values: Vec<f32> = ids
        .iter()
        .flat_map(|&i| {
            uniform_values(model.net.latent, &mut stream(seed, LATENT_STREAM + i as u64))
        })
        .collect();
    Tensor::from_data(
        burn::tensor::TensorData::new(values, [ids.len(), model.net.latent, 1, 1]),
        &model.device,
    )
}

/// Per-image loss [n] of the codes `z` for the images `x` with features `fx`.
fn losses(model: &Model, x: &Tensor<4>, fx: &Tensor<4>, z: Tensor<4>) -> Tensor<1> {
    let n = x.dims()[0];
    let fake = model.scorer.generator.forward(z); // [n, c, s, s]
    let (ffake, _) = model.scorer.discriminator.forward(fake.clone()); // [n, 4w, 4, 4]
    let residual = (x.clone() - fake).abs().reshape([n as i32, -1]).sum_dim(1); // [n, 1]
    let discrimination = (fx.clone() - ffake)
        .abs()
        .reshape([n as i32, -1])
        .sum_dim(1);
    let l = model.params.lambda;
    (residual.mul_scalar(1.0 - l) + discrimination.mul_scalar(l)).reshape([n])
}

/// The latent search of the images `idx` of `images` (their indices also
/// choose their initial z): one loss per image. Checks `ctx` for a stop
/// request at every step.
pub fn search_batch(
model: &Model,
images: &PreparedImages,
idx: &[usize],
ctx: &RunContext,
) -> Result<Vec<f32>, DetectorError> {
let s = &LatentSearch::new(&model.params);
    let x = images.batch(idx, &model.device);
    let (fx, _) = model.scorer.discriminator.forward(x.clone());
    let mut z = initial_latents(model, idx, ctx.seed);
    let mut m = z.zeros_like();
    let mut v = z.zeros_like();
    for t in 1..s.steps {
        ctx.check_cancel()?;
        let leaf = z.clone().autodiff().require_grad();
        let grads = sum_all(losses(model, &x, &fx, leaf.clone())).backward();
        let g = leaf.grad(&grads).ok_or(DetectorError::NoGradient("the latent search's z"))?;
        (z, m, v) = s.adam_step(z, g, m, v, t);
    }
    let scores = column(losses(model, &x, &fx, z))?;
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
