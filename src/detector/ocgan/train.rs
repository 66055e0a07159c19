//! OCGAN training: per mini-batch, the order of the reference's
//! `trainadnov` (andgan.py), every loss a mean over the batch (gluon's
//! per-image losses summed by `backward` and divided by the batch size in
//! `Trainer.step`), Adam (lr, beta1, beta2, eps 1e-8) for every network.
//!
//! With x the clean images, x~ = x + n their noisy copies and BCE computed
//! from logits:
//! 1. z0 = En(x~) and x0 = De(z0) in inference mode (the reference computes
//!    them outside `autograd.record`, so with BatchNorm running statistics
//!    and no dropout); they are constants below.
//! 2. mu ~ U(-1, 1); while mining, `mining_steps` gradient steps
//!    mu -= step * d/dmu sum_i BCE(C(De(tanh mu_i)), 0) (the per-image
//!    gradient: the reference's `lr / batch` with `lr = 2 * batch`) make
//!    the decodings look fake to the classifier C: informative negatives.
//! 3. Discriminators, eps ~ U(-1, 1), u ~ U(-1, 1):
//!    visual D: (BCE(D(x), 1) + BCE(D(De(eps)), 0)) / 2;
//!    latent D_l: (BCE(D_l(u), 1) + BCE(D_l(z0), 0)) / 2;
//!    classifier: (BCE(C(x0), 1) + BCE(C(De(eps)), 0)) / 2.
//! 4. Auto-encoder: w_l BCE(D_l(En(x~)), 1) + BCE(D(De(tanh mu)), 1) +
//!    lambda mean((x - De(En(x~)))^2) / 2, through D and D_l (as updated in
//!    step 3) without updating them. As in the reference, tanh is applied to
//!    mu whether or not it was mined, so unmined codes lie in (-0.76, 0.76)
//!    here while D sees De(eps) with eps in (-1, 1).
//!
//! Decodings in steps 2-4 run in training mode (batch statistics, dropout),
//! and every training-mode pass updates BatchNorm running statistics, as in
//! the reference. The three updates of step 3 depend on no common parameter
//! and come from one backward pass; the classifier reuses D's decodings of
//! eps (the reference decodes eps again, with another dropout mask).
//!
//! The input noise of an image is drawn once (from the image's own stream
//! of the seed) and kept for the whole training, as the reference adds it
//! once when it loads the images (load_image.py).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{softplus, tanh};
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::model::{AutoEncoder, Dropout, ImageDiscriminator, LatentDiscriminator, NetConfig};
use crate::detector::{DetectorError, Phase, RunContext};
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Checkpointer, LoopState, Resumable, StateReader, StateWriter};
use crate::nn::NnError;
use crate::nn::init::{normal_values, stream};
use crate::nn::loss::bce_with_logits;
use crate::nn::reduce::sum_all;
use crate::nn::train::{EpochMeter, check_finite, epoch_batches, steps_per_epoch};
use crate::spec::methods::OcGanParams;
use crate::spec::methods::ocgan::ResolvedOcGan;

/// Independent random streams of one fit, all derived from the job's seed.
const STREAM_INIT: u64 = 0;
const STREAM_SHUFFLE: u64 = 1;
const STREAM_CODES: u64 = 2;
const STREAM_DROPOUT: u64 = 3;
/// Training image `i`'s input noise comes from stream `NOISE_STREAMS + i`.
const NOISE_STREAMS: u64 = 1 << 32;

/// The losses of one step, as numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepLosses {
    /// Visual discriminator.
    pub visual: f32,
    /// Latent discriminator.
    pub latent: f32,
    /// Classifier.
    pub classifier: f32,
    /// The auto-encoder's total loss.
    pub generator: f32,
    /// mean((x - x_hat)^2) / 2, before the weight.
    pub reconstruction: f32,
}

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: NetConfig,
    pub params: OcGanParams,
    pub settings: ResolvedOcGan,
    pub autoencoder: AutoEncoder,
    pub visual: ImageDiscriminator,
    pub latent: LatentDiscriminator,
    pub classifier: ImageDiscriminator,
    opt_ae: burn::optim::ModuleOptimizer,
    opt_visual: burn::optim::ModuleOptimizer,
    opt_latent: burn::optim::ModuleOptimizer,
    opt_classifier: burn::optim::ModuleOptimizer,
    codes: ChaCha8Rng,
    dropout: ChaCha8Rng,
    seed: u64,
    device: Device,
}

impl Trainer {
    /// Fresh networks on `device` (made autodiff here), seeded by `seed`.
    pub fn new(net: NetConfig, params: &OcGanParams, seed: u64, device: &Device) -> Trainer {
        let device = device.clone().autodiff();
        let mut init = stream(seed, STREAM_INIT);
        let autoencoder = net.autoencoder(&mut init, &device);
        let visual = net.visual_discriminator(&mut init, &device);
        let latent = net.latent_discriminator(&mut init, &device);
        let classifier = net.classifier(&mut init, &device);
        let adam = AdamConfig::new()
            .with_beta_1(params.beta1 as f32)
            .with_beta_2(params.beta2 as f32)
            .with_epsilon(1e-8);
        Trainer {
            settings: params.resolve(net.channels),
            net,
            params: params.clone(),
            autoencoder,
            visual,
            latent,
            classifier,
            opt_ae: adam.init(),
            opt_visual: adam.init(),
            opt_latent: adam.init(),
            opt_classifier: adam.init(),
            codes: stream(seed, STREAM_CODES),
            dropout: stream(seed, STREAM_DROPOUT),
            seed,
            device,
        }
    }

    /// The fixed input noise of the training images `idx` (zeros when the
    /// noise is off), on the inner device.
    fn noise(&self, idx: &[usize], inner: &Device) -> Option<Tensor<4>> {
        let std = self.settings.noise_std;
        if std <= 0.0 {
            return None;
        }
        let (c, s) = (self.net.channels, self.net.image_size());
        let per_image = c * s * s;
        let values: Vec<f32> = idx
            .iter()
            .flat_map(|&i| {
                let mut rng = stream(self.seed, NOISE_STREAMS + i as u64);
                normal_values(per_image, 0.0, std, &mut rng)
            })
            .collect();
        Some(Tensor::from_data(
            TensorData::new(values, [idx.len(), c, s, s]),
            inner,
        ))
    }

    /// Informative-negative mining: `mining_steps` gradient steps on the
    /// pre-tanh codes `mu` ([b, latent], inner device) that lower
    /// sum_i BCE(C(De(tanh mu_i)), 0), i.e. make the classifier call their
    /// decodings fake. Decodings in training mode (the reference mines
    /// inside `autograd.record`); no network changes but BatchNorm running
    /// statistics.
    pub fn mine(&mut self, mut mu: Tensor<2>) -> Tensor<2> {
        let frozen_ae = self.autoencoder.clone().no_grad();
        let frozen_classifier = self.classifier.clone().no_grad();
        for _ in 0..self.params.mining_steps {
            let leaf = mu.clone().autodiff().require_grad();
            let fake = frozen_ae.decode(
                tanh(leaf.clone()),
                Some(Dropout {
                    rate: self.net.dropout,
                    rng: &mut self.dropout,
                }),
            );
            let logit = frozen_classifier.forward(fake); // [b]
            let grads = sum_all(softplus(logit, 1.0)).backward();
            if let Some(g) = leaf.grad(&grads) {
                mu = mu - g.mul_scalar(self.params.mining_step_size);
            }
        }
        mu
    }

    /// The mean classifier loss BCE(C(De(tanh mu)), 0) of codes `mu`
    /// (inner device), in training mode without dropout (as mining sees it).
    pub fn classifier_loss_of_codes(&self, mu: Tensor<2>) -> f32 {
        let ae = self.autoencoder.clone().no_grad();
        let fake = ae.decode(tanh(mu.autodiff()), None);
        let classifier = self.classifier.clone().no_grad();
        scalar(bce_with_logits(classifier.forward(fake), false))
    }

    /// The device of the inner backend (no autodiff).
    pub fn inner_device(&self) -> Device {
        self.device.clone().inner()
    }

    /// One update of every network on the images `idx`; `mine`: with
    /// informative-negative mining.
    pub fn step(&mut self, images: &PreparedImages, idx: &[usize], mine: bool) -> StepLosses {
        let b = idx.len();
        let (activation, output) = (
            self.net.latent_activation,
            self.net.latent_discriminator_output,
        );
        let rate = self.net.dropout;
        let inner = self.device.clone().inner();
        let clean = images.batch(idx, &inner);
        let noisy = match self.noise(idx, &inner) {
            Some(n) => clean.clone() + n,
            None => clean.clone(),
        };
        let mut losses = StepLosses::default();

        // 1. Inference-mode encodings and reconstructions.
        let eval = self.autoencoder.valid();
        let z0 = eval.encode(noisy.clone(), activation); // [b, latent]
        let x0 = Tensor::from_inner(eval.decode(z0.clone(), None)); // [b, c, s, s]
        let z0 = Tensor::from_inner(z0);

        // 2. Random codes, mined towards what the classifier calls fake.
        let frozen_ae = self.autoencoder.clone().no_grad();
        let mut mu = self.net.uniform_codes(b, &mut self.codes, &inner);
        if mine {
            mu = self.mine(mu);
        }
        let mined = tanh(Tensor::from_inner(mu)); // [b, latent]

        // 3. The visual and latent discriminators and the classifier.
        let x = Tensor::from_inner(clean);
        let eps = self.net.uniform_codes(b, &mut self.codes, &self.device);
        let fake = frozen_ae
            .decode(
                eps,
                Some(Dropout {
                    rate,
                    rng: &mut self.dropout,
                }),
            )
            .detach();
        let u = self.net.uniform_codes(b, &mut self.codes, &self.device);
        let loss_visual = (bce_with_logits(self.visual.forward(x.clone()), true)
            + bce_with_logits(self.visual.forward(fake.clone()), false))
        .mul_scalar(0.5);
        let loss_latent = (bce_with_logits(self.latent.forward(u, output), true)
            + bce_with_logits(self.latent.forward(z0, output), false))
        .mul_scalar(0.5);
        let loss_classifier = (bce_with_logits(self.classifier.forward(x0), true)
            + bce_with_logits(self.classifier.forward(fake), false))
        .mul_scalar(0.5);
        losses.visual = scalar(loss_visual.clone());
        losses.latent = scalar(loss_latent.clone());
        losses.classifier = scalar(loss_classifier.clone());
        let mut grads = (loss_visual + loss_latent + loss_classifier).backward();
        let g_visual = GradientsParams::from_module(&mut grads, &self.visual);
        let g_latent = GradientsParams::from_module(&mut grads, &self.latent);
        let g_classifier = GradientsParams::from_module(&mut grads, &self.classifier);
        let lr = self.params.lr;
        self.visual = self.opt_visual.step(lr, self.visual.clone(), g_visual);
        self.latent = self.opt_latent.step(lr, self.latent.clone(), g_latent);
        self.classifier = self
            .opt_classifier
            .step(lr, self.classifier.clone(), g_classifier);

        // 4. The auto-encoder, through the updated discriminators.
        let visual = self.visual.clone().no_grad();
        let latent = self.latent.clone().no_grad();
        let decoded = self.autoencoder.decode(
            mined,
            Some(Dropout {
                rate,
                rng: &mut self.dropout,
            }),
        );
        let adv_visual = bce_with_logits(visual.forward(decoded), true);
        let z = self
            .autoencoder
            .encode(Tensor::from_inner(noisy), activation);
        let adv_latent = bce_with_logits(latent.forward(z.clone(), output), true);
        let x_hat = self.autoencoder.decode(
            z,
            Some(Dropout {
                rate,
                rng: &mut self.dropout,
            }),
        );
        let reconstruction = (x - x_hat).square().mean().mul_scalar(0.5);
        losses.reconstruction = scalar(reconstruction.clone());
        let loss = adv_latent.mul_scalar(self.params.latent_adversarial_weight)
            + adv_visual
            + reconstruction.mul_scalar(self.settings.reconstruction_weight);
        losses.generator = scalar(loss.clone());
        let mut grads = loss.backward();
        let g_ae = GradientsParams::from_module(&mut grads, &self.autoencoder);
        self.autoencoder = self.opt_ae.step(lr, self.autoencoder.clone(), g_ae);
        losses
    }
}

fn scalar(t: Tensor<1>) -> f32 {
    t.into_scalar::<f32>()
}

/// The first step (0-based) with mining: `mining_from` of `total_steps`
/// (the reference's `epoch > 150` of epochs 1-200 is 0.75); `total_steps`
/// (never) when the fraction is 1 or there are no mining steps.
pub fn mining_start(params: &OcGanParams, total_steps: usize) -> usize {
    if params.mining_steps == 0 {
        return total_steps;
    }
    ((params.mining_from * total_steps as f64).ceil() as usize).min(total_steps)
}

impl Resumable for Trainer {
    fn save_state(&self, w: &mut StateWriter) -> Result<(), NnError> {
        w.module("autoencoder", &self.autoencoder)?;
        w.module("visual", &self.visual)?;
        w.module("latent", &self.latent)?;
        w.module("classifier", &self.classifier)?;
        w.optimizer("opt_ae", &self.opt_ae)?;
        w.optimizer("opt_visual", &self.opt_visual)?;
        w.optimizer("opt_latent", &self.opt_latent)?;
        w.optimizer("opt_classifier", &self.opt_classifier)?;
        w.rng("codes", &self.codes);
        w.rng("dropout", &self.dropout);
        Ok(())
    }

    fn load_state(&mut self, r: &StateReader) -> Result<(), NnError> {
        self.autoencoder = r.module("autoencoder", self.autoencoder.clone())?;
        self.visual = r.module("visual", self.visual.clone())?;
        self.latent = r.module("latent", self.latent.clone())?;
        self.classifier = r.module("classifier", self.classifier.clone())?;
        self.opt_ae = r.optimizer("opt_ae", self.opt_ae.clone())?;
        self.opt_visual = r.optimizer("opt_visual", self.opt_visual.clone())?;
        self.opt_latent = r.optimizer("opt_latent", self.opt_latent.clone())?;
        self.opt_classifier = r.optimizer("opt_classifier", self.opt_classifier.clone())?;
        self.codes = r.rng("codes")?;
        self.dropout = r.rng("dropout")?;
        Ok(())
    }
}

/// Trains on `images` for the configured epochs (capped by `max_steps`);
/// returns the trainer holding the final networks.
pub fn train(
    images: &PreparedImages,
    net: NetConfig,
    params: &OcGanParams,
    ctx: &RunContext,
    device: &Device,
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
    let first_mining = mining_start(params, total_steps);
    let mut trainer = Trainer::new(net, params, ctx.seed, device);
    let mut at = LoopState::new(stream(ctx.seed, STREAM_SHUFFLE));
    let mut checkpoints = Checkpointer::new(ctx.checkpoint.as_ref());
    checkpoints.resume(&mut [&mut trainer, &mut at])?;
    for epoch in at.epoch..epochs {
        let mut meter = EpochMeter::new(&["d", "dl", "cls", "g", "rec"]);
        for idx in epoch_batches(n, params.batch_size, &mut at.shuffle) {
            let step = at.step;
            if step == total_steps {
                break;
            }
            ctx.check_cancel()?;
            let l = trainer.step(images, &idx, step >= first_mining);
            for (v, what) in [
                (l.visual, "the visual discriminator loss"),
                (l.latent, "the latent discriminator loss"),
                (l.classifier, "the classifier loss"),
                (l.generator, "the auto-encoder loss"),
            ] {
                check_finite(v, epoch + 1, step + 1, what)?;
            }
            meter.add(
                &[
                    l.visual,
                    l.latent,
                    l.classifier,
                    l.generator,
                    l.reconstruction,
                ],
                idx.len(),
            );
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
