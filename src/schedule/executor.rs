//! Executors run a list of pending jobs somewhere. The local executor keeps a
//! pool of worker threads on this machine; the Slurm executor submits a job
//! array. Planning, skipping and the summary stay in the scheduler.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use crate::detector::Progress;

use super::progress::ProgressUi;
use super::{Job, JobOutcome, ScheduleError};

/// How a run is steered while it goes.
pub struct Control {
    /// Set by Ctrl-C: start nothing new, stop running jobs cleanly.
    pub cancel: Arc<AtomicBool>,
    /// Stop launching jobs after the first failure.
    pub fail_fast: bool,
    pub progress: ProgressUi,
}

/// Runs pending jobs and reports each one's outcome as it ends.
pub trait Executor {
    /// Runs `jobs`; `on_done` is called once for every job that ended (jobs not
    /// started because of a stop are not reported).
    fn execute(
        &self,
        jobs: &[Job],
        control: &Control,
        on_done: &mut dyn FnMut(&Job, JobOutcome),
    ) -> Result<(), ScheduleError>;
}

/// Runs one job to its end; the real one is `run_job::JobEnv`, tests use mocks.
pub trait JobRunner: Sync {
    fn run(&self, job: &Job, progress: &dyn Progress, cancel: &AtomicBool) -> JobOutcome;
}

impl JobRunner for super::run_job::JobEnv {
    fn run(&self, job: &Job, progress: &dyn Progress, cancel: &AtomicBool) -> JobOutcome {
        super::run_job::JobEnv::run(self, job, progress, cancel)
    }
}

/// A pool of `workers` threads on this machine, taking jobs in plan order.
pub struct LocalExecutor<R: JobRunner> {
    pub workers: usize,
    pub runner: R,
}

impl<R: JobRunner> Executor for LocalExecutor<R> {
    fn execute(
        &self,
        jobs: &[Job],
        control: &Control,
        on_done: &mut dyn FnMut(&Job, JobOutcome),
    ) -> Result<(), ScheduleError> {
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let workers = self.workers.clamp(1, jobs.len().max(1));
        let (tx, rx) = mpsc::channel::<(usize, JobOutcome)>();
        std::thread::scope(|s| {
            for w in 0..workers {
                let tx = tx.clone();
                let (next, stop, runner) = (&next, &stop, &self.runner);
                let slot = control.progress.slot(w);
                s.spawn(move || {
                    loop {
                        if stop.load(Ordering::SeqCst) || control.cancel.load(Ordering::SeqCst) {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(job) = jobs.get(i) else { break };
                        slot.start(&job.title());
                        // A panic is this job's failure; the worker goes on.
                        let outcome =
                            crate::panics::catch(|| runner.run(job, &slot, &control.cancel))
                                .unwrap_or_else(|p| JobOutcome::Failed(format!("panicked: {p}")));
                        slot.idle();
                        // decided by the worker, not the receiver, so no further job is taken
                        if control.fail_fast && matches!(outcome, JobOutcome::Failed(_)) {
                            stop.store(true, Ordering::SeqCst);
                        }
                        if tx.send((i, outcome)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for (i, outcome) in rx {
                on_done(&jobs[i], outcome);
            }
        });
        Ok(())
    }
}
