//! Which device a run uses (`--device cpu|cuda[:N]|vulkan[:KIND[:N]]`), as
//! the command line, the scheduler and the store see it: a name, with no burn
//! in sight. `nn::burn_device` maps it to burn's device (`cpu` is burn's flex
//! backend, `cuda:N` burn-cuda, `vulkan...` wgpu pinned to Vulkan). Each needs
//! its Cargo feature. Also here: the Vulkan adapters as `runner devices` and
//! the errors show them ([`AdapterSummary`], [`AdapterError`],
//! [`name_adapters`], [`vulkan_adapters`]: listed through wgpu, without
//! burn). Opening an adapter as a burn device lives in `nn::vulkan`, which
//! imports this module, never the other way: this layer is a leaf, and the
//! command line and the scheduler reach devices through it only.
//!
//! | spelling              | adapter                                                       |
//! |-----------------------|---------------------------------------------------------------|
//! | `vulkan`              | the best one present (discrete, then integrated, ..., then CPU) |
//! | `vulkan:discrete:N`   | the N-th discrete GPU (from 0)                                |
//! | `vulkan:integrated:N` | the N-th integrated GPU                                       |
//! | `vulkan:virtual:N`    | the N-th virtual GPU (a GPU handed to a virtual machine)      |
//! | `vulkan:cpu`          | a software adapter on the CPU (Mesa's lavapipe)               |
//! | `vulkan:N`            | older spelling of `vulkan:discrete:N`                         |

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Every spelling `--device` accepts, for help texts and errors.
pub const DEVICE_SPELLINGS: &str = "cpu, cuda[:N], vulkan, vulkan:discrete[:N], \
vulkan:integrated[:N], vulkan:virtual[:N], vulkan:cpu (vulkan:N means vulkan:discrete:N)";

/// A compute device named on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
    Vulkan(VulkanAdapter),
}

/// Which Vulkan adapter a `vulkan...` device names. The index counts adapters
/// of that kind only, in the order the Vulkan loader lists them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VulkanAdapter {
    /// The best adapter present (wgpu's high-performance preference).
    #[default]
    Best,
    Discrete(usize),
    Integrated(usize),
    Virtual(usize),
    /// A software adapter running on the CPU (lavapipe).
    Cpu,
}

impl VulkanAdapter {
    /// The kind's word in a spelling (`discrete`, ...); `None` for `Best`.
    pub fn kind_word(&self) -> Option<&'static str> {
        match self {
            VulkanAdapter::Best => None,
            VulkanAdapter::Discrete(_) => Some("discrete"),
            VulkanAdapter::Integrated(_) => Some("integrated"),
            VulkanAdapter::Virtual(_) => Some("virtual"),
            VulkanAdapter::Cpu => Some("cpu"),
        }
    }

    /// The index among adapters of its kind (0 for `Best` and `Cpu`).
    pub fn index(&self) -> usize {
        match self {
            VulkanAdapter::Discrete(i)
            | VulkanAdapter::Integrated(i)
            | VulkanAdapter::Virtual(i) => *i,
            VulkanAdapter::Best | VulkanAdapter::Cpu => 0,
        }
    }
}

impl fmt::Display for VulkanAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VulkanAdapter::Best => write!(f, "vulkan"),
            VulkanAdapter::Cpu => write!(f, "vulkan:cpu"),
            _ => write!(
                f,
                "vulkan:{}:{}",
                self.kind_word().unwrap_or_default(),
                self.index()
            ),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceChoice::Vulkan(a) => write!(f, "{a}"),
        }
    }
}

impl DeviceChoice {
    /// Whether jobs on this device share one accelerator (and so take one of
    /// its `--gpu-jobs` slots while they run).
    pub fn is_gpu(&self) -> bool {
        !matches!(self, DeviceChoice::Cpu)
    }
}

/// A `--device` value that names no device.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("unknown device `{given}`: {why}; use one of {DEVICE_SPELLINGS}")]
pub struct DeviceParseError {
    pub given: String,
    pub why: String,
}

impl FromStr for DeviceChoice {
    type Err = DeviceParseError;
    fn from_str(s: &str) -> Result<Self, DeviceParseError> {
        let fail = |why: String| DeviceParseError {
            given: s.to_string(),
            why,
        };
        fn index(i: &str) -> Result<usize, String> {
            i.parse::<usize>()
                .map_err(|_| format!("`{i}` is not a device index (0, 1, ...)"))
        }
        let parts: Vec<&str> = s.split(':').collect();
        let d = match parts.as_slice() {
            ["cpu"] => DeviceChoice::Cpu,
            ["cuda"] => DeviceChoice::Cuda(0),
            ["cuda", i] => DeviceChoice::Cuda(index(i).map_err(fail)?),
            ["vulkan"] => DeviceChoice::Vulkan(VulkanAdapter::Best),
            ["vulkan", "cpu"] => DeviceChoice::Vulkan(VulkanAdapter::Cpu),
            ["vulkan", "cpu", _] => {
                return Err(fail("`vulkan:cpu` takes no index".to_string()));
            }
            ["vulkan", kind, rest @ ..] if rest.len() <= 1 => {
                let i = match rest.first() {
                    Some(i) => index(i).map_err(fail)?,
                    None => 0,
                };
                let adapter = match *kind {
                    "discrete" => VulkanAdapter::Discrete(i),
                    "integrated" => VulkanAdapter::Integrated(i),
                    "virtual" => VulkanAdapter::Virtual(i),
                    n if rest.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                        VulkanAdapter::Discrete(index(n).map_err(fail)?)
                    }
                    other => {
                        return Err(fail(format!(
                            "`{other}` is not a Vulkan adapter kind (discrete, integrated, virtual, cpu)"
                        )));
                    }
                };
                DeviceChoice::Vulkan(adapter)
            }
            [kind, ..] if matches!(*kind, "cpu" | "cuda" | "vulkan") => {
                return Err(fail("too many `:` parts".to_string()));
            }
            _ => return Err(fail("not a device name".to_string())),
        };
        Ok(d)
    }
}

impl DeviceChoice {
    /// The Cargo feature that builds this device's backend.
    pub fn feature(&self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "flex",
            DeviceChoice::Cuda(_) => "cuda",
            DeviceChoice::Vulkan(_) => "vulkan",
        }
    }

    /// `Ok` when this build can use the device; else an error naming the Cargo feature.
    pub fn check_available(&self) -> Result<(), DeviceUnavailable> {
        let ok = match self {
            DeviceChoice::Cpu => cfg!(feature = "flex"),
            DeviceChoice::Cuda(_) => cfg!(feature = "cuda"),
            DeviceChoice::Vulkan(_) => cfg!(feature = "vulkan"),
        };
        if ok {
            Ok(())
        } else {
            Err(DeviceUnavailable {
                device: self.to_string(),
                feature: self.feature(),
            })
        }
    }
}

/// A device this build was compiled without.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("device {device} is not available in this build: rebuild with `--features {feature}`")]
pub struct DeviceUnavailable {
    pub device: String,
    pub feature: &'static str,
}

/// What to install when Vulkan finds no adapter at all.
pub const INSTALL_HINT: &str = "install a Vulkan driver and the Vulkan loader: on Debian or \
Ubuntu `apt-get install libvulkan1 mesa-vulkan-drivers` (Mesa's drivers for AMD and Intel GPUs, \
and lavapipe, which runs Vulkan on the CPU: slow, for tests), or for an NVIDIA GPU its \
vendor's driver with the Vulkan ICD (Debian: nvidia-driver and nvidia-vulkan-icd)";

/// One Vulkan adapter, as `runner devices` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name (`llvmpipe (LLVM 15.0.6, 256 bits)`, `NVIDIA H100 ...`).
    pub name: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` or `other`.
    pub kind: &'static str,
    /// The driver and its version (`llvmpipe`, `Mesa 22.3.6`).
    pub driver: String,
    /// The graphics API (always `vulkan` here).
    pub backend: String,
    /// The `--device` spelling that selects this adapter (none for `other`).
    pub spelling: Option<DeviceChoice>,
    /// Whether plain `--device vulkan` selects this one.
    pub default: bool,
}

/// Why a Vulkan device cannot be used.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AdapterError {
    #[error("device {device} is not available in this build: rebuild with `--features vulkan`")]
    NotBuilt { device: String },
    #[error(
        "device {device}: no Vulkan driver found (no adapter answered); {INSTALL_HINT}. \
`runner devices` lists the adapters found"
    )]
    NoDriver { device: String },
    #[error(
        "device {device}: no {kind} adapter number {index} among the Vulkan adapters found ({found}); \
use {choices}, or install the driver of that GPU. `runner devices` lists the adapters found"
    )]
    NoSuchAdapter {
        device: String,
        kind: &'static str,
        index: usize,
        found: String,
        choices: String,
    },
    #[error(
        "device {device}: the Vulkan adapter could not be opened: {why}. `runner devices` lists the adapters found"
    )]
    Open { device: String, why: String },
    /// A build that autotunes kernels on lavapipe, whose compiler crashes on
    /// the matrix-product kernels autotuning tries (docs/gpu.md).
    #[error(
        "device {device}: this build autotunes GPU kernels (Cargo feature `autotune`), and lavapipe ({name}) \
crashes compiling the matrix-product kernels that autotuning tries (docs/gpu.md); \
use a build without `autotune` on it, or a GPU"
    )]
    AutotuneOnLavapipe { device: String, name: String },
}

/// Gives `--device` spellings to adapters listed in the loader's order: the
/// N-th adapter of a kind is `vulkan:KIND:N`, the first CPU one `vulkan:cpu`;
/// the default is the first of the best kind (discrete, integrated, other,
/// virtual, cpu: wgpu's high-performance order).
pub fn name_adapters(listed: Vec<(String, &'static str, String)>) -> Vec<AdapterSummary> {
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    let mut out: Vec<AdapterSummary> = listed
        .into_iter()
        .map(|(name, kind, driver)| {
            let n = counts.entry(kind).or_insert(0);
            let i = *n;
            *n += 1;
            let adapter = match kind {
                "discrete" => Some(VulkanAdapter::Discrete(i)),
                "integrated" => Some(VulkanAdapter::Integrated(i)),
                "virtual" => Some(VulkanAdapter::Virtual(i)),
                "cpu" if i == 0 => Some(VulkanAdapter::Cpu),
                _ => None,
            };
            AdapterSummary {
                name,
                kind,
                driver,
                backend: "vulkan".to_string(),
                spelling: adapter.map(DeviceChoice::Vulkan),
                default: false,
            }
        })
        .collect();
    let rank = |k: &str| match k {
        "discrete" => 0,
        "integrated" => 1,
        "other" => 2,
        "virtual" => 3,
        _ => 4,
    };
    if let Some(best) = (0..out.len()).min_by_key(|&i| (rank(out[i].kind), i)) {
        out[best].default = true;
    }
    out
}

#[cfg(feature = "vulkan")]
mod vulkan_listing;

/// The Vulkan adapters of this machine in the loader's order (an empty list
/// when there is no Vulkan driver), or `NotBuilt` without the `vulkan`
/// feature. Listed through wgpu, not burn: the command line reaches them
/// here, and `nn::vulkan` opens them.
#[cfg(feature = "vulkan")]
pub fn vulkan_adapters() -> Result<Vec<AdapterSummary>, AdapterError> {
    Ok(vulkan_listing::found().to_vec())
}

/// Without the `vulkan` feature: `NotBuilt`.
#[cfg(not(feature = "vulkan"))]
pub fn vulkan_adapters() -> Result<Vec<AdapterSummary>, AdapterError> {
    Err(AdapterError::NotBuilt {
        device: "vulkan".to_string(),
    })
}

/// The listing of [`vulkan_adapters`], borrowed (what `nn::vulkan` checks a
/// choice against).
#[cfg(feature = "vulkan")]
pub fn listed_vulkan_adapters() -> &'static [AdapterSummary] {
    vulkan_listing::found()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_devices() {
        for s in [
            "cpu",
            "cuda:1",
            "vulkan",
            "vulkan:cpu",
            "vulkan:discrete:0",
            "vulkan:integrated:2",
            "vulkan:virtual:1",
        ] {
            let d: DeviceChoice = s.parse().expect("valid device");
            assert_eq!(d.to_string(), s);
        }
        let p = |s: &str| s.parse::<DeviceChoice>();
        assert_eq!(p("cuda"), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(
            p("vulkan:integrated"),
            Ok(DeviceChoice::Vulkan(VulkanAdapter::Integrated(0)))
        );
    }

    #[test]
    fn the_older_vulkan_index_means_the_nth_discrete_gpu() {
        let d: DeviceChoice = "vulkan:1".parse().expect("valid");
        assert_eq!(d, DeviceChoice::Vulkan(VulkanAdapter::Discrete(1)));
        assert_eq!(d.to_string(), "vulkan:discrete:1");
    }

    #[test]
    fn bad_spellings_say_why_and_list_the_spellings() {
        for (s, why) in [
            ("tpu", "not a device name"),
            ("vulkan:gpu", "`gpu` is not a Vulkan adapter kind"),
            ("vulkan:discrete:x", "`x` is not a device index"),
            ("vulkan:cpu:0", "takes no index"),
            ("vulkan:discrete:0:1", "too many `:` parts"),
            ("cuda:-1", "`-1` is not a device index"),
        ] {
            let e = s.parse::<DeviceChoice>().expect_err(s).to_string();
            assert!(e.contains(why), "{s}: {e}");
            assert!(e.contains("vulkan:integrated[:N]"), "{s}: {e}");
            assert!(e.contains(&format!("`{s}`")), "{s}: {e}");
        }
    }

    #[test]
    fn only_accelerators_take_gpu_slots() {
        assert!(!DeviceChoice::Cpu.is_gpu());
        assert!(DeviceChoice::Cuda(0).is_gpu());
        assert!(DeviceChoice::Vulkan(VulkanAdapter::Cpu).is_gpu());
    }

    #[test]
    fn missing_feature_names_it() {
        #[cfg(not(feature = "vulkan"))]
        {
            let e = DeviceChoice::Vulkan(VulkanAdapter::Best)
                .check_available()
                .expect_err("no vulkan");
            assert!(e.to_string().contains("--features vulkan"), "{e}");
        }
        #[cfg(feature = "flex")]
        assert!(DeviceChoice::Cpu.check_available().is_ok());
    }
}
