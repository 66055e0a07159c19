//! `runner cancel`: scancel the live tasks of a spec's unfinished jobs, wait
//! for Slurm to end them, release their locks and record them as cancelled.

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use crate::schedule::Job;
use crate::store::{ObjectKind, Store};

use super::config::run_tool;
use super::script::path_str;
use super::{SlurmError, SlurmTools, TaskRecord, query_tasks, task_record};

/// What `runner cancel` did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CancelSummary {
    /// Task ids passed to scancel.
    pub cancelled: Vec<String>,
    /// Jobs without a result whose task had already ended.
    pub not_running: usize,
}

/// Cancels the Slurm tasks of `jobs` that have no result yet, waits (up to
/// `wait`) until Slurm ended them, releases their locks and records them as
/// cancelled.
pub fn cancel(
    store: &Store,
    jobs: &[Job],
    tools: &SlurmTools,
    wait: Duration,
) -> Result<CancelSummary, SlurmError> {
    let mut summary = CancelSummary::default();
    let open: Vec<(&Job, TaskRecord)> = jobs
        .iter()
        .filter(|j| !store.contains(ObjectKind::Result, &j.key))
        .filter_map(|j| task_record(store, &j.key).map(|r| (j, r)))
        .collect();
    let arrays: Vec<String> = open
        .iter()
        .map(|(_, r)| r.array.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let states = query_tasks(tools, &arrays)?;
    let targets: Vec<&(&Job, TaskRecord)> = open
        .iter()
        .filter(|(_, r)| states.get(&r.task_id()).is_some_and(|(s, _)| s.active()))
        .collect();
    summary.not_running = open.len() - targets.len();
    if targets.is_empty() {
        return Ok(summary);
    }
    summary.cancelled = targets.iter().map(|(_, r)| r.task_id()).collect();
    run_tool(&tools.scancel, &summary.cancelled)?;
    let t0 = Instant::now();
    let mut d = Duration::from_millis(100);
    loop {
        let states = query_tasks(tools, &arrays)?;
        let still = targets
            .iter()
            .any(|(_, r)| states.get(&r.task_id()).is_some_and(|(s, _)| s.active()));
        if !still || t0.elapsed() > wait {
            break;
        }
        std::thread::sleep(d);
        d = (d * 2).min(Duration::from_secs(2));
    }
    for (job, rec) in targets {
        if store.contains(ObjectKind::Result, &job.key) {
            continue;
        }
        let _ = fs::remove_file(store.lock_path(&job.key));
        let msg = format!(
            "cancelled (Slurm task {}; log: {})",
            rec.task_id(),
            rec.log.display()
        );
        store.record_failure(&job.key, &job.title(), &msg, Some(path_str(&rec.log)))?;
    }
    Ok(summary)
}
