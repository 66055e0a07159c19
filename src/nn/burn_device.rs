//! The burn device of a [`DeviceChoice`]: `cpu` is burn's flex backend,
//! `cuda:N` burn-cuda, `vulkan...` a Vulkan adapter through wgpu (see
//! `nn::vulkan`: acquired once, with an error naming what is missing).

use crate::device::DeviceChoice;

use super::NnError;

/// The burn device of `choice` (without autodiff), or an error naming the
/// Cargo feature this build lacks, or the driver or adapter this machine lacks.
pub fn burn_device(choice: DeviceChoice) -> Result<burn::tensor::Device, NnError> {
    choice.check_available()?;
    match choice {
        #[cfg(feature = "flex")]
        DeviceChoice::Cpu => Ok(burn::tensor::Device::flex()),
        #[cfg(feature = "cuda")]
        DeviceChoice::Cuda(i) => Ok(burn::tensor::Device::cuda(i)),
        DeviceChoice::Vulkan(a) => Ok(super::vulkan::acquire(a)?),
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
    use crate::device::VulkanAdapter;

    #[test]
    fn missing_feature_is_a_clear_error() {
        #[cfg(not(feature = "vulkan"))]
        {
            let e = burn_device(DeviceChoice::Vulkan(VulkanAdapter::Best))
                .expect_err("no vulkan in this build");
            assert!(e.to_string().contains("--features vulkan"), "{e}");
        }
        #[cfg(feature = "flex")]
        assert!(!burn_device(DeviceChoice::Cpu).expect("cpu").is_autodiff());
    }

    /// On lavapipe (a CPU adapter only) a discrete GPU is refused with the
    /// adapters found; the CPU adapter is given, twice the same.
    #[cfg(feature = "vulkan")]
    #[test]
    fn vulkan_gives_the_adapters_present_and_names_the_missing_ones() {
        let Some(dev) = crate::nn::vulkan::device_for_tests() else {
            return;
        };
        let found = crate::nn::vulkan::adapters().expect("vulkan build");
        assert!(burn_device(dev).is_ok());
        assert!(burn_device(dev).is_ok(), "asked twice");
        let discrete = found.iter().filter(|a| a.kind == "discrete").count();
        let missing = DeviceChoice::Vulkan(VulkanAdapter::Discrete(discrete));
        let e = burn_device(missing).expect_err("one more discrete GPU than found");
        assert!(e.to_string().contains("runner devices"), "{e}");
        assert!(e.to_string().contains(&found[0].name), "{e}");
    }
}
