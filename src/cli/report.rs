//! `runner report`: a spec's results gathered from the store (every job with
//! its result, its failure, or nothing) and written as tables and plots under
//! `<out>/<experiment>/`. `runner run` ends with the same report.
//!
//! Gathering lives here, not in `schedule` or `report`: it joins a plan
//! (schedule) with the report's input types, and only `cli` depends on both.

use std::path::Path;

use crate::report::{Outcome, Provenance, Record, ReportInput};
use crate::schedule::{JobState, Plan};
use crate::store::{ObjectKind, Store, TrainingLog};

use super::{Cli, ReportArgs, SpecArgs, load_spec, open_store, plan_spec};

pub(super) fn exec(cli: &Cli, a: &ReportArgs) -> anyhow::Result<u8> {
    let store = open_store(&cli.store)?;
    let mut specs = vec![a.spec.spec.clone()];
    specs.extend(a.more.iter().cloned());
    let mut inputs = Vec::new();
    for path in &specs {
        let spec = load_spec(&SpecArgs {
            spec: path.clone(),
            sets: a.spec.sets.clone(),
        })?;
        let plan = plan_spec(&spec)?;
        if specs.len() == 1 {
            write_report(&plan, &store, &a.out, cli.quiet)?;
            return Ok(0);
        }
        let input = report_input(&plan, &store)?;
        let summary = crate::report::write(&input, &a.out.join(&plan.spec.name))
            .map_err(crate::Error::from)?;
        println!("report: {}", summary.dir.display());
        inputs.push(input);
    }
    let name = a.name.clone().unwrap_or_else(|| {
        inputs
            .iter()
            .map(|i| i.experiment.as_str())
            .collect::<Vec<_>>()
            .join("+")
    });
    let dir = a.out.join(&name);
    let md = crate::report::write_side_by_side(&inputs, &name, &dir).map_err(crate::Error::from)?;
    if !cli.quiet {
        println!("{md}");
    }
    println!("side by side: {}", dir.display());
    Ok(0)
}

/// Writes the report of `plan` under `out/<experiment>/`; prints its table
/// (unless `quiet`) and where it went.
pub(super) fn write_report(
    plan: &Plan,
    store: &Store,
    out: &Path,
    quiet: bool,
) -> anyhow::Result<()> {
    let input = report_input(plan, store)?;
    let dir = out.join(&plan.spec.name);
    let summary = crate::report::write(&input, &dir).map_err(crate::Error::from)?;
    if !quiet {
        println!("{}", summary.table_markdown);
    }
    println!("report: {}", summary.dir.display());
    Ok(())
}

/// The report input of `plan`: every job with its stored result, its failure,
/// or nothing.
fn report_input(plan: &Plan, store: &Store) -> crate::Result<ReportInput> {
    let mut records = Vec::with_capacity(plan.jobs.len());
    let mut rows: Vec<String> = Vec::new();
    for (job, state) in plan.jobs.iter().zip(plan.states(store)) {
        if !rows.contains(&job.label) {
            rows.push(job.label.clone());
        }
        let training = match state {
            JobState::Done => {
                TrainingLog::read(&store.object_dir(ObjectKind::Model, &job.model_key))
            }
            _ => None,
        };
        let outcome = match state {
            JobState::Done => Outcome::Done {
                result: store.result(&job.key, job.method.shown_score())?,
                scores: store.scores(&job.key, job.method.shown_score())?,
            },
            JobState::Failed(error) => Outcome::Failed { error },
            JobState::Missing => Outcome::Missing,
        };
        records.push(Record {
            label: job.label.clone(),
            method: job.method.display_name().to_string(),
            key: job.key.hex(),
            sweep: job.sweep.clone(),
            class: job.class,
            class_name: job.class_name.clone(),
            seed: job.seed,
            outcome,
            training,
        });
    }
    Ok(ReportInput {
        experiment: plan.spec.name.clone(),
        dataset: plan.dataset.name.clone(),
        approximate: plan.dataset.approximate,
        protocol: plan.spec.protocol,
        classes: plan
            .classes
            .iter()
            .map(|&c| (c, plan.class_names[c].clone()))
            .collect(),
        rows,
        records,
        reference: plan.spec.reference.clone(),
        cell: plan.spec.report.cell,
        provenance: Provenance {
            spec_file: plan.spec.file.display().to_string(),
            // The spec was read to plan; if it is gone or unreadable now,
            // the page says so instead of showing an empty spec.
            spec_text: std::fs::read_to_string(&plan.spec.file).unwrap_or_else(|e| {
                format!(
                    "# the spec file {} could not be read when this report was written: {e}",
                    plan.spec.file.display()
                )
            }),
            environments: environments(plan, store),
        },
    })
}

/// The environments the plan's external methods run in, with the packages
/// their records in the store list.
fn environments(plan: &Plan, store: &Store) -> Vec<crate::report::EnvironmentUse> {
    super::env::environments_of(&plan.spec)
        .into_iter()
        .map(|(key, d)| {
            let record = store.environment(&key);
            crate::report::EnvironmentUse {
                methods: d.methods,
                requirements: d.params.requirements_file().to_string(),
                made_with: record
                    .as_ref()
                    .map(|r| {
                        format!(
                            "{} on {}, installed by {}",
                            r.python, r.platform, r.installer
                        )
                    })
                    .unwrap_or_default(),
                packages: record
                    .map(|r| r.packages.into_iter().collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}
