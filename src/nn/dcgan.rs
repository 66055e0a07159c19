//! DCGAN encoder and decoder for square images whose side is a power of two >= 16,
//! shaped as in the GANomaly reference networks (samet-akcay/ganomaly
//! lib/networks.py, `Encoder` / `Decoder`, no extra layers):
//!
//! - encoder: Conv 4x4 s2 p1 (c -> w) + LeakyReLU(0.2), then Conv 4x4 s2 p1
//!   doubling the width + BatchNorm + LeakyReLU(0.2) until the map is 4x4,
//!   then Conv 4x4 s1 p0 to the `latent` outputs (1x1);
//! - decoder: ConvT 4x4 s1 p0 (latent -> w') + BN + ReLU, ConvT 4x4 s2 p1
//!   halving the width + BN + ReLU until the map is side/2, then ConvT 4x4 s2
//!   p1 to the image channels and Tanh.
//!
//! Convolutions have no bias. Weights are drawn from N(0, 0.02), BatchNorm
//! scales from N(1, 0.02) with zero shifts (the reference `weights_init`),
//! or scales of 1 ([`BatchNormScale::Ones`], TensorFlow's default, which
//! AnoGAN-tf keeps), all from the caller's seeded RNG.
//!
//! [`DcganNet`] gives the shapes of a generator and discriminator pair built
//! from these blocks, and [`Discriminator`] the discriminator AnoGAN and
//! GANomaly share.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::NnError;
use super::batch::Preprocessing;
use super::conv::Convolve;
use super::init::{constant_param, normal_param};
use crate::spec::methods::input::{ChannelStats, Normalization};

/// Slope of the encoder's LeakyReLU.
const LEAK: f64 = 0.2;
/// Standard deviation of the N(0, 0.02) / N(1, 0.02) initialisation.
const INIT_STD: f64 = 0.02;

fn conv(
    cin: usize,
    cout: usize,
    stride: usize,
    pad: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Conv2d {
    let mut c = Conv2dConfig::new([cin, cout], [4, 4])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device);
    c.weight = normal_param([cout, cin, 4, 4], 0.0, INIT_STD, rng, device);
    c
}

fn conv_t(
    cin: usize,
    cout: usize,
    stride: usize,
    pad: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> ConvTranspose2d {
    let mut c = ConvTranspose2dConfig::new([cin, cout], [4, 4])
        .with_stride([stride, stride])
        .with_padding([pad, pad])
        .with_bias(false)
        .init(device);
    // Transposed-convolution weights are [in, out, k, k].
    c.weight = normal_param([cin, cout, 4, 4], 0.0, INIT_STD, rng, device);
    c
}

/// How BatchNorm scales start (shifts start at 0 either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchNormScale {
    /// Drawn from N(1, 0.02) (GANomaly's `weights_init`).
    Normal,
    /// All 1, drawing nothing (TensorFlow's `batch_norm` default, AnoGAN-tf).
    Ones,
}

fn batch_norm(
    features: usize,
    scale: BatchNormScale,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> BatchNorm {
    let mut bn = BatchNormConfig::new(features).init(device);
    bn.gamma = match scale {
        BatchNormScale::Normal => normal_param([features], 1.0, INIT_STD, rng, device),
        BatchNormScale::Ones => constant_param([features], 1.0, device),
    };
    bn.beta = constant_param([features], 0.0, device);
    bn
}

/// A DCGAN encoder: image -> `latent` x 1 x 1.
#[derive(Config, Debug)]
pub struct EncoderConfig {
    /// Side of the square input (a power of two >= 16).
    pub image_size: usize,
    /// Input channels.
    pub channels: usize,
    /// Output size (the latent code; 1 for a discriminator).
    pub latent: usize,
    /// Channels of the first convolution (doubled at each halving).
    pub width: usize,
}

/// Conv + BatchNorm + LeakyReLU(0.2), halving the map.
#[derive(Module, Debug)]
pub struct DownBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl DownBlock {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        leaky_relu(self.norm.forward(self.conv.convolve(x)), LEAK)
    }
}

#[derive(Module, Debug)]
pub struct Encoder {
    first: Conv2d,
    pyramid: Vec<DownBlock>,
    last: Conv2d,
}

impl EncoderConfig {
    /// Channels of the 4x4 feature map before the last convolution.
    pub fn feature_channels(&self) -> usize {
        self.width << self.pyramid_len()
    }

    fn pyramid_len(&self) -> usize {
        // After the first conv the map is side/2; each block halves it down to 4.
        ((self.image_size / 2) / 4).trailing_zeros() as usize
    }

    pub fn init(&self, rng: &mut ChaCha8Rng, device: &Device) -> Encoder {
        self.init_with(BatchNormScale::Normal, rng, device)
    }

    /// The encoder with BatchNorm scales started as `scale` says.
    pub fn init_with(
        &self,
        scale: BatchNormScale,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Encoder {
        assert!(
            self.image_size >= 16 && self.image_size.is_power_of_two(),
            "encoder input side must be a power of two >= 16, got {}",
            self.image_size
        );
        let first = conv(self.channels, self.width, 2, 1, rng, device);
        let mut pyramid = Vec::new();
        let mut width = self.width;
        for _ in 0..self.pyramid_len() {
            pyramid.push(DownBlock {
                conv: conv(width, width * 2, 2, 1, rng, device),
                norm: batch_norm(width * 2, scale, rng, device),
            });
            width *= 2;
        }
        let last = conv(width, self.latent, 1, 0, rng, device);
        Encoder {
            first,
            pyramid,
            last,
        }
    }
}

impl Encoder {
    /// The 4x4 feature map before the last convolution, and the output.
    pub fn forward_features(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let mut h = leaky_relu(self.first.convolve(x), LEAK); // [b, w, s/2, s/2]
        for block in &self.pyramid {
            h = block.forward(h); // width doubles, side halves
        }
        let out = self.last.convolve(h.clone()); // [b, latent, 1, 1]
        (h, out)
    }

    /// Image -> [batch, latent, 1, 1].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_features(x).1
    }
}

/// A DCGAN decoder: `latent` x 1 x 1 -> image in [-1, 1].
#[derive(Config, Debug)]
pub struct DecoderConfig {
    /// Side of the square output (a power of two >= 16).
    pub image_size: usize,
    /// Output channels.
    pub channels: usize,
    /// Input size (the latent code).
    pub latent: usize,
    /// Channels before the last transposed convolution (the reference `ngf`).
    pub width: usize,
}

/// ConvT + BatchNorm + ReLU.
#[derive(Module, Debug)]
pub struct UpBlock {
    conv: ConvTranspose2d,
    norm: BatchNorm,
}

impl UpBlock {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.norm.forward(self.conv.convolve(x)))
    }
}

#[derive(Module, Debug)]
pub struct Decoder {
    first: UpBlock,
    pyramid: Vec<UpBlock>,
    last: ConvTranspose2d,
}

impl DecoderConfig {
    pub fn init(&self, rng: &mut ChaCha8Rng, device: &Device) -> Decoder {
        self.init_with(BatchNormScale::Normal, rng, device)
    }

    /// The decoder with BatchNorm scales started as `scale` says.
    pub fn init_with(
        &self,
        scale: BatchNormScale,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Decoder {
        assert!(
            self.image_size >= 16 && self.image_size.is_power_of_two(),
            "decoder output side must be a power of two >= 16, got {}",
            self.image_size
        );
        // Blocks between the 4x4 start and side/2 each double the side.
        let halvings = ((self.image_size / 2) / 4).trailing_zeros() as usize;
        let mut width = self.width << halvings;
        let first = UpBlock {
            conv: conv_t(self.latent, width, 1, 0, rng, device),
            norm: batch_norm(width, scale, rng, device),
        };
        let mut pyramid = Vec::new();
        for _ in 0..halvings {
            pyramid.push(UpBlock {
                conv: conv_t(width, width / 2, 2, 1, rng, device),
                norm: batch_norm(width / 2, scale, rng, device),
            });
            width /= 2;
        }
        let last = conv_t(width, self.channels, 2, 1, rng, device);
        Decoder {
            first,
            pyramid,
            last,
        }
    }
}

impl Decoder {
    /// [batch, latent, 1, 1] -> [batch, channels, side, side] in [-1, 1].
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let mut h = self.first.forward(z); // [b, w', 4, 4]
        for block in &self.pyramid {
            h = block.forward(h); // width halves, side doubles
        }
        tanh(self.last.convolve(h)) // [b, c, s, s]
    }
}

/// The shapes of a DCGAN generator and discriminator pair and their input
/// (AnoGAN's and GANomaly's networks); saved next to the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DcganNet {
    pub image_size: usize,
    /// The per-channel normalisation the networks were trained with.
    pub stats: ChannelStats,
    pub channels: usize,
    pub latent: usize,
    pub generator_width: usize,
    pub discriminator_width: usize,
}

/// What fixes a [`DcganNet`], from a method's parameters.
pub struct DcganShapes<'a> {
    pub image_size: usize,
    pub normalization: &'a Normalization,
    /// The method's official normalisation for a channel count.
    pub official: fn(usize) -> Normalization,
    pub latent: usize,
    pub generator_width: usize,
    pub discriminator_width: usize,
}

impl DcganNet {
    /// The networks for `channels`-channel images; an error when the
    /// normalisation does not fit that many channels.
    pub fn new(shapes: DcganShapes, channels: usize) -> Result<DcganNet, NnError> {
        let input = Preprocessing::new(
            Some(shapes.image_size),
            shapes.normalization,
            channels,
            shapes.official,
        )?;
        Ok(DcganNet {
            image_size: shapes.image_size,
            stats: input.stats,
            channels,
            latent: shapes.latent,
            generator_width: shapes.generator_width,
            discriminator_width: shapes.discriminator_width,
        })
    }

    /// How images become the networks' input.
    pub fn preprocessing(&self) -> Preprocessing {
        Preprocessing {
            side: Some(self.image_size),
            stats: self.stats.clone(),
        }
    }

    /// An encoder of the generator's width to `outputs` values.
    pub fn encoder(&self, outputs: usize) -> EncoderConfig {
        EncoderConfig::new(
            self.image_size,
            self.channels,
            outputs,
            self.generator_width,
        )
    }

    /// A decoder from the latent code to an image.
    pub fn decoder(&self) -> DecoderConfig {
        DecoderConfig::new(
            self.image_size,
            self.channels,
            self.latent,
            self.generator_width,
        )
    }

    /// The discriminator, initialised from `rng` with BatchNorm scales as
    /// `scale` says.
    pub fn discriminator(
        &self,
        scale: BatchNormScale,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Discriminator {
        Discriminator {
            encoder: EncoderConfig::new(
                self.image_size,
                self.channels,
                1,
                self.discriminator_width,
            )
            .init_with(scale, rng, device),
        }
    }
}

/// The DCGAN discriminator: an encoder with one output (a logit; the
/// references' sigmoid is folded into the losses) whose last 4x4 feature
/// map is also given (GANomaly's feature matching, AnoGAN's discrimination
/// loss).
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

    fn device() -> Device {
        crate::nn::burn_device::burn_device(crate::device::DeviceChoice::Cpu).expect("cpu")
    }

    #[test]
    fn encoder_shapes_for_16_and_32() {
        let dev = device();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (side, feat_c) in [(16, 8 * 2), (32, 8 * 4)] {
            let cfg = EncoderConfig::new(side, 3, 5, 8);
            assert_eq!(cfg.feature_channels(), feat_c);
            let enc = cfg.init(&mut rng, &dev);
            let (f, z) = enc.forward_features(Tensor::zeros([2, 3, side, side], &dev));
            assert_eq!(f.dims(), [2, feat_c, 4, 4]);
            assert_eq!(z.dims(), [2, 5, 1, 1]);
        }
    }

    #[test]
    fn decoder_shapes_and_range() {
        let dev = device();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for side in [16, 32, 64] {
            let dec = DecoderConfig::new(side, 1, 5, 4).init(&mut rng, &dev);
            let x = dec.forward(Tensor::ones([3, 5, 1, 1], &dev));
            assert_eq!(x.dims(), [3, 1, side, side]);
            let v = x.into_data();
            let v = v.as_slice::<f32>().expect("f32");
            assert!(v.iter().all(|&p| (-1.0..=1.0).contains(&p)));
        }
    }

    #[test]
    fn same_seed_same_weights() {
        let dev = device();
        let make = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let enc = EncoderConfig::new(16, 1, 3, 4).init(&mut rng, &dev);
            let x = Tensor::<4>::ones([2, 1, 16, 16], &dev);
            enc.forward(x).into_data()
        };
        assert_eq!(make(7), make(7));
        assert_ne!(make(7), make(8));
    }

    #[test]
    fn batch_norm_scales_start_as_asked() {
        let dev = device();
        let scales = |scale| {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let enc = EncoderConfig::new(32, 1, 3, 4).init_with(scale, &mut rng, &dev);
            let dec = DecoderConfig::new(32, 1, 3, 4).init_with(scale, &mut rng, &dev);
            let norms = enc.pyramid.iter().map(|b| &b.norm);
            let norms = norms.chain(std::iter::once(&dec.first.norm));
            let norms = norms.chain(dec.pyramid.iter().map(|b| &b.norm));
            let mut values = Vec::new();
            for n in norms {
                let g = n.gamma.val().into_data();
                values.extend(g.iter::<f32>());
                let b = n.beta.val().into_data();
                assert!(b.iter::<f32>().all(|v| v == 0.0));
            }
            values
        };
        let ones = scales(BatchNormScale::Ones);
        assert_eq!(ones.len(), 8 + 16 + 16 + 8 + 4);
        assert!(ones.iter().all(|&g| g == 1.0), "{ones:?}");
        let normal = scales(BatchNormScale::Normal);
        assert!(normal.iter().all(|&g| (g - 1.0).abs() < 0.1), "{normal:?}");
        assert!(normal.iter().filter(|&&g| g != 1.0).count() > 40);
    }
}
