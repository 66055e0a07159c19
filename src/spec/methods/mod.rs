//! The methods a spec can name, and their parameters with the official defaults.
//!
//! Each method's parameters are one serde struct (`deny_unknown_fields`, every
//! field defaulted), so `ganomaly: {}` is complete. Parameters are split into
//! those that change the trained model and those that only change scoring
//! (`SCORE_FIELDS`): the model key hashes the first, the result key both, so a
//! scoring change re-scores from the stored model and never retrains.

pub mod ganomaly;
pub mod kde;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use ganomaly::GanomalyParams;
pub use kde::KdeParams;

/// A problem with one parameter value: the field and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldProblem {
            field,
            message: message.into(),
        }
    }
}

/// What every method's parameter struct provides.
pub trait MethodParams:
    Serialize + DeserializeOwned + Default + JsonSchema + Clone + PartialEq
{
    /// The name in specs (`ganomaly`).
    const NAME: &'static str;
    /// Bump when the implementation changes results: it is part of every key.
    const IMPL_VERSION: u32;
    /// Fields that only change scoring, never the trained model.
    const SCORE_FIELDS: &'static [&'static str];
    /// Range checks beyond what the types say.
    fn check(&self) -> Vec<FieldProblem>;
}

/// The fully resolved parameters of one method (defaults filled in).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodConfig {
    Kde(KdeParams),
    Ganomaly(GanomalyParams),
}

/// Method names that specs may use, in the order of the study's tables.
pub const METHOD_NAMES: &[&str] = &[KdeParams::NAME, GanomalyParams::NAME];

/// Methods of the study that this version does not implement yet.
pub const PLANNED_METHODS: &[&str] = &["anogan", "alad", "fence_gan", "ocgan"];

/// Calls `$body` with `$p` bound to the typed parameters of any method.
macro_rules! with_params {
    ($cfg:expr, $p:ident => $body:expr) => {
        match $cfg {
            MethodConfig::Kde($p) => $body,
            MethodConfig::Ganomaly($p) => $body,
        }
    };
}

fn split_fields<P: MethodParams>(p: &P, score: bool) -> serde_json::Value {
    let serde_json::Value::Object(map) = serde_json::to_value(p).unwrap_or_default() else {
        return serde_json::Value::Null;
    };
    serde_json::Value::Object(
        map.into_iter()
            .filter(|(k, _)| P::SCORE_FIELDS.contains(&k.as_str()) == score)
            .collect(),
    )
}

impl MethodConfig {
    /// Parses the parameters of method `name` from a YAML value.
    /// `Ok(None)` when the name is not a method.
    pub fn from_yaml(
        name: &str,
        value: serde_yaml_ng::Value,
    ) -> Option<Result<MethodConfig, serde_path_to_error::Error<serde_yaml_ng::Error>>> {
        fn parse<P: MethodParams>(
            v: serde_yaml_ng::Value,
        ) -> Result<P, serde_path_to_error::Error<serde_yaml_ng::Error>> {
            let v = if v.is_null() {
                serde_yaml_ng::Value::Mapping(Default::default())
            } else {
                v
            };
            serde_path_to_error::deserialize(v)
        }
        Some(match name {
            KdeParams::NAME => parse(value).map(MethodConfig::Kde),
            GanomalyParams::NAME => parse(value).map(MethodConfig::Ganomaly),
            _ => return None,
        })
    }

    /// The field names of method `name` (for "did you mean" suggestions).
    pub fn field_names(name: &str) -> Vec<String> {
        fn names<P: MethodParams>() -> Vec<String> {
            match serde_json::to_value(P::default()) {
                Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                _ => Vec::new(),
            }
        }
        match name {
            KdeParams::NAME => names::<KdeParams>(),
            GanomalyParams::NAME => names::<GanomalyParams>(),
            _ => Vec::new(),
        }
    }

    /// JSON Schemas of every method's parameters, by name.
    pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
        fn schema<P: MethodParams>() -> serde_json::Value {
            serde_json::to_value(schemars::schema_for!(P)).unwrap_or_default()
        }
        vec![
            (KdeParams::NAME, schema::<KdeParams>()),
            (GanomalyParams::NAME, schema::<GanomalyParams>()),
        ]
    }

    pub fn name(&self) -> &'static str {
        fn n<P: MethodParams>(_: &P) -> &'static str {
            P::NAME
        }
        with_params!(self, p => n(p))
    }

    pub fn impl_version(&self) -> u32 {
        fn v<P: MethodParams>(_: &P) -> u32 {
            P::IMPL_VERSION
        }
        with_params!(self, p => v(p))
    }

    pub fn check(&self) -> Vec<FieldProblem> {
        with_params!(self, p => p.check())
    }

    /// The parameters that change the trained model (hashed into the model key).
    pub fn model_params(&self) -> serde_json::Value {
        with_params!(self, p => split_fields(p, false))
    }

    /// The parameters that only change scoring (hashed into the result key only).
    pub fn score_params(&self) -> serde_json::Value {
        with_params!(self, p => split_fields(p, true))
    }

    /// All parameters, as JSON.
    pub fn all_params(&self) -> serde_json::Value {
        with_params!(self, p => serde_json::to_value(p).unwrap_or_default())
    }
}

/// A positive finite learning rate, as most methods need.
pub(crate) fn check_positive(field: &'static str, v: f64, out: &mut Vec<FieldProblem>) {
    if !(v.is_finite() && v > 0.0) {
        out.push(FieldProblem::new(field, format!("must be > 0, got {v}")));
    }
}

/// A value in the open interval (0, 1).
pub(crate) fn check_unit_open(field: &'static str, v: f64, out: &mut Vec<FieldProblem>) {
    if !(v > 0.0 && v < 1.0) {
        out.push(FieldProblem::new(
            field,
            format!("must be strictly between 0 and 1, got {v}"),
        ));
    }
}

/// An integer that must be at least `min`.
pub(crate) fn check_at_least(
    field: &'static str,
    v: usize,
    min: usize,
    out: &mut Vec<FieldProblem>,
) {
    if v < min {
        out.push(FieldProblem::new(
            field,
            format!("must be at least {min}, got {v}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_split_into_model_and_score_parts() {
        let cfg = MethodConfig::Ganomaly(GanomalyParams::default());
        let model = cfg.model_params();
        let score = cfg.score_params();
        for f in GanomalyParams::SCORE_FIELDS {
            assert!(score.get(f).is_some(), "{f} missing from score part");
            assert!(model.get(f).is_none(), "{f} leaked into model part");
        }
        assert!(model.get("epochs").is_some());
    }

    #[test]
    fn empty_mapping_is_complete() {
        for name in METHOD_NAMES {
            let cfg = MethodConfig::from_yaml(name, serde_yaml_ng::Value::Null)
                .expect("known method")
                .expect("defaults parse");
            assert_eq!(cfg.name(), *name);
            assert!(
                cfg.check().is_empty(),
                "defaults of {name} fail their checks"
            );
        }
    }
}
