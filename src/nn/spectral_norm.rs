//! Spectral normalisation (Miyato et al., 2018) as the TF code of the GAN
//! references does it (taki0112/Spectral_Normalization-Tensorflow, copied as
//! houssamzenati/Adversarially-Learned-Anomaly-Detection utils/sn.py): the
//! kernel, seen as a `[rows, out]` matrix W (TF's `reshape(w, [-1, out])`),
//! is divided by an estimate of its largest singular value, sigma, from one
//! power iteration started at a persistent vector u (`[1, out]`, drawn from
//! a standard normal truncated at two deviations):
//!
//! ```text
//! v = u W^T / |u W^T|,  u' = v W / |v W|,  sigma = v W u'^T,  W_sn = W / sigma
//! ```
//!
//! As in the reference, the gradient flows through v, u' and sigma (no
//! stop-gradient). u' replaces u after every training forward (a forward on
//! an autodiff device, the rule burn's BatchNorm uses); an eval forward runs
//! the same iteration from the stored u but keeps u as it is (the reference
//! also assigns u at test time; here scoring never changes the model). u is
//! a [`RunningState`], so it is saved and loaded with the weights and a clone
//! of the module shares it (as BatchNorm's running statistics).
//!
//! [`SnConv2d`] and [`SnLinear`] wrap burn's `Conv2d` and `Linear` with an
//! optional normalisation (`None`: the plain layer).

use burn::module::{Module, RunningState};
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::conv;
use super::dense::{linear, matmul};
use super::layers::truncated_normal_values;
use super::reduce::sum_all;

/// TF's `eps` added to the norms of the power iteration.
const EPS: f64 = 1e-12;

/// The persistent power-iteration vector of one kernel.
#[derive(Module, Debug)]
pub struct SpectralNorm {
    /// u, `[1, out]`.
    u: RunningState<Tensor<2>>,
}

impl SpectralNorm {
    /// For a kernel with `out` output units; u from `rng` (TF's
    /// `truncated_normal_initializer()`: N(0, 1) truncated at 2).
    pub fn new(out: usize, rng: &mut ChaCha8Rng, device: &Device) -> SpectralNorm {
        let u = truncated_normal_values(out, 1.0, rng);
        SpectralNorm::with_u(u, device)
    }

    /// With a given starting vector (tests, hand-computed values).
    pub fn with_u(u: Vec<f32>, device: &Device) -> SpectralNorm {
        let n = u.len();
        SpectralNorm {
            u: RunningState::new(Tensor::from_data(TensorData::new(u, [1, n]), device)),
        }
    }

    /// The stored u, `[1, out]`.
    pub fn u(&self) -> Tensor<2> {
        self.u.value_sync()
    }

    /// sigma (shape `[1, 1]`) of the `[rows, out]` matrix `w`, from one
    /// power iteration; u is updated when `w` is on an autodiff device.
    pub fn sigma(&self, w: Tensor<2>) -> Tensor<2> {
        let u = self.u.value_sync();
        let v = matmul(u, w.clone().transpose()); // [1, rows]
        let v = v.clone() / (sum_all(v.square()).sqrt().add_scalar(EPS)).reshape([1, 1]);
        let vw = matmul(v, w); // [1, out]
        let u_hat =
            vw.clone() / (sum_all(vw.clone().square()).sqrt().add_scalar(EPS)).reshape([1, 1]);
        let sigma = matmul(vw, u_hat.clone().transpose()); // [1, 1]
        if u_hat.is_autodiff() {
            self.u.update(u_hat.detach());
        }
        sigma
    }
}

/// A 2-d convolution (explicit or valid padding, as `layers::same_conv`
/// builds them) whose kernel is optionally spectrally normalised.
#[derive(Module, Debug)]
pub struct SnConv2d {
    pub conv: Conv2d,
    pub norm: Option<SpectralNorm>,
}

impl SnConv2d {
    /// Wraps `conv`; `norm`: with spectral normalisation (u from `rng`).
    pub fn new(conv: Conv2d, norm: bool, rng: &mut ChaCha8Rng, device: &Device) -> SnConv2d {
        let [out, ..] = conv.weight.dims();
        SnConv2d {
            conv,
            norm: norm.then(|| SpectralNorm::new(out, rng, device)),
        }
    }

    /// The kernel the convolution uses: W / sigma, or W.
    pub fn kernel(&self) -> Tensor<4> {
        let w = self.conv.weight.val();
        match &self.norm {
            None => w,
            Some(sn) => {
                // burn's [out, in, k, k] as TF's [k * k * in, out] (rows
                // permuted, which changes no singular value).
                let [o, i, kh, kw] = w.dims();
                let m = w.clone().reshape([o, i * kh * kw]).transpose();
                w / sn.sigma(m).reshape([1, 1, 1, 1])
            }
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pad = match &self.conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => {
                [(*top, *bottom), (*left, *right)]
            }
            _ => [(0, 0), (0, 0)],
        };
        assert!(
            self.conv.dilation == [1, 1] && self.conv.groups == 1,
            "spectral-norm convolutions are plain (no dilation, one group)"
        );
        conv::conv2d(
            x,
            self.kernel(),
            self.conv.bias.as_ref().map(|b| b.val()),
            self.conv.stride,
            pad,
        )
    }
}

/// A dense layer whose kernel is optionally spectrally normalised.
#[derive(Module, Debug)]
pub struct SnLinear {
    pub linear: Linear,
    pub norm: Option<SpectralNorm>,
}

impl SnLinear {
    /// Wraps `linear`; `norm`: with spectral normalisation (u from `rng`).
    pub fn new(linear: Linear, norm: bool, rng: &mut ChaCha8Rng, device: &Device) -> SnLinear {
        let [_, out] = linear.weight.dims();
        SnLinear {
            linear,
            norm: norm.then(|| SpectralNorm::new(out, rng, device)),
        }
    }

    /// The kernel `[in, out]` (TF's layout): W / sigma, or W.
    pub fn kernel(&self) -> Tensor<2> {
        let w = self.linear.weight.val();
        match &self.norm {
            None => w,
            Some(sn) => w.clone() / sn.sigma(w),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        linear(x, self.kernel(), self.linear.bias.as_ref().map(|b| b.val()))
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use rand::SeedableRng;

    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().as_slice::<f32>().expect("f32").to_vec()
    }

    fn matrix(v: [f32; 4], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v.to_vec(), [2, 2]), device)
    }

    /// W = diag(3, 1), u = (1, 1): v = (3, 1) / sqrt(10), u' = (9, 1) /
    /// sqrt(82), sigma = (9, 1) / sqrt(10) . (9, 1) / sqrt(82) = sqrt(8.2);
    /// repeated training passes converge to the true sigma, 3.
    #[test]
    fn one_iteration_gives_the_hand_computed_sigma_and_training_converges() {
        let dev = Device::flex();
        let sn = SpectralNorm::with_u(vec![1.0, 1.0], &dev);
        let s = values(sn.sigma(matrix([3.0, 0.0, 0.0, 1.0], &dev)))[0];
        assert!((s - 8.2f32.sqrt()).abs() < 1e-5, "{s}");
        // Not on an autodiff device: u is unchanged and sigma repeats.
        assert_eq!(values(sn.u()), vec![1.0, 1.0]);
        let again = values(sn.sigma(matrix([3.0, 0.0, 0.0, 1.0], &dev)))[0];
        assert_eq!(s, again);

        let train = dev.clone().autodiff();
        let sn = SpectralNorm::with_u(vec![1.0, 1.0], &train);
        let w = matrix([3.0, 0.0, 0.0, 1.0], &train);
        let first = values(sn.sigma(w.clone()))[0];
        assert!((first - 8.2f32.sqrt()).abs() < 1e-5, "{first}");
        let u = values(sn.u());
        let n = 82f32.sqrt();
        assert!(
            (u[0] - 9.0 / n).abs() < 1e-6 && (u[1] - 1.0 / n).abs() < 1e-6,
            "{u:?}"
        );
        let mut last = first;
        for _ in 0..20 {
            last = values(sn.sigma(w.clone()))[0];
        }
        assert!((last - 3.0).abs() < 1e-4, "{last}");
    }

    /// A rank-one matrix a b^T has sigma |a| |b|, found in one iteration.
    #[test]
    fn a_normalised_dense_kernel_has_spectral_norm_one() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut dense = LinearConfig::new(2, 2).with_bias(false).init(&dev);
        // a = (1, 2), b = (2, 2): sigma = sqrt(5) * sqrt(8).
        dense.weight = Param::from_tensor(matrix([2.0, 2.0, 4.0, 4.0], &dev));
        let layer = SnLinear::new(dense, true, &mut rng, &dev);
        let k = values(layer.kernel());
        let sigma = 40f32.sqrt();
        for (got, want) in k.iter().zip([2.0, 2.0, 4.0, 4.0]) {
            assert!((got - want / sigma).abs() < 1e-5, "{k:?}");
        }
        let y = values(layer.forward(Tensor::from_data(
            TensorData::new(vec![1.0f32, 0.0], [1, 2]),
            &dev,
        )));
        assert!((y[0] - 2.0 / sigma).abs() < 1e-5, "{y:?}");
    }

    /// The normalised convolution equals the plain one with W / sigma, and
    /// sigma is that of the kernel seen as a [k * k * in, out] matrix.
    #[test]
    fn a_normalised_convolution_divides_its_kernel() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let conv = crate::nn::layers::same_conv(
            [2, 3],
            3,
            2,
            6,
            crate::nn::layers::Init::Normal(1.0),
            &mut rng,
            &dev,
        );
        let plain = SnConv2d::new(conv.clone(), false, &mut rng, &dev);
        let normed = SnConv2d::new(conv.clone(), true, &mut rng, &dev);
        let x = Tensor::<4>::ones([1, 2, 6, 6], &dev);
        let a = values(plain.forward(x.clone()));
        assert_eq!(a, values(conv.forward(x.clone())));
        let b = values(normed.forward(x));
        // b = a / sigma for every output value (zero biases).
        let ratio = a[0] / b[0];
        assert!(ratio > 0.0);
        for (p, q) in a.iter().zip(&b) {
            assert!((p / ratio - q).abs() < 1e-4 * p.abs().max(1.0), "{p} {q}");
        }
        // sigma never exceeds the Frobenius norm of the kernel.
        let fro = values(conv.weight.val().square().sum())[0].sqrt();
        assert!(ratio <= fro + 1e-4, "{ratio} > {fro}");
    }
}
