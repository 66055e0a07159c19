//! GANomaly networks: generator G = encoder G_E -> decoder G_D -> encoder E,
//! discriminator D = DCGAN encoder with one output (a logit; the reference's
//! sigmoid is folded into the loss) and its last 4x4 feature map.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::nn::NnError;
use crate::nn::batch::Preprocessing;
use crate::nn::dcgan::{Decoder, DecoderConfig, Encoder, EncoderConfig};
use crate::spec::methods::GanomalyParams;
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
    pub fn new(params: &GanomalyParams, channels: usize) -> Result<NetConfig, NnError> {
        let input = Preprocessing::new(
            Some(params.image_size),
            &params.normalization,
            channels,
            GanomalyParams::official_normalization,
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

    fn encoder(&self) -> EncoderConfig {
        EncoderConfig::new(
            self.image_size,
            self.channels,
            self.latent,
            self.generator_width,
        )
    }

    /// The generator, initialised from `rng`.
    pub fn generator(&self, rng: &mut ChaCha8Rng, device: &Device) -> Generator {
        Generator {
            encoder: self.encoder().init(rng, device),
            decoder: DecoderConfig::new(
                self.image_size,
                self.channels,
                self.latent,
                self.generator_width,
            )
            .init(rng, device),
            reencoder: self.encoder().init(rng, device),
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
}

/// What the generator computes for a batch.
pub struct GeneratorOutput {
    /// The reconstruction x_hat, [b, c, s, s].
    pub fake: Tensor<4>,
    /// z = G_E(x), [b, latent, 1, 1].
    pub latent: Tensor<4>,
    /// z_hat = E(x_hat), [b, latent, 1, 1].
    pub latent_hat: Tensor<4>,
}

#[derive(Module, Debug)]
pub struct Generator {
    encoder: Encoder,
    decoder: Decoder,
    reencoder: Encoder,
}

impl Generator {
    pub fn forward(&self, x: Tensor<4>) -> GeneratorOutput {
        let latent = self.encoder.forward(x); // [b, nz, 1, 1]
        let fake = self.decoder.forward(latent.clone()); // [b, c, s, s]
        let latent_hat = self.reencoder.forward(fake.clone()); // [b, nz, 1, 1]
        GeneratorOutput {
            fake,
            latent,
            latent_hat,
        }
    }
}

#[derive(Module, Debug)]
pub struct Discriminator {
    encoder: Encoder,
}

impl Discriminator {
    /// The feature map [b, 4w, 4, 4] and the logit [b] of "real".
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
        let p = GanomalyParams {
            image_size: 16,
            latent: 6,
            generator_width: 4,
            discriminator_width: 4,
            ..GanomalyParams::default()
        };
        let cfg = NetConfig::new(&p, 3).expect("shapes");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let g = cfg.generator(&mut rng, &dev);
        let d = cfg.discriminator(&mut rng, &dev);
        let out = g.forward(Tensor::zeros([2, 3, 16, 16], &dev));
        assert_eq!(out.fake.dims(), [2, 3, 16, 16]);
        assert_eq!(out.latent.dims(), [2, 6, 1, 1]);
        assert_eq!(out.latent_hat.dims(), [2, 6, 1, 1]);
        let (f, logit) = d.forward(out.fake);
        assert_eq!(f.dims(), [2, 8, 4, 4]);
        assert_eq!(logit.dims(), [2]);
    }
}
