//! The `methods:` list of a spec: each `- method: {params}` entry parsed
//! and checked, its `{sweep: [...]}` values expanded into one variant per
//! combination, and grids over the job limit or with duplicate jobs refused.
//! An external method's sweeps may also sit one level down, in its `params`
//! and `score_params`; its files are checked against the spec's folder.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::super::methods::{METHOD_NAMES, MethodConfig};
use super::super::{MethodEntry, Variant};
use super::{Checker, show_value};

pub(super) fn check_methods(
    ck: &mut Checker,
    entries: Vec<Value>,
    base: &Path,
) -> Vec<MethodEntry> {
    let names: Vec<String> = METHOD_NAMES.iter().map(|s| s.to_string()).collect();
    if entries.is_empty() {
        ck.push(
            "methods",
            "no methods listed",
            Some(format!("add one of: {}", names.join(", "))),
        );
    }
    let mut out: Vec<MethodEntry> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let at = format!("methods[{index}]");
        let (name, params) = match entry {
            Value::String(name) => (name, Value::Null),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.into_iter().next().expect("one entry");
                match k {
                    Value::String(k) => (k, v),
                    other => {
                        ck.push(
                            &at,
                            format!("a method name must be text, got {}", show_value(&other)),
                            None,
                        );
                        continue;
                    }
                }
            }
            _ => {
                ck.push(
                    &at,
                    "expected `- method: {params}` (one method per list item)",
                    Some("e.g. `- ganomaly: {w_con: 50}`".into()),
                );
                continue;
            }
        };
        let at = format!("{at}.{name}");
        if MethodConfig::from_yaml(&name, Value::Null).is_none() {
            let mut help = format!("the methods are: {}", names.join(", "));
            if let Some(b) = names
                .iter()
                .find(|n| strsim::damerau_levenshtein(n, &name) <= 2)
            {
                help = format!("did you mean `{b}`? {help}");
            }
            ck.push(&at, format!("unknown method `{name}`"), Some(help));
            continue;
        }
        let params = match params {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m,
            other => {
                ck.push(
                    &at,
                    format!(
                        "expected a mapping of parameters, got {}",
                        show_value(&other)
                    ),
                    None,
                );
                continue;
            }
        };
        let Some(variants) = expand_sweeps(ck, &at, &name, params, base) else {
            continue;
        };
        out.push(MethodEntry {
            index,
            name,
            variants,
        });
    }
    // Two variants with the same resolved parameters would be the same jobs twice.
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut dups = Vec::new();
    for e in &out {
        for v in &e.variants {
            let at = format!("methods[{}].{}", e.index, e.name);
            match seen.entry(canonical(&v.config)) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    dups.push((at, v.label(), first.get().clone()));
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(at);
                }
            }
        }
    }
    check_external_names(ck, &out);
    for (at, label, first) in dups {
        ck.push(
            &at,
            format!("duplicate jobs: `{label}` resolves to the same parameters as `{first}`"),
            Some("remove one, or change a parameter (defaults count as written)".into()),
        );
    }
    out
}

/// Expands `{sweep: [...]}` values into one parameter mapping per combination,
/// parses and checks each.
fn expand_sweeps(
    ck: &mut Checker,
    at: &str,
    name: &str,
    params: Mapping,
    base: &Path,
) -> Option<Vec<Variant>> {
    let mut fixed = Mapping::new();
    // (the mapping it is in, when nested; its key; its values)
    let mut dims: Vec<(Option<String>, String, Vec<Value>)> = Vec::new();
    let mut ok = true;
    for (k, v) in params {
        let key = show_value(&k);
        let v = match v {
            Value::Mapping(inner)
                if name == "external" && NESTED_SWEEPS.contains(&key.as_str()) =>
            {
                let mut kept = Mapping::new();
                for (ik, iv) in inner {
                    let ikey = show_value(&ik);
                    match sweep_list(ck, &format!("{at}.{key}.{ikey}"), &ikey, &iv) {
                        Some(Some(vals)) => dims.push((Some(key.clone()), ikey, vals)),
                        Some(None) => {
                            kept.insert(ik, iv);
                        }
                        None => ok = false,
                    }
                }
                fixed.insert(k, Value::Mapping(kept));
                continue;
            }
            v => v,
        };
        match sweep_list(ck, &format!("{at}.{key}"), &key, &v) {
            Some(Some(vals)) => dims.push((None, key, vals)),
            Some(None) => {
                fixed.insert(k, v);
            }
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let count = dims
        .iter()
        .fold(1usize, |n, (_, _, values)| n.saturating_mul(values.len()));
    let max = super::super::grid::max_jobs();
    if count > max {
        ck.push(
            at,
            format!(
                "the sweeps of `{name}` expand to {} variants, more than the limit of {max} jobs",
                show_count(count)
            ),
            Some(format!(
                "sweep fewer values, or raise the limit with the environment variable {}=N",
                super::super::grid::MAX_JOBS_VAR
            )),
        );
        return None;
    }
    let mut combos: Vec<(Mapping, BTreeMap<String, String>)> = vec![(fixed, BTreeMap::new())];
    for (parent, key, values) in &dims {
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for (m, labels) in &combos {
            for v in values {
                let mut m = m.clone();
                let into = match parent {
                    Some(p) => match m.get_mut(p.as_str()) {
                        Some(Value::Mapping(inner)) => inner,
                        _ => &mut m,
                    },
                    None => &mut m,
                };
                into.insert(Value::String(key.clone()), v.clone());
                let mut labels = labels.clone();
                labels.insert(key.clone(), show_value(v));
                next.push((m, labels));
            }
        }
        combos = next;
    }
    let valid_keys = MethodConfig::field_names(name);
    let mut variants = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (m, sweep) in combos {
        let parsed = MethodConfig::from_yaml(name, Value::Mapping(m))?;
        match parsed {
            Ok(mut config) => {
                let problems = config.check();
                if problems.is_empty() {
                    let missing = config.resolve_paths(base);
                    if !missing.is_empty() {
                        for p in missing {
                            ck.push(&format!("{at}.{}", p.path), p.message, p.help);
                        }
                        return None;
                    }
                    if seen.insert(canonical(&config)) {
                        variants.push(Variant { config, sweep });
                    } else {
                        ck.push(
                            at,
                            format!(
                                "duplicate jobs: the sweep gives `{}` twice",
                                Variant { config, sweep }.label()
                            ),
                            None,
                        );
                        return None;
                    }
                } else {
                    for p in problems {
                        let swept = if sweep.contains_key(p.field) {
                            ".sweep"
                        } else {
                            ""
                        };
                        ck.push(&format!("{at}.{}{swept}", p.field), p.message, None);
                    }
                    return None;
                }
            }
            Err(e) => {
                ck.serde_problem(at, e, &valid_keys);
                return None;
            }
        }
    }
    Some(variants)
}

/// A method configuration as one comparable string (its JSON).
fn canonical(config: &MethodConfig) -> String {
    serde_json::to_string(config).unwrap_or_default()
}

/// `30,000,000`.
fn show_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The mappings of an external method whose values may be swept too.
const NESTED_SWEEPS: &[&str] = &["params", "score_params"];

/// The values of `v` when it is a sweep (`Some(Some(values))`), `Some(None)`
/// when it is a plain value, `None` (with the problem recorded at `at`)
/// when it is a sweep without values.
fn sweep_list(ck: &mut Checker, at: &str, key: &str, v: &Value) -> Option<Option<Vec<Value>>> {
    match sweep_values(v) {
        None => Some(None),
        Some(Value::Sequence(vals)) if !vals.is_empty() => Some(Some(vals.clone())),
        Some(_) => {
            ck.push(
                &format!("{at}.sweep"),
                "a sweep needs a non-empty list of values",
                Some(format!("e.g. `{key}: {{sweep: [10, 50]}}`")),
            );
            None
        }
    }
}

/// Two external methods with one name would share a table row.
fn check_external_names(ck: &mut Checker, entries: &[MethodEntry]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for e in entries {
        let Some(MethodConfig::External(p)) = e.variants.first().map(|v| &v.config) else {
            continue;
        };
        if let Some(first) = seen.get(&p.name) {
            ck.push(
                &format!("methods[{}].external.name", e.index),
                format!(
                    "the name `{}` is taken by methods[{first}]: each external method needs its own row name",
                    p.name
                ),
                None,
            );
        } else {
            seen.insert(p.name.clone(), e.index);
        }
    }
}

/// A swept value: `{sweep: [a, b]}`.
fn sweep_values(v: &Value) -> Option<&Value> {
    let Value::Mapping(m) = v else { return None };
    if m.len() != 1 {
        return None;
    }
    m.get("sweep")
}
