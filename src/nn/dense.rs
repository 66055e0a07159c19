//! Matrix products and dense layers on every backend: burn's `matmul` (and
//! burn's `Linear` arithmetic) everywhere except on a Vulkan driver that
//! cannot compile burn's matrix-product kernels, where the product is a
//! broadcast multiply and a sum along the shared axis.
//!
//! Why: every burn matrix-product kernel (cubecl's, even for a 2x3 by 3x4
//! product) crashes lavapipe, Mesa's Vulkan driver that runs on the CPU and
//! that tests the Vulkan path without a GPU: SIGSEGV inside
//! `libvulkan_lvp.so`, in `vkCreateComputePipelines`, seen with Mesa 22.3.6
//! and 25.0.7, which kills the whole process. That kernel's SPIR-V also
//! fails `spirv-val` (SPIRV-Tools 2023.1: an `OpInBoundsAccessChain`
//! indexes past a workgroup variable's vector type): cubecl-spirv lowers
//! shared memory wrongly for drivers without
//! `VK_KHR_workgroup_memory_explicit_layout`, as lavapipe is (docs/gpu.md);
//! GPU drivers with the extension get well-formed code. Element-wise
//! kernels and reductions along one axis compile on lavapipe, and so does
//! their backward pass (a product's gradient is again a multiply and a
//! sum), so ALAD, OCGAN and FenceGAN, whose dense layers are the only
//! matrix products of the networks, run there too.
//!
//! The multiply-and-sum holds `m x k x n` numbers where a product holds
//! `m x n`: it is cut along `k` into chunks of at most [`CHUNK_ELEMENTS`]
//! numbers whose sums are added up. It is for a software driver in tests;
//! every other device keeps burn's kernels, and the CPU's results are bit
//! for bit what burn's `Linear` gives.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// The most numbers one chunk of the multiply-and-sum holds (64 MiB).
pub const CHUNK_ELEMENTS: usize = 1 << 24;

/// `a` (`[m, k]`) times `b` (`[k, n]`).
pub fn matmul(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    if super::vulkan::matmul_crashes(&a.device()) {
        matmul_by_sums(a, b)
    } else {
        a.matmul(b)
    }
}

/// `x W + b` of a dense layer with a `[in, out]` kernel (burn's layout).
pub fn linear(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    if super::vulkan::matmul_crashes(&x.device()) {
        let y = matmul_by_sums(x, weight);
        match bias {
            Some(b) => y + b.unsqueeze_dim(0),
            None => y,
        }
    } else {
        burn::tensor::module::linear(x, weight, bias)
    }
}

/// The forward pass of a dense layer through [`linear`].
pub trait Dense {
    fn dense(&self, x: Tensor<2>) -> Tensor<2>;
}

impl Dense for Linear {
    fn dense(&self, x: Tensor<2>) -> Tensor<2> {
        linear(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()))
    }
}

/// The product as `sum_k a[m, k] b[k, n]`: a broadcast multiply and a sum
/// along `k`, chunk by chunk along `k`.
fn matmul_by_sums(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    let ([m, k], [k2, n]) = (a.dims(), b.dims());
    assert_eq!(k, k2, "matmul of [{m}, {k}] by [{k2}, {n}]");
    let step = (CHUNK_ELEMENTS / (m * n).max(1)).clamp(1, k.max(1));
    let mut total: Option<Tensor<2>> = None;
    for k0 in (0..k).step_by(step) {
        let k1 = (k0 + step).min(k);
        let part = (a.clone().slice([0..m, k0..k1]).reshape([m, k1 - k0, 1])
            * b.clone().slice([k0..k1, 0..n]).reshape([1, k1 - k0, n]))
        .sum_dim(1)
        .reshape([m, n]);
        total = Some(match total {
            Some(t) => t + part,
            None => part,
        });
    }
    total.unwrap_or_else(|| Tensor::zeros([m, n], &a.device()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Device;

    use crate::nn::testutil::{max_abs_diff, random};

    /// The multiply-and-sum equals burn's product, in one chunk and in many
    /// (a chunk size that does not divide `k`), forward and backward.
    #[test]
    fn products_by_sums_equal_burns_products_and_gradients() {
        let dev = Device::flex();
        for (m, k, n) in [(3, 5, 4), (1, 1, 1), (16, 5, 500_000)] {
            let (a, b) = (random([m, k], 1, &dev), random([k, n], 2, &dev));
            let want = a.clone().matmul(b.clone());
            let got = matmul_by_sums(a.clone(), b.clone());
            assert_eq!(got.dims(), [m, n]);
            assert!(max_abs_diff(want, got) < 1e-4, "({m}, {k}, {n})");
        }
        // the last shape is cut along k into chunks of 2, 2 and 1
        assert_eq!(CHUNK_ELEMENTS / (16 * 500_000), 2);

        let ad = Device::flex().autodiff();
        let grads = |by_sums: bool| {
            let a = random([4, 6], 3, &ad).require_grad();
            let b = random([6, 5], 4, &ad).require_grad();
            let y = if by_sums {
                matmul_by_sums(a.clone(), b.clone())
            } else {
                a.clone().matmul(b.clone())
            };
            let g = (y.clone() * y).sum().backward();
            (
                a.grad(&g).expect("grad a").into_data(),
                b.grad(&g).expect("grad b").into_data(),
            )
        };
        let ((ga, gb), (wa, wb)) = (grads(true), grads(false));
        ga.assert_approx_eq::<f32>(&wa, burn::tensor::Tolerance::absolute(1e-4));
        gb.assert_approx_eq::<f32>(&wb, burn::tensor::Tolerance::absolute(1e-4));
    }

    /// On the CPU a dense layer is burn's `Linear`, bit for bit.
    #[test]
    fn dense_is_burns_linear_on_the_cpu() {
        let dev = Device::flex();
        let layer = LinearConfig::new(6, 3).init(&dev);
        let x = random([5, 6], 5, &dev);
        assert_eq!(
            layer.dense(x.clone()).into_data(),
            layer.forward(x.clone()).into_data()
        );
        assert_eq!(
            matmul(x.clone(), layer.weight.val()).into_data(),
            x.matmul(layer.weight.val()).into_data()
        );
    }
}
