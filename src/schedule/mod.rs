//! Scheduling: plan a spec into jobs, skip every job whose result is in the
//! store, run the rest through an [`Executor`], continue past failures (or
//! stop at the first with `fail_fast`), and sum up.

pub mod executor;
pub mod job;
pub mod plan;
pub mod progress;
pub mod run_job;
pub mod slots;
pub mod slurm;

use thiserror::Error;

use crate::store::{JobResult, Store};

pub use executor::{Control, Executor, JobRunner, LocalExecutor};
pub use job::Job;
pub use plan::{JobState, Plan, Standing};

#[derive(Debug, Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Other(String),
}

/// How one job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    Done(JobResult),
    /// Another runner (sharing the store) made the result while this one
    /// waited for it.
    MadeElsewhere(JobResult),
    Failed(String),
    /// Stopped by the user before it finished.
    Cancelled,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    pub total: usize,
    /// Already in the store: skipped.
    pub cached: usize,
    pub succeeded: usize,
    /// (job title, error), in the order they ended.
    pub failed: Vec<(String, String)>,
    /// Stopped, or never started because of a stop.
    pub not_run: usize,
    /// Jobs that got the result of another job of the run (they differ from
    /// it only in which stored score variant they report).
    pub shared: usize,
    /// Jobs whose result another runner on the same store made meanwhile.
    pub elsewhere: usize,
    pub cancelled: bool,
}

impl RunSummary {
    /// 0 when every job has a result, 130 after Ctrl-C, 1 when a job failed.
    pub fn exit_code(&self) -> u8 {
        if self.cancelled {
            130
        } else if !self.failed.is_empty() || self.not_run > 0 {
            1
        } else {
            0
        }
    }

    pub fn line(&self) -> String {
        let mut s = format!(
            "{} jobs: {} cached, {} ran, {} failed",
            self.total,
            self.cached,
            self.succeeded,
            self.failed.len()
        );
        if self.elsewhere > 0 {
            s.push_str(&format!(", {} made by another runner", self.elsewhere));
        }
        if self.shared > 0 {
            s.push_str(&format!(", {} shared a result", self.shared));
        }
        if self.not_run > 0 {
            s.push_str(&format!(", {} not run", self.not_run));
        }
        if self.cancelled {
            s.push_str(" (interrupted)");
        }
        s
    }
}

/// Runs every job of `plan` that the store lacks.
pub fn run(
    plan: &Plan,
    store: &Store,
    executor: &dyn Executor,
    control: &Control,
) -> Result<RunSummary, ScheduleError> {
    run_standing(plan, &plan.standing(store), executor, control)
}

/// [`run`] for a plan whose standing in the store was just looked up (the
/// caller showed it already).
pub fn run_standing(
    plan: &Plan,
    standing: &Standing,
    executor: &dyn Executor,
    control: &Control,
) -> Result<RunSummary, ScheduleError> {
    let pending: Vec<Job> = standing.pending.iter().map(|&j| j.clone()).collect();
    let mut summary = RunSummary {
        total: plan.jobs.len(),
        cached: standing.cached,
        shared: standing.shared,
        ..Default::default()
    };
    if pending.is_empty() {
        return Ok(summary);
    }
    let progress = control.progress.clone();
    executor.execute(&pending, control, &mut |job, outcome| {
        let line = match &outcome {
            JobOutcome::Done(r) => {
                summary.succeeded += 1;
                format!("done   {}: AUROC {:.4}", job.title(), r.auroc)
            }
            JobOutcome::MadeElsewhere(r) => {
                summary.elsewhere += 1;
                format!(
                    "done   {}: AUROC {:.4} (by another runner)",
                    job.title(),
                    r.auroc
                )
            }
            JobOutcome::Failed(e) => {
                summary.failed.push((job.title(), e.clone()));
                format!("FAILED {}: {e}", job.title())
            }
            JobOutcome::Cancelled => format!("stopped {}", job.title()),
        };
        if matches!(outcome, JobOutcome::Failed(_)) || progress.logs_lines() {
            progress.println(&line);
        }
        progress.job_done(&line);
    })?;
    progress.finish();
    summary.not_run = pending.len() - summary.succeeded - summary.elsewhere - summary.failed.len();
    summary.cancelled = control.cancel.load(std::sync::atomic::Ordering::SeqCst);
    Ok(summary)
}

#[cfg(test)]
mod tests;
