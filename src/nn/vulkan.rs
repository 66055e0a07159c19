//! Vulkan adapters through wgpu: which ones this machine has (for `runner
//! devices` and for errors that name them), and the burn device of a
//! `vulkan...` choice, acquired once per process so that a missing driver or
//! adapter is an error (never a panic inside burn) and every job after the
//! first gets the same answer at once.

pub use crate::device::{AdapterError, AdapterSummary, INSTALL_HINT, name_adapters};
use crate::device::{DeviceChoice, VulkanAdapter};

/// The Vulkan adapters of this machine in the loader's order (an empty list
/// when there is no Vulkan driver), or `NotBuilt` without the `vulkan`
/// feature: the device layer's listing.
pub fn adapters() -> Result<Vec<AdapterSummary>, AdapterError> {
    crate::device::vulkan_adapters()
}

/// The burn device of `adapter`, acquired on first use in this process.
pub fn acquire(adapter: VulkanAdapter) -> Result<burn::tensor::Device, AdapterError> {
    imp::acquire(adapter)
}

/// The adapter of `found` that `adapter` selects, if any.
pub fn selected(adapter: VulkanAdapter, found: &[AdapterSummary]) -> Option<&AdapterSummary> {
    let wanted = DeviceChoice::Vulkan(adapter);
    found.iter().find(|a| match adapter {
        VulkanAdapter::Best => a.default,
        _ => a.spelling == Some(wanted),
    })
}

/// Whether `summary` is lavapipe (Mesa's Vulkan driver on the CPU, named
/// `llvmpipe`), whose compiler crashes on burn's matrix-product kernels:
/// `nn::dense` multiplies matrices without them there.
pub fn is_lavapipe(summary: &AdapterSummary) -> bool {
    summary.name.starts_with("llvmpipe")
}

/// Whether `device` is a Vulkan adapter acquired in this process whose driver
/// crashes on burn's matrix-product kernels (lavapipe, see `nn::dense`).
pub fn matmul_crashes(device: &burn::tensor::Device) -> bool {
    imp::matmul_crashes(device)
}

/// Refuses lavapipe in a build that autotunes kernels (`autotune`): its
/// compiler crashes (SIGSEGV, the whole process) on the matrix-product
/// candidates that autotuning compiles for the first transposed convolution
/// of any GAN, because cubecl-spirv lowers their shared memory wrongly for
/// drivers without `VK_KHR_workgroup_memory_explicit_layout` (docs/gpu.md).
/// A clear error instead of a crash; other adapters are not refused.
pub fn check_autotune(
    adapter: VulkanAdapter,
    found: &[AdapterSummary],
    autotune: bool,
) -> Result<(), AdapterError> {
    match selected(adapter, found) {
        Some(summary) if autotune && is_lavapipe(summary) => {
            Err(AdapterError::AutotuneOnLavapipe {
                device: DeviceChoice::Vulkan(adapter).to_string(),
                name: summary.name.clone(),
            })
        }
        _ => Ok(()),
    }
}

/// Checks that `adapter` is among `found` before burn is asked for it, so
/// that the error names what is there and what to type instead.
pub fn check_present(adapter: VulkanAdapter, found: &[AdapterSummary]) -> Result<(), AdapterError> {
    let device = DeviceChoice::Vulkan(adapter).to_string();
    if found.is_empty() {
        return Err(AdapterError::NoDriver { device });
    }
    // `vulkan` always selects one when any adapter is found.
    if selected(adapter, found).is_some() {
        return Ok(());
    }
    let (kind, index) = (adapter.kind_word().unwrap_or_default(), adapter.index());
    let mut choices = vec!["--device vulkan".to_string()];
    choices.extend(
        found
            .iter()
            .filter_map(|a| a.spelling)
            .map(|s| format!("--device {s}")),
    );
    let found_list: Vec<String> = found
        .iter()
        .map(|a| format!("{}: {}", a.kind, a.name))
        .collect();
    Err(AdapterError::NoSuchAdapter {
        device,
        kind,
        index,
        found: found_list.join(", "),
        choices: choices.join(", "),
    })
}

#[cfg(feature = "vulkan")]
mod imp {
    use std::sync::Mutex;

    use burn::tensor::wgpu::WgpuBackend;
    use burn::tensor::{Device, DeviceKind};

    use super::{
        AdapterError, AdapterSummary, check_autotune, check_present, is_lavapipe, selected,
    };
    use crate::device::{DeviceChoice, VulkanAdapter};

    /// Each adapter asked for in this process, with what came of it.
    type Acquired = Vec<(VulkanAdapter, Result<Device, AdapterError>)>;
    static ACQUIRED: Mutex<Acquired> = Mutex::new(Vec::new());

    /// The adapters, listed by the device layer once per process.
    fn found() -> &'static [AdapterSummary] {
        crate::device::listed_vulkan_adapters()
    }

    fn lock_acquired() -> std::sync::MutexGuard<'static, Acquired> {
        ACQUIRED.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn acquire(adapter: VulkanAdapter) -> Result<Device, AdapterError> {
        let mut acquired = lock_acquired();
        if let Some((_, r)) = acquired.iter().find(|(a, _)| *a == adapter) {
            return r.clone();
        }
        let r = check_present(adapter, found())
            .and_then(|()| check_autotune(adapter, found(), cfg!(feature = "autotune")))
            .and_then(|()| open(adapter));
        acquired.push((adapter, r.clone()));
        r
    }

    pub fn matmul_crashes(device: &Device) -> bool {
        lock_acquired().iter().any(|(adapter, r)| {
            // Device equality ignores autodiff.
            r.as_ref().is_ok_and(|d| d == device)
                && selected(*adapter, found()).is_some_and(is_lavapipe)
        })
    }

    fn open(adapter: VulkanAdapter) -> Result<Device, AdapterError> {
        let kind = match adapter {
            VulkanAdapter::Best => DeviceKind::DefaultDevice,
            VulkanAdapter::Discrete(i) => DeviceKind::DiscreteGpu(i),
            VulkanAdapter::Integrated(i) => DeviceKind::IntegratedGpu(i),
            VulkanAdapter::Virtual(i) => DeviceKind::VirtualGpu(i),
            VulkanAdapter::Cpu => DeviceKind::Cpu,
        };
        // burn's own acquisition panics on failure; this one returns the error.
        let opened = crate::panics::catch(|| {
            Device::wgpu_options()
                .device_kind(kind)
                .graphics_api(WgpuBackend::Vulkan)
                .init()
        });
        let why = match opened {
            Ok(Ok(device)) => return Ok(device),
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic,
        };
        Err(AdapterError::Open {
            device: DeviceChoice::Vulkan(adapter).to_string(),
            why,
        })
    }
}

#[cfg(not(feature = "vulkan"))]
mod imp {
    use super::AdapterError;
    use crate::device::{DeviceChoice, VulkanAdapter};

    pub fn acquire(adapter: VulkanAdapter) -> Result<burn::tensor::Device, AdapterError> {
        Err(AdapterError::NotBuilt {
            device: DeviceChoice::Vulkan(adapter).to_string(),
        })
    }

    pub fn matmul_crashes(_device: &burn::tensor::Device) -> bool {
        false
    }
}

/// The Vulkan device the tests of this crate run on: lavapipe (`vulkan:cpu`)
/// where it is installed, else the best adapter; `None` (with the reason
/// printed) when there is none, unless `RUNNER_REQUIRE_VULKAN=1` (set by
/// `.ci/run`), where a missing adapter fails the test.
#[cfg(all(test, feature = "vulkan"))]
pub fn device_for_tests() -> Option<DeviceChoice> {
    let found = adapters().unwrap_or_default();
    let pick = if found.iter().any(|a| a.kind == "cpu") {
        Some(DeviceChoice::Vulkan(VulkanAdapter::Cpu))
    } else if !found.is_empty() {
        Some(DeviceChoice::Vulkan(VulkanAdapter::Best))
    } else {
        None
    };
    if pick.is_none() {
        let why = format!("no Vulkan adapter: {INSTALL_HINT}");
        if std::env::var("RUNNER_REQUIRE_VULKAN").is_ok_and(|v| v == "1") {
            panic!("RUNNER_REQUIRE_VULKAN=1 but {why}");
        }
        eprintln!("skipped (Vulkan test): {why}");
    }
    pick
}

#[cfg(test)]
mod tests {
    /// Only lavapipe is taken for the driver that cannot compile burn's
    /// matrix products; the CPU backend never is.
    #[test]
    fn lavapipe_alone_multiplies_matrices_by_sums() {
        let found = name_adapters(vec![
            (
                "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
                "cpu",
                "llvmpipe Mesa 22.3.6".into(),
            ),
            ("NVIDIA H200".into(), "discrete", "NVIDIA 570".into()),
        ]);
        let lavapipe: Vec<bool> = found.iter().map(is_lavapipe).collect();
        assert_eq!(lavapipe, [true, false]);
        #[cfg(feature = "flex")]
        assert!(!matmul_crashes(&burn::tensor::Device::flex()));
    }

    /// The lavapipe device of the Vulkan tests is known as such once
    /// acquired, with or without autodiff.
    #[cfg(feature = "vulkan")]
    #[test]
    fn the_acquired_lavapipe_device_is_known() {
        let Some(DeviceChoice::Vulkan(a)) = device_for_tests() else {
            return;
        };
        let device = acquire(a).expect("acquired");
        let on_lavapipe = selected(a, &adapters().expect("built")).is_some_and(is_lavapipe);
        assert_eq!(matmul_crashes(&device), on_lavapipe);
        assert_eq!(matmul_crashes(&device.clone().autodiff()), on_lavapipe);
    }

    use super::*;

    fn laptop() -> Vec<AdapterSummary> {
        name_adapters(vec![
            ("Intel Iris".into(), "integrated", "Mesa 23".into()),
            ("llvmpipe".into(), "cpu", "llvmpipe".into()),
            ("RTX 4060".into(), "discrete", "NVIDIA 550".into()),
            ("RTX 4090".into(), "discrete", "NVIDIA 550".into()),
        ])
    }

    /// An autotuning build refuses lavapipe, by name and with what to do,
    /// and nothing else; a build without autotuning refuses nothing.
    #[test]
    fn an_autotuning_build_refuses_lavapipe_only() {
        let found = laptop();
        let e = check_autotune(VulkanAdapter::Cpu, &found, true).expect_err("lavapipe");
        let text = e.to_string();
        for part in [
            "device vulkan:cpu",
            "`autotune`",
            "lavapipe (llvmpipe)",
            "without `autotune`",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        for a in [
            VulkanAdapter::Best,
            VulkanAdapter::Discrete(1),
            VulkanAdapter::Integrated(0),
        ] {
            assert!(check_autotune(a, &found, true).is_ok(), "{a:?}");
        }
        assert!(check_autotune(VulkanAdapter::Cpu, &found, false).is_ok());
        // A machine with lavapipe alone: plain `vulkan` is lavapipe.
        let alone = name_adapters(vec![("llvmpipe (LLVM 15)".into(), "cpu", "Mesa".into())]);
        assert!(check_autotune(VulkanAdapter::Best, &alone, true).is_err());
    }

    #[test]
    fn adapters_are_named_by_kind_and_index_and_the_best_is_the_default() {
        let found = laptop();
        let spell: Vec<String> = found
            .iter()
            .map(|a| a.spelling.map(|s| s.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(
            spell,
            [
                "vulkan:integrated:0",
                "vulkan:cpu",
                "vulkan:discrete:0",
                "vulkan:discrete:1"
            ]
        );
        let defaults: Vec<bool> = found.iter().map(|a| a.default).collect();
        assert_eq!(defaults, [false, false, true, false]);
        let soft = name_adapters(vec![("llvmpipe".into(), "cpu", "llvmpipe".into())]);
        assert!(soft[0].default);
    }

    #[test]
    fn a_missing_adapter_names_what_is_there_and_what_to_type() {
        let soft = name_adapters(vec![("llvmpipe (LLVM 15)".into(), "cpu", String::new())]);
        let e = check_present(VulkanAdapter::Discrete(0), &soft)
            .expect_err("no discrete GPU")
            .to_string();
        for part in [
            "vulkan:discrete:0",
            "no discrete adapter number 0",
            "cpu: llvmpipe (LLVM 15)",
            "--device vulkan:cpu",
            "runner devices",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        assert!(check_present(VulkanAdapter::Cpu, &soft).is_ok());
        assert!(check_present(VulkanAdapter::Best, &soft).is_ok());
        assert!(check_present(VulkanAdapter::Discrete(1), &laptop()).is_ok());
        assert!(check_present(VulkanAdapter::Discrete(2), &laptop()).is_err());
    }

    #[test]
    fn no_adapter_at_all_says_what_to_install() {
        let e = check_present(VulkanAdapter::Best, &[])
            .expect_err("nothing")
            .to_string();
        assert!(e.contains("no Vulkan driver found"), "{e}");
        assert!(e.contains("mesa-vulkan-drivers"), "{e}");
        assert!(e.contains("libvulkan1"), "{e}");
    }
}
