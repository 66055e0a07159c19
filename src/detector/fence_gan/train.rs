//! FenceGAN training (fgan_train.py of the reference): `pretrain` epochs of
//! discriminator-only updates, then `epochs` of adversarial training. Every
//! step, with b the batch size:
//!
//! 1. D update on b real images: BCE(D(x), 1) (+ L2 on its kernels);
//! 2. D update on b generated images G(z) from the generator in inference
//!    mode (Keras `G.predict`: BatchNorm running statistics): gamma * BCE(D(G(z)), 0);
//! 3. (adversarial epochs only) G update on fresh noise, D frozen:
//!    encirclement(D(G(z)), alpha) + beta / mean_i ||G(z_i) - mean_j G(z_j)||_2.
//!
//! D's loss BCE(real, 1) + gamma * BCE(G(z), 0) is thus minimised in two
//! Adam updates per step, as the reference's two `train_on_batch` calls do
//! (so its BatchNorm sees real-only and generated-only batches); D's
//! learning rate decays as Keras's `decay`: d_lr / (1 + decay * updates).
//! Adam: beta1 0.5, beta2 0.999, epsilon 1e-7 (Keras's). Losses come from D's
//! logit (softplus forms), equal to the reference's sigmoid + clipped BCE
//! wherever the logit is within +-16.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use rand_chacha::ChaCha8Rng;

use super::model::{Discriminator, Generator, NetConfig};
use crate::detector::{DetectorError, Phase, RunContext};
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Checkpointer, LoopState, Resumable, StateReader, StateWriter};
use crate::nn::NnError;
use crate::nn::init::stream;
use crate::nn::layers::normal_noise;
use crate::nn::loss::bce_with_logits_soft;
use crate::nn::train::{EpochMeter, check_finite, epoch_batches, steps_per_epoch};
use crate::spec::methods::FenceGanParams;
use crate::spec::methods::fence_gan::{Encirclement, ResolvedFenceGan};

/// Independent random streams of one fit, all derived from the job's seed.
const STREAM_INIT: u64 = 0;
const STREAM_SHUFFLE: u64 = 1;
const STREAM_NOISE: u64 = 2;
const STREAM_DROPOUT: u64 = 3;

/// The paper's encirclement loss: mean(log |alpha - sigmoid(logit)|).
pub fn log_encirclement(logit: Tensor<1>, alpha: f64) -> Tensor<1> {
    sigmoid(logit).sub_scalar(alpha).abs().log().mean()
}

/// The dispersion loss: 1 / mean_i ||x_i - mean_j x_j||_2 over a batch
/// (custom_losses.py `com_conv` with power 2).
pub fn dispersion(fake: Tensor<4>) -> Tensor<1> {
    let center = fake.clone().mean_dim(0); // [1, c, s, s]
    let distance = (fake - center)
        .square()
        .flatten::<2>(1, 3)
        .sum_dim(1)
        .sqrt(); // [b, 1]
    distance.mean().recip()
}

/// The losses of one step, as numbers (`generator` etc. are 0 in pre-training).
#[derive(Clone, Copy, Debug, Default)]
pub struct StepLosses {
    pub d_real: f32,
    pub d_fake: f32,
    pub generator: f32,
    pub encirclement: f32,
    pub dispersion: f32,
}

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: NetConfig,
    pub settings: ResolvedFenceGan,
    pub params: FenceGanParams,
    pub generator: Generator,
    pub discriminator: Discriminator,
    opt_g: burn::optim::ModuleOptimizer,
    opt_d: burn::optim::ModuleOptimizer,
    noise: ChaCha8Rng,
    dropout: ChaCha8Rng,
    /// D's Adam updates so far (Keras's `iterations`, for the lr decay).
    d_updates: usize,
    device: burn::tensor::Device,
}

impl Trainer {
    /// Fresh networks on `device` (made autodiff here), seeded by `seed`.
    pub fn new(
        net: NetConfig,
        settings: ResolvedFenceGan,
        params: &FenceGanParams,
        seed: u64,
        device: &burn::tensor::Device,
    ) -> Trainer {
        let device = device.clone().autodiff();
        let mut init = stream(seed, STREAM_INIT);
        let generator = net.generator(&mut init, &device);
        let discriminator = net.discriminator(&mut init, &device);
        let adam = AdamConfig::new()
            .with_beta_1(params.beta1 as f32)
            .with_beta_2(params.beta2 as f32)
            .with_epsilon(1e-7);
        Trainer {
            net,
            settings,
            params: params.clone(),
            generator,
            discriminator,
            opt_g: adam.init(),
            opt_d: adam.init(),
            noise: stream(seed, STREAM_NOISE),
            dropout: stream(seed, STREAM_DROPOUT),
            d_updates: 0,
            device,
        }
    }

    /// One Adam update of D on `x` towards `target`, the loss scaled by `weight`.
    fn d_update(&mut self, x: Tensor<4>, target: f64, weight: f64) -> f32 {
        let logit = self.discriminator.forward(x, Some(&mut self.dropout));
        let mut loss = bce_with_logits_soft(logit, target).mul_scalar(weight);
        if let Some(l2) = self.discriminator.l2(self.params.d_l2) {
            loss = loss + l2;
        }
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &self.discriminator);
        let lr = self.settings.d_lr / (1.0 + self.settings.d_lr_decay * self.d_updates as f64);
        self.discriminator = self.opt_d.step(lr, self.discriminator.clone(), grads);
        self.d_updates += 1;
        value
    }

    /// One step on the real images `idx`: two D updates, then a G update
    /// when `adversarial` (not in pre-training).
    pub fn step(
        &mut self,
        images: &PreparedImages,
        idx: &[usize],
        adversarial: bool,
    ) -> StepLosses {
        let b = idx.len();
        let s = &self.settings;
        let (alpha, beta, gamma, latent) = (s.alpha, s.beta, s.gamma, self.net.latent);
        let mut l = StepLosses {
            d_real: self.d_update(images.batch(idx, &self.device), 1.0, 1.0),
            ..StepLosses::default()
        };

        // Generated images from G in inference mode (running statistics).
        let inner = self.device.clone().inner();
        let z = normal_noise(b, latent, &mut self.noise, &inner);
        let fake = Tensor::from_inner(self.generator.valid().forward(z));
        l.d_fake = self.d_update(fake, 0.0, gamma);
        if !adversarial {
            return l;
        }

        let z = normal_noise(b, latent, &mut self.noise, &self.device);
        let fake = self.generator.forward(z); // [b, c, s, s]
        let frozen = self.discriminator.frozen();
        let logit = frozen.forward(fake.clone(), Some(&mut self.dropout));
        let enc = match self.params.encirclement {
            Encirclement::Bce => bce_with_logits_soft(logit, alpha),
            Encirclement::Log => log_encirclement(logit, alpha),
        };
        let disp = dispersion(fake);
        let loss = enc.clone() + disp.clone().mul_scalar(beta);
        l.generator = loss.clone().into_scalar::<f32>();
        l.encirclement = enc.into_scalar::<f32>();
        l.dispersion = disp.into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &self.generator);
        self.generator = self
            .opt_g
            .step(self.settings.g_lr, self.generator.clone(), grads);
        l
    }
}

impl Resumable for Trainer {
    fn save_state(&self, w: &mut StateWriter) -> Result<(), NnError> {
        w.module("generator", &self.generator)?;
        w.module("discriminator", &self.discriminator)?;
        w.optimizer("opt_g", &self.opt_g)?;
        w.optimizer("opt_d", &self.opt_d)?;
        w.rng("noise", &self.noise);
        w.rng("dropout", &self.dropout);
        w.value("d_updates", &self.d_updates)
    }

    fn load_state(&mut self, r: &StateReader) -> Result<(), NnError> {
        self.generator = r.module("generator", self.generator.clone())?;
        self.discriminator = r.module("discriminator", self.discriminator.clone())?;
        self.opt_g = r.optimizer("opt_g", self.opt_g.clone())?;
        self.opt_d = r.optimizer("opt_d", self.opt_d.clone())?;
        self.noise = r.rng("noise")?;
        self.dropout = r.rng("dropout")?;
        self.d_updates = r.value("d_updates")?;
        Ok(())
    }
}

/// Trains on `images` for `pretrain + epochs` epochs (capped by `max_steps`);
/// returns the trainer holding the final networks.
pub fn train(
    images: &PreparedImages,
    net: NetConfig,
    params: &FenceGanParams,
    ctx: &RunContext,
    device: &burn::tensor::Device,
) -> Result<Trainer, DetectorError> {
    let n = images.len();
    if n < 2 {
        return Err(DetectorError::TooFewImages(n));
    }
    let settings = params
        .resolve(net.channels)
        .map_err(|e| DetectorError::Nn(crate::nn::NnError::Input(e)))?;
    let per_epoch = steps_per_epoch(n, settings.batch_size);
    let planned = (params.pretrain + settings.epochs) * per_epoch;
    let total_steps = params.max_steps.map_or(planned, |m| m.min(planned));
    let epochs = total_steps.div_ceil(per_epoch);
    let batch = settings.batch_size;
    let mut trainer = Trainer::new(net, settings, params, ctx.seed, device);
    let mut at = LoopState::new(stream(ctx.seed, STREAM_SHUFFLE));
    let mut checkpoints = Checkpointer::new(ctx.checkpoint.as_ref());
    checkpoints.resume(&mut [&mut trainer, &mut at])?;
    for epoch in at.epoch..epochs {
        let adversarial = epoch >= params.pretrain;
        let mut meter = EpochMeter::new(&["d_real", "d_fake", "g", "disp"]);
        for idx in epoch_batches(n, batch, &mut at.shuffle) {
            let step = at.step;
            if step == total_steps {
                break;
            }
            ctx.check_cancel()?;
            let l = trainer.step(images, &idx, adversarial);
            let finite = |v: f32, what: &str| check_finite(v, epoch + 1, step + 1, what);
            finite(l.d_real, "the discriminator loss on real images")?;
            finite(l.d_fake, "the discriminator loss on generated images")?;
            finite(l.generator, "the generator loss")?;
            meter.add(&[l.d_real, l.d_fake, l.generator, l.dispersion], idx.len());
            at.step += 1;
        }
        let phase = if adversarial { "" } else { "pretrain, " };
        at.epoch = epoch + 1;
        checkpoints.epoch_done(at.epoch, epochs, &[&trainer, &at])?;
        ctx.progress.phase(Phase::Training {
            epoch: epoch + 1,
            epochs,
            info: format!("{phase}{}", meter.line()),
            log: Some(meter.log(epoch + 1, &[])),
        });
    }
    Ok(trainer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn close(t: Tensor<1>, want: f64) {
        let got = t.into_scalar::<f32>() as f64;
        assert!((got - want).abs() < 1e-5, "got {got}, want {want}");
    }

    /// Expected values from plain Python (math module):
    /// ```python
    /// l = [0., 2., -1.]; sp = [log1p(exp(v)) for v in l]; p = [1/(1+exp(-v)) for v in l]
    /// mean([s - 0.1*v for s, v in zip(sp, l)])          # 1.0111122930403802
    /// mean([-(0.1*log(q) + 0.9*log(1-q)) for q in p])   # 1.01111229304038 (Keras form)
    /// mean([s - v for s, v in zip(sp, l)])              # 0.7111122930403803 (target 1)
    /// mean(sp)                                          # 1.0444456263737136 (target 0)
    /// mean([log(abs(0.1 - q)) for q in p])              # -0.9806446537887069
    /// x = [[0,0],[2,0],[1,3]]; c = [1,1]
    /// 1/mean([sqrt((a-1)**2 + (b-1)**2) for a, b in x]) # 0.6213203435596426
    /// ```
    #[test]
    fn losses_match_hand_computed_values() {
        let dev = Device::flex();
        let logit = || Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 2.0, -1.0], [3]), &dev);
        close(bce_with_logits_soft(logit(), 0.1), 1.011_112_293_040_380_2);
        close(bce_with_logits_soft(logit(), 1.0), 0.711_112_293_040_380_3);
        close(bce_with_logits_soft(logit(), 0.0), 1.044_445_626_373_713_6);
        close(log_encirclement(logit(), 0.1), -0.980_644_653_788_706_9);
        // three 1x1x2 images
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 2.0, 0.0, 1.0, 3.0], [3, 1, 1, 2]),
            &dev,
        );
        close(dispersion(x), 0.621_320_343_559_642_6);
    }
}
