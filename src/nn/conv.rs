//! Convolutions and transposed convolutions of burn's `Conv2d` /
//! `ConvTranspose2d` modules computed as one matrix product per layer for
//! the whole batch, and the switch between that path and burn's own.
//!
//! Why: on the `flex` CPU backend burn convolves image by image (a small
//! GEMM per image for each gradient, plus packing and bookkeeping). This
//! path expresses a layer through burn tensor operations that flex runs as
//! whole-batch operations, and autodiff turns it into large matrix products
//! plus one gather and one scatter-add:
//!
//! - Convolution ([`conv2d_gemm`]): the padded batch is made channels-last,
//!   `[b * hp * wp, cin]`; one row `select` (whole channel vectors, so bulk
//!   copies) unfolds it into `[b * ho * wo, kh * kw * cin]` for the whole
//!   batch (no per-image loop), and the output is its product with the
//!   weight put in the same order. Backward: two GEMMs and one row-wise
//!   scatter-add (`select_assign`) of the unfolded gradient.
//! - Transposed convolution ([`conv_transpose2d_gemm`]): the channels-last
//!   batch times the weight gives every input position's contribution to
//!   its `kh x kw` output positions, and one row-wise scatter-add puts them
//!   into the uncropped output (col2im), cropped by the padding. This was
//!   chosen over the four-phase sub-pixel decomposition (four 2x2
//!   convolutions, interleaved) because it is one GEMM instead of four for
//!   every kernel size and stride, and over a col2im built from padded
//!   slices and additions (the first version here), whose slice gradients
//!   made the step 2.7x slower than burn's.
//!
//! Measured (`examples/conv_layers.rs`, GANomaly's layers, batch 64, 2
//! threads): 0.72x burn's time on the 4x4 <-> 1x1 layers and 0.95-1.05x on
//! the 8x8 ones, but 1.2-1.7x on the large maps, where the input-gradient
//! GEMM (`[b * ho * wo, cout] x [cout, kh * kw * cin]`: a small inner
//! dimension and a large output) runs at a third of the speed of the same
//! FLOPs in the other products on flex's matrix multiply. A whole GANomaly
//! step is 1.12x slower, so burn's path stays the default.
//!
//! Results equal burn's layers within float rounding (the tests compare the
//! forward pass and every gradient on random shapes); the parameters are
//! burn's own, so a record trained on one path loads on the other. The
//! path changes no result beyond rounding, so it is not part of any model
//! key: `RUNNER_CONV=gemm` selects this path for the process, `burn` (the
//! default) burn's.

use std::sync::OnceLock;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};

/// Which convolution code the networks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPath {
    /// burn's `conv2d` / `conv_transpose2d` (the default).
    Burn,
    /// This module's batch-wide matrix products.
    Gemm,
}

impl ConvPath {
    /// `burn` or `gemm`.
    pub fn parse(s: &str) -> Option<ConvPath> {
        match s {
            "burn" => Some(ConvPath::Burn),
            "gemm" => Some(ConvPath::Gemm),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ConvPath::Burn => "burn",
            ConvPath::Gemm => "gemm",
        }
    }
}

/// The environment variable that chooses the path for the whole process.
pub const CONV_ENV: &str = "RUNNER_CONV";

/// `RUNNER_CONV` parsed: `Ok(None)` when unset, `Err(message)` when it is
/// not a path name (the CLI reports it before any training).
pub fn conv_path_from_env() -> Result<Option<ConvPath>, String> {
    match std::env::var(CONV_ENV) {
        Ok(v) => ConvPath::parse(v.trim()).map(Some).ok_or_else(|| {
            format!("{CONV_ENV}={v:?} is not a convolution path: use `burn` or `gemm`")
        }),
        Err(_) => Ok(None),
    }
}

/// The path in force: `RUNNER_CONV`, read once, else `burn`.
pub fn conv_path() -> ConvPath {
    static PATH: OnceLock<ConvPath> = OnceLock::new();
    *PATH.get_or_init(|| {
        conv_path_from_env()
            .ok()
            .flatten()
            .unwrap_or(ConvPath::Burn)
    })
}

/// A convolution layer's forward pass on either path.
pub trait Convolve {
    /// The forward pass on `path`.
    fn convolve_on(&self, x: Tensor<4>, path: ConvPath) -> Tensor<4>;

    /// The forward pass on the path in force ([`conv_path`]).
    fn convolve(&self, x: Tensor<4>) -> Tensor<4> {
        self.convolve_on(x, conv_path())
    }
}

impl Convolve for Conv2d {
    fn convolve_on(&self, x: Tensor<4>, path: ConvPath) -> Tensor<4> {
        let pads = match &self.padding {
            PaddingConfig2d::Valid => Some([(0, 0), (0, 0)]),
            PaddingConfig2d::Explicit(top, left, bottom, right) => {
                Some([(*top, *bottom), (*left, *right)])
            }
            // burn computes `Same` itself; no network here uses it.
            PaddingConfig2d::Same => None,
        };
        let plain = self.dilation == [1, 1] && self.groups == 1;
        match pads {
            Some(pads) if plain => conv2d(
                x,
                self.weight.val(),
                self.bias.as_ref().map(|b| b.val()),
                self.stride,
                pads,
                path,
            ),
            _ => self.forward(x),
        }
    }
}

impl Convolve for ConvTranspose2d {
    fn convolve_on(&self, x: Tensor<4>, path: ConvPath) -> Tensor<4> {
        let plain = self.dilation == [1, 1] && self.groups == 1;
        if plain && path == ConvPath::Gemm {
            conv_transpose2d_gemm(
                x,
                self.weight.val(),
                self.bias.as_ref().map(|b| b.val()),
                self.stride,
                self.padding,
                self.padding_out,
            )
        } else {
            self.forward(x)
        }
    }
}

/// A convolution (no dilation, one group) of `x [b, cin, h, w]` by
/// `weight [cout, cin, kh, kw]` on `path`, padding as
/// `[(top, bottom), (left, right)]`: for layers that compute their weight
/// (spectral normalisation).
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    path: ConvPath,
) -> Tensor<4> {
    match path {
        ConvPath::Gemm => conv2d_gemm(x, weight, bias, stride, padding),
        ConvPath::Burn => burn::tensor::module::conv2d(
            x,
            weight,
            bias,
            ConvOptions::new_with_padding(stride, padding, [1, 1], 1),
        ),
    }
}

/// For every output position `n = (image, y, x)` of a `ho x wo` map and
/// every kernel tap `(i, j)`, in that order, the row of a channels-last
/// `[b * gh * gw, c]` matrix it reads (convolution) or adds to (transposed
/// convolution): `image * gh * gw + (y * sh + i) * gw + (x * sw + j)`.
fn window_rows(
    b: usize,
    [gh, gw]: [usize; 2],
    [ho, wo]: [usize; 2],
    [kh, kw]: [usize; 2],
    [sh, sw]: [usize; 2],
    device: &Device,
) -> Tensor<1, Int> {
    let mut rows = Vec::with_capacity(b * ho * wo * kh * kw);
    for image in 0..b {
        for y in 0..ho {
            for x in 0..wo {
                for i in 0..kh {
                    let base = image * gh * gw + (y * sh + i) * gw + x * sw;
                    rows.extend((0..kw).map(|j| (base + j) as i64));
                }
            }
        }
    }
    let n = rows.len();
    Tensor::from_data(TensorData::new(rows, [n]), device)
}

/// burn's `conv2d` (no dilation, one group) as one matrix product for the
/// batch: `x [b, cin, h, w]`, `weight [cout, cin, kh, kw]`, padding as
/// `[(top, bottom), (left, right)]`.
///
/// The padded batch is made channels-last, `[b * hp * wp, cin]`, so that
/// one row `select` (whole channel vectors) unfolds it into
/// `[b * ho * wo, kh * kw * cin]`, whose product with the weight (put in
/// the same `[kh, kw, cin]` order, a copy of the small weight only) is the
/// channels-last output. Backward: the products' two GEMMs and one
/// row-wise scatter-add of the unfolded gradient (col2im).
pub fn conv2d_gemm(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    [(top, bottom), (left, right)]: [(usize, usize); 2],
) -> Tensor<4> {
    let [cout, cin, kh, kw] = weight.dims();
    let [b, xc, h, w] = x.dims();
    assert_eq!(xc, cin, "convolution input channels");
    let (hp, wp) = (h + top + bottom, w + left + right);
    assert!(
        hp >= kh && wp >= kw,
        "convolution kernel {kh}x{kw} larger than its padded input {hp}x{wp}"
    );
    let (ho, wo) = ((hp - kh) / stride[0] + 1, (wp - kw) / stride[1] + 1);
    let rows = window_rows(b, [hp, wp], [ho, wo], [kh, kw], stride, &x.device());
    let cols = x
        .permute([0, 2, 3, 1])
        .pad(
            [(top, bottom), (left, right), (0, 0)],
            PadMode::Constant(0.0),
        )
        .reshape([b * hp * wp, cin])
        .select(0, rows)
        .reshape([b * ho * wo, kh * kw * cin]);
    let taps = weight.permute([0, 2, 3, 1]).reshape([cout, kh * kw * cin]);
    let mut y = super::dense::matmul(cols, taps.transpose()); // [b * ho * wo, cout]
    if let Some(bias) = bias {
        y = y + bias.reshape([1, cout]);
    }
    y.reshape([b, ho, wo, cout]).permute([0, 3, 1, 2])
}

/// burn's `conv_transpose2d` (no dilation, one group) as one matrix product
/// for the batch and one row-wise scatter-add: `x [b, cin, h, w]`,
/// `weight [cin, cout, kh, kw]`.
///
/// The channels-last batch `[b * h * w, cin]` times the weight in
/// `[cin, kh * kw * cout]` order gives every input position's
/// contribution to each of its `kh x kw` output positions; `select_assign`
/// adds them into the uncropped channels-last output (col2im), which is
/// then cropped by the padding. Backward: two GEMMs and one row `select`.
pub fn conv_transpose2d_gemm(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    [ph, pw]: [usize; 2],
    [oph, opw]: [usize; 2],
) -> Tensor<4> {
    let [cin, cout, kh, kw] = weight.dims();
    let [b, xc, h, w] = x.dims();
    assert_eq!(xc, cin, "transposed convolution input channels");
    let [sh, sw] = stride;
    let ho = (h - 1) * sh + kh + oph - 2 * ph;
    let wo = (w - 1) * sw + kw + opw - 2 * pw;
    // The uncropped output, with room for an output padding beyond it.
    let (fh, fw) = (
        ((h - 1) * sh + kh).max(ph + ho),
        ((w - 1) * sw + kw).max(pw + wo),
    );
    let device = x.device();
    let rows = window_rows(b, [fh, fw], [h, w], [kh, kw], stride, &device);
    let taps = weight.permute([0, 2, 3, 1]).reshape([cin, kh * kw * cout]);
    let cols = super::dense::matmul(x.permute([0, 2, 3, 1]).reshape([b * h * w, cin]), taps)
        .reshape([b * h * w * kh * kw, cout]);
    let full = Tensor::<2>::zeros([b * fh * fw, cout], &device).select_assign(
        0,
        rows,
        cols,
        IndexingUpdateOp::Add,
    );
    let mut y = full
        .reshape([b, fh, fw, cout])
        .slice([0..b, ph..ph + ho, pw..pw + wo, 0..cout]);
    if let Some(bias) = bias {
        y = y + bias.reshape([1, 1, 1, cout]);
    }
    y.permute([0, 3, 1, 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};

    use crate::nn::testutil::{max_abs_diff, random};

    fn cpu() -> Device {
        Device::flex()
    }

    fn autodiff() -> Device {
        cpu().autodiff()
    }

    /// Forward and all gradients of both paths on one layer: the largest
    /// difference, relative to the largest magnitude of each.
    fn compare(
        forward: impl Fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>, bool) -> Tensor<4>,
        x_dims: [usize; 4],
        w_dims: [usize; 4],
        cout: usize,
        seed: u64,
    ) -> f32 {
        let dev = autodiff();
        let x = random(x_dims, seed, &dev).require_grad();
        let w = random(w_dims, seed + 1, &dev).require_grad();
        let bias = random([cout], seed + 2, &dev).require_grad();
        let mut worst = 0.0f32;
        let mut outs = Vec::new();
        for gemm in [false, true] {
            let y = forward(x.clone(), w.clone(), Some(bias.clone()), gemm);
            // A loss that weighs every output differently.
            let weights = random(y.dims(), seed + 3, &dev);
            let grads = (y.clone() * weights).sum().backward();
            outs.push((
                y.inner(),
                x.grad(&grads).expect("dx"),
                w.grad(&grads).expect("dw"),
                bias.grad(&grads).expect("db"),
            ));
        }
        let (b, g) = (&outs[0], &outs[1]);
        let rel = |d: f32, t: f32| d / t.max(1.0);
        let scale = |t: &Tensor<4>| t.clone().abs().max().into_scalar();
        worst = worst.max(rel(max_abs_diff(b.0.clone(), g.0.clone()), scale(&b.0)));
        worst = worst.max(rel(max_abs_diff(b.1.clone(), g.1.clone()), scale(&b.1)));
        worst = worst.max(rel(max_abs_diff(b.2.clone(), g.2.clone()), scale(&b.2)));
        let db = max_abs_diff(b.3.clone(), g.3.clone());
        worst.max(rel(db, b.3.clone().abs().max().into_scalar()))
    }

    /// A layer's channels, kernel side, stride and input side.
    #[derive(Clone, Copy, Debug)]
    struct Shape {
        cin: usize,
        cout: usize,
        k: usize,
        s: usize,
        side: [usize; 2],
    }

    fn shape(cin: usize, cout: usize, k: usize, s: usize, side: [usize; 2]) -> Shape {
        Shape {
            cin,
            cout,
            k,
            s,
            side,
        }
    }

    /// A convolution with padding `[top, left, bottom, right]`.
    fn conv_case(shape: Shape, pads: [usize; 4], seed: u64) -> f32 {
        let Shape {
            cin,
            cout,
            k,
            s,
            side,
        } = shape;
        let [top, left, bottom, right] = pads;
        compare(
            |x, w, b, gemm| {
                if gemm {
                    conv2d_gemm(x, w, b, [s, s], [(top, bottom), (left, right)])
                } else {
                    burn::tensor::module::conv2d(
                        x,
                        w,
                        b,
                        burn::tensor::ops::ConvOptions::new_with_padding(
                            [s, s],
                            [(top, bottom), (left, right)],
                            [1, 1],
                            1,
                        ),
                    )
                }
            },
            [3, cin, side[0], side[1]],
            [cout, cin, k, k],
            cout,
            seed,
        )
    }

    /// A transposed convolution with padding `p` and output padding `op`.
    fn conv_t_case(shape: Shape, [p, op]: [usize; 2], seed: u64) -> f32 {
        let Shape {
            cin,
            cout,
            k,
            s,
            side,
        } = shape;
        compare(
            |x, w, b, gemm| {
                if gemm {
                    conv_transpose2d_gemm(x, w, b, [s, s], [p, p], [op, op])
                } else {
                    burn::tensor::module::conv_transpose2d(
                        x,
                        w,
                        b,
                        burn::tensor::ops::ConvTransposeOptions::new(
                            [s, s],
                            [p, p],
                            [op, op],
                            [1, 1],
                            1,
                        ),
                    )
                }
            },
            [3, cin, side[0], side[1]],
            [cin, cout, k, k],
            cout,
            seed,
        )
    }

    const TOL: f32 = 1e-5;

    #[test]
    fn dcgan_convolutions_equal_burns() {
        // 4x4 s2 p1 (the pyramid), 4x4 valid (the last encoder layer),
        // 5x5 s2 TF-same (FenceGAN's CIFAR nets), 3x3 s1 and odd sides.
        for (seed, (cin, cout, k, s, pads, side)) in [
            (2, 5, 4, 2, [1, 1, 1, 1], [16, 16]),
            (4, 3, 4, 1, [0, 0, 0, 0], [4, 4]),
            (3, 4, 5, 2, [1, 1, 2, 2], [8, 8]),
            (2, 2, 3, 1, [1, 1, 1, 1], [7, 5]),
            (1, 3, 4, 2, [0, 1, 2, 0], [9, 6]),
        ]
        .into_iter()
        .enumerate()
        {
            let shape = shape(cin, cout, k, s, side);
            let d = conv_case(shape, pads, seed as u64 * 10);
            assert!(
                d < TOL,
                "conv {cin}->{cout} k{k} s{s} {pads:?} {side:?}: {d}"
            );
        }
    }

    #[test]
    fn dcgan_transposed_convolutions_equal_burns() {
        // 4x4 s2 p1 (the pyramid), 4x4 s1 p0 from 1x1 (the first decoder
        // layer), 5x5 s2 p2 + output padding 1, stride 3 and kernel < stride.
        for (seed, (cin, cout, k, s, p, op, side)) in [
            (3, 2, 4, 2, 1, 0, [5, 5]),
            (4, 3, 4, 1, 0, 0, [1, 1]),
            (2, 3, 5, 2, 2, 1, [4, 3]),
            (2, 2, 3, 3, 1, 0, [3, 4]),
            (2, 2, 1, 2, 0, 1, [3, 3]),
        ]
        .into_iter()
        .enumerate()
        {
            let shape = shape(cin, cout, k, s, side);
            let d = conv_t_case(shape, [p, op], seed as u64 * 10);
            assert!(
                d < TOL,
                "conv_t {cin}->{cout} k{k} s{s} p{p} op{op} {side:?}: {d}"
            );
        }
    }

    #[test]
    fn random_shapes_equal_burns() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for case in 0..24u64 {
            let k = rng.random_range(1..=5);
            let s = rng.random_range(1..=3);
            let (cin, cout) = (rng.random_range(1..=4), rng.random_range(1..=4));
            let side = [rng.random_range(k..=k + 6), rng.random_range(k..=k + 6)];
            let pads = [0, 1, 2, 3].map(|_| rng.random_range(0..k));
            let d = conv_case(shape(cin, cout, k, s, side), pads, 100 + case);
            assert!(
                d < TOL,
                "conv {cin}->{cout} k{k} s{s} {pads:?} {side:?}: {d}"
            );
            let p = rng.random_range(0..k);
            let op = rng.random_range(0..s.min(p + 1));
            let tside = [rng.random_range(1..=5), rng.random_range(1..=5)];
            let d = conv_t_case(shape(cin, cout, k, s, tside), [p, op], 200 + case);
            assert!(
                d < TOL,
                "conv_t {cin}->{cout} k{k} s{s} p{p} op{op} {tside:?}: {d}"
            );
        }
    }

    #[test]
    fn modules_take_either_path_with_their_own_parameters() {
        let dev = cpu();
        let mut conv = Conv2dConfig::new([2, 3], [4, 4])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&dev);
        conv.weight = Param::from_tensor(random([3, 2, 4, 4], 2, &dev));
        let conv_t = ConvTranspose2dConfig::new([3, 2], [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .init(&dev);
        let x = random([2, 2, 8, 8], 1, &dev);
        for path in [ConvPath::Burn, ConvPath::Gemm] {
            let y = conv.convolve_on(x.clone(), path);
            assert!(max_abs_diff(y.clone(), conv.forward(x.clone())) < TOL);
            let z = conv_t.convolve_on(y.clone(), path);
            assert_eq!(z.dims(), [2, 2, 8, 8]);
            assert!(max_abs_diff(z, conv_t.forward(y)) < TOL);
        }
        if std::env::var(CONV_ENV).is_err() {
            assert_eq!(conv_path(), ConvPath::Burn, "the default");
        }
    }

    #[test]
    fn path_names_round_trip() {
        for p in [ConvPath::Burn, ConvPath::Gemm] {
            assert_eq!(ConvPath::parse(p.name()), Some(p));
        }
        assert_eq!(ConvPath::parse("fast"), None);
    }
}
