//! Which device a run uses (`--device cpu|cuda[:N]|vulkan[:N]`), as the
//! command line, the scheduler and the store see it: a name, with no burn in
//! sight. `nn::device` maps it to burn's device (`cpu` is burn's flex backend,
//! `cuda:N` burn-cuda, `vulkan:N` wgpu on Vulkan). Each needs its Cargo feature.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// A compute device named on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
    Vulkan(usize),
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceChoice::Vulkan(i) => write!(f, "vulkan:{i}"),
        }
    }
}

impl DeviceChoice {
    /// Whether jobs on this device share one accelerator (and so run one at a time).
    pub fn is_gpu(&self) -> bool {
        !matches!(self, DeviceChoice::Cpu)
    }
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, idx) = match s.split_once(':') {
            Some((k, i)) => (
                k,
                i.parse::<usize>()
                    .map_err(|_| format!("`{i}` is not a device index"))?,
            ),
            None => (s, 0),
        };
        let d = match kind {
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda(idx),
            "vulkan" => DeviceChoice::Vulkan(idx),
            _ => {
                return Err(format!(
                    "unknown device `{s}`: use cpu, cuda[:N] or vulkan[:N]"
                ));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_devices() {
        for s in ["cpu", "cuda:1", "vulkan:0"] {
            let d: DeviceChoice = s.parse().expect("valid device");
            assert_eq!(d.to_string(), s);
        }
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn missing_feature_names_it() {
        #[cfg(not(feature = "vulkan"))]
        {
            let e = DeviceChoice::Vulkan(0)
                .check_available()
                .expect_err("no vulkan");
            assert!(e.to_string().contains("--features vulkan"), "{e}");
        }
        #[cfg(feature = "flex")]
        assert!(DeviceChoice::Cpu.check_available().is_ok());
    }
}
