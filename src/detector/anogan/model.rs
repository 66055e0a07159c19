//! AnoGAN networks: a DCGAN generator z [b, latent, 1, 1] -> image in
//! [-1, 1] (the shared DCGAN decoder) and a discriminator (the shared DCGAN
//! encoder with one output, a logit) whose last 4x4 feature map is the
//! "intermediate layer" f of the discrimination loss.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::nn::NnError;
use crate::nn::batch::Preprocessing;
use crate::nn::dcgan::{Decoder, DecoderConfig, Encoder, EncoderConfig};
use crate::spec::methods::AnoGanParams;
use crate::spec::methods::input::ChannelStats;

/// What fixes the networks' shapes and their input; saved next to the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    pub image_size: usize,
    /// The per-channel normalisation the networks were trained with.
    pub stats: ChannelStats,
    pub channels: usize,
    pub latent: usize,
    pub generator_width: usize,
    pub discriminator_width: usize,
}

impl NetConfig {
    /// The networks for `channels`-channel images; an error when the
    /// normalisation does not fit that many channels.
    pub fn new(params: &AnoGanParams, channels: usize) -> Result<NetConfig, NnError> {
        let input = Preprocessing::new(
            Some(params.image_size),
            &params.normalization,
            channels,
            AnoGanParams::official_normalization,
        )?;
        Ok(NetConfig {
            image_size: params.image_size,
            stats: input.stats,
            channels,
            latent: params.latent,
            generator_width: params.generator_width,
            discriminator_width: params.discriminator_width,
        })
    }

    /// How images become this network's input.
    pub fn preprocessing(&self) -> Preprocessing {
        Preprocessing {
            side: Some(self.image_size),
            stats: self.stats.clone(),
        }
    }

    /// The generator, initialised from `rng`.
    pub fn generator(&self, rng: &mut ChaCha8Rng, device: &Device) -> Generator {
        Generator {
            decoder: DecoderConfig::new(
                self.image_size,
                self.channels,
                self.latent,
                self.generator_width,
            )
            .init(rng, device),
        }
    }

    /// The discriminator, initialised from `rng`.
    pub fn discriminator(&self, rng: &mut ChaCha8Rng, device: &Device) -> Discriminator {
        Discriminator {
            encoder: EncoderConfig::new(
                self.image_size,
                self.channels,
                1,
                self.discriminator_width,
            )
            .init(rng, device),
        }
    }

    /// `n` latent codes drawn from U(-1, 1), as [n, latent, 1, 1].
    pub fn noise(&self, n: usize, rng: &mut ChaCha8Rng, device: &Device) -> Tensor<4> {
        let values = uniform_values(n * self.latent, rng);
        Tensor::from_data(TensorData::new(values, [n, self.latent, 1, 1]), device)
    }
}

/// `n` samples of U(-1, 1).
pub fn uniform_values(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

#[derive(Module, Debug)]
pub struct Generator {
    decoder: Decoder,
}

impl Generator {
    /// [b, latent, 1, 1] -> [b, c, s, s] in [-1, 1].
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(z)
    }
}

#[derive(Module, Debug)]
pub struct Discriminator {
    encoder: Encoder,
}

impl Discriminator {
    /// The feature map f(x) [b, 4w, 4, 4] and the logit [b] of "real".
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let (features, out) = self.encoder.forward_features(x);
        let [b, ..] = out.dims();
        (features, out.reshape([b]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generator_and_discriminator_shapes() {
        let dev = Device::flex();
        let p = AnoGanParams {
            latent: 6,
            generator_width: 4,
            discriminator_width: 4,
            ..AnoGanParams::default()
        };
        let cfg = NetConfig::new(&p, 3).expect("shapes");
        assert_eq!(cfg.stats.mean, vec![0.5; 3]);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let g = cfg.generator(&mut rng, &dev);
        let d = cfg.discriminator(&mut rng, &dev);
        let z = cfg.noise(2, &mut rng, &dev);
        assert_eq!(z.dims(), [2, 6, 1, 1]);
        let fake = g.forward(z);
        assert_eq!(fake.dims(), [2, 3, 32, 32]);
        let (f, logit) = d.forward(fake);
        assert_eq!(f.dims(), [2, 16, 4, 4]);
        assert_eq!(logit.dims(), [2]);
        let u = uniform_values(1000, &mut rng);
        assert!(u.iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(u.iter().any(|v| *v < -0.9) && u.iter().any(|v| *v > 0.9));
    }
}
