//! AnoGAN networks: a DCGAN generator z [b, latent, 1, 1] -> image in
//! [-1, 1] (the shared DCGAN decoder) and the shared DCGAN discriminator
//! (`nn::dcgan::Discriminator`) whose last 4x4 feature map is the
//! "intermediate layer" f of the discrimination loss. BatchNorm scales
//! start at 1, as AnoGAN-tf's (ops.py `batch_norm`: TF's
//! `contrib.layers.batch_norm` with `scale=True`, whose gamma starts at
//! ones), not drawn from N(1, 0.02) as GANomaly's.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::nn::dcgan::{BatchNormScale, DcganNet, DcganShapes, Decoder, Discriminator};

/// How AnoGAN-tf starts BatchNorm scales: at 1.
const BATCH_NORM_SCALE: BatchNormScale = BatchNormScale::Ones;
use crate::spec::methods::AnoGanParams;

/// The shapes of AnoGAN's networks for `params`.
pub fn shapes(params: &AnoGanParams) -> DcganShapes<'_> {
    DcganShapes {
        image_size: params.image_size,
        normalization: &params.normalization,
        official: AnoGanParams::official_normalization,
        latent: params.latent,
        generator_width: params.generator_width,
        discriminator_width: params.discriminator_width,
    }
}

/// The generator, initialised from `rng`.
pub fn generator(net: &DcganNet, rng: &mut ChaCha8Rng, device: &Device) -> Generator {
    Generator {
        decoder: net.decoder().init_with(BATCH_NORM_SCALE, rng, device),
    }
}

/// The discriminator, initialised from `rng`.
pub fn discriminator(net: &DcganNet, rng: &mut ChaCha8Rng, device: &Device) -> Discriminator {
    net.discriminator(BATCH_NORM_SCALE, rng, device)
}

/// `n` latent codes drawn from U(-1, 1), as [n, latent, 1, 1].
pub fn noise(net: &DcganNet, n: usize, rng: &mut ChaCha8Rng, device: &Device) -> Tensor<4> {
    let values = uniform_values(n * net.latent, rng);
    Tensor::from_data(TensorData::new(values, [n, net.latent, 1, 1]), device)
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

/// What scoring keeps: both networks (the latent search runs G and D).
#[derive(Module, Debug)]
pub struct Networks {
    pub generator: Generator,
    pub discriminator: Discriminator,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generator_and_discriminator_shapes() {
        let dev = Device::flex();
        let mut p = AnoGanParams::default();
        (p.latent, p.generator_width, p.discriminator_width) = (6, 4, 4);
        let net = DcganNet::new(shapes(&p), 3).expect("shapes");
        assert_eq!(net.stats.mean, vec![0.5; 3]);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let g = generator(&net, &mut rng, &dev);
        let d = discriminator(&net, &mut rng, &dev);
        let z = noise(&net, 2, &mut rng, &dev);
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
