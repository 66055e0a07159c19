//! The limits an external method's fields give: time limits (`90s`, `30m`,
//! `12h`) and byte counts (`500KB`, `1MiB`), parsed with what is wrong.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A time limit: seconds, or a number with a unit (`90s`, `30m`, `12h`, `2d`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TimeLimit {
    Seconds(f64),
    Text(String),
}

impl TimeLimit {
    /// The limit in seconds; `Err` with what is wrong.
    pub fn seconds(&self) -> Result<f64, String> {
        let s = match self {
            TimeLimit::Seconds(s) => *s,
            TimeLimit::Text(t) => {
                let t = t.trim();
                let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
                    Some(i) => (&t[..i], &t[i..]),
                    None => (t, "s"),
                };
                let not_a_limit =
                    || format!("`{t}` is not a time limit: write seconds or e.g. `30m`, `12h`");
                if num.trim().is_empty() {
                    return Err(not_a_limit());
                }
                let factor = match unit.trim() {
                    "s" => 1.0,
                    "m" | "min" => 60.0,
                    "h" => 3600.0,
                    "d" => 86400.0,
                    other => {
                        return Err(format!(
                            "unknown unit `{other}` in `{t}`: use s, m, h or d (`90s`, `30m`, `12h`, `2d`)"
                        ));
                    }
                };
                let n: f64 = num.trim().parse().map_err(|_| not_a_limit())?;
                n * factor
            }
        };
        if s.is_finite() && s > 0.0 {
            Ok(s)
        } else {
            Err(format!("must be a positive time, got {s} seconds"))
        }
    }
}

/// A byte count: a number of bytes, or a number with a unit (`500KB`,
/// `1MiB`, `2GB`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ByteSize {
    Bytes(u64),
    Text(String),
}

impl ByteSize {
    /// The size in bytes; `Err` with what is wrong.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            ByteSize::Bytes(0) => Err("must be at least 1 byte".into()),
            ByteSize::Bytes(n) => Ok(*n),
            ByteSize::Text(t) => parse_size(t),
        }
    }
}

/// A byte count: a number, or one with a unit (`500KB`, `1MiB`, `2GB`,
/// `64k`); `Err` with what is wrong.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{t}`: use bytes, KB, MB, GB, KiB, MiB or GiB (`1MiB`, `500KB`)"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a size: write bytes or e.g. `1MiB`, `500KB`"))?;
    let bytes = n * factor as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("must be at least 1 byte, got `{t}`"));
    }
    Ok(bytes as u64)
}

/// The default of `output_limit`: 1 MiB of each stream per call.
pub const DEFAULT_OUTPUT_LIMIT: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_take_seconds_and_units() {
        let s = |t: &str| TimeLimit::Text(t.into()).seconds();
        assert_eq!(s("90s"), Ok(90.0));
        assert_eq!(s("30m"), Ok(1800.0));
        assert_eq!(s("1.5h"), Ok(5400.0));
        assert_eq!(s("2d"), Ok(172800.0));
        assert_eq!(s("45"), Ok(45.0));
        assert_eq!(TimeLimit::Seconds(3.0).seconds(), Ok(3.0));
        assert!(s("5y").is_err_and(|e| e.contains("unit")));
        assert!(s("soon").is_err());
        assert!(s("0s").is_err());
    }
}
