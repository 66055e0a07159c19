//! OCGAN networks, shaped as the reference's models.py (`Encoder`,
//! `Decoder`, `Discriminator`, `LatentDiscriminator`): 5x5 convolutions with
//! stride 2 and no padding, so a side of 2^(depth + 3) - 3 shrinks to 1x1
//! (depth 3: 61 -> 29 -> 13 -> 5 -> 1) and the decoder grows it back.
//!
//! - encoder: Conv (c -> w, bias) + LeakyReLU(0.2); `depth - 1` blocks of
//!   Conv (doubling, no bias) + BatchNorm + LeakyReLU(0.2); Conv (-> latent,
//!   no bias) + the latent activation (tanh or LeakyReLU(0.2));
//! - decoder: ConvT (latent -> w 2^(depth-1), no bias) + BN + ReLU; `depth -
//!   1` blocks of ConvT (halving, no bias) + BN + ReLU, the second of them
//!   with dropout; ConvT (w -> c, bias) + tanh;
//! - visual discriminator and classifier: Conv (c -> w, bias) + LeakyReLU;
//!   `depth - 1` blocks of Conv (w min(2^n, 8), no bias) + BN + LeakyReLU;
//!   Conv (-> 1, bias): one logit per image;
//! - latent discriminator: Dense 128, 64, 32 with ReLU, Dense 16 (then a
//!   sigmoid, as the reference, unless `latent_discriminator_output: logit`).
//!
//! Initialisation as models.py `param_init`: convolution weights N(0, 0.02)
//! and zero biases, BatchNorm scales N(1, 0.02) and zero shifts, dense
//! weights and biases N(0, 0.02), all from the caller's seeded RNG. BatchNorm
//! keeps MXNet's `momentum=0.1`, i.e. running = 0.1 old + 0.9 batch (burn's
//! momentum is the weight of the batch: 0.9), epsilon 1e-5.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, sigmoid, tanh};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::nn::NnError;
use crate::nn::batch::Preprocessing;
use crate::nn::conv::Convolve;
use crate::nn::dense::Dense;
use crate::nn::init::{constant_param, normal_param};
use crate::nn::layers::dropout;
use crate::spec::methods::OcGanParams;
use crate::spec::methods::input::ChannelStats;
use crate::spec::methods::ocgan::{LatentActivation, LatentDiscriminatorOutput};

/// Slope of every LeakyReLU.
const LEAK: f64 = 0.2;
/// Standard deviation of the N(0, 0.02) / N(1, 0.02) initialisation.
const INIT_STD: f64 = 0.02;
/// Kernel and stride of every (transposed) convolution.
const KERNEL: usize = 5;
const STRIDE: usize = 2;
/// Burn's BatchNorm momentum for MXNet's `momentum=0.1`.
const BN_MOMENTUM: f64 = 0.9;
/// Widths of the latent discriminator's dense layers.
const LATENT_D_WIDTHS: [usize; 4] = [128, 64, 32, 16];
/// The decoder block (after the first) that has dropout (models.py `n == 2`).
const DROPOUT_BLOCK: usize = 2;

/// What fixes the networks' shapes and their input; saved next to the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    pub depth: usize,
    /// The per-channel normalisation the networks were trained with.
    pub stats: ChannelStats,
    pub channels: usize,
    pub latent: usize,
    pub latent_activation: LatentActivation,
    pub latent_discriminator_output: LatentDiscriminatorOutput,
    pub generator_width: usize,
    pub discriminator_width: usize,
    pub classifier_width: usize,
    pub dropout: f64,
}

impl NetConfig {
    /// The networks for `channels`-channel images; an error when the
    /// normalisation does not fit that many channels.
    pub fn new(params: &OcGanParams, channels: usize) -> Result<NetConfig, NnError> {
        let input = Preprocessing::new(
            Some(params.image_size()),
            &params.normalization,
            channels,
            OcGanParams::official_normalization,
        )?;
        let resolved = params.resolve(channels);
        Ok(NetConfig {
            depth: params.depth,
            stats: input.stats,
            channels,
            latent: params.latent,
            latent_activation: params.latent_activation,
            latent_discriminator_output: params.latent_discriminator_output,
            generator_width: params.generator_width,
            discriminator_width: resolved.discriminator_width,
            classifier_width: resolved.classifier_width,
            dropout: params.dropout,
        })
    }

    /// Side of the square input: 2^(depth + 3) - 3.
    pub fn image_size(&self) -> usize {
        (1usize << (self.depth + 3)) - 3
    }

    /// How images become this network's input.
    pub fn preprocessing(&self) -> Preprocessing {
        Preprocessing {
            side: Some(self.image_size()),
            stats: self.stats.clone(),
        }
    }

    /// The encoder and decoder, initialised from `rng`.
    pub fn autoencoder(&self, rng: &mut ChaCha8Rng, device: &Device) -> AutoEncoder {
        let (d, w) = (self.depth, self.generator_width);
        let mut blocks = Vec::new();
        for n in 1..d {
            let (cin, cout) = (w << (n - 1), w << n);
            blocks.push(DownBlock::new(cin, cout, rng, device));
        }
        let encoder = Encoder {
            first: conv(self.channels, w, true, rng, device),
            blocks,
            last: conv(w << (d - 1), self.latent, false, rng, device),
        };
        let mut ups = Vec::new();
        for n in 1..d {
            let (cin, cout) = (w << (d - n), w << (d - n - 1));
            ups.push(UpBlock::new(cin, cout, rng, device));
        }
        let decoder = Decoder {
            first: UpBlock::new(self.latent, w << (d - 1), rng, device),
            blocks: ups,
            last: conv_t(w, self.channels, true, rng, device),
        };
        AutoEncoder { encoder, decoder }
    }

    /// An image discriminator of width `width` (the visual discriminator or
    /// the classifier), initialised from `rng`.
    fn image_discriminator(
        &self,
        width: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> ImageDiscriminator {
        let mut blocks = Vec::new();
        let mut mult = 1;
        for n in 1..self.depth {
            let prev = mult;
            mult = (1 << n).min(8);
            blocks.push(DownBlock::new(width * prev, width * mult, rng, device));
        }
        ImageDiscriminator {
            first: conv(self.channels, width, true, rng, device),
            blocks,
            last: conv(width * mult, 1, true, rng, device),
        }
    }

    /// The visual discriminator (real images vs decodings of random codes).
    pub fn visual_discriminator(
        &self,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> ImageDiscriminator {
        self.image_discriminator(self.discriminator_width, rng, device)
    }

    /// The classifier (reconstructions vs decodings of random codes).
    pub fn classifier(&self, rng: &mut ChaCha8Rng, device: &Device) -> ImageDiscriminator {
        self.image_discriminator(self.classifier_width, rng, device)
    }

    /// The latent discriminator (U(-1, 1) codes vs encodings).
    pub fn latent_discriminator(
        &self,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> LatentDiscriminator {
        let mut layers = Vec::new();
        let mut din = self.latent;
        for dout in LATENT_D_WIDTHS {
            layers.push(dense(din, dout, rng, device));
            din = dout;
        }
        LatentDiscriminator { layers }
    }

    /// `n` codes drawn from U(-1, 1), as [n, latent].
    pub fn uniform_codes(&self, n: usize, rng: &mut ChaCha8Rng, device: &Device) -> Tensor<2> {
        let values: Vec<f32> = (0..n * self.latent)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        Tensor::from_data(TensorData::new(values, [n, self.latent]), device)
    }
}

fn conv(cin: usize, cout: usize, bias: bool, rng: &mut ChaCha8Rng, device: &Device) -> Conv2d {
    let mut c = Conv2dConfig::new([cin, cout], [KERNEL, KERNEL])
        .with_stride([STRIDE, STRIDE])
        .with_padding(PaddingConfig2d::Valid)
        .with_bias(bias)
        .init(device);
    c.weight = normal_param([cout, cin, KERNEL, KERNEL], 0.0, INIT_STD, rng, device);
    if bias {
        c.bias = Some(constant_param([cout], 0.0, device));
    }
    c
}

fn conv_t(
    cin: usize,
    cout: usize,
    bias: bool,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> ConvTranspose2d {
    let mut c = ConvTranspose2dConfig::new([cin, cout], [KERNEL, KERNEL])
        .with_stride([STRIDE, STRIDE])
        .with_bias(bias)
        .init(device);
    // Transposed-convolution weights are [in, out, k, k].
    c.weight = normal_param([cin, cout, KERNEL, KERNEL], 0.0, INIT_STD, rng, device);
    if bias {
        c.bias = Some(constant_param([cout], 0.0, device));
    }
    c
}

fn batch_norm(features: usize, rng: &mut ChaCha8Rng, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(features)
        .with_momentum(BN_MOMENTUM)
        .with_epsilon(1e-5)
        .init(device);
    bn.gamma = normal_param([features], 1.0, INIT_STD, rng, device);
    bn.beta = constant_param([features], 0.0, device);
    bn
}

fn dense(din: usize, dout: usize, rng: &mut ChaCha8Rng, device: &Device) -> Linear {
    let mut l = LinearConfig::new(din, dout).init(device);
    // burn's Linear stores [d_input, d_output]; the reference draws the
    // biases from N(0, 0.02) too (every `dense` parameter).
    l.weight = normal_param([din, dout], 0.0, INIT_STD, rng, device);
    l.bias = Some(normal_param([dout], 0.0, INIT_STD, rng, device));
    l
}

/// Conv (no bias) + BatchNorm + LeakyReLU(0.2): the side shrinks to (s - 5) / 2 + 1.
#[derive(Module, Debug)]
pub struct DownBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl DownBlock {
    fn new(cin: usize, cout: usize, rng: &mut ChaCha8Rng, device: &Device) -> DownBlock {
        DownBlock {
            conv: conv(cin, cout, false, rng, device),
            norm: batch_norm(cout, rng, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        leaky_relu(self.norm.forward(self.conv.convolve(x)), LEAK)
    }
}

/// ConvT (no bias) + BatchNorm (+ dropout) + ReLU: the side grows to 2s + 3.
#[derive(Module, Debug)]
pub struct UpBlock {
    conv: ConvTranspose2d,
    norm: BatchNorm,
}

impl UpBlock {
    fn new(cin: usize, cout: usize, rng: &mut ChaCha8Rng, device: &Device) -> UpBlock {
        UpBlock {
            conv: conv_t(cin, cout, false, rng, device),
            norm: batch_norm(cout, rng, device),
        }
    }
}

#[derive(Module, Debug)]
pub struct Encoder {
    first: Conv2d,
    blocks: Vec<DownBlock>,
    last: Conv2d,
}

#[derive(Module, Debug)]
pub struct Decoder {
    first: UpBlock,
    blocks: Vec<UpBlock>,
    last: ConvTranspose2d,
}

/// The encoder and the decoder: what a trained model keeps.
#[derive(Module, Debug)]
pub struct AutoEncoder {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

/// The dropout of a training pass: its rate and the RNG of its masks.
pub struct Dropout<'a> {
    pub rate: f64,
    pub rng: &'a mut ChaCha8Rng,
}

impl AutoEncoder {
    /// Images [b, c, s, s] -> codes [b, latent].
    pub fn encode(&self, x: Tensor<4>, activation: LatentActivation) -> Tensor<2> {
        let e = &self.encoder;
        let mut h = leaky_relu(e.first.convolve(x), LEAK); // [b, w, 2^(d+2) - 3, ..]
        for block in &e.blocks {
            h = block.forward(h); // width doubles, side (s - 5) / 2 + 1
        }
        let z = e.last.convolve(h); // [b, latent, 1, 1]
        let [b, latent, ..] = z.dims();
        let z = z.reshape([b, latent]);
        match activation {
            LatentActivation::Tanh => tanh(z),
            LatentActivation::LeakyRelu => leaky_relu(z, LEAK),
        }
    }

    /// Codes [b, latent] -> images [b, c, s, s] in (-1, 1); `dropout`:
    /// training (`None` in eval mode).
    pub fn decode(&self, z: Tensor<2>, mut dropout_rng: Option<Dropout>) -> Tensor<4> {
        let d = &self.decoder;
        let [b, latent] = z.dims();
        let up = |blk: &UpBlock, h: Tensor<4>| blk.norm.forward(blk.conv.convolve(h));
        let mut h = relu(up(&d.first, z.reshape([b, latent, 1, 1]))); // [b, w 2^(d-1), 5, 5]
        for (i, blk) in d.blocks.iter().enumerate() {
            h = up(blk, h); // width halves, side 2s + 3
            if i + 1 == DROPOUT_BLOCK
                && let Some(Dropout { rate, rng }) = dropout_rng.as_mut()
            {
                h = dropout(h, *rate, rng);
            }
            h = relu(h);
        }
        tanh(d.last.convolve(h)) // [b, c, s, s]
    }
}

/// The reference's `Discriminator` (PatchGAN-style, one 1x1 output).
#[derive(Module, Debug)]
pub struct ImageDiscriminator {
    first: Conv2d,
    blocks: Vec<DownBlock>,
    last: Conv2d,
}

impl ImageDiscriminator {
    /// Images [b, c, s, s] -> logits of "real" [b].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        let [b, ..] = x.dims();
        let mut h = leaky_relu(self.first.convolve(x), LEAK);
        for block in &self.blocks {
            h = block.forward(h);
        }
        self.last.convolve(h).reshape([b]) // [b, 1, 1, 1] -> [b]
    }
}

#[derive(Module, Debug)]
pub struct LatentDiscriminator {
    layers: Vec<Linear>,
}

impl LatentDiscriminator {
    /// Codes [b, latent] -> the 16 outputs per code, flattened [16 b], as
    /// logits for the loss (already squashed by a sigmoid under `sigmoid`).
    pub fn forward(&self, z: Tensor<2>, output: LatentDiscriminatorOutput) -> Tensor<1> {
        let [b, _] = z.dims();
        let last = self.layers.len() - 1;
        let mut h = z;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.dense(h);
            if i < last {
                h = relu(h);
            }
        }
        let h = match output {
            LatentDiscriminatorOutput::Sigmoid => sigmoid(h),
            LatentDiscriminatorOutput::Logit => h,
        };
        h.reshape([b * LATENT_D_WIDTHS[3]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn config(depth: usize, channels: usize) -> NetConfig {
        let p = OcGanParams {
            depth,
            latent: 6,
            generator_width: 4,
            discriminator_width: Some(3),
            classifier_width: Some(2),
            ..OcGanParams::default()
        };
        NetConfig::new(&p, channels).expect("shapes")
    }

    #[test]
    fn every_network_has_the_reference_shapes() {
        let dev = Device::flex();
        for (depth, side) in [(1, 13), (2, 29), (3, 61)] {
            let cfg = config(depth, 3);
            assert_eq!(cfg.image_size(), side);
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            let ae = cfg.autoencoder(&mut rng, &dev);
            let x = Tensor::<4>::zeros([2, 3, side, side], &dev);
            let z = ae.encode(x.clone(), LatentActivation::Tanh);
            assert_eq!(z.dims(), [2, 6]);
            let mut drop = ChaCha8Rng::seed_from_u64(1);
            let dropout = Some(Dropout {
                rate: 0.5,
                rng: &mut drop,
            });
            assert_eq!(ae.decode(z.clone(), dropout).dims(), [2, 3, side, side]);
            let d = cfg.visual_discriminator(&mut rng, &dev);
            assert_eq!(d.forward(x.clone()).dims(), [2]);
            let c = cfg.classifier(&mut rng, &dev);
            assert_eq!(c.forward(x).dims(), [2]);
            let l = cfg.latent_discriminator(&mut rng, &dev);
            assert_eq!(l.forward(z, LatentDiscriminatorOutput::Logit).dims(), [32]);
        }
    }

    /// Depth 3 with the official widths: 64, 128, 256 channels in the
    /// encoder, 256, 128, 64 in the decoder, ndf 8 -> 8, 16, 32.
    #[test]
    fn official_widths() {
        let dev = Device::flex();
        let cfg = NetConfig::new(&OcGanParams::default(), 3).expect("shapes");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let ae = cfg.autoencoder(&mut rng, &dev);
        let widths: Vec<usize> = ae
            .encoder
            .blocks
            .iter()
            .map(|b| b.conv.weight.dims()[0])
            .collect();
        assert_eq!(widths, vec![128, 256]);
        assert_eq!(ae.encoder.last.weight.dims(), [16, 256, 5, 5]);
        assert_eq!(ae.decoder.first.conv.weight.dims(), [16, 256, 5, 5]);
        assert_eq!(ae.decoder.last.weight.dims(), [64, 3, 5, 5]);
        let d = cfg.visual_discriminator(&mut rng, &dev);
        assert_eq!(d.last.weight.dims(), [1, 32, 5, 5]);
    }

    #[test]
    fn the_official_latent_output_is_a_probability() {
        let dev = Device::flex();
        let cfg = config(1, 1);
        let l = cfg.latent_discriminator(&mut ChaCha8Rng::seed_from_u64(0), &dev);
        let z = cfg.uniform_codes(5, &mut ChaCha8Rng::seed_from_u64(1), &dev);
        let data = l.forward(z, LatentDiscriminatorOutput::Sigmoid).into_data();
        let v = data.as_slice::<f32>().expect("f32");
        assert!(v.iter().all(|&p| p > 0.0 && p < 1.0), "{v:?}");
    }
}
