//! The burn device of a [`DeviceChoice`]: `cpu` is burn's flex backend,
//! `cuda:N` burn-cuda, `vulkan:N` the N-th discrete GPU through wgpu on Vulkan.

use crate::device::DeviceChoice;

use super::NnError;

/// The burn device of `choice` (without autodiff), or an error naming the
/// Cargo feature this build lacks.
pub fn burn_device(choice: DeviceChoice) -> Result<burn::tensor::Device, NnError> {
    choice.check_available()?;
    match choice {
        #[cfg(feature = "flex")]
        DeviceChoice::Cpu => Ok(burn::tensor::Device::flex()),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(i) => Ok(burn::tensor::Device::cuda(i)),
        #[cfg(feature = "vulkan")]
        DeviceChoice::Vulkan(i) => Ok(burn::tensor::Device::vulkan(
            burn::tensor::DeviceKind::DiscreteGpu(i),
        )),
        #[allow(unreachable_patterns)]
        other => Err(NnError::Device(crate::device::DeviceUnavailable {
            device: other.to_string(),
            feature: other.feature(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_feature_is_a_clear_error() {
        #[cfg(not(feature = "vulkan"))]
        {
            let e = burn_device(DeviceChoice::Vulkan(0)).expect_err("no vulkan in this build");
            assert!(e.to_string().contains("--features vulkan"), "{e}");
        }
        #[cfg(feature = "flex")]
        assert!(!burn_device(DeviceChoice::Cpu).expect("cpu").is_autodiff());
    }
}
