//! ALAD networks, after the reference's CIFAR-10 ones
//! (alad/cifar10_utilities.py), for square images of side s = 2^(n+2)
//! (n stride-2 layers down to 4x4; the reference has s = 32, n = 3):
//!
//! - encoder E: n Conv 4x4 s2 `same` (w, 2w, 4w, ...; spectrally normalised
//!   with `spectral_norm`) each + BN + LReLU(0.2); Conv 4x4 `valid` -> latent.
//! - generator G: z -> ConvT 4x4 s2 `valid` (1 -> 4, g * 2^(n-1)) + BN + ReLU;
//!   n - 1 ConvT 4x4 s2 `same` halving the width + BN + ReLU; ConvT 4x4 s2
//!   `same` -> image channels, tanh.
//! - D_xz(x, z): x path n Conv 4x4 s2 `same` (w, 2w, ...; BN from the second
//!   on), LReLU(0.2), flattened; z path two 1x1 convolutions (here dense
//!   layers, the same thing on a 1x1 map) of 4w + LReLU + dropout; joint:
//!   concat, 8w + LReLU + dropout (its features), then -> 1 logit.
//! - D_xx(x, x'): the two images concatenated along the HEIGHT (the
//!   reference's `tf.concat([x, rec_x], axis=1)` on NHWC tensors stacks them
//!   vertically, kept as is: [c, 2s, s]); Conv 5x5 s2 `same` w then 2w, each
//!   LReLU + dropout; flattened (its features f_xx); dense -> 1 logit.
//! - D_zz(z, z'): concat, dense w, w/2 (each LReLU + dropout), dense -> 1.
//!
//! Spectral normalisation (`--sn`): the encoder's stride-2 convolutions and
//! every discriminator layer but the last. Kernels N(0, 0.01), zero biases,
//! BatchNorm as TF's (gamma 1, beta 0, momentum 0.99, epsilon 1e-3).
//! Dropout is TF's (inverted, rate 0.2) with masks from our seeded RNG, only
//! in training forwards (a [`Dropout`] is given).
//!
//! The MNIST network (the reference has none): the same networks with one
//! input/output channel at side 32 (MNIST resized 28 -> 32), the analogue of
//! the CIFAR-10 one with the first convolutions taking one channel and the
//! generator's last layer producing one. Flattening is NCHW where TF's is
//! NHWC: with i.i.d. initialised dense layers that only relabels units.

use burn::module::Module;
use burn::nn::conv::{Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, softplus, tanh};
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::detector::DetectorError;
use crate::detector::gan::files::columns;
use crate::nn::NnError;
use crate::nn::batch::{PreparedImages, Preprocessing};
use crate::nn::conv::Convolve;
use crate::nn::dense::Dense;
use crate::nn::init::{constant_param, normal_param};
use crate::nn::layers::{Init, SameConvTranspose, dense, dropout, keras_batch_norm, same_conv};
use crate::nn::spectral_norm::{SnConv2d, SnLinear};
use crate::spec::methods::AladParams;
use crate::spec::methods::input::ChannelStats;

/// Kernels are drawn from N(0, 0.01) (`init_kernel`).
const INIT: Init = Init::Normal(0.01);
const INIT_STD: f64 = 0.01;
/// Slope of every LeakyReLU.
const LEAK: f64 = 0.2;

/// Dropout in a training forward: the rate and the RNG of its masks.
pub struct Dropout {
    pub rate: f64,
    pub rng: ChaCha8Rng,
}

fn drop<const D: usize>(x: Tensor<D>, d: &mut Option<&mut Dropout>) -> Tensor<D> {
    match d {
        Some(d) => dropout(x, d.rate, &mut d.rng),
        None => x,
    }
}

/// What fixes the networks' shapes and their input; saved next to the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    pub image_size: usize,
    /// The per-channel normalisation the networks were trained with.
    pub stats: ChannelStats,
    pub channels: usize,
    pub latent: usize,
    pub encoder_width: usize,
    pub generator_width: usize,
    pub dxz_width: usize,
    pub dxx_width: usize,
    pub dzz_width: usize,
    pub spectral_norm: bool,
}

impl NetConfig {
    /// The networks for `channels`-channel images; an error when the
    /// normalisation does not fit that many channels.
    pub fn new(params: &AladParams, channels: usize) -> Result<NetConfig, NnError> {
        let input = Preprocessing::new(
            Some(params.image_size),
            &params.normalization,
            channels,
            AladParams::official_normalization,
        )?;
        Ok(NetConfig {
            image_size: params.image_size,
            stats: input.stats,
            channels,
            latent: params.latent,
            encoder_width: params.encoder_width,
            generator_width: params.generator_width,
            dxz_width: params.dxz_width,
            dxx_width: params.dxx_width,
            dzz_width: params.dzz_width,
            spectral_norm: params.spectral_norm,
        })
    }

    /// How images become this network's input.
    pub fn preprocessing(&self) -> Preprocessing {
        Preprocessing {
            side: Some(self.image_size),
            stats: self.stats.clone(),
        }
    }

    /// Stride-2 layers between the image and the 4x4 map.
    fn halvings(&self) -> usize {
        (self.image_size / 4).trailing_zeros() as usize
    }

    /// `n` stride-2 4x4 convolutions from `cin` channels, widths w, 2w, ...
    fn pyramid(
        &self,
        cin: usize,
        w: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Vec<SnConv2d> {
        let mut side = self.image_size;
        let mut c = cin;
        let mut out = Vec::new();
        for i in 0..self.halvings() {
            let cout = w << i;
            let conv = same_conv([c, cout], 4, 2, side, INIT, rng, device);
            out.push(SnConv2d::new(conv, self.spectral_norm, rng, device));
            c = cout;
            side /= 2;
        }
        out
    }

    /// The encoder, initialised from `rng`.
    pub fn encoder(&self, rng: &mut ChaCha8Rng, device: &Device) -> Encoder {
        let w = self.encoder_width;
        let convs = self.pyramid(self.channels, w, rng, device);
        let norms = (0..convs.len())
            .map(|i| keras_batch_norm(w << i, device))
            .collect();
        let top = w << (self.halvings() - 1);
        let mut last = Conv2dConfig::new([top, self.latent], [4, 4])
            .with_padding(PaddingConfig2d::Valid)
            .init(device);
        last.weight = normal_param([self.latent, top, 4, 4], 0.0, INIT_STD, rng, device);
        last.bias = Some(constant_param([self.latent], 0.0, device));
        Encoder { convs, norms, last }
    }

    /// The generator (decoder), initialised from `rng`.
    pub fn generator(&self, rng: &mut ChaCha8Rng, device: &Device) -> Generator {
        let n = self.halvings();
        let mut width = self.generator_width << (n - 1);
        let mut first = ConvTranspose2dConfig::new([self.latent, width], [4, 4])
            .with_stride([2, 2])
            .init(device);
        first.weight = normal_param([self.latent, width, 4, 4], 0.0, INIT_STD, rng, device);
        first.bias = Some(constant_param([width], 0.0, device));
        let first_norm = keras_batch_norm(width, device);
        let mut ups = Vec::new();
        let mut norms = Vec::new();
        for _ in 1..n {
            ups.push(SameConvTranspose::new(
                [width, width / 2],
                4,
                2,
                INIT,
                rng,
                device,
            ));
            norms.push(keras_batch_norm(width / 2, device));
            width /= 2;
        }
        let last = SameConvTranspose::new([width, self.channels], 4, 2, INIT, rng, device);
        Generator {
            first,
            first_norm,
            ups,
            norms,
            last,
        }
    }

    /// D_xz, initialised from `rng`.
    pub fn dxz(&self, rng: &mut ChaCha8Rng, device: &Device) -> DiscriminatorXz {
        let w = self.dxz_width;
        let sn = self.spectral_norm;
        let x_convs = self.pyramid(self.channels, w, rng, device);
        let x_norms = (1..x_convs.len())
            .map(|i| keras_batch_norm(w << i, device))
            .collect();
        let flat = 16 * (w << (self.halvings() - 1));
        let z1 = SnLinear::new(
            dense(self.latent, 4 * w, INIT, rng, device),
            sn,
            rng,
            device,
        );
        let z2 = SnLinear::new(dense(4 * w, 4 * w, INIT, rng, device), sn, rng, device);
        let joint = SnLinear::new(
            dense(flat + 4 * w, 8 * w, INIT, rng, device),
            sn,
            rng,
            device,
        );
        let out = dense(8 * w, 1, INIT, rng, device);
        DiscriminatorXz {
            x_convs,
            x_norms,
            z1,
            z2,
            joint,
            out,
        }
    }

    /// Size of D_xx's features: 2w maps of (s/2) x (s/4).
    pub fn dxx_features(&self) -> usize {
        2 * self.dxx_width * (self.image_size / 2) * (self.image_size / 4)
    }

    /// D_xx, initialised from `rng`.
    pub fn dxx(&self, rng: &mut ChaCha8Rng, device: &Device) -> DiscriminatorXx {
        let (w, s, sn) = (self.dxx_width, self.image_size, self.spectral_norm);
        // TF `same` padding of 5x5 stride 2 is (1, 2) on any even side, so
        // the [2s, s] input pads as a square one of side s.
        let c1 = same_conv([self.channels, w], 5, 2, s, INIT, rng, device);
        let c2 = same_conv([w, 2 * w], 5, 2, s / 2, INIT, rng, device);
        DiscriminatorXx {
            conv1: SnConv2d::new(c1, sn, rng, device),
            conv2: SnConv2d::new(c2, sn, rng, device),
            out: dense(self.dxx_features(), 1, INIT, rng, device),
        }
    }

    /// D_zz, initialised from `rng`.
    pub fn dzz(&self, rng: &mut ChaCha8Rng, device: &Device) -> DiscriminatorZz {
        let (w, sn) = (self.dzz_width, self.spectral_norm);
        DiscriminatorZz {
            d1: SnLinear::new(
                dense(2 * self.latent, w, INIT, rng, device),
                sn,
                rng,
                device,
            ),
            d2: SnLinear::new(dense(w, w / 2, INIT, rng, device), sn, rng, device),
            out: dense(w / 2, 1, INIT, rng, device),
        }
    }
}

/// E: image -> latent code.
#[derive(Module, Debug)]
pub struct Encoder {
    convs: Vec<SnConv2d>,
    norms: Vec<BatchNorm>,
    last: burn::nn::conv::Conv2d,
}

impl Encoder {
    /// [b, c, s, s] -> [b, latent].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x;
        for (conv, norm) in self.convs.iter().zip(&self.norms) {
            h = leaky_relu(norm.forward(conv.forward(h)), LEAK); // width doubles, side halves
        }
        let z = self.last.convolve(h); // [b, latent, 1, 1]
        let [b, l, ..] = z.dims();
        z.reshape([b, l])
    }
}

/// G: latent code -> image in [-1, 1].
#[derive(Module, Debug)]
pub struct Generator {
    first: ConvTranspose2d,
    first_norm: BatchNorm,
    ups: Vec<SameConvTranspose>,
    norms: Vec<BatchNorm>,
    last: SameConvTranspose,
}

impl Generator {
    /// [b, latent] -> [b, c, s, s].
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [b, l] = z.dims();
        let mut h = relu(
            self.first_norm
                .forward(self.first.convolve(z.reshape([b, l, 1, 1]))),
        ); // [b, g', 4, 4]
        for (up, norm) in self.ups.iter().zip(&self.norms) {
            h = relu(norm.forward(up.forward(h))); // width halves, side doubles
        }
        tanh(self.last.forward(h))
    }
}

/// D_xz: (image, code) -> (logit [b], features [b, 8w]).
#[derive(Module, Debug)]
pub struct DiscriminatorXz {
    x_convs: Vec<SnConv2d>,
    /// BatchNorm of the x convolutions after the first.
    x_norms: Vec<BatchNorm>,
    z1: SnLinear,
    z2: SnLinear,
    joint: SnLinear,
    out: Linear,
}

impl DiscriminatorXz {
    pub fn forward(
        &self,
        x: Tensor<4>,
        z: Tensor<2>,
        mut d: Option<&mut Dropout>,
    ) -> (Tensor<1>, Tensor<2>) {
        let mut h = leaky_relu(self.x_convs[0].forward(x), LEAK);
        for (conv, norm) in self.x_convs[1..].iter().zip(&self.x_norms) {
            h = leaky_relu(norm.forward(conv.forward(h)), LEAK);
        }
        let [b, ..] = h.dims();
        let hx: Tensor<2> = h.flatten(1, 3); // [b, 16 * top width]
        let hz = drop(leaky_relu(self.z1.forward(z), LEAK), &mut d);
        let hz = drop(leaky_relu(self.z2.forward(hz), LEAK), &mut d); // [b, 4w]
        let y = Tensor::cat(vec![hx, hz], 1);
        let features = drop(leaky_relu(self.joint.forward(y), LEAK), &mut d); // [b, 8w]
        let logit = self.out.dense(features.clone()).reshape([b]);
        (logit, features)
    }
}

/// D_xx: (image, image) -> (logit [b], features f_xx [b, F]).
#[derive(Module, Debug)]
pub struct DiscriminatorXx {
    conv1: SnConv2d,
    conv2: SnConv2d,
    out: Linear,
}

impl DiscriminatorXx {
    pub fn forward(
        &self,
        x: Tensor<4>,
        other: Tensor<4>,
        mut d: Option<&mut Dropout>,
    ) -> (Tensor<1>, Tensor<2>) {
        let [b, ..] = x.dims();
        let pair = Tensor::cat(vec![x, other], 2); // [b, c, 2s, s]: stacked vertically
        let h = drop(leaky_relu(self.conv1.forward(pair), LEAK), &mut d); // [b, w, s, s/2]
        let h = drop(leaky_relu(self.conv2.forward(h), LEAK), &mut d); // [b, 2w, s/2, s/4]
        let features: Tensor<2> = h.flatten(1, 3);
        let logit = self.out.dense(features.clone()).reshape([b]);
        (logit, features)
    }
}

/// D_zz: (code, code) -> logit [b].
#[derive(Module, Debug)]
pub struct DiscriminatorZz {
    d1: SnLinear,
    d2: SnLinear,
    out: Linear,
}

impl DiscriminatorZz {
    pub fn forward(
        &self,
        z: Tensor<2>,
        other: Tensor<2>,
        mut d: Option<&mut Dropout>,
    ) -> Tensor<1> {
        let [b, _] = z.dims();
        let y = Tensor::cat(vec![z, other], 1); // [b, 2 latent]
        let y = drop(leaky_relu(self.d1.forward(y), LEAK), &mut d);
        let y = drop(leaky_relu(self.d2.forward(y), LEAK), &mut d);
        self.out.dense(y).reshape([b])
    }
}

/// The networks the scores use (E, G, D_xx), in eval mode: what a stored
/// ALAD model keeps (D_xz and D_zz are not: no score uses them).
#[derive(Module, Debug)]
pub struct EvalNets {
    pub encoder: Encoder,
    pub generator: Generator,
    pub dxx: DiscriminatorXx,
}

impl EvalNets {
    /// The four scores of a batch, in the order of `AladScore::ALL`.
    pub fn variants(&self, x: Tensor<4>) -> Result<Vec<Vec<f32>>, DetectorError> {
        let [n, ..] = x.dims();
        let rec = self.generator.forward(self.encoder.forward(x.clone()));
        let (_, f_real) = self.dxx.forward(x.clone(), x.clone(), None);
        let (logit, f_rec) = self.dxx.forward(x.clone(), rec.clone(), None);
        let features = (f_real - f_rec).abs().sum_dim(1).reshape([n]);
        let diff: Tensor<2> = (x - rec).flatten(1, 3);
        let l1 = diff.clone().abs().sum_dim(1).reshape([n]);
        let l2 = diff.square().sum_dim(1).sqrt().reshape([n]);
        let logits = softplus(logit.neg(), 1.0);
        columns(vec![features, l1, l2, logits], n)
    }

    /// The mean Features score of `images` (the early-stopping criterion).
    pub fn mean_features(
        &self,
        images: &PreparedImages,
        batch: usize,
        device: &Device,
    ) -> Result<f64, DetectorError> {
        let all: Vec<usize> = (0..images.len()).collect();
        let mut sum = 0.0;
        for idx in all.chunks(batch.max(1)) {
            let variants = self.variants(images.batch(idx, device))?;
            sum += variants[0].iter().map(|&v| v as f64).sum::<f64>();
        }
        Ok(sum / images.len().max(1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn official_shapes_at_32_and_tiny_ones_at_16_and_8() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (side, c, w) in [(32usize, 3usize, 8usize), (16, 1, 4), (8, 1, 2)] {
            let p = AladParams {
                image_size: side,
                latent: 5,
                encoder_width: w,
                generator_width: w,
                dxz_width: w,
                dxx_width: w,
                dzz_width: w,
                ..AladParams::default()
            };
            let cfg = NetConfig::new(&p, c).expect("net");
            let e = cfg.encoder(&mut rng, &dev);
            let g = cfg.generator(&mut rng, &dev);
            let x = Tensor::<4>::zeros([2, c, side, side], &dev);
            let z = e.forward(x.clone());
            assert_eq!(z.dims(), [2, 5]);
            let rec = g.forward(z.clone());
            assert_eq!(rec.dims(), [2, c, side, side]);
            let (l, f) = cfg.dxz(&mut rng, &dev).forward(x.clone(), z.clone(), None);
            assert_eq!((l.dims(), f.dims()), ([2], [2, 8 * w]));
            let (l, f) = cfg.dxx(&mut rng, &dev).forward(x, rec, None);
            assert_eq!(l.dims(), [2]);
            assert_eq!(f.dims(), [2, cfg.dxx_features()]);
            assert_eq!(
                cfg.dzz(&mut rng, &dev).forward(z.clone(), z, None).dims(),
                [2]
            );
        }
        // The reference's sizes: D_xx features 128 x 16 x 8 at 32 (stacking
        // the two images as channels would give 128 x 8 x 8).
        let official = NetConfig::new(&AladParams::default(), 3).expect("net");
        assert_eq!(official.dxx_features(), 16384);
    }
}
