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
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{softplus, tanh};
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::model::{AutoEncoder, Dropout, ImageDiscriminator, LatentDiscriminator, NetConfig};
use crate::detector::gan::training::loss;
use crate::detector::DetectorError;
use crate::detector::gan::{Budget, Loss, Start, Step, Training};
use crate::nn::NnError;
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Resumable, State};
use crate::nn::init::{normal_values, stream};
use crate::nn::loss::bce_with_logits;
use crate::nn::reduce::sum_all;
use crate::nn::train::adam;
use crate::spec::methods::OcGanParams;
use crate::spec::methods::ocgan::ResolvedOcGan;

/// Independent random streams of one fit, all derived from the job's seed
/// (streams 0 and 1 are the harness's: initialisation and epoch order).
const STREAM_CODES: u64 = 2;
const STREAM_DROPOUT: u64 = 3;
/// Training image `i`'s input noise comes from stream `NOISE_STREAMS + i`.
const NOISE_STREAMS: u64 = 1 << 32;

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: NetConfig,
    pub params: OcGanParams,
    pub settings: ResolvedOcGan,
    pub autoencoder: AutoEncoder,
    pub visual: ImageDiscriminator,
    pub latent: LatentDiscriminator,
    pub classifier: ImageDiscriminator,
    opt_ae: ModuleOptimizer,
    opt_visual: ModuleOptimizer,
    opt_latent: ModuleOptimizer,
    opt_classifier: ModuleOptimizer,
    codes: ChaCha8Rng,
    dropout: ChaCha8Rng,
    seed: u64,
    device: Device,
}

impl Trainer {
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

    /// The device of the inner backend (no autodiff).
    pub fn inner_device(&self) -> Device {
        self.device.clone().inner()
    }

    /// One update of every network on the images `idx`; `mine`: with
    /// informative-negative mining. The losses of [`Training::LOSSES`].
    pub fn update(
        &mut self,
        images: &PreparedImages,
        idx: &[usize],
        mine: bool,
    ) -> Vec<Tensor<1>> {
        let b = idx.len();
        let activation = self.net.latent_activation;
        let inner = self.device.clone().inner();
        let clean = images.batch(idx, &inner);
        let noisy = match self.noise(idx, &inner) {
            Some(n) => clean.clone() + n,
            None => clean.clone(),
        };

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
        let [visual, latent, classifier] =
            self.update_discriminators(x.clone(), x0, z0, &frozen_ae);

        // 4. The auto-encoder, through the updated discriminators.
        let [generator, reconstruction] = self.update_autoencoder(x, noisy, mined);
        vec![visual, latent, classifier, generator, reconstruction]
    }

    /// Step 3: one update of the visual and latent discriminators and the
    /// classifier (one backward pass), on the clean images `x`, the
    /// inference-mode codes `z0` and reconstructions `x0` of step 1, and
    /// decodings of fresh codes by `frozen_ae`. Their three losses.
    fn update_discriminators(
        &mut self,
        x: Tensor<4>,
        x0: Tensor<4>,
        z0: Tensor<2>,
        frozen_ae: &AutoEncoder,
    ) -> [Tensor<1>; 3] {
        let b = x.dims()[0];
        let output = self.net.latent_discriminator_output;
        let rate = self.net.dropout;
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
        let mut grads =
            (loss_visual.clone() + loss_latent.clone() + loss_classifier.clone()).backward();
        let g_visual = GradientsParams::from_module(&mut grads, &self.visual);
        let g_latent = GradientsParams::from_module(&mut grads, &self.latent);
        let g_classifier = GradientsParams::from_module(&mut grads, &self.classifier);
        let lr = self.params.lr;
        self.visual = self.opt_visual.step(lr, self.visual.clone(), g_visual);
        self.latent = self.opt_latent.step(lr, self.latent.clone(), g_latent);
        self.classifier = self
            .opt_classifier
            .step(lr, self.classifier.clone(), g_classifier);

        [loss_visual, loss_latent, loss_classifier]
    }

    /// Step 4: one update of the auto-encoder through the discriminators
    /// as step 3 left them: the latent and visual adversarial losses (on
    /// En(x~) of the noisy images and De(tanh mu) of the `mined` codes) and
    /// the reconstruction of the clean images `x`. The auto-encoder loss
    /// and its reconstruction part.
    fn update_autoencoder(
        &mut self,
        x: Tensor<4>,
        noisy: Tensor<4>,
        mined: Tensor<2>,
    ) -> [Tensor<1>; 2] {
        let (activation, output) = (
            self.net.latent_activation,
            self.net.latent_discriminator_output,
        );
        let rate = self.net.dropout;
        let lr = self.params.lr;
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
        let loss = adv_latent.mul_scalar(self.params.latent_adversarial_weight)
            + adv_visual
            + reconstruction.clone().mul_scalar(self.settings.reconstruction_weight);
        let mut grads = loss.backward();
        let g_ae = GradientsParams::from_module(&mut grads, &self.autoencoder);
        self.autoencoder = self.opt_ae.step(lr, self.autoencoder.clone(), g_ae);
        [loss, reconstruction]
    }
}

impl Training for Trainer {
    type Method = OcGanParams;
    const LOSSES: &'static [Loss] = &[
        loss("d", "the visual discriminator loss"),
        loss("dl", "the latent discriminator loss"),
        loss("cls", "the classifier loss"),
        loss("g", "the auto-encoder loss"),
        loss("rec", "the reconstruction loss"),
    ];

    fn new(net: &NetConfig, params: &OcGanParams, mut s: Start) -> Result<Self, DetectorError> {
        let autoencoder = net.autoencoder(&mut s.init, &s.device);
        let visual = net.visual_discriminator(&mut s.init, &s.device);
        let latent = net.latent_discriminator(&mut s.init, &s.device);
        let classifier = net.classifier(&mut s.init, &s.device);
        let adam = adam(params.beta1, params.beta2, 1e-8);
        Ok(Trainer {
            settings: params.resolve(net.channels),
            net: net.clone(),
            params: params.clone(),
            autoencoder,
            visual,
            latent,
            classifier,
            opt_ae: adam.init(),
            opt_visual: adam.init(),
            opt_latent: adam.init(),
            opt_classifier: adam.init(),
            codes: stream(s.seed, STREAM_CODES),
            dropout: stream(s.seed, STREAM_DROPOUT),
            seed: s.seed,
            device: s.device,
        })
    }

    fn budget(&self) -> Budget {
        let p = &self.params;
        Budget::new(p.epochs, p.batch_size, p.max_steps)
    }

    /// Mining from `mining_start` on.
    fn step(&mut self, images: &PreparedImages, step: &Step) -> Vec<Tensor<1>> {
        let mine = step.index >= mining_start(&self.params, step.total);
        self.update(images, step.batch(), mine)
    }
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
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        state.module("autoencoder", &mut self.autoencoder)?;
        state.module("visual", &mut self.visual)?;
        state.module("latent", &mut self.latent)?;
        state.module("classifier", &mut self.classifier)?;
        state.optimizer("opt_ae", &mut self.opt_ae)?;
        state.optimizer("opt_visual", &mut self.opt_visual)?;
        state.optimizer("opt_latent", &mut self.opt_latent)?;
        state.optimizer("opt_classifier", &mut self.opt_classifier)?;
        state.rng("codes", &mut self.codes)?;
        state.rng("dropout", &mut self.dropout)
    }
}
