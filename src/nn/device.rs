//! Which device a run uses (`--device cpu|cuda[:N]|vulkan[:N]`).

use std::fmt;
use std::str::FromStr;

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

/// `Ok` when this build can use `device`; else an error naming the Cargo feature.
pub fn check_available(device: DeviceChoice) -> Result<(), crate::detector::DetectorError> {
    let (ok, feature) = match device {
        DeviceChoice::Cpu => (true, "flex"),
        DeviceChoice::Cuda(_) => (cfg!(feature = "cuda"), "cuda"),
        DeviceChoice::Vulkan(_) => (cfg!(feature = "vulkan"), "vulkan"),
    };
    if ok {
        Ok(())
    } else {
        Err(crate::detector::DetectorError::DeviceUnavailable {
            device: device.to_string(),
            feature: feature.to_string(),
        })
    }
}
