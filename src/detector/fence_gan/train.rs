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
use burn::optim::GradientsParams;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::model::{Discriminator, Generator, NetConfig};
use crate::detector::gan::training::{GENERATOR, loss};
use crate::detector::DetectorError;
use crate::detector::gan::{Budget, Loss, Start, Step, Training};
use crate::nn::NnError;
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Resumable, State};
use crate::nn::init::stream;
use crate::nn::layers::normal_noise;
use crate::nn::loss::bce_with_logits_soft;
use crate::nn::train::{Adversaries, adam};
use crate::spec::methods::FenceGanParams;
use crate::spec::methods::fence_gan::{Encirclement, ResolvedFenceGan};

/// Independent random streams of one fit, all derived from the job's seed
/// (streams 0 and 1 are the harness's: initialisation and epoch order).
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

/// The networks and optimisers of a run in progress.
pub struct Trainer {
    pub net: NetConfig,
    pub settings: ResolvedFenceGan,
    pub params: FenceGanParams,
    pub nets: Adversaries<Generator, Discriminator>,
    noise: ChaCha8Rng,
    dropout: ChaCha8Rng,
    /// D's Adam updates so far (Keras's `iterations`, for the lr decay).
    d_updates: usize,
    device: Device,
}

impl Trainer {
    /// One Adam update of D on `x` towards `target`, the loss scaled by
    /// `weight`: that loss.
    fn d_update(&mut self, x: Tensor<4>, target: f64, weight: f64) -> Tensor<1> {
        let logit = self.nets.discriminator.forward(x, Some(&mut self.dropout));
        let mut loss = bce_with_logits_soft(logit, target).mul_scalar(weight);
        if let Some(l2) = self.nets.discriminator.l2(self.params.d_l2) {
            loss = loss + l2;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &self.nets.discriminator);
        let lr = self.settings.d_lr / (1.0 + self.settings.d_lr_decay * self.d_updates as f64);
        self.nets.discriminator = self.nets.opt_d.step(lr, self.nets.discriminator.clone(), grads);
        self.d_updates += 1;
        loss
    }
}

impl Training for Trainer {
    type Method = FenceGanParams;
    const LOSSES: &'static [Loss] = &[
        loss("d_real", "the discriminator loss on real images"),
        loss("d_fake", "the discriminator loss on generated images"),
        GENERATOR,
        loss("disp", "the dispersion loss"),
    ];

    /// With the settings the images' channels pick.
    fn new(net: &NetConfig, params: &FenceGanParams, mut s: Start) -> Result<Self, DetectorError> {
        let settings = params.resolve(net.channels).map_err(NnError::Input)?;
        let generator = net.generator(&mut s.init, &s.device);
        let discriminator = net.discriminator(&mut s.init, &s.device);
        let adam = adam(params.beta1, params.beta2, 1e-7);
        Ok(Trainer {
            net: net.clone(),
            settings,
            params: params.clone(),
            nets: Adversaries::new(generator, discriminator, &adam),
            noise: stream(s.seed, STREAM_NOISE),
            dropout: stream(s.seed, STREAM_DROPOUT),
            d_updates: 0,
            device: s.device,
        })
    }

    fn budget(&self) -> Budget {
        let (p, s) = (&self.params, &self.settings);
        Budget::new(p.pretrain + s.epochs, s.batch_size, p.max_steps)
    }

    fn phase(&self, epoch: usize) -> Option<&'static str> {
        (epoch < self.params.pretrain).then_some("pretrain")
    }

    /// One step on the real images of the batch: two D updates, then a G
    /// update after the pre-training epochs (G's losses are 0 before).
    fn step(&mut self, images: &PreparedImages, step: &Step) -> Vec<Tensor<1>> {
        let idx = step.batch();
        let adversarial = step.epoch >= self.params.pretrain;
        let b = idx.len();
        let s = &self.settings;
        let (alpha, beta, gamma, latent) = (s.alpha, s.beta, s.gamma, self.net.latent);
        let d_real = self.d_update(images.batch(idx, &self.device), 1.0, 1.0);

        // Generated images from G in inference mode (running statistics).
        let inner = self.device.clone().inner();
        let z = normal_noise(b, latent, &mut self.noise, &inner);
        let fake = Tensor::from_inner(self.nets.generator.valid().forward(z));
        let d_fake = self.d_update(fake, 0.0, gamma);
        if !adversarial {
            let zero = || Tensor::zeros([1], &self.device);
            return vec![d_real, d_fake, zero(), zero()];
        }

        let z = normal_noise(b, latent, &mut self.noise, &self.device);
        let fake = self.nets.generator.forward(z); // [b, c, s, s]
        let frozen = self.nets.discriminator.frozen();
        let logit = frozen.forward(fake.clone(), Some(&mut self.dropout));
        let enc = match self.params.encirclement {
            Encirclement::Bce => bce_with_logits_soft(logit, alpha),
            Encirclement::Log => log_encirclement(logit, alpha),
        };
        let disp = dispersion(fake);
        let loss = enc + disp.clone().mul_scalar(beta);
        let grads = GradientsParams::from_grads(loss.backward(), &self.nets.generator);
        let nets = &mut self.nets;
        nets.generator = nets.opt_g.step(self.settings.g_lr, nets.generator.clone(), grads);
        vec![d_real, d_fake, loss, disp]
    }
}

impl Resumable for Trainer {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        self.nets.visit(state)?;
        state.rng("noise", &mut self.noise)?;
        state.rng("dropout", &mut self.dropout)?;
        state.value("d_updates", &mut self.d_updates)
    }
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
