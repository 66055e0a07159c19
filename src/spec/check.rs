//! Turning spec text into a [`ValidSpec`]: YAML syntax, types, unknown keys
//! (with the nearest valid key), ranges; the `methods:` list (sweeps,
//! duplicate jobs, the job limit) in [`entries`].

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::{
    ClassRef, ClassSelection, DatasetSpec, Diagnostic, ExecutorSpec, Limits, Protocol, Reference,
    ReportOptions, SourceMap, SpecError, ValidSpec, overrides,
};

mod entries;
use entries::check_methods;

/// The top-level keys of a spec (kept in sync with `RawSpec`).
pub(crate) const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "dataset",
    "protocol",
    "classes",
    "seeds",
    "train_limit",
    "test_limit",
    "methods",
    "reference",
    "executor",
    "report",
];

fn default_seeds() -> Vec<u64> {
    vec![0, 1, 2]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: String,
    #[serde(default)]
    description: Option<String>,
    dataset: Value,
    #[serde(default)]
    protocol: Protocol,
    #[serde(default)]
    classes: Option<Value>,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    #[serde(default)]
    train_limit: Option<usize>,
    #[serde(default)]
    test_limit: Option<usize>,
    methods: Vec<Value>,
    #[serde(default)]
    reference: Option<PathBuf>,
    /// `executor: local` or `executor: {slurm: {...}}` (a one-key map, not a YAML tag).
    #[serde(default, with = "serde_yaml_ng::with::singleton_map_recursive")]
    executor: Option<ExecutorSpec>,
    #[serde(default)]
    report: ReportOptions,
}

struct Checker<'a> {
    file: &'a Path,
    source: SourceMap,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn push(&mut self, path: &str, message: impl Into<String>, help: Option<String>) {
        self.problems.push(Diagnostic {
            location: self.source.locate(path),
            path: path.to_string(),
            message: message.into(),
            help,
        });
    }

    fn into_error(self) -> SpecError {
        SpecError {
            file: self.file.display().to_string(),
            problems: self.problems,
        }
    }

    /// Records a serde error at `prefix` + the path serde reached; unknown keys
    /// get the nearest valid key suggested.
    fn serde_problem(
        &mut self,
        prefix: &str,
        err: serde_path_to_error::Error<serde_yaml_ng::Error>,
        valid_keys: &[String],
    ) {
        let mut path = prefix.to_string();
        for seg in err.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                serde_path_to_error::Segment::Map { key } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                serde_path_to_error::Segment::Enum { variant } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(variant);
                }
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let inner = err.into_inner();
        let text = inner.to_string();
        if let Some(unknown) = unknown_field(&text) {
            // serde's path may or may not already end at the unknown key
            let key_path = if path == unknown || path.ends_with(&format!(".{unknown}")) {
                path
            } else if path.is_empty() {
                unknown.clone()
            } else {
                format!("{path}.{unknown}")
            };
            // a nested section (`report.cel`): serde's own list of its keys
            let nested =
                expected_fields(&text).filter(|_| prefix.is_empty() && key_path.contains('.'));
            let help = suggest(&unknown, nested.as_deref().unwrap_or(valid_keys));
            self.push(&key_path, format!("unknown key `{unknown}`"), Some(help));
        } else {
            self.push(&path, strip_location(&text), None);
        }
    }
}

/// The field name in serde's "unknown field `x`, expected ..." message.
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    Some(rest.split('`').next()?.to_string())
}

/// The keys in serde's "unknown field `x`, expected `a`" or "expected one of
/// `a`, `b`" message.
fn expected_fields(msg: &str) -> Option<Vec<String>> {
    let rest = msg.split(", expected ").nth(1)?;
    let keys: Vec<String> = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    (!keys.is_empty()).then_some(keys)
}

/// serde_yaml_ng appends " at line L column C" to some messages; the location is
/// printed separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// "did you mean `x`?" plus the valid keys.
pub(crate) fn suggest(unknown: &str, valid: &[String]) -> String {
    let best = valid
        .iter()
        .map(|v| (strsim::damerau_levenshtein(unknown, v), v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v.clone());
    let list = valid
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match best {
        Some(b) => format!("did you mean `{b}`? valid keys: {list}"),
        None => format!("valid keys: {list}"),
    }
}

/// A short text form of a YAML scalar, for labels.
pub(crate) fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "?".into()),
    }
}

/// Flow collections (`[..]`, `{..}`) nested deeper than this are refused
/// before parsing (no spec needs more than a few levels).
const MAX_FLOW_NESTING: usize = 64;

pub(super) fn parse(
    text: &str,
    file: &Path,
    base: &Path,
    sets: &[String],
) -> Result<ValidSpec, SpecError> {
    let mut ck = Checker {
        file,
        source: SourceMap::parse(text),
        problems: Vec::new(),
    };
    let Some(raw) = read_document(&mut ck, text, sets) else {
        return Err(ck.into_error());
    };
    check_name(&mut ck, &raw.name);
    let dataset = check_dataset(&mut ck, raw.dataset, base);
    let classes = check_classes(&mut ck, raw.classes);
    check_seeds(&mut ck, &raw.seeds);
    check_limits(&mut ck, raw.train_limit, raw.test_limit);
    let methods = check_methods(&mut ck, raw.methods, base);
    let reference = raw
        .reference
        .and_then(|p| load_reference(&mut ck, &base.join(p)));

    if !ck.problems.is_empty() {
        return Err(ck.into_error());
    }
    Ok(ValidSpec {
        file: file.to_path_buf(),
        name: raw.name,
        description: raw.description,
        dataset: dataset.unwrap_or_else(|| DatasetSpec::named("")),
        protocol: raw.protocol,
        classes,
        seeds: raw.seeds,
        limits: Limits {
            train: raw.train_limit,
            test: raw.test_limit,
        },
        methods,
        reference,
        executor: raw.executor,
        report: raw.report,
        source: ck.source,
    })
}

/// The spec's document as the raw top-level fields, after `--set`
/// overrides; None after recording why it is not one (nested too deep, not
/// YAML, not a mapping, a bad override, an unknown or mistyped key).
fn read_document(ck: &mut Checker, text: &str, sets: &[String]) -> Option<RawSpec> {
    let (depth, line) = super::source::flow_nesting(text);
    if depth > MAX_FLOW_NESTING {
        ck.problems.push(Diagnostic {
            location: Some(super::Location { line, column: 1 }),
            path: String::new(),
            message: format!(
                "not a spec: brackets nested {depth} deep (at most {MAX_FLOW_NESTING})"
            ),
            help: None,
        });
        return None;
    }
    let mut doc: Value = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let location = e.location().map(|l| super::Location {
                line: l.line(),
                column: l.column(),
            });
            ck.problems.push(Diagnostic {
                location,
                path: String::new(),
                message: format!("not valid YAML: {}", strip_location(&e.to_string())),
                help: None,
            });
            return None;
        }
    };
    if !matches!(doc, Value::Mapping(_)) {
        ck.push(
            "",
            "a spec must be a YAML mapping (name, dataset, methods, ...)",
            None,
        );
        return None;
    }
    for set in sets {
        if let Err(msg) = overrides::apply(&mut doc, set) {
            ck.push("", format!("--set {set}: {msg}"), None);
        }
    }
    if !ck.problems.is_empty() {
        return None;
    }
    let top_keys: Vec<String> = TOP_KEYS.iter().map(|s| s.to_string()).collect();
    match serde_path_to_error::deserialize(doc) {
        Ok(r) => Some(r),
        Err(e) => {
            ck.serde_problem("", e, &top_keys);
            None
        }
    }
}

/// The spec's name, which names its report folder.
fn check_name(ck: &mut Checker, name: &str) {
    if name.trim().is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        ck.push(
            "name",
            format!("`{name}` cannot name a report folder"),
            Some("use letters, digits, '-' and '_'".into()),
        );
    }
}

/// The seed list: not empty, no seed twice.
fn check_seeds(ck: &mut Checker, seeds: &[u64]) {
    if seeds.is_empty() {
        ck.push(
            "seeds",
            "the seed list is empty",
            Some("give at least one seed, e.g. `seeds: [0, 1, 2]`".into()),
        );
    }
    for (i, s) in seeds.iter().enumerate() {
        if seeds[..i].contains(s) {
            ck.push(
                &format!("seeds[{i}]"),
                format!("seed {s} is listed twice (duplicate jobs)"),
                None,
            );
        }
    }
}

/// The image limits: absent, or at least 1.
fn check_limits(ck: &mut Checker, train: Option<usize>, test: Option<usize>) {
    for (key, v) in [("train_limit", train), ("test_limit", test)] {
        if v == Some(0) {
            ck.push(key, "must be at least 1 (leave it out for no limit)", None);
        }
    }
}

fn check_dataset(ck: &mut Checker, v: Value, base: &Path) -> Option<DatasetSpec> {
    let mut ds = match v {
        Value::String(name) => DatasetSpec::named(&name),
        v @ Value::Mapping(_) => match serde_path_to_error::deserialize::<_, DatasetSpec>(v) {
            Ok(d) => d,
            Err(e) => {
                let keys = ["name", "format", "path", "classes"].map(String::from);
                ck.serde_problem("dataset", e, &keys);
                return None;
            }
        },
        _ => {
            ck.push(
                "dataset",
                "expected a dataset name or a mapping {name, format, path, classes}",
                None,
            );
            return None;
        }
    };
    if ds.name.trim().is_empty() {
        ck.push("dataset", "the dataset name is empty", None);
    }
    if let Some(p) = &ds.path
        && p.is_relative()
    {
        ds.path = Some(base.join(p));
    }
    Some(ds)
}

fn check_classes(ck: &mut Checker, v: Option<Value>) -> ClassSelection {
    let Some(v) = v else {
        return ClassSelection::All;
    };
    match v {
        Value::String(s) if s == "all" => ClassSelection::All,
        Value::Sequence(items) => {
            let mut out = Vec::new();
            if items.is_empty() {
                ck.push(
                    "classes",
                    "the class list is empty",
                    Some("use `all` or list classes".into()),
                );
            }
            for (i, item) in items.into_iter().enumerate() {
                let c = match item {
                    Value::Number(n) if n.as_u64().is_some() => {
                        ClassRef::Index(n.as_u64().unwrap_or_default() as usize)
                    }
                    Value::String(s) => ClassRef::Name(s),
                    other => {
                        ck.push(
                            &format!("classes[{i}]"),
                            format!(
                                "expected a class index (0, 1, ...) or name, got {}",
                                show_value(&other)
                            ),
                            None,
                        );
                        continue;
                    }
                };
                if out.contains(&c) {
                    ck.push(
                        &format!("classes[{i}]"),
                        format!("class {c} is listed twice (duplicate jobs)"),
                        None,
                    );
                }
                out.push(c);
            }
            ClassSelection::List(out)
        }
        other => {
            ck.push(
                "classes",
                format!(
                    "expected `all` or a list of classes, got {}",
                    show_value(&other)
                ),
                None,
            );
            ClassSelection::All
        }
    }
}

fn load_reference(ck: &mut Checker, path: &Path) -> Option<Reference> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            ck.push(
                "reference",
                format!("cannot read {}: {e}", path.display()),
                None,
            );
            return None;
        }
    };
    match serde_yaml_ng::from_str::<Reference>(&text) {
        Ok(r) => {
            if let Some(m) = r.printed_mean.keys().find(|m| !r.auroc.contains_key(*m)) {
                ck.push(
                    "reference",
                    format!(
                        "{}: `printed_mean` names `{m}`, which has no row under `auroc`",
                        path.display()
                    ),
                    None,
                );
                return None;
            }
            Some(r)
        }
        Err(e) => {
            ck.push(
                "reference",
                format!("{} is not a valid reference file: {e}", path.display()),
                None,
            );
            None
        }
    }
}
