//! Gathering a plan's results from the store into a report's input.

use crate::Result;
use crate::report::{Outcome, Record, ReportInput};
use crate::store::{ObjectKind, Store};

use super::Plan;

/// The report input of `plan`: every job with its stored result, its failure,
/// or nothing.
pub fn report_input(plan: &Plan, store: &Store) -> Result<ReportInput> {
    let mut records = Vec::with_capacity(plan.jobs.len());
    let mut rows: Vec<String> = Vec::new();
    for job in &plan.jobs {
        if !rows.contains(&job.label) {
            rows.push(job.label.clone());
        }
        let outcome = if store.contains(ObjectKind::Result, &job.key) {
            Outcome::Done {
                result: store.result(&job.key)?,
                scores: store.scores(&job.key)?,
            }
        } else if let Some(f) = store.failure(&job.key) {
            Outcome::Failed { error: f.error }
        } else {
            Outcome::Missing
        };
        records.push(Record {
            label: job.label.clone(),
            method: job.method.name().to_string(),
            key: job.key.hex(),
            sweep: job.sweep.clone(),
            class: job.class,
            class_name: job.class_name.clone(),
            seed: job.seed,
            outcome,
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
    })
}
