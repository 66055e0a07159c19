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
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::model::{Generator, discriminator, generator};
use crate::detector::gan::training::{DISCRIMINATOR, GENERATOR, loss};
use crate::detector::DetectorError;
use crate::detector::gan::{Budget, Loss, Start, Step, Training};
use crate::nn::NnError;
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Resumable, State};
use crate::nn::dcgan::{DcganNet, Discriminator};
use crate::nn::init::stream;
use crate::nn::loss::bce_with_logits;
use crate::nn::train::{Adversaries, adam};
use crate::spec::methods::GanomalyParams;

/// Independent random streams of one fit, all derived from the job's seed
/// (streams 0 and 1 are the harness's: initialisation and epoch order).
const STREAM_REINIT: u64 = 2;

/// The contextual loss mean(|x - x_hat|), before its weight.
const CONTEXTUAL: Loss = loss("con", "the contextual loss");

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: DcganNet,
    pub params: GanomalyParams,
    pub nets: Adversaries<Generator, Discriminator>,
    adam: AdamConfig,
    reinit_rng: ChaCha8Rng,
    /// How often D was re-initialised.
    pub reinits: usize,
    device: Device,
}

impl Training for Trainer {
    type Method = GanomalyParams;
    const LOSSES: &'static [Loss] = &[GENERATOR, DISCRIMINATOR, CONTEXTUAL];

    fn new(net: &DcganNet, params: &GanomalyParams, mut s: Start) -> Result<Self, DetectorError> {
        let g = generator(net, &mut s.init, &s.device);
        let d = discriminator(net, &mut s.init, &s.device);
        let adam = adam(params.beta1, params.beta2, 1e-8);
        Ok(Trainer {
            net: net.clone(),
            params: params.clone(),
            nets: Adversaries::new(g, d, &adam),
            adam,
            reinit_rng: stream(s.seed, STREAM_REINIT),
            reinits: 0,
            device: s.device,
        })
    }

    fn budget(&self) -> Budget {
        let p = &self.params;
        Budget::new(p.epochs, p.batch_size, p.max_steps)
    }

    /// One generator and one discriminator update.
    fn step(&mut self, images: &PreparedImages, step: &Step) -> Vec<Tensor<1>> {
        let (p, nets) = (&self.params, &mut self.nets);
        let x = images.batch(step.batch(), &self.device);
        let out = nets.generator.forward(x.clone());

        let (feat_real, logit_real) = nets.discriminator.forward(x.clone());
        let (_, logit_fake) = nets.discriminator.forward(out.fake.clone().detach());
        let frozen = nets.discriminator.clone().no_grad();
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
        let grads_g = GradientsParams::from_module(&mut grads, &nets.generator);
        let grads_d = GradientsParams::from_module(&mut grads, &nets.discriminator);
        nets.generator = nets.opt_g.step(p.lr, nets.generator.clone(), grads_g);
        nets.discriminator = nets.opt_d.step(p.lr, nets.discriminator.clone(), grads_d);

        vec![loss_g, loss_d, contextual]
    }

    /// D starts again (new weights, a fresh Adam) when its loss fell under
    /// `d_reinit_threshold`.
    fn losses_read(&mut self, losses: &[f32]) {
        if (losses[1] as f64) < self.params.d_reinit_threshold {
            let nets = &mut self.nets;
            nets.discriminator = discriminator(&self.net, &mut self.reinit_rng, &self.device);
            nets.opt_d = self.adam.init();
            self.reinits += 1;
        }
    }
}

impl Resumable for Trainer {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        self.nets.visit(state)?;
        state.rng("reinit", &mut self.reinit_rng)?;
        state.value("reinits", &mut self.reinits)
    }
}
