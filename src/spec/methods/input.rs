//! How a method turns image bytes into network input: the normalisation
//! parameter every neural method declares (its official choice as default),
//! and its resolution to one mean and one standard deviation per channel.
//! The batching code (`nn::batch`) applies it, with the method's input size.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::FieldProblem;

/// How pixel values `v` (bytes) become network input. In specs:
/// `official`, `minus_one_one`, or `{mean: [..], std: [..]}`.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Normalization {
    Preset(Preset),
    /// `(v / 255 - mean) / std` per channel; one value applies to every channel.
    MeanStd(ChannelStats),
}

/// The named normalisations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The method's official choice for the dataset's channels (see the
    /// method's `normalization` parameter).
    Official,
    /// `(v / 255 - 0.5) / 0.5`: [-1, 1], the range of a tanh output.
    MinusOneOne,
}

impl Normalization {
    pub const OFFICIAL: Normalization = Normalization::Preset(Preset::Official);
    pub const MINUS_ONE_ONE: Normalization = Normalization::Preset(Preset::MinusOneOne);

    /// `(v / 255 - mean) / std` with these values.
    pub fn mean_std(mean: &[f64], std: &[f64]) -> Normalization {
        Normalization::MeanStd(ChannelStats {
            mean: mean.to_vec(),
            std: std.to_vec(),
        })
    }
}

const SPELLINGS: &str = "`official`, `minus_one_one` or `{mean: [...], std: [...]}`";

impl<'de> Deserialize<'de> for Normalization {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = Normalization;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{SPELLINGS}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Normalization, E> {
                match v {
                    "official" => Ok(Normalization::OFFICIAL),
                    "minus_one_one" => Ok(Normalization::MINUS_ONE_ONE),
                    other => Err(E::custom(format!(
                        "unknown normalisation `{other}`: use {SPELLINGS}"
                    ))),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Normalization, A::Error> {
                ChannelStats::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Normalization::MeanStd)
            }
        }
        d.deserialize_any(Either)
    }
}

/// One mean and one standard deviation per channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelStats {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalization {
    /// Range checks of `field` (lengths, positive finite deviations).
    pub fn check(&self, field: &'static str, out: &mut Vec<FieldProblem>) {
        if let Normalization::MeanStd(ChannelStats { mean, std }) = self {
            if mean.is_empty() || mean.len() != std.len() {
                out.push(FieldProblem::new(
                    field,
                    format!(
                        "`mean` and `std` need the same number of values (one, or one per channel), got {} and {}",
                        mean.len(),
                        std.len()
                    ),
                ));
            }
            if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
                out.push(FieldProblem::new(
                    field,
                    format!("`mean` must be finite, got {m}"),
                ));
            }
            if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                out.push(FieldProblem::new(
                    field,
                    format!("`std` must be > 0, got {s}"),
                ));
            }
        }
    }

    /// The statistics for `channels`-channel images; `official` gives the
    /// method's own choice. An error names the mismatch of channel counts.
    pub fn resolve(
        &self,
        channels: usize,
        official: impl Fn(usize) -> Normalization,
    ) -> Result<ChannelStats, String> {
        let (mean, std) = match self {
            Normalization::Preset(Preset::Official) => {
                let chosen = official(channels);
                if chosen == Normalization::OFFICIAL {
                    return Err("the method's official normalisation is undefined".into());
                }
                return chosen.resolve(channels, official);
            }
            Normalization::Preset(Preset::MinusOneOne) => (vec![0.5], vec![0.5]),
            Normalization::MeanStd(c) => (c.mean.clone(), c.std.clone()),
        };
        let widen = |v: Vec<f64>| {
            if v.len() == 1 {
                Ok(vec![v[0]; channels])
            } else if v.len() == channels {
                Ok(v)
            } else {
                Err(format!(
                    "normalisation has {} values but the images have {channels} channel(s): give one value or {channels}",
                    v.len()
                ))
            }
        };
        Ok(ChannelStats {
            mean: widen(mean)?,
            std: widen(std)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn official(channels: usize) -> Normalization {
        if channels == 1 {
            Normalization::mean_std(&[0.1307], &[0.3081])
        } else {
            Normalization::MINUS_ONE_ONE
        }
    }

    #[test]
    fn resolves_per_channel() {
        let gray = Normalization::OFFICIAL.resolve(1, official).expect("gray");
        assert_eq!(gray.mean, vec![0.1307]);
        let rgb = Normalization::OFFICIAL.resolve(3, official).expect("rgb");
        assert_eq!(rgb.std, vec![0.5; 3]);
        let own = Normalization::mean_std(&[0.1, 0.2, 0.3], &[1.0; 3]);
        assert_eq!(
            own.resolve(3, official).expect("3").mean,
            vec![0.1, 0.2, 0.3]
        );
        let e = own
            .resolve(1, official)
            .expect_err("3 values for 1 channel");
        assert!(e.contains("3 values") && e.contains("1 channel"), "{e}");
    }

    #[test]
    fn checks_lengths_and_deviations() {
        let mut out = Vec::new();
        Normalization::mean_std(&[0.5, 0.5], &[0.0]).check("normalization", &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(|p| p.field == "normalization"));
        let mut none = Vec::new();
        Normalization::MINUS_ONE_ONE.check("normalization", &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn yaml_spellings_round_trip() {
        for (text, want) in [
            ("official", Normalization::OFFICIAL),
            ("minus_one_one", Normalization::MINUS_ONE_ONE),
            (
                "{mean: [0.1307], std: [0.3081]}",
                Normalization::mean_std(&[0.1307], &[0.3081]),
            ),
        ] {
            let n: Normalization = serde_yaml_ng::from_str(text).expect(text);
            assert_eq!(n, want);
            let json = serde_json::to_value(&n).expect("json");
            assert_eq!(
                serde_json::from_value::<Normalization>(json).expect("back"),
                n
            );
        }
        let e = serde_yaml_ng::from_str::<Normalization>("zero_one").expect_err("unknown");
        assert!(e.to_string().contains("minus_one_one"), "{e}");
        let e = serde_yaml_ng::from_str::<Normalization>("{mean: [0.5], sd: [0.5]}")
            .expect_err("unknown key");
        assert!(e.to_string().contains("sd"), "{e}");
    }
}
