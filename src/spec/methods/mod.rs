//! The methods a spec can name, and their parameters with the official defaults.
//!
//! Each method's parameters are one serde struct (`deny_unknown_fields`, every
//! field defaulted), so `ganomaly: {}` is complete. Parameters are split into
//! those that change the trained model and those that only change scoring
//! (`SCORE_FIELDS`): the model key hashes the first, the result key both, so a
//! scoring change re-scores from the stored model and never retrains.

pub mod input;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
    Registered + Serialize + DeserializeOwned + Default + JsonSchema + Clone + PartialEq
{
    /// Bump when the implementation changes results: it is part of every key.
    const IMPL_VERSION: u32;
    /// Fields that only change scoring, never the trained model.
    const SCORE_FIELDS: &'static [&'static str];
    /// The field that picks which stored score variant a job reports (ALAD's
    /// `score`), if the method has several. One scoring pass stores every
    /// variant (`detector::Fitted::score_variants`), so this field keys
    /// neither the model nor the result: jobs that differ only in it share
    /// one result, and a sweep over it gives one row per variant for free.
    const SHOWN_SCORE_FIELD: Option<&'static str> = None;
    /// Fields that key nothing (a label, time limits, where a program runs
    /// from): neither the model part nor the scoring part has them.
    const UNHASHED_FIELDS: &'static [&'static str] = &[];
    /// Range checks beyond what the types say.
    fn check(&self) -> Vec<FieldProblem>;
    /// The name of the score variant this configuration reports (as
    /// `score_variants` names it); `None`: the first (the only one, for
    /// methods with one score).
    fn shown_score(&self) -> Option<&'static str> {
        None
    }
}

/// The registry of methods: every method, listed once, as
/// `module: Variant(ParamsType)`. The module is the method's name in specs
/// (and its serde tag); the variant is the name in Rust.
///
/// Adding a method (checklist):
/// 1. `src/spec/methods/<name>.rs`: a params struct (`deny_unknown_fields`,
///    every field defaulted to the official value, a `///` line per field)
///    implementing [`MethodParams`] (`IMPL_VERSION`, `SCORE_FIELDS`, `check`).
/// 2. `src/detector/<name>/`: a GAN's networks and training step
///    (`model.rs`, `train.rs`) and `impl detector::gan::Gan for <Params>`
///    with its score (`mod.rs`); see `docs/adding-a-method.md`.
/// 3. One line here. Every per-method list (the enum, [`METHOD_NAMES`], YAML
///    parsing, field names, schemas, `detector::build`) is generated from it,
///    and the tests below loop over it.
#[macro_export]
macro_rules! for_each_method {
    ($callback:ident) => {
        $callback! {
            kde: Kde(KdeParams),
            alad: Alad(AladParams),
            anogan: AnoGan(AnoGanParams),
            fence_gan: FenceGan(FenceGanParams),
            ganomaly: Ganomaly(GanomalyParams),
            ocgan: OcGan(OcGanParams),
            external: External(ExternalParams),
        }
    };
}
pub use crate::for_each_method;

/// Generates the spec side of the registry.
macro_rules! define_methods {
    ($($name:ident: $variant:ident($params:ident)),* $(,)?) => {
        $(
            pub mod $name;
            pub use $name::$params;
            impl Registered for $params {
                const NAME: &'static str = stringify!($name);
                fn into_config(self) -> MethodConfig {
                    MethodConfig::$variant(self)
                }
            }
        )*

        /// The fully resolved parameters of one method (defaults filled in).
        /// Serialised as `{<name>: {params}}`, the name being the method's
        /// module in the registry.
        #[derive(Clone, Debug, PartialEq)]
        pub enum MethodConfig {
            $($variant($params),)*
        }

        /// Method names that specs may use, in the order of the study's tables.
        pub const METHOD_NAMES: &[&str] = &[$(stringify!($name)),*];

        /// Calls `$visit.visit(p)` with the typed parameters of any method.
        macro_rules! visit_params {
            ($cfg:expr, $visit:expr) => {
                match $cfg {
                    $(MethodConfig::$variant(p) => $visit.visit(p),)*
                }
            };
        }

        /// Calls `$visit.visit::<P>()` for the method called `$name_str`; `None` when unknown.
        macro_rules! visit_named {
            ($name_str:expr, $visit:expr) => {
                match $name_str {
                    $(stringify!($name) => Some($visit.visit::<$params>()),)*
                    _ => None,
                }
            };
        }

        #[cfg(test)]
        /// One default configuration of every method.
        pub(crate) fn all_defaults() -> Vec<MethodConfig> {
            vec![$(MethodConfig::$variant($params::default())),*]
        }
    };
}

/// What the registry line of a params type gives it: its name in specs and
/// its variant of [`MethodConfig`].
pub trait Registered: Sized {
    /// The name in specs (`ganomaly`): the module named in the registry.
    const NAME: &'static str;
    /// Wraps the parameters into their registry variant.
    fn into_config(self) -> MethodConfig;
}

for_each_method!(define_methods);

/// Something done with one method's typed parameters.
pub trait ParamsVisitor {
    type Out;
    fn visit<P: MethodParams>(self, p: &P) -> Self::Out;
}

/// Something done with one method's parameter type.
pub trait TypeVisitor {
    type Out;
    fn visit<P: MethodParams>(self) -> Self::Out;
}

/// Applies a function generic over every `MethodParams` type.
macro_rules! with_fn {
    ($cfg:expr, |$p:ident| $body:expr, $out:ty) => {{
        struct V;
        impl ParamsVisitor for V {
            type Out = $out;
            fn visit<P: MethodParams>(self, $p: &P) -> $out {
                $body
            }
        }
        visit_params!($cfg, V)
    }};
}

/// The model part (`score == false`) or the scoring part of the parameters;
/// the shown-score field and the unhashed fields are in neither.
fn split_fields<P: MethodParams>(p: &P, score: bool) -> serde_json::Value {
    let serde_json::Value::Object(map) = serde_json::to_value(p).unwrap_or_default() else {
        return serde_json::Value::Null;
    };
    serde_json::Value::Object(
        map.into_iter()
            .filter(|(k, _)| P::SHOWN_SCORE_FIELD != Some(k.as_str()))
            .filter(|(k, _)| !P::UNHASHED_FIELDS.contains(&k.as_str()))
            .filter(|(k, _)| P::SCORE_FIELDS.contains(&k.as_str()) == score)
            .collect(),
    )
}

type YamlError = serde_path_to_error::Error<serde_yaml_ng::Error>;

impl MethodConfig {
    /// Parses the parameters of method `name` from a YAML value.
    /// `None` when the name is not a method.
    pub fn from_yaml(
        name: &str,
        value: serde_yaml_ng::Value,
    ) -> Option<Result<MethodConfig, YamlError>> {
        struct Parse(serde_yaml_ng::Value);
        impl TypeVisitor for Parse {
            type Out = Result<MethodConfig, YamlError>;
            fn visit<P: MethodParams>(self) -> Self::Out {
                let v = if self.0.is_null() {
                    serde_yaml_ng::Value::Mapping(Default::default())
                } else {
                    self.0
                };
                serde_path_to_error::deserialize::<_, P>(v).map(P::into_config)
            }
        }
        visit_named!(name, Parse(value))
    }

    /// The field names of method `name` (for "did you mean" suggestions).
    pub fn field_names(name: &str) -> Vec<String> {
        struct Names;
        impl TypeVisitor for Names {
            type Out = Vec<String>;
            fn visit<P: MethodParams>(self) -> Vec<String> {
                match serde_json::to_value(P::default()) {
                    Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
                    _ => Vec::new(),
                }
            }
        }
        visit_named!(name, Names).unwrap_or_default()
    }

    /// JSON Schemas of every method's parameters, by name.
    pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
        struct Schema;
        impl TypeVisitor for Schema {
            type Out = serde_json::Value;
            fn visit<P: MethodParams>(self) -> serde_json::Value {
                serde_json::to_value(schemars::schema_for!(P)).unwrap_or_default()
            }
        }
        METHOD_NAMES
            .iter()
            .filter_map(|n| visit_named!(*n, Schema).map(|s| (*n, s)))
            .collect()
    }

    pub fn name(&self) -> &'static str {
        with_fn!(self, |_p| P::NAME, &'static str)
    }

    pub fn impl_version(&self) -> u32 {
        with_fn!(self, |_p| P::IMPL_VERSION, u32)
    }

    /// The fields that only change scoring (see [`MethodParams::SCORE_FIELDS`]).
    #[cfg(test)]
    pub fn score_fields(&self) -> &'static [&'static str] {
        with_fn!(self, |_p| P::SCORE_FIELDS, &'static [&'static str])
    }

    pub fn check(&self) -> Vec<FieldProblem> {
        with_fn!(self, |p| p.check(), Vec<FieldProblem>)
    }

    /// The stored score variant this configuration reports (see
    /// [`MethodParams::shown_score`]).
    pub fn shown_score(&self) -> Option<&str> {
        match self {
            // an external program names its own columns
            MethodConfig::External(p) => p.score.as_deref(),
            other => with_fn!(other, |p| p.shown_score(), Option<&'static str>),
        }
    }

    /// The method's row name: the registry name, or an external method's own.
    pub fn display_name(&self) -> &str {
        match self {
            MethodConfig::External(p) => &p.name,
            other => other.name(),
        }
    }

    /// Checks an external method's files against the spec's folder `base`
    /// and fills in what its key needs (nothing to do for the others).
    pub fn resolve_paths(&mut self, base: &std::path::Path) -> Vec<external::PathProblem> {
        match self {
            MethodConfig::External(p) => p.resolve(base),
            _ => Vec::new(),
        }
    }

    /// The parameters that change the trained model (hashed into the model key).
    pub fn model_params(&self) -> serde_json::Value {
        with_fn!(self, |p| split_fields(p, false), serde_json::Value)
    }

    /// The parameters that only change scoring (hashed into the result key only).
    pub fn score_params(&self) -> serde_json::Value {
        with_fn!(self, |p| split_fields(p, true), serde_json::Value)
    }

    /// Runs `visitor` on the typed parameters.
    fn visit<V: ParamsVisitor>(&self, visitor: V) -> V::Out {
        visit_params!(self, visitor)
    }
}

impl Serialize for MethodConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Ser<S>(S);
        impl<S: serde::Serializer> ParamsVisitor for Ser<S> {
            type Out = Result<S::Ok, S::Error>;
            fn visit<P: MethodParams>(self, p: &P) -> Self::Out {
                use serde::ser::SerializeMap;
                let mut m = self.0.serialize_map(Some(1))?;
                m.serialize_entry(P::NAME, p)?;
                m.end()
            }
        }
        self.visit(Ser(s))
    }
}

impl<'de> Deserialize<'de> for MethodConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneEntry;
        impl<'de> serde::de::Visitor<'de> for OneEntry {
            type Value = MethodConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "a map with one method name ({})",
                    METHOD_NAMES.join(", ")
                )
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MethodConfig, A::Error> {
                struct Value<'a, 'de, A>(&'a mut A, std::marker::PhantomData<&'de ()>);
                impl<'de, A: serde::de::MapAccess<'de>> TypeVisitor for Value<'_, 'de, A> {
                    type Out = Result<MethodConfig, A::Error>;
                    fn visit<P: MethodParams>(self) -> Self::Out {
                        self.0.next_value::<P>().map(P::into_config)
                    }
                }
                let name: String = map
                    .next_key()?
                    .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                let config = visit_named!(name.as_str(), Value(&mut map, std::marker::PhantomData))
                    .unwrap_or_else(|| {
                        Err(serde::de::Error::unknown_variant(&name, METHOD_NAMES))
                    })?;
                if map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::invalid_length(2, &self));
                }
                Ok(config)
            }
        }
        d.deserialize_map(OneEntry)
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

/// A side that the DCGAN pyramid of `nn::dcgan` can take: it halves the side
/// down to 4x4, so a power of two of at least 16.
pub(crate) fn check_dcgan_side(field: &'static str, side: usize, out: &mut Vec<FieldProblem>) {
    if side < 16 || !side.is_power_of_two() {
        out.push(FieldProblem::new(
            field,
            format!("must be a power of two of at least 16 (16, 32, 64, ...), got {side}"),
        ));
    }
}

/// Adam's settings: a positive learning rate and betas in (0, 1), checked
/// under the names in `fields` (learning rate, beta1, beta2).
pub(crate) fn check_adam(
    fields: [&'static str; 3],
    lr: f64,
    beta1: f64,
    beta2: f64,
    out: &mut Vec<FieldProblem>,
) {
    check_positive(fields[0], lr, out);
    check_unit_open(fields[1], beta1, out);
    check_unit_open(fields[2], beta2, out);
}

/// A training budget: at least one epoch, `max_steps` (if set) at least one,
/// batches of at least two images.
pub(crate) fn check_budget(
    epochs: usize,
    max_steps: Option<usize>,
    batch_size: usize,
    out: &mut Vec<FieldProblem>,
) {
    check_at_least("epochs", epochs, 1, out);
    if let Some(s) = max_steps {
        check_at_least("max_steps", s, 1, out);
    }
    check_at_least("batch_size", batch_size, 2, out);
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
        for cfg in all_defaults() {
            let model = cfg.model_params();
            let score = cfg.score_params();
            let name = cfg.name();
            for f in cfg.score_fields() {
                assert!(
                    score.get(f).is_some(),
                    "{name}: scoring field {f} does not exist"
                );
                assert!(
                    model.get(f).is_none(),
                    "{name}: {f} leaked into the model part"
                );
            }
            assert!(model.as_object().is_some_and(|m| !m.is_empty()), "{name}");
        }
    }

    #[test]
    fn registry_names_are_the_serde_tags_and_round_trip() {
        assert_eq!(all_defaults().len(), METHOD_NAMES.len());
        for cfg in all_defaults() {
            let name = cfg.name();
            assert!(METHOD_NAMES.contains(&name));
            let json = serde_json::to_value(&cfg).expect("serialises");
            let keys: Vec<&String> = json.as_object().expect("a map").keys().collect();
            assert_eq!(keys, vec![name], "the serde tag of {name}");
            let back: MethodConfig = serde_json::from_value(json).expect("parses back");
            assert_eq!(back, cfg);
            let yaml = serde_yaml_ng::to_string(&cfg).expect("yaml");
            assert_eq!(
                serde_yaml_ng::from_str::<MethodConfig>(&yaml).expect("yaml back"),
                cfg
            );
        }
        let two = serde_json::json!({"kde": {}, "ganomaly": {}});
        assert!(serde_json::from_value::<MethodConfig>(two).is_err());
        let unknown = serde_json::json!({"not_a_method": {}});
        let e = serde_json::from_value::<MethodConfig>(unknown).expect_err("unknown");
        assert!(e.to_string().contains("ganomaly"), "{e}");
    }

    #[test]
    fn empty_mapping_is_complete() {
        for name in METHOD_NAMES {
            let cfg = MethodConfig::from_yaml(name, serde_yaml_ng::Value::Null)
                .expect("known method")
                .expect("defaults parse");
            assert_eq!(cfg.name(), *name);
            if *name == "external" {
                // a program has no default: its name and command are required
                let fields: Vec<&str> = cfg.check().iter().map(|p| p.field).collect();
                assert_eq!(fields, ["name", "command"]);
                continue;
            }
            assert!(
                cfg.check().is_empty(),
                "defaults of {name} fail their checks"
            );
            assert!(!MethodConfig::field_names(name).is_empty());
        }
        assert!(MethodConfig::from_yaml("nope", serde_yaml_ng::Value::Null).is_none());
    }

    #[test]
    fn writing_every_default_explicitly_changes_nothing() {
        for cfg in all_defaults() {
            let name = cfg.name();
            let json = serde_json::to_value(&cfg).expect("json");
            let explicit: serde_yaml_ng::Value =
                serde_json::from_value(json[name].clone()).expect("as yaml");
            let parsed = MethodConfig::from_yaml(name, explicit)
                .expect("known")
                .expect("parses");
            assert_eq!(parsed, cfg, "{name}");
            assert_eq!(parsed.model_params(), cfg.model_params(), "{name}");
            assert_eq!(parsed.score_params(), cfg.score_params(), "{name}");
        }
    }
}
