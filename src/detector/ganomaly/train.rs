//! GANomaly training: one generator and one discriminator update per
//! mini-batch, with the reference losses.
//!
//! Per step, with x a batch of normal images and (x_hat, z, z_hat) = G(x):
//! - generator: w_adv * mean((f(x) - f(x_hat))^2) + w_con * mean(|x - x_hat|)
//!   + w_enc * mean((z - z_hat)^2), f = D's 4x4 feature map;
//! - discriminator: (BCE(D(x), 1) + BCE(D(x_hat), 0)) / 2, on x_hat detached;
//! - both with Adam (lr, beta1, beta2 from the parameters, eps 1e-8 as
//!   PyTorch's default); D is re-initialised (new weights and a fresh Adam
//!   state) when its loss falls below `d_reinit_threshold`.
//!
//! Both losses come from one forward pass and one backward pass: the feature
//! matching term reads f(x) detached and f(x_hat) through a copy of D whose
//! parameters take no gradient, so the generator's gradient reaches only G
//! and the discriminator's only D, as the reference's two separate passes do.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

use super::model::{Discriminator, Generator, NetConfig};
use crate::detector::{DetectorError, Phase, RunContext};
use crate::nn::batch::PreparedImages;
use crate::nn::NnError;
use crate::nn::checkpoint::{Checkpointer, LoopState, Resumable, StateReader, StateWriter};
use crate::nn::init::stream;
use crate::nn::loss::bce_with_logits;
use crate::nn::train::{EpochMeter, check_finite, epoch_batches, steps_per_epoch};
use crate::spec::methods::GanomalyParams;

/// Independent random streams of one fit, all derived from the job's seed.
const STREAM_INIT: u64 = 0;
const STREAM_SHUFFLE: u64 = 1;
const STREAM_REINIT: u64 = 2;

/// The losses of one step, as numbers.
#[derive(Clone, Copy, Debug)]
pub struct StepLosses {
    pub generator: f32,
    pub discriminator: f32,
    pub adversarial: f32,
    pub contextual: f32,
    pub encoder: f32,
}

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: NetConfig,
    pub params: GanomalyParams,
    pub generator: Generator,
    pub discriminator: Discriminator,
    opt_g: burn::optim::ModuleOptimizer,
    opt_d: burn::optim::ModuleOptimizer,
    adam: AdamConfig,
    reinit_rng: ChaCha8Rng,
    /// How often D was re-initialised.
    pub reinits: usize,
    device: burn::tensor::Device,
}

impl Trainer {
    /// Fresh networks on `device` (made autodiff here), seeded by `seed`.
    pub fn new(
        net: NetConfig,
        params: &GanomalyParams,
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
            adam,
            reinit_rng: stream(seed, STREAM_REINIT),
            reinits: 0,
            device,
        }
    }

    /// One generator and one discriminator update on the images `idx`.
    pub fn step(&mut self, images: &PreparedImages, idx: &[usize]) -> StepLosses {
        let p = &self.params;
        let x = images.batch(idx, &self.device);
        let out = self.generator.forward(x.clone());

        let (feat_real, logit_real) = self.discriminator.forward(x.clone());
        let (_, logit_fake) = self.discriminator.forward(out.fake.clone().detach());
        let frozen = self.discriminator.clone().no_grad();
        let (feat_fake, _) = frozen.forward(out.fake.clone());

        let adversarial = (feat_real.detach() - feat_fake).square().mean();
        let contextual = (x - out.fake).abs().mean();
        let encoder = (out.latent - out.latent_hat).square().mean();
        let loss_g = adversarial.clone().mul_scalar(p.w_adv)
            + contextual.clone().mul_scalar(p.w_con)
            + encoder.clone().mul_scalar(p.w_enc);
        let loss_d = (bce_with_logits(logit_real, true) + bce_with_logits(logit_fake, false))
            .mul_scalar(0.5);

        let mut grads = (loss_g.clone() + loss_d.clone()).backward();
        let grads_g = GradientsParams::from_module(&mut grads, &self.generator);
        let grads_d = GradientsParams::from_module(&mut grads, &self.discriminator);
        self.generator = self.opt_g.step(p.lr, self.generator.clone(), grads_g);
        self.discriminator = self.opt_d.step(p.lr, self.discriminator.clone(), grads_d);

        let value = |t: Tensor<1>| t.into_scalar::<f32>();
        let losses = StepLosses {
            generator: value(loss_g),
            discriminator: value(loss_d),
            adversarial: value(adversarial),
            contextual: value(contextual),
            encoder: value(encoder),
        };
        if (losses.discriminator as f64) < p.d_reinit_threshold {
            self.discriminator = self.net.discriminator(&mut self.reinit_rng, &self.device);
            self.opt_d = self.adam.init();
            self.reinits += 1;
        }
        losses
    }
}

impl Resumable for Trainer {
    fn save_state(&self, w: &mut StateWriter) -> Result<(), NnError> {
        w.module("generator", &self.generator)?;
        w.module("discriminator", &self.discriminator)?;
        w.optimizer("opt_g", &self.opt_g)?;
        w.optimizer("opt_d", &self.opt_d)?;
        w.rng("reinit", &self.reinit_rng);
        w.value("reinits", &self.reinits)
    }

    fn load_state(&mut self, r: &StateReader) -> Result<(), NnError> {
        self.generator = r.module("generator", self.generator.clone())?;
        self.discriminator = r.module("discriminator", self.discriminator.clone())?;
        self.opt_g = r.optimizer("opt_g", self.adam.init())?;
        self.opt_d = r.optimizer("opt_d", self.adam.init())?;
        self.reinit_rng = r.rng("reinit")?;
        self.reinits = r.value("reinits")?;
        Ok(())
    }
}

/// Trains on `images` for the configured epochs (capped by `max_steps`);
/// returns the trainer holding the final networks.
pub fn train(
    images: &PreparedImages,
    net: NetConfig,
    params: &GanomalyParams,
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
        let mut meter = EpochMeter::new(&["g", "d", "con"]);
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
            meter.add(&[l.generator, l.discriminator, l.contextual], idx.len());
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
