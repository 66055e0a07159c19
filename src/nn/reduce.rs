//! The sum of a whole tensor on every backend: burn's `Tensor::sum` on the
//! CPU, a sum along one axis of the flattened tensor elsewhere.
//!
//! Why: on the GPU backends burn's full `sum` autotunes between a chained
//! reduction and a one-kernel reduction with float atomic adds
//! (`SharedSumKernel`, `OpAtomicFAddEXT` in SPIR-V). lavapipe, the Vulkan
//! driver that runs on the CPU and that tests the Vulkan path without a GPU,
//! advertises float atomic adds but crashes (SIGSEGV inside
//! `libvulkan_lvp.so` while compiling that pipeline; seen with Mesa 22.3.6
//! and 25.0.7). A sum along one axis takes burn's reduction kernels, which
//! use no atomics. The CPU keeps burn's own sum, so CPU results stay bit for
//! bit what they were.

use burn::tensor::Tensor;

/// Every element of `t` added up, as a one-element tensor (like `sum()`).
pub fn sum_all<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    if on_cpu(&t) {
        return t.sum();
    }
    let n = t.shape().num_elements();
    t.reshape([n]).sum_dim(0)
}

fn on_cpu<const D: usize>(t: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    {
        // Device equality ignores autodiff.
        t.device() == burn::tensor::Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = t;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn sums_every_element_on_the_cpu_as_burn_does() {
        let dev = Device::flex();
        let t = Tensor::<3>::from_data(
            TensorData::new(
                (0..24).map(|i| i as f32 * 0.5).collect::<Vec<_>>(),
                [2, 3, 4],
            ),
            &dev,
        );
        let s = sum_all(t.clone());
        assert_eq!(s.dims(), [1]);
        assert_eq!(s.into_data(), t.clone().sum().into_data());
        // the GPU formulation gives the same value
        assert_eq!(
            t.reshape([24]).sum_dim(0).into_scalar::<f32>(),
            (0..24).map(|i| i as f32 * 0.5).sum::<f32>()
        );
    }
}
