//! The forward pass of burn's `Conv2d` / `ConvTranspose2d` layers as every
//! network here runs it ([`Convolve`]), and [`conv2d`] for layers that
//! compute their weight (spectral normalisation).
//!
//! A convolution with explicit padding and no dilation or groups calls
//! burn's `module::conv2d` with that padding; everything else is the layer's
//! own `forward`. (A second path, every convolution as one batch-wide matrix
//! product, was measured slower than burn's on every shape of the flex
//! backend, a GANomaly step 1.12x, and was removed; the measurements are in
//! `bench/ganomaly/README.md`.)

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

/// A convolution layer's forward pass.
pub trait Convolve {
    fn convolve(&self, x: Tensor<4>) -> Tensor<4>;
}

impl Convolve for Conv2d {
    fn convolve(&self, x: Tensor<4>) -> Tensor<4> {
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
            ),
            _ => self.forward(x),
        }
    }
}

impl Convolve for ConvTranspose2d {
    fn convolve(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x)
    }
}

/// A convolution (no dilation, one group) of `x [b, cin, h, w]` by
/// `weight [cout, cin, kh, kw]`, padding as `[(top, bottom), (left,
/// right)]`: for layers that compute their weight (spectral normalisation).
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    padding: [(usize, usize); 2],
) -> Tensor<4> {
    burn::tensor::module::conv2d(
        x,
        weight,
        bias,
        ConvOptions::new_with_padding(stride, padding, [1, 1], 1),
    )
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Device;

    use super::*;
    use crate::nn::testutil::{max_abs_diff, random};

    /// Explicit (also uneven) and valid padding through `module::conv2d`
    /// give the layer's own forward pass.
    #[test]
    fn convolutions_equal_the_layers_forward() {
        let dev = Device::flex();
        for (padding, seed) in [
            (PaddingConfig2d::Explicit(1, 1, 1, 1), 0),
            (PaddingConfig2d::Explicit(0, 1, 2, 1), 1),
            (PaddingConfig2d::Valid, 2),
        ] {
            let layer = Conv2dConfig::new([3, 5], [4, 4])
                .with_stride([2, 2])
                .with_padding(padding.clone())
                .init(&dev);
            let x = random([2, 3, 9, 9], seed, &dev);
            let (a, b) = (layer.convolve(x.clone()), layer.forward(x));
            assert_eq!(a.dims(), b.dims(), "{padding:?}");
            assert!(max_abs_diff(a, b) < 1e-5, "{padding:?}");
        }
    }
}
