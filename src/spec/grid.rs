//! The job grid of a spec: `methods x sweeps x classes x seeds`, in that order
//! (the order jobs are planned, run and listed).

use std::collections::BTreeMap;

use super::{ClassRef, ClassSelection, MethodConfig, SpecError, ValidSpec};

/// One job of the grid, before the dataset's identity gives it a key.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    /// Index of the method entry in the spec.
    pub entry: usize,
    /// `ganomaly` or `ganomaly (w_con=10)`.
    pub label: String,
    pub config: MethodConfig,
    pub sweep: BTreeMap<String, String>,
    /// Class index in the dataset's label order.
    pub class: usize,
    pub seed: u64,
}

/// The class indices a spec selects, given the dataset's class names.
/// Unknown names and out-of-range indices are spec errors.
pub fn resolve_classes(spec: &ValidSpec, names: &[String]) -> Result<Vec<usize>, SpecError> {
    let list = match &spec.classes {
        ClassSelection::All => return Ok((0..names.len()).collect()),
        ClassSelection::List(list) => list,
    };
    let valid = || {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i}={n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let found = match c {
            ClassRef::Index(k) if *k < names.len() => Some(*k),
            ClassRef::Index(_) => None,
            ClassRef::Name(n) => names.iter().position(|m| m == n).or_else(|| {
                // a number written as text ("3") also names an index
                n.parse::<usize>().ok().filter(|k| *k < names.len())
            }),
        };
        match found {
            Some(k) if out.contains(&k) => {
                return Err(spec.error_at(
                    &format!("classes[{i}]"),
                    format!("class `{c}` is selected twice (duplicate jobs)"),
                    None,
                ));
            }
            Some(k) => out.push(k),
            None => {
                return Err(spec.error_at(
                    &format!("classes[{i}]"),
                    format!("unknown class `{c}` for dataset `{}`", spec.dataset.name),
                    Some(format!("the classes are: {}", valid())),
                ));
            }
        }
    }
    Ok(out)
}

/// The environment variable that raises [`DEFAULT_MAX_JOBS`].
pub const MAX_JOBS_VAR: &str = "RUNNER_MAX_JOBS";
/// The most jobs a spec may expand to, unless raised: a guard against a
/// sweep grid that would take all memory (and years) to plan.
pub const DEFAULT_MAX_JOBS: usize = 100_000;

/// The job limit: `RUNNER_MAX_JOBS` when set to a number, else [`DEFAULT_MAX_JOBS`].
pub fn max_jobs() -> usize {
    std::env::var(MAX_JOBS_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_JOBS)
}

/// How many jobs the spec expands to for `classes`; an error above the limit.
pub fn count_jobs(spec: &ValidSpec, classes: &[usize]) -> Result<usize, SpecError> {
    let variants: usize = spec.methods.iter().map(|e| e.variants.len()).sum();
    let n = variants
        .saturating_mul(classes.len())
        .saturating_mul(spec.seeds.len());
    let max = max_jobs();
    if n > max {
        return Err(spec.error_at(
            "methods",
            format!(
                "the spec expands to {n} jobs ({variants} method variants x {} classes x {} seeds), more than the limit of {max}",
                classes.len(),
                spec.seeds.len()
            ),
            Some(format!(
                "select fewer classes, seeds or sweep values, or raise the limit with the environment variable {MAX_JOBS_VAR}=N"
            )),
        ));
    }
    Ok(n)
}

/// Every job of the spec for the given classes, in grid order.
pub fn expand(spec: &ValidSpec, classes: &[usize]) -> Vec<JobSpec> {
    let mut jobs = Vec::new();
    for entry in &spec.methods {
        for variant in &entry.variants {
            let label = variant.label();
            for &class in classes {
                for &seed in &spec.seeds {
                    jobs.push(JobSpec {
                        entry: entry.index,
                        label: label.clone(),
                        config: variant.config.clone(),
                        sweep: variant.sweep.clone(),
                        class,
                        seed,
                    });
                }
            }
        }
    }
    jobs
}
