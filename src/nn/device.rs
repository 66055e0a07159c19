//! Which device a run uses (`--device cpu|cuda[:N]|vulkan[:N]`), and its
//! burn device: `cpu` is burn's flex backend, `cuda:N` burn-cuda, `vulkan:N`
//! the N-th discrete GPU through wgpu on Vulkan. Each needs its Cargo feature.

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
        DeviceChoice::Cpu => (cfg!(feature = "flex"), "flex"),
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

/// The burn device of `choice` (without autodiff), or `DeviceUnavailable`
/// naming the Cargo feature this build lacks.
pub fn burn_device(
    choice: DeviceChoice,
) -> Result<burn::tensor::Device, crate::detector::DetectorError> {
    check_available(choice)?;
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
        other => Err(crate::detector::DetectorError::DeviceUnavailable {
            device: other.to_string(),
            feature: match other {
                DeviceChoice::Cpu => "flex",
                DeviceChoice::Cuda(_) => "cuda",
                DeviceChoice::Vulkan(_) => "vulkan",
            }
            .to_string(),
        }),
    }
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
