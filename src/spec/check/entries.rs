//! The `methods:` list of a spec: each `- method: {params}` entry parsed
//! and checked, its `{sweep: [...]}` values expanded into one variant per
//! combination, and grids over the job limit or with duplicate jobs refused.
//! An external method's sweeps may also sit one level down, in its `params`
//! and `score_params`; its files are checked against the spec's folder.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
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
    if entries.is_empty() {
        ck.push(
            "methods",
            "no methods listed",
            Some(format!("add one of: {}", METHOD_NAMES.join(", "))),
        );
    }
    let mut out: Vec<MethodEntry> = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let Some((name, params)) = method_entry(ck, index, entry) else {
            continue;
        };
        let at = format!("methods[{index}].{name}");
        let Some(variants) = expand_sweeps(ck, &at, &name, params, base) else {
            continue;
        };
        out.push(MethodEntry {
            index,
            name,
            variants,
        });
    }
    let dups = duplicate_variants(&out);
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

/// The method name and parameter mapping of list item `index` (`- name` or
/// `- name: {params}`), or None after recording what is wrong with it.
fn method_entry(ck: &mut Checker, index: usize, entry: Value) -> Option<(String, Mapping)> {
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
                    return None;
                }
            }
        }
        _ => {
            ck.push(
                &at,
                "expected `- method: {params}` (one method per list item)",
                Some("e.g. `- ganomaly: {w_con: 50}`".into()),
            );
            return None;
        }
    };
    let at = format!("{at}.{name}");
    if MethodConfig::from_yaml(&name, Value::Null).is_none() {
        let mut help = format!("the methods are: {}", METHOD_NAMES.join(", "));
        if let Some(b) = METHOD_NAMES
            .iter()
            .find(|n| strsim::damerau_levenshtein(n, &name) <= 2)
        {
            help = format!("did you mean `{b}`? {help}");
        }
        ck.push(&at, format!("unknown method `{name}`"), Some(help));
        return None;
    }
    match params {
        Value::Null => Some((name, Mapping::new())),
        Value::Mapping(m) => Some((name, m)),
        other => {
            ck.push(
                &at,
                format!(
                    "expected a mapping of parameters, got {}",
                    show_value(&other)
                ),
                None,
            );
            None
        }
    }
}

/// Variants of different entries with the same resolved parameters (they
/// would be the same jobs twice): (where, its label, where it first appeared).
fn duplicate_variants(entries: &[MethodEntry]) -> Vec<(String, String, String)> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut dups = Vec::new();
    for e in entries {
        for v in &e.variants {
            let at = format!("methods[{}].{}", e.index, e.name);
            match seen.entry(canonical(&v.config)) {
                Entry::Occupied(first) => dups.push((at, v.label(), first.get().clone())),
                Entry::Vacant(slot) => {
                    slot.insert(at);
                }
            }
        }
    }
    dups
}

/// One swept parameter: the mapping it is in when nested (an external
/// method's `params` or `score_params`), its key, its values.
type Dim = (Option<String>, String, Vec<Value>);

/// Expands `{sweep: [...]}` values into one parameter mapping per combination,
/// parses and checks each.
fn expand_sweeps(
    ck: &mut Checker,
    at: &str,
    name: &str,
    params: Mapping,
    base: &Path,
) -> Option<Vec<Variant>> {
    let (fixed, dims) = sweep_dims(ck, at, name, params)?;
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
    let valid_keys = MethodConfig::field_names(name);
    let mut variants = Vec::new();
    let mut seen = HashSet::new();
    for (m, sweep) in combinations(fixed, &dims) {
        let config = match MethodConfig::from_yaml(name, Value::Mapping(m))? {
            Ok(config) => checked_config(ck, at, config, &sweep, base)?,
            Err(e) => {
                ck.serde_problem(at, e, &valid_keys);
                return None;
            }
        };
        if !seen.insert(canonical(&config)) {
            let label = Variant { config, sweep }.label();
            ck.push(
                at,
                format!("duplicate jobs: the sweep gives `{label}` twice"),
                None,
            );
            return None;
        }
        variants.push(Variant { config, sweep });
    }
    Some(variants)
}

/// The fixed parameters and the swept ones (also those one level down in an
/// external method's `params` and `score_params`), or None after recording
/// a malformed sweep.
fn sweep_dims(
    ck: &mut Checker,
    at: &str,
    name: &str,
    params: Mapping,
) -> Option<(Mapping, Vec<Dim>)> {
    let mut fixed = Mapping::new();
    let mut dims: Vec<Dim> = Vec::new();
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
    ok.then_some((fixed, dims))
}

/// Every combination of the swept values over `fixed`, each with its sweep
/// labels (key -> value as written), in the order the sweeps were given.
fn combinations(fixed: Mapping, dims: &[Dim]) -> Vec<(Mapping, BTreeMap<String, String>)> {
    let mut combos: Vec<(Mapping, BTreeMap<String, String>)> = vec![(fixed, BTreeMap::new())];
    for (parent, key, values) in dims {
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
    combos
}

/// `config` once its values are checked and its file paths resolved against
/// the spec's folder; None after recording the problems (a problem in a
/// swept field points at its `.sweep`).
fn checked_config(
    ck: &mut Checker,
    at: &str,
    mut config: MethodConfig,
    sweep: &BTreeMap<String, String>,
    base: &Path,
) -> Option<MethodConfig> {
    let problems = config.check();
    if !problems.is_empty() {
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
    let missing = config.resolve_paths(base);
    if !missing.is_empty() {
        for p in missing {
            ck.push(&format!("{at}.{}", p.path), p.message, p.help);
        }
        return None;
    }
    Some(config)
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
