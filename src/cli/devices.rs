//! `runner devices`: the devices this build and this machine offer, with the
//! `--device` spelling of each (Vulkan adapters as the Vulkan loader lists
//! them), or what to install or rebuild when there are none. `--check` is
//! `device_check`'s.

use super::DevicesArgs;
use crate::device::{AdapterError, AdapterSummary, INSTALL_HINT};

pub(super) fn exec(args: &DevicesArgs) -> anyhow::Result<u8> {
    if let Some(device) = args.check {
        return super::device_check::exec(device, args);
    }
    print!(
        "{}",
        render(
            num_cpus::get(),
            cfg!(feature = "cuda"),
            gpu_kernels().as_deref(),
            &crate::device::vulkan_adapters()
        )
    );
    Ok(0)
}

/// `fusion off, autotune off`: how this build's GPU backends run kernels
/// (`None` in a build without one).
pub(super) fn gpu_kernels() -> Option<String> {
    if !cfg!(any(feature = "vulkan", feature = "cuda")) {
        return None;
    }
    let features = crate::store::build_features();
    let on = |f: &str| {
        if features.iter().any(|b| b == f) {
            "on"
        } else {
            "off"
        }
    };
    Some(format!(
        "fusion {}, autotune {}",
        on("fusion"),
        on("autotune")
    ))
}

/// The listing: the CPU, CUDA (named, not probed), then each Vulkan
/// adapter, and how GPU kernels run (`gpu_kernels`, when a GPU backend is
/// built).
fn render(
    threads: usize,
    cuda_built: bool,
    gpu_kernels: Option<&str>,
    vulkan: &Result<Vec<AdapterSummary>, AdapterError>,
) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |device: &str, kind: &str, name: &str, driver: &str| {
        rows.push([device, kind, name, driver].map(str::to_string));
    };
    row("DEVICE", "KIND", "NAME", "DRIVER");
    row(
        "cpu",
        "cpu",
        &format!("this machine's CPU, {threads} threads"),
        "burn flex",
    );
    if cuda_built {
        row(
            "cuda:N",
            "discrete",
            "the N-th CUDA GPU (not listed here)",
            "CUDA",
        );
    }
    let notes = match vulkan {
        Ok(found) => {
            for a in found {
                let device = a
                    .spelling
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".to_string());
                let device = if a.default {
                    format!("{device} (vulkan)")
                } else {
                    device
                };
                row(&device, a.kind, &a.name, &a.driver);
            }
            if found.is_empty() {
                format!("No Vulkan adapter found: {INSTALL_HINT}.\n")
            } else {
                "`--device vulkan` selects the adapter marked (vulkan); the others by their spelling.\n"
                    .to_string()
            }
        }
        Err(e) => format!("Vulkan: {e}.\n"),
    };
    // Columns as wide as their widest cell.
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for [device, kind, name, driver] in &rows {
        let line = format!(
            "{device:<w0$}  {kind:<w1$}  {name:<w2$}  {driver}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !cuda_built {
        out.push_str("CUDA: not in this build (rebuild with `--features cuda`).\n");
    }
    if let Some(kernels) = gpu_kernels {
        out.push_str(&format!(
            "GPU kernels: {kernels} (Cargo features `fusion`, `autotune`; docs/gpu.md).\n"
        ));
    }
    out.push_str(&notes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_cpu_and_each_vulkan_adapter_with_its_spelling() {
        let found = crate::device::name_adapters(vec![
            (
                "Intel(R) Iris(R) Xe Graphics".into(),
                "integrated",
                "Intel open-source Mesa driver Mesa 23.2.1".into(),
            ),
            (
                "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
                "cpu",
                "llvmpipe Mesa 22.3.6 (LLVM 15.0.6)".into(),
            ),
            (
                "NVIDIA GeForce RTX 4070 Laptop GPU".into(),
                "discrete",
                "NVIDIA 550.54.14".into(),
            ),
        ]);
        insta::assert_snapshot!(
            "devices_laptop",
            render(8, false, Some("fusion off, autotune off"), &Ok(found))
        );
    }

    #[test]
    fn no_driver_says_what_to_install_and_no_feature_says_what_to_rebuild() {
        let none = render(2, true, None, &Ok(vec![]));
        assert!(none.contains("mesa-vulkan-drivers"), "{none}");
        assert!(none.contains("cuda:N"), "{none}");
        let unbuilt = render(
            2,
            false,
            None,
            &Err(AdapterError::NotBuilt {
                device: "vulkan".into(),
            }),
        );
        assert!(unbuilt.contains("--features vulkan"), "{unbuilt}");
        assert!(unbuilt.contains("--features cuda"), "{unbuilt}");
    }
}
