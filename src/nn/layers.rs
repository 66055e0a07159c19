//! Keras-style layers (as in the TF1/Keras reference code of FenceGAN, and
//! generic enough for any port of Keras networks): dense and convolution
//! layers with zero biases and seeded kernel initialisation (N(0, std) or
//! Keras `glorot_normal`), convolutions and transposed convolutions with TF's
//! `padding='same'` (asymmetric when the kernel is odd), BatchNorm with
//! Keras's momentum 0.99 / epsilon 1e-3, dropout whose masks come from our
//! own ChaCha RNG, and Keras's `l2` kernel penalty.

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::conv::Convolve;
use super::init::{constant_param, normal_values};
use super::reduce::sum_all;

/// How a kernel is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// N(0, std) (the `tf.random_normal_initializer(0, std)` of the references).
    Normal(f64),
    /// Keras 2.2 `glorot_normal`: a normal truncated at two standard
    /// deviations, scaled so that its variance is 2 / (fan_in + fan_out).
    GlorotNormal,
}

/// Keras's correction of a normal truncated at 2 sigma (its standard deviation).
const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

/// `n` draws of N(0, std) truncated to [-2 std, 2 std] (rejection).
pub fn truncated_normal_values(n: usize, std: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let more = normal_values((n - out.len()).max(16), 0.0, std, rng);
        out.extend(
            more.into_iter()
                .filter(|v| (*v as f64).abs() <= 2.0 * std)
                .take(n - out.len()),
        );
    }
    out
}

impl Init {
    /// `n` kernel values for a layer with these fans.
    pub fn values(self, n: usize, fan_in: usize, fan_out: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
        match self {
            Init::Normal(std) => normal_values(n, 0.0, std, rng),
            Init::GlorotNormal => {
                let std = (2.0 / (fan_in + fan_out) as f64).sqrt() / TRUNCATED_STD;
                truncated_normal_values(n, std, rng)
            }
        }
    }

    fn param<const D: usize>(
        self,
        shape: [usize; D],
        fans: (usize, usize),
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Param<Tensor<D>> {
        let n = shape.iter().product();
        let v = self.values(n, fans.0, fans.1, rng);
        Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
    }
}

/// A dense layer `din -> dout` with a zero bias.
pub fn dense(din: usize, dout: usize, init: Init, rng: &mut ChaCha8Rng, device: &Device) -> Linear {
    let mut l = LinearConfig::new(din, dout).init(device);
    // burn's Linear stores [d_input, d_output] (row layout).
    l.weight = init.param([din, dout], (din, dout), rng, device);
    l.bias = Some(constant_param([dout], 0.0, device));
    l
}

/// Keras `BatchNormalization()`: gamma 1, beta 0, running statistics
/// updated as 0.99 * old + 0.01 * batch, epsilon 1e-3.
pub fn keras_batch_norm(features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(features)
        .with_momentum(0.01)
        .with_epsilon(1e-3)
        .init(device)
}

/// Gives `bn` its own copy of its running statistics: a clone of a module
/// shares them, so a training-mode pass through a frozen clone (Keras's
/// non-trainable layers inside a combined model, which still normalise with
/// batch statistics) would otherwise update the original's.
pub fn private_running_stats(bn: &mut BatchNorm) {
    bn.running_mean = RunningState::new(bn.running_mean.value_sync());
    bn.running_var = RunningState::new(bn.running_var.value_sync());
}

/// TF's `padding='same'` of a convolution over `size` samples: (before, after).
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// A `k x k` convolution `[cin, cout]` with stride `stride`, TF `same` padding for a
/// `side x side` input (output side `ceil(side / stride)`), zero bias.
pub fn same_conv(
    [cin, cout]: [usize; 2],
    kernel: usize,
    stride: usize,
    side: usize,
    init: Init,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Conv2d {
    let (a, b) = same_padding(side, kernel, stride);
    let mut c = Conv2dConfig::new([cin, cout], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(a, a, b, b))
        .init(device);
    let rf = kernel * kernel;
    c.weight = init.param(
        [cout, cin, kernel, kernel],
        (cin * rf, cout * rf),
        rng,
        device,
    );
    c.bias = Some(constant_param([cout], 0.0, device));
    c
}

/// A transposed convolution with TF's `padding='same'`: the output side is
/// `stride * side`, cropped as TF crops (one more at the end for odd
/// `kernel - stride`, e.g. 5x5 with stride 2).
#[derive(Module, Debug)]
pub struct SameConvTranspose {
    pub conv: ConvTranspose2d,
}

impl SameConvTranspose {
    pub fn new(
        [cin, cout]: [usize; 2],
        kernel: usize,
        stride: usize,
        init: Init,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> SameConvTranspose {
        // TF crops (k - s) / 2 before and the rest after; burn crops `pad`
        // on both sides, so the extra one at the end is sliced off.
        let before = kernel.saturating_sub(stride) / 2;
        let mut conv = ConvTranspose2dConfig::new([cin, cout], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding([before, before])
            .init(device);
        let rf = kernel * kernel;
        // Weights are [in, out, k, k]; Keras's fans are (out * k^2, in * k^2).
        conv.weight = init.param(
            [cin, cout, kernel, kernel],
            (cout * rf, cin * rf),
            rng,
            device,
        );
        conv.bias = Some(constant_param([cout], 0.0, device));
        SameConvTranspose { conv }
    }

    /// [b, cin, h, w] -> [b, cout, stride * h, stride * w].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, _, h, w] = x.dims();
        let s = self.conv.stride;
        let y = self.conv.convolve(x);
        let [_, c, yh, yw] = y.dims();
        if yh == h * s[0] && yw == w * s[1] {
            y
        } else {
            y.slice([0..b, 0..c, 0..h * s[0], 0..w * s[1]])
        }
    }
}

/// Inverted dropout at `rate` (Keras `Dropout`): each value is zeroed with
/// probability `rate`, the others scaled by 1 / (1 - rate); the mask comes
/// from `rng`, so a seed repeats it on every backend.
pub fn dropout<const D: usize>(x: Tensor<D>, rate: f64, rng: &mut ChaCha8Rng) -> Tensor<D> {
    if rate <= 0.0 {
        return x;
    }
    let dims = x.dims();
    let n: usize = dims.iter().product();
    let keep = (1.0 / (1.0 - rate)) as f32;
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            if rng.random::<f64>() < rate {
                0.0
            } else {
                keep
            }
        })
        .collect();
    let mask = Tensor::<D>::from_data(TensorData::new(mask, dims), &x.device());
    x * mask
}

/// Keras `l2(weight)` on one kernel: weight * sum(w^2), a loss term.
pub fn l2_penalty<const D: usize>(kernel: &Param<Tensor<D>>, weight: f64) -> Tensor<1> {
    sum_all(kernel.val().square()).mul_scalar(weight)
}

/// A `[n, dim]` batch of N(0, 1) noise from `rng`.
pub fn normal_noise(n: usize, dim: usize, rng: &mut ChaCha8Rng, device: &Device) -> Tensor<2> {
    let v = normal_values(n * dim, 0.0, 1.0, rng);
    Tensor::from_data(TensorData::new(v, [n, dim]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn same_padding_matches_tf() {
        // TF: out = ceil(n / s), total = max((out - 1) s + k - n, 0), before = total / 2.
        assert_eq!(same_padding(28, 4, 2), (1, 1));
        assert_eq!(same_padding(32, 5, 2), (1, 2));
        assert_eq!(same_padding(7, 4, 2), (1, 2));
        assert_eq!(same_padding(8, 3, 1), (1, 1));
    }

    #[test]
    fn same_convs_halve_and_double_the_side() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (k, side) in [(4usize, 28usize), (5, 32), (5, 8), (4, 8)] {
            let c = same_conv([2, 3], k, 2, side, Init::GlorotNormal, &mut rng, &dev);
            let y = c.forward(Tensor::ones([1, 2, side, side], &dev));
            assert_eq!(y.dims(), [1, 3, side / 2, side / 2], "k {k} side {side}");
            let t = SameConvTranspose::new([3, 2], k, 2, Init::Normal(0.02), &mut rng, &dev);
            assert_eq!(t.forward(y).dims(), [1, 2, side, side], "k {k} side {side}");
        }
    }

    /// A 1x1 -> 2x2 transposed 5x5 convolution with stride 2 keeps TF's
    /// window: out[i][j] = w[i + 1][j + 1] (TF crops one row/column first).
    #[test]
    fn transposed_same_crops_as_tf() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut t = SameConvTranspose::new([1, 1], 5, 2, Init::Normal(1.0), &mut rng, &dev);
        let w: Vec<f32> = (0..25).map(|v| v as f32).collect();
        t.conv.weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(w, [1, 1, 5, 5]), &dev));
        let y = t.forward(Tensor::ones([1, 1, 1, 1], &dev)).into_data();
        assert_eq!(y.as_slice::<f32>().expect("f32"), &[6.0, 7.0, 11.0, 12.0]);
    }

    #[test]
    fn glorot_has_the_keras_variance_and_dropout_the_keras_scale() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let v = Init::GlorotNormal.values(40_000, 30, 70, &mut rng);
        let var = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((var - 0.02).abs() < 0.001, "variance {var}");
        let bound = 2.0 * (0.02f64).sqrt() / TRUNCATED_STD;
        assert!(v.iter().all(|&x| (x as f64).abs() <= bound + 1e-6));
        let x = Tensor::<2>::ones([100, 100], &Device::flex());
        let y = dropout(x, 0.2, &mut rng).into_data();
        let y = y.as_slice::<f32>().expect("f32");
        let zeros = y.iter().filter(|&&v| v == 0.0).count();
        assert!((1800..2200).contains(&zeros), "{zeros} zeros");
        assert!(y.iter().all(|&v| v == 0.0 || (v - 1.25).abs() < 1e-6));
    }
}
