//! FenceGAN networks (utils/model.py of the reference), for any side the
//! official shapes extend to:
//!
//! - `mnist` (side s divisible by 4; the reference's 28 starts at 7x7):
//!   G: z -> Dense 16w ReLU BN -> Dense (s/4)^2 * 2w ReLU BN -> [2w, s/4, s/4]
//!   -> ConvT w 4x4 s2 ReLU BN -> ConvT c 4x4 s2 tanh;
//!   D: Conv w 4x4 s2 LReLU(.1) -> Conv w 4x4 s2 LReLU(.1) -> Dense 16w
//!   LReLU(.1) -> Dense 1. Kernels N(0, 0.02). Official w = 64 (both).
//! - `cifar10` (side divisible by 16; 32 starts at 2x2):
//!   G: z -> Dense (s/16)^2 * 8w -> [8w, s/16, s/16] BN LReLU(.2) -> ConvT 4w,
//!   2w, w (5x5 s2, BN + LReLU(.2)) -> ConvT c 5x5 s2 tanh;
//!   D: Conv w, 2w, 4w (5x5 s2, BN + LReLU(.2)), Conv 8w 5x5 s2 LReLU(.2)
//!   -> flatten -> dropout .2 -> Dense 1. Kernels `glorot_normal`. Official w = 32.
//!
//! D returns the logit: the reference's final sigmoid is folded into the
//! losses and the score. Keras reshapes and flattens NHWC where these do NCHW:
//! with i.i.d. initialised dense layers that is only a relabelling of units.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::nn::NnError;
use crate::nn::batch::Preprocessing;
use crate::nn::conv::Convolve;
use crate::nn::dense::Dense;
use crate::nn::layers::{
    Init, SameConvTranspose, dense, dropout, keras_batch_norm, l2_penalty, private_running_stats,
    same_conv,
};
use crate::spec::methods::FenceGanParams;
use crate::spec::methods::fence_gan::{Network, side_multiple};
use crate::spec::methods::input::ChannelStats;

const MNIST_INIT: Init = Init::Normal(0.02);
const MNIST_LEAK: f64 = 0.1;
const CIFAR_LEAK: f64 = 0.2;
const CIFAR_DROPOUT: f64 = 0.2;

/// What fixes the networks' shapes and their input; saved next to the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// `Mnist` or `Cifar10`.
    pub network: Network,
    /// Side images are resized to; `None` keeps their size.
    pub resize: Option<usize>,
    /// Side of the network's input.
    pub side: usize,
    pub channels: usize,
    pub stats: ChannelStats,
    pub latent: usize,
    pub generator_width: usize,
    pub discriminator_width: usize,
}

impl NetConfig {
    /// The networks for `channels`-channel images of `height x width` pixels.
    pub fn new(
        params: &FenceGanParams,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<NetConfig, NnError> {
        let r = params.resolve(channels).map_err(NnError::Input)?;
        let input = Preprocessing::new(
            params.image_size,
            &params.normalization,
            channels,
            FenceGanParams::official_normalization,
        )?;
        let side = match params.image_size {
            Some(s) => s,
            None if height == width => height,
            None => {
                return Err(NnError::Input(format!(
                    "FenceGAN needs square images, got {height}x{width}: set `image_size`"
                )));
            }
        };
        let m = side_multiple(r.network);
        if side == 0 || side % m != 0 {
            let name = if m == 16 { "cifar10" } else { "mnist" };
            return Err(NnError::Input(format!(
                "the FenceGAN {name} network needs a side divisible by {m}, the images are {side}x{side}: set `image_size` (e.g. {})",
                side.div_ceil(m).max(1) * m
            )));
        }
        Ok(NetConfig {
            network: r.network,
            resize: params.image_size,
            side,
            channels,
            stats: input.stats,
            latent: r.latent,
            generator_width: r.generator_width,
            discriminator_width: r.discriminator_width,
        })
    }

    /// How images become this network's input.
    pub fn preprocessing(&self) -> Preprocessing {
        Preprocessing {
            side: self.resize,
            stats: self.stats.clone(),
        }
    }

    /// The generator, initialised from `rng`.
    pub fn generator(&self, rng: &mut ChaCha8Rng, device: &Device) -> Generator {
        let (w, c, z) = (self.generator_width, self.channels, self.latent);
        match self.network {
            Network::Cifar10 => {
                let start = self.side / 16;
                let init = Init::GlorotNormal;
                let mut ups = Vec::new();
                let mut width = 8 * w;
                for _ in 0..3 {
                    ups.push(UpBlock {
                        conv: SameConvTranspose::new([width, width / 2], 5, 2, init, rng, device),
                        norm: keras_batch_norm(width / 2, device),
                    });
                    width /= 2;
                }
                Generator::Cifar10(CifarGenerator {
                    dense: dense(z, start * start * 8 * w, init, rng, device),
                    norm: keras_batch_norm(8 * w, device),
                    ups,
                    last: SameConvTranspose::new([w, c], 5, 2, init, rng, device),
                })
            }
            _ => {
                let start = self.side / 4;
                Generator::Mnist(MnistGenerator {
                    dense1: dense(z, 16 * w, MNIST_INIT, rng, device),
                    norm1: keras_batch_norm(16 * w, device),
                    dense2: dense(16 * w, start * start * 2 * w, MNIST_INIT, rng, device),
                    norm2: keras_batch_norm(start * start * 2 * w, device),
                    up: SameConvTranspose::new([2 * w, w], 4, 2, MNIST_INIT, rng, device),
                    norm3: keras_batch_norm(w, device),
                    last: SameConvTranspose::new([w, c], 4, 2, MNIST_INIT, rng, device),
                })
            }
        }
    }

    /// The discriminator, initialised from `rng`.
    pub fn discriminator(&self, rng: &mut ChaCha8Rng, device: &Device) -> Discriminator {
        let (w, c, s) = (self.discriminator_width, self.channels, self.side);
        match self.network {
            Network::Cifar10 => {
                let init = Init::GlorotNormal;
                let mut downs = Vec::new();
                let (mut cin, mut side) = (c, s);
                for k in 0..3 {
                    let cout = w << k;
                    downs.push(DownBlock {
                        conv: same_conv([cin, cout], 5, 2, side, init, rng, device),
                        norm: keras_batch_norm(cout, device),
                    });
                    cin = cout;
                    side /= 2;
                }
                let last = same_conv([cin, 8 * w], 5, 2, side, init, rng, device);
                let flat = 8 * w * (s / 16) * (s / 16);
                Discriminator::Cifar10(CifarDiscriminator {
                    downs,
                    last,
                    out: dense(flat, 1, init, rng, device),
                })
            }
            _ => {
                let flat = w * (s / 4) * (s / 4);
                Discriminator::Mnist(MnistDiscriminator {
                    conv1: same_conv([c, w], 4, 2, s, MNIST_INIT, rng, device),
                    conv2: same_conv([w, w], 4, 2, s / 2, MNIST_INIT, rng, device),
                    dense: dense(flat, 16 * w, MNIST_INIT, rng, device),
                    out: dense(16 * w, 1, MNIST_INIT, rng, device),
                })
            }
        }
    }
}

/// ConvT + BatchNorm + LeakyReLU(0.2) (the cifar10 generator).
#[derive(Module, Debug)]
pub struct UpBlock {
    conv: SameConvTranspose,
    norm: BatchNorm,
}

/// Conv + BatchNorm + LeakyReLU(0.2) (the cifar10 discriminator).
#[derive(Module, Debug)]
pub struct DownBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

#[derive(Module, Debug)]
pub struct MnistGenerator {
    dense1: Linear,
    norm1: BatchNorm,
    dense2: Linear,
    norm2: BatchNorm,
    up: SameConvTranspose,
    norm3: BatchNorm,
    last: SameConvTranspose,
}

#[derive(Module, Debug)]
pub struct CifarGenerator {
    dense: Linear,
    norm: BatchNorm,
    ups: Vec<UpBlock>,
    last: SameConvTranspose,
}

/// One of the two generators (a module held once: boxing its variants
/// would save nothing).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Generator {
    Mnist(MnistGenerator),
    Cifar10(CifarGenerator),
}

impl Generator {
    /// z [b, latent] -> images [b, c, s, s] in [-1, 1].
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        match self {
            Generator::Mnist(g) => {
                let h = g.norm1.forward(relu(g.dense1.dense(z))); // [b, 16w]
                let h = g.norm2.forward(relu(g.dense2.dense(h))); // [b, (s/4)^2 2w]
                let [b, f] = h.dims();
                let w2 = g.up.conv.weight.dims()[0];
                let start = ((f / w2) as f64).sqrt().round() as usize;
                let h = h.reshape([b, w2, start, start]); // [b, 2w, s/4, s/4]
                let h = g.norm3.forward(relu(g.up.forward(h))); // [b, w, s/2, s/2]
                tanh(g.last.forward(h)) // [b, c, s, s]
            }
            Generator::Cifar10(g) => {
                let h = g.dense.dense(z); // [b, (s/16)^2 8w]
                let [b, f] = h.dims();
                let w8 = g.norm.gamma.dims()[0];
                let start = ((f / w8) as f64).sqrt().round() as usize;
                let mut h =
                    leaky_relu(g.norm.forward(h.reshape([b, w8, start, start])), CIFAR_LEAK);
                for up in &g.ups {
                    h = leaky_relu(up.norm.forward(up.conv.forward(h)), CIFAR_LEAK); // side doubles
                }
                tanh(g.last.forward(h)) // [b, c, s, s]
            }
        }
    }
}

#[derive(Module, Debug)]
pub struct MnistDiscriminator {
    conv1: Conv2d,
    conv2: Conv2d,
    dense: Linear,
    out: Linear,
}

#[derive(Module, Debug)]
pub struct CifarDiscriminator {
    downs: Vec<DownBlock>,
    last: Conv2d,
    out: Linear,
}

/// One of the two discriminators.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Discriminator {
    Mnist(MnistDiscriminator),
    Cifar10(CifarDiscriminator),
}

impl Discriminator {
    /// Images [b, c, s, s] -> logit of "normal" [b]. `dropout`: the RNG of
    /// the cifar10 network's dropout (training); `None` in eval mode.
    pub fn forward(&self, x: Tensor<4>, dropout_rng: Option<&mut ChaCha8Rng>) -> Tensor<1> {
        let [b, ..] = x.dims();
        match self {
            Discriminator::Mnist(d) => {
                let h = leaky_relu(d.conv1.convolve(x), MNIST_LEAK); // [b, w, s/2, s/2]
                let h = leaky_relu(d.conv2.convolve(h), MNIST_LEAK); // [b, w, s/4, s/4]
                let h = leaky_relu(d.dense.dense(h.flatten::<2>(1, 3)), MNIST_LEAK); // [b, 16w]
                d.out.dense(h).reshape([b])
            }
            Discriminator::Cifar10(d) => {
                let mut h = x;
                for blk in &d.downs {
                    h = leaky_relu(blk.norm.forward(blk.conv.convolve(h)), CIFAR_LEAK); // side halves
                }
                let mut h = leaky_relu(d.last.convolve(h), CIFAR_LEAK).flatten::<2>(1, 3); // [b, 8w (s/16)^2]
                if let Some(rng) = dropout_rng {
                    h = dropout(h, CIFAR_DROPOUT, rng);
                }
                d.out.dense(h).reshape([b])
            }
        }
    }

    /// A copy whose parameters take no gradient and whose BatchNorm running
    /// statistics are its own (training-mode passes through it leave this
    /// module's untouched): the reference's frozen D inside its GAN model.
    pub fn frozen(&self) -> Discriminator {
        let mut d = self.clone().no_grad();
        if let Discriminator::Cifar10(c) = &mut d {
            for blk in &mut c.downs {
                private_running_stats(&mut blk.norm);
            }
        }
        d
    }

    /// Keras `l2(weight)` on the convolution kernels (cifar10 only, as the
    /// reference); `None` when there is nothing to add.
    pub fn l2(&self, weight: f64) -> Option<Tensor<1>> {
        match self {
            Discriminator::Cifar10(d) if weight > 0.0 => Some(
                d.downs
                    .iter()
                    .map(|b| l2_penalty(&b.conv.weight, weight))
                    .fold(l2_penalty(&d.last.weight, weight), |a, t| a + t),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn net(network: Network, channels: usize, side: usize) -> NetConfig {
        let p = FenceGanParams {
            network,
            latent: Some(7),
            generator_width: Some(4),
            discriminator_width: Some(4),
            ..FenceGanParams::default()
        };
        NetConfig::new(&p, channels, side, side).expect("shapes")
    }

    #[test]
    fn both_networks_have_the_official_shapes() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (network, c, s) in [
            (Network::Mnist, 1, 28),
            (Network::Mnist, 1, 8),
            (Network::Cifar10, 3, 32),
            (Network::Cifar10, 1, 16),
        ] {
            let cfg = net(network, c, s);
            let g = cfg.generator(&mut rng, &dev);
            let d = cfg.discriminator(&mut rng, &dev);
            let x = g.forward(Tensor::ones([2, 7], &dev));
            assert_eq!(x.dims(), [2, c, s, s], "{network:?} {s}");
            assert_eq!(d.forward(x.clone(), Some(&mut rng)).dims(), [2]);
            assert_eq!(d.forward(x, None).dims(), [2]);
        }
        // the official widths: 200 -> 1024 -> 7*7*128 for MNIST
        let p = FenceGanParams::default();
        let cfg = NetConfig::new(&p, 1, 28, 28).expect("mnist");
        let g = cfg.generator(&mut rng, &dev);
        let Generator::Mnist(m) = &g else {
            panic!("not the mnist generator")
        };
        assert_eq!(m.dense1.weight.dims(), [200, 1024]);
        assert_eq!(m.dense2.weight.dims(), [1024, 7 * 7 * 128]);
        let cfg = NetConfig::new(&p, 3, 32, 32).expect("cifar");
        let Discriminator::Cifar10(d) = cfg.discriminator(&mut rng, &dev) else {
            panic!("not the cifar10 discriminator")
        };
        assert_eq!(d.last.weight.dims(), [256, 128, 5, 5]);
        assert_eq!(d.out.weight.dims(), [256 * 2 * 2, 1]);
    }

    #[test]
    fn a_frozen_discriminator_leaves_the_running_statistics_alone() {
        let dev = Device::flex().autodiff();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let d = net(Network::Cifar10, 3, 16).discriminator(&mut rng, &dev);
        let stats = |d: &Discriminator| match d {
            Discriminator::Cifar10(c) => c.downs[0].norm.running_mean.value_sync().into_data(),
            Discriminator::Mnist(_) => panic!("not the cifar10 discriminator"),
        };
        let before = stats(&d);
        let x = Tensor::<4>::ones([2, 3, 16, 16], &dev);
        let frozen = d.frozen();
        frozen.forward(x.clone(), None);
        assert_eq!(stats(&d), before);
        assert_ne!(stats(&frozen), before);
        d.forward(x, None);
        assert_ne!(stats(&d), before);
    }

    #[test]
    fn sides_the_network_cannot_take_are_refused() {
        let p = FenceGanParams::default();
        let e = NetConfig::new(&p, 1, 30, 30).expect_err("30 is not a multiple of 4");
        assert!(e.to_string().contains("image_size"), "{e}");
        assert!(NetConfig::new(&p, 3, 28, 28).is_err());
        assert!(NetConfig::new(&p, 1, 8, 8).is_ok());
        let resized = FenceGanParams {
            image_size: Some(28),
            ..p
        };
        let cfg = NetConfig::new(&resized, 1, 8, 8).expect("resized");
        assert_eq!((cfg.side, cfg.preprocessing().side), (28, Some(28)));
    }
}
