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
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::model::{Generator, discriminator, generator, noise};
use crate::detector::gan::training::{DISCRIMINATOR, GENERATOR};
use crate::detector::DetectorError;
use crate::detector::gan::{Budget, Loss, Start, Step, Training};
use crate::nn::NnError;
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Resumable, State};
use crate::nn::dcgan::{DcganNet, Discriminator};
use crate::nn::init::stream;
use crate::nn::loss::bce_with_logits;
use crate::nn::train::{Adversaries, adam};
use crate::spec::methods::AnoGanParams;

/// Independent random streams of one fit, all derived from the job's seed
/// (streams 0 and 1 are the harness's: initialisation and epoch order).
const STREAM_NOISE: u64 = 2;

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: DcganNet,
    pub params: AnoGanParams,
    pub nets: Adversaries<Generator, Discriminator>,
    noise: ChaCha8Rng,
    device: Device,
}

impl Training for Trainer {
    type Method = AnoGanParams;
    /// The generator's: its last update of the step.
    const LOSSES: &'static [Loss] = &[GENERATOR, DISCRIMINATOR];

    fn new(net: &DcganNet, params: &AnoGanParams, mut s: Start) -> Result<Self, DetectorError> {
        let g = generator(net, &mut s.init, &s.device);
        let d = discriminator(net, &mut s.init, &s.device);
        let adam = adam(params.beta1, params.beta2, 1e-8);
        Ok(Trainer {
            net: net.clone(),
            params: params.clone(),
            nets: Adversaries::new(g, d, &adam),
            noise: stream(s.seed, STREAM_NOISE),
            device: s.device,
        })
    }

    fn budget(&self) -> Budget {
        let p = &self.params;
        Budget::new(p.epochs, p.batch_size, p.max_steps)
    }

    /// One discriminator update and `generator_steps` generator updates.
    fn step(&mut self, images: &PreparedImages, step: &Step) -> Vec<Tensor<1>> {
        let idx = step.batch();
        let lr = self.params.lr;
        let x = images.batch(idx, &self.device);
        let z = noise(&self.net, idx.len(), &mut self.noise, &self.device);

        let nets = &mut self.nets;
        let fake = nets.generator.forward(z.clone()).detach();
        let (_, logit_real) = nets.discriminator.forward(x);
        let (_, logit_fake) = nets.discriminator.forward(fake);
        let loss_d = bce_with_logits(logit_real, true) + bce_with_logits(logit_fake, false);
        let mut grads = loss_d.backward();
        let grads_d = GradientsParams::from_module(&mut grads, &nets.discriminator);
        nets.discriminator = nets.opt_d.step(lr, nets.discriminator.clone(), grads_d);

        // `generator_steps` is at least 1 (checked with the parameters).
        let mut last_loss_g = None;
        for _ in 0..self.params.generator_steps {
            let frozen = nets.discriminator.clone().no_grad();
            let (_, logit) = frozen.forward(nets.generator.forward(z.clone()));
            let loss_g = bce_with_logits(logit, true);
            let mut grads = loss_g.backward();
            let grads_g = GradientsParams::from_module(&mut grads, &nets.generator);
            nets.generator = nets.opt_g.step(lr, nets.generator.clone(), grads_g);
            last_loss_g = Some(loss_g);
        }
        let loss_g = last_loss_g.unwrap_or_else(|| Tensor::zeros([1], &self.device));
        vec![loss_g, loss_d]
    }
}

impl Resumable for Trainer {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        self.nets.visit(state)?;
        state.rng("noise", &mut self.noise)
    }
}
