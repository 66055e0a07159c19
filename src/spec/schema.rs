//! The JSON Schema of a spec (`runner schema`), for editors that validate and
//! complete YAML. Method parameters accept a value or `{sweep: [values]}`.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::methods::MethodConfig;
use super::{DataFormat, DatasetSpec, ExecutorSpec, Protocol, ReportOptions};

/// Wraps every property of a parameters schema so it also takes `{sweep: [...]}`.
fn sweepable(mut params: Value) -> Value {
    if let Some(Value::Object(props)) = params.get_mut("properties") {
        for (_, p) in props.iter_mut() {
            let single = p.clone();
            *p = json!({
                "anyOf": [
                    single,
                    {
                        "type": "object",
                        "properties": {"sweep": {"type": "array", "minItems": 1, "items": single}},
                        "required": ["sweep"],
                        "additionalProperties": false
                    }
                ]
            });
            for k in ["description", "default"] {
                if let Some(v) = single.get(k) {
                    p[k] = v.clone();
                }
            }
        }
    }
    params
}

/// The schema as JSON.
pub fn spec_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let protocol = generator.subschema_for::<Protocol>();
    let dataset = generator.subschema_for::<DatasetSpec>();
    let _format = generator.subschema_for::<DataFormat>();
    let executor = generator.subschema_for::<ExecutorSpec>();
    let report = generator.subschema_for::<ReportOptions>();
    let mut defs: Map<String, Value> = generator
        .definitions()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    let mut method_items = Vec::new();
    for (name, mut schema) in MethodConfig::schemas() {
        // pull each method's own $defs up to the top level
        if let Some(Value::Object(d)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
            defs.extend(d);
        }
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
        }
        let params = sweepable(schema);
        method_items.push(json!({
            "type": "object",
            "properties": {name: {"anyOf": [params, {"type": "null"}]}},
            "required": [name],
            "additionalProperties": false
        }));
        method_items.push(json!({"const": name}));
    }

    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "runner experiment spec",
        "type": "object",
        "additionalProperties": false,
        "required": ["name", "dataset", "methods"],
        "properties": {
            "name": {"type": "string", "description": "Name of the experiment (the report folder)."},
            "description": {"type": "string"},
            "dataset": {
                "description": "A known dataset name, or {name, format, path, classes}.",
                "anyOf": [{"type": "string"}, serde_json::to_value(&dataset).unwrap_or_default()]
            },
            "protocol": serde_json::to_value(&protocol).unwrap_or_default(),
            "classes": {
                "description": "`all`, or a list of class indices or names.",
                "anyOf": [
                    {"const": "all"},
                    {"type": "array", "minItems": 1, "items": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}}
                ]
            },
            "seeds": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}, "description": "Every cell is the mean over these seeds (default [0, 1, 2])."},
            "train_limit": {"type": "integer", "minimum": 1, "description": "Sub-sample at most this many training images (stratified, per seed)."},
            "test_limit": {"type": "integer", "minimum": 1, "description": "Sub-sample at most this many test images (stratified, per seed)."},
            "methods": {"type": "array", "minItems": 1, "items": {"anyOf": method_items}},
            "reference": {"type": "string", "description": "A YAML file of reference AUROCs to print beside the results."},
            "executor": serde_json::to_value(&executor).unwrap_or_default(),
            "report": serde_json::to_value(&report).unwrap_or_default()
        },
        "$defs": defs
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_lists_every_method_and_top_key() {
        let s = spec_schema();
        let props = s["properties"].as_object().unwrap();
        for k in super::super::check::TOP_KEYS {
            assert!(props.contains_key(*k), "schema lacks `{k}`");
        }
        let text = s.to_string();
        for m in super::super::METHOD_NAMES {
            assert!(
                text.contains(&format!("\"{m}\"")),
                "schema lacks method {m}"
            );
        }
        assert!(text.contains("\"sweep\""));
    }

    /// `runner schema` shows every method parameter's default, and those
    /// defaults are the ones a spec gets when it leaves the parameter out.
    #[test]
    fn schema_defaults_round_trip_for_every_method() {
        let s = spec_schema();
        let items = s["properties"]["methods"]["items"]["anyOf"]
            .as_array()
            .expect("method items");
        for name in super::super::METHOD_NAMES {
            let params = items
                .iter()
                .find_map(|i| i["properties"].get(*name))
                .unwrap_or_else(|| panic!("no schema item for {name}"));
            let props = params["anyOf"][0]["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name}: no properties"));
            let defaults: Map<String, Value> = props
                .iter()
                .map(|(k, v)| {
                    let d = v
                        .get("default")
                        .unwrap_or_else(|| panic!("{name}.{k}: no default"));
                    (k.clone(), d.clone())
                })
                .collect();
            let yaml: serde_yaml_ng::Value =
                serde_json::from_value(Value::Object(defaults)).expect("as yaml");
            let from_schema = MethodConfig::from_yaml(name, yaml)
                .expect("known")
                .expect("the schema's defaults parse");
            let default = MethodConfig::from_yaml(name, serde_yaml_ng::Value::Null)
                .expect("known")
                .expect("defaults");
            assert_eq!(from_schema, default, "{name}");
        }
    }
}
