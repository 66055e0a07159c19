//! AnoGAN training: a DCGAN with the standard GAN loss, as the reference's
//! carpedm20 DCGAN (LeeDoYup/AnoGAN-tf model.py `train`).
//!
//! Per step, with x a batch of normal images and z ~ U(-1, 1) (one draw per
//! step, shared by the updates of that step as in the reference):
//! - discriminator: mean BCE(D(x), 1) + mean BCE(D(G(z)), 0), G(z) detached;
//! - then `generator_steps` (2 in the reference) generator updates, each on
//!   mean BCE(D(G(z)), 1) (the non-saturating loss) through a copy of D whose
//!   parameters take no gradient;
//! - all with Adam (lr, beta1, beta2 from the parameters, eps 1e-8).
//!
//! Losses are computed from logits (BCE-with-logits, as the reference's
//! `sigmoid_cross_entropy_with_logits`).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use rand_chacha::ChaCha8Rng;

use super::model::{Discriminator, Generator, NetConfig};
use crate::detector::{DetectorError, Phase, RunContext};
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Checkpointer, LoopState, Resumable, StateReader, StateWriter};
use crate::nn::NnError;
use crate::nn::init::stream;
use crate::nn::loss::bce_with_logits;
use crate::nn::train::{EpochMeter, check_finite, epoch_batches, steps_per_epoch};
use crate::spec::methods::AnoGanParams;

/// Independent random streams of one fit, all derived from the job's seed.
const STREAM_INIT: u64 = 0;
const STREAM_SHUFFLE: u64 = 1;
const STREAM_NOISE: u64 = 2;

/// The losses of one step, as numbers (the generator's: its last update).
#[derive(Clone, Copy, Debug)]
pub struct StepLosses {
    pub generator: f32,
    pub discriminator: f32,
}

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: NetConfig,
    pub params: AnoGanParams,
    pub generator: Generator,
    pub discriminator: Discriminator,
    opt_g: burn::optim::ModuleOptimizer,
    opt_d: burn::optim::ModuleOptimizer,
    noise: ChaCha8Rng,
    device: burn::tensor::Device,
}

impl Trainer {
    /// Fresh networks on `device` (made autodiff here), seeded by `seed`.
    pub fn new(
        net: NetConfig,
        params: &AnoGanParams,
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
            .with_epsilon(1e-8);
        Trainer {
            net,
            params: params.clone(),
            generator,
            discriminator,
            opt_g: adam.init(),
            opt_d: adam.init(),
            noise: stream(seed, STREAM_NOISE),
            device,
        }
    }

    /// One discriminator update and `generator_steps` generator updates on
    /// the images `idx`.
    pub fn step(&mut self, images: &PreparedImages, idx: &[usize]) -> StepLosses {
        let lr = self.params.lr;
        let x = images.batch(idx, &self.device);
        let z = self.net.noise(idx.len(), &mut self.noise, &self.device);

        let fake = self.generator.forward(z.clone()).detach();
        let (_, logit_real) = self.discriminator.forward(x);
        let (_, logit_fake) = self.discriminator.forward(fake);
        let loss_d = bce_with_logits(logit_real, true) + bce_with_logits(logit_fake, false);
        let mut grads = loss_d.backward();
        let grads_d = GradientsParams::from_module(&mut grads, &self.discriminator);
        self.discriminator = self.opt_d.step(lr, self.discriminator.clone(), grads_d);

        let mut loss_g_value = 0.0;
        for _ in 0..self.params.generator_steps {
            let frozen = self.discriminator.clone().no_grad();
            let (_, logit) = frozen.forward(self.generator.forward(z.clone()));
            let loss_g = bce_with_logits(logit, true);
            let mut grads = loss_g.backward();
            let grads_g = GradientsParams::from_module(&mut grads, &self.generator);
            self.generator = self.opt_g.step(lr, self.generator.clone(), grads_g);
            loss_g_value = loss_g.into_scalar::<f32>();
        }
        StepLosses {
            generator: loss_g_value,
            discriminator: loss_d.into_scalar::<f32>(),
        }
    }
}

impl Resumable for Trainer {
    fn save_state(&self, w: &mut StateWriter) -> Result<(), NnError> {
        w.module("generator", &self.generator)?;
        w.module("discriminator", &self.discriminator)?;
        w.optimizer("opt_g", &self.opt_g)?;
        w.optimizer("opt_d", &self.opt_d)?;
        w.rng("noise", &self.noise);
        Ok(())
    }

    fn load_state(&mut self, r: &StateReader) -> Result<(), NnError> {
        self.generator = r.module("generator", self.generator.clone())?;
        self.discriminator = r.module("discriminator", self.discriminator.clone())?;
        self.opt_g = r.optimizer("opt_g", self.opt_g.clone())?;
        self.opt_d = r.optimizer("opt_d", self.opt_d.clone())?;
        self.noise = r.rng("noise")?;
        Ok(())
    }
}

/// Trains on `images` for the configured epochs (capped by `max_steps`);
/// returns the trainer holding the final networks.
pub fn train(
    images: &PreparedImages,
    net: NetConfig,
    params: &AnoGanParams,
    ctx: &RunContext,
    device: &burn::tensor::Device,
) -> Result<Trainer, DetectorError> {
    let n = images.len();
    if n < 2 {
        return Err(DetectorError::TooFewImages(n));
    }
    let per_epoch = steps_per_epoch(n, params.batch_size);
    let total_steps = params.max_steps.map_or(params.epochs * per_epoch, |m| {
        m.min(params.epochs * per_epoch)
    });
    let epochs = total_steps.div_ceil(per_epoch);
    let mut trainer = Trainer::new(net, params, ctx.seed, device);
    let mut at = LoopState::new(stream(ctx.seed, STREAM_SHUFFLE));
    let mut checkpoints = Checkpointer::new(ctx.checkpoint.as_ref());
    checkpoints.resume(&mut [&mut trainer, &mut at])?;
    for epoch in at.epoch..epochs {
        let mut meter = EpochMeter::new(&["g", "d"]);
        for idx in epoch_batches(n, params.batch_size, &mut at.shuffle) {
            let step = at.step;
            if step == total_steps {
                break;
            }
            ctx.check_cancel()?;
            let l = trainer.step(images, &idx);
            check_finite(l.generator, epoch + 1, step + 1, "the generator loss")?;
            check_finite(
                l.discriminator,
                epoch + 1,
                step + 1,
                "the discriminator loss",
            )?;
            meter.add(&[l.generator, l.discriminator], idx.len());
            at.step += 1;
        }
        at.epoch = epoch + 1;
        checkpoints.epoch_done(at.epoch, epochs, &[&trainer, &at])?;
        ctx.progress.phase(Phase::Training {
            epoch: epoch + 1,
            epochs,
            info: meter.line(),
            log: Some(meter.log(epoch + 1, &[])),
        });
    }
    Ok(trainer)
}
