//! GANomaly networks: generator G = encoder G_E -> decoder G_D -> encoder E
//! (DCGAN blocks from `crate::nn::dcgan`); the discriminator is the shared
//! DCGAN one (`nn::dcgan::Discriminator`: a logit and its last 4x4 feature
//! map).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use crate::nn::dcgan::{BatchNormScale, DcganNet, DcganShapes, Decoder, Discriminator, Encoder};
use crate::spec::methods::GanomalyParams;

/// The shapes of GANomaly's networks for `params`.
pub fn shapes(params: &GanomalyParams) -> DcganShapes<'_> {
    DcganShapes {
        image_size: params.image_size,
        normalization: &params.normalization,
        official: GanomalyParams::official_normalization,
        latent: params.latent,
        generator_width: params.generator_width,
        discriminator_width: params.discriminator_width,
    }
}

/// The generator, initialised from `rng`.
pub fn generator(net: &DcganNet, rng: &mut ChaCha8Rng, device: &Device) -> Generator {
    Generator {
        encoder: net.encoder(net.latent).init(rng, device),
        decoder: net.decoder().init(rng, device),
        reencoder: net.encoder(net.latent).init(rng, device),
    }
}

/// The discriminator, initialised from `rng` (BatchNorm scales from
/// N(1, 0.02), the reference's `weights_init`).
pub fn discriminator(net: &DcganNet, rng: &mut ChaCha8Rng, device: &Device) -> Discriminator {
    net.discriminator(BatchNormScale::Normal, rng, device)
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generator_and_discriminator_shapes() {
        let dev = Device::flex();
        let mut p = GanomalyParams::default();
        (p.image_size, p.latent, p.generator_width, p.discriminator_width) = (16, 6, 4, 4);
        let net = DcganNet::new(shapes(&p), 3).expect("shapes");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let g = generator(&net, &mut rng, &dev);
        let d = discriminator(&net, &mut rng, &dev);
        let out = g.forward(Tensor::zeros([2, 3, 16, 16], &dev));
        assert_eq!(out.fake.dims(), [2, 3, 16, 16]);
        assert_eq!(out.latent.dims(), [2, 6, 1, 1]);
        assert_eq!(out.latent_hat.dims(), [2, 6, 1, 1]);
        let (f, logit) = d.forward(out.fake);
        assert_eq!(f.dims(), [2, 8, 4, 4]);
        assert_eq!(logit.dims(), [2]);
    }
}
