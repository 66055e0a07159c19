//! The executor side: [`SlurmExecutor`] submits the pending jobs and, unless
//! detached, watches the array with `squeue` until every job has a result or a
//! recorded failure (cancelling the array on Ctrl-C or `--fail-fast`).

use std::collections::HashMap;
use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::schedule::executor::{Control, Executor};
use crate::schedule::{Job, JobOutcome, ScheduleError};
use crate::store::{ObjectKind, Store};

use super::config::run_tool;
use super::script::path_str;
use super::{SlurmConfig, SlurmError, SlurmTools, Submission, TaskState, query_tasks};

/// The Slurm executor (see the module header).
pub struct SlurmExecutor {
    pub store: Store,
    pub config: SlurmConfig,
    pub tools: SlurmTools,
    /// The submissions made, for the caller to print (`--detach`).
    pub submitted: Mutex<Vec<Submission>>,
}

impl SlurmExecutor {
    pub fn new(store: Store, config: SlurmConfig) -> SlurmExecutor {
        SlurmExecutor {
            store,
            config,
            tools: SlurmTools::default(),
            submitted: Mutex::new(Vec::new()),
        }
    }

    fn cancel_array(&self, sub: &Submission) {
        if let Err(e) = run_tool(&self.tools.scancel, std::slice::from_ref(&sub.array)) {
            tracing::warn!("scancel {}: {e}", sub.array);
        }
    }

    /// Watches the tasks of `sub` until every job has ended, reporting each.
    pub(super) fn watch(
        &self,
        jobs: &[Job],
        sub: &Submission,
        control: &Control,
        on_done: &mut dyn FnMut(&Job, JobOutcome),
    ) -> Result<(), SlurmError> {
        let mut watch = Watch::new(&self.store, jobs, sub);
        let mut wait = self.config.poll_min;
        let mut errors = 0;
        let mut last_line = String::new();
        let mut cancelled_at: Option<Instant> = None;
        loop {
            if control.cancel.load(Ordering::SeqCst) && cancelled_at.is_none() {
                control
                    .progress
                    .println(&format!("cancelling Slurm array {} (scancel)", sub.array));
                self.cancel_array(sub);
                cancelled_at = Some(Instant::now());
            }
            let states = match query_tasks(&self.tools, std::slice::from_ref(&sub.array)) {
                Ok(s) => {
                    errors = 0;
                    Some(s)
                }
                Err(e) => {
                    errors += 1;
                    if errors >= 10 {
                        return Err(e);
                    }
                    tracing::warn!("squeue failed ({errors} times in a row): {e}");
                    None
                }
            };
            let mut changed = false;
            if let Some(states) = states {
                for (i, outcome) in watch.step(&states, cancelled_at.is_some()) {
                    changed = true;
                    let failed = matches!(outcome, JobOutcome::Failed(_));
                    on_done(&jobs[i], outcome);
                    if failed && control.fail_fast && cancelled_at.is_none() {
                        control.progress.println(&format!(
                            "a job failed: cancelling the rest of Slurm array {} (--fail-fast)",
                            sub.array
                        ));
                        self.cancel_array(sub);
                        cancelled_at = Some(Instant::now());
                    }
                }
                let line = watch.counts_line(&sub.array, &states);
                if line != last_line {
                    control.progress.println(&line);
                    last_line = line;
                }
            }
            if watch.all_reported() {
                return Ok(());
            }
            if let Some(t) = cancelled_at
                && t.elapsed() > Duration::from_secs(120)
            {
                // Slurm did not end the tasks: leave them, say what is unknown.
                for (i, outcome) in watch.give_up() {
                    on_done(&jobs[i], outcome);
                }
                return Ok(());
            }
            wait = if changed {
                self.config.poll_min
            } else {
                (wait.mul_f64(1.5)).min(self.config.poll_max)
            };
            pause(wait, &control.cancel, cancelled_at.is_some());
        }
    }
}

/// Sleeps `d`, waking early when `cancel` gets set (unless already handled).
fn pause(d: Duration, cancel: &AtomicBool, handled: bool) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if !handled && cancel.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
    }
}

/// Per-job bookkeeping of a watched submission.
pub(super) struct Watch<'a> {
    store: &'a Store,
    jobs: &'a [Job],
    sub: &'a Submission,
    reported: Vec<bool>,
    /// How many looks in a row found the task ended (or unknown) without a result.
    ended_looks: Vec<u32>,
}

impl<'a> Watch<'a> {
    pub(super) fn new(store: &'a Store, jobs: &'a [Job], sub: &'a Submission) -> Watch<'a> {
        Watch {
            store,
            jobs,
            sub,
            reported: vec![false; jobs.len()],
            ended_looks: vec![0; jobs.len()],
        }
    }

    pub(super) fn all_reported(&self) -> bool {
        self.reported.iter().all(|&r| r)
    }

    fn task_id(&self, i: usize) -> String {
        format!("{}_{i}", self.sub.array)
    }

    /// One look: the outcomes of the jobs that ended since the last look.
    pub(super) fn step(
        &mut self,
        states: &HashMap<String, (TaskState, String)>,
        cancelling: bool,
    ) -> Vec<(usize, JobOutcome)> {
        let mut out = Vec::new();
        for i in 0..self.jobs.len() {
            if self.reported[i] {
                continue;
            }
            let job = &self.jobs[i];
            if self.store.contains(ObjectKind::Result, &job.key) {
                self.reported[i] = true;
                out.push((
                    i,
                    match self.store.result(&job.key, job.method.shown_score()) {
                        Ok(r) => JobOutcome::Done(r),
                        Err(e) => JobOutcome::Failed(e.to_string()),
                    },
                ));
                continue;
            }
            let state = states.get(&self.task_id(i));
            if state.is_some_and(|(s, _)| s.active()) {
                self.ended_looks[i] = 0;
                continue;
            }
            if let Some(f) = self.store.failure(&job.key) {
                self.reported[i] = true;
                out.push((i, JobOutcome::Failed(f.error)));
                continue;
            }
            let lock = self.store.lock_path(&job.key);
            if matches!(state, Some((TaskState::Completed, _))) && lock.exists() {
                // Our task found another worker running this job: wait for that one.
                continue;
            }
            // Ended without a result or a record: killed (time limit,
            // scancel, node failure) or gone. Look twice (shared filesystems
            // may show a fresh result late), three times when Slurm does not
            // know the task.
            self.ended_looks[i] += 1;
            let needed = if state.is_some() { 2 } else { 3 };
            if self.ended_looks[i] < needed {
                continue;
            }
            let log = self.sub.log(i);
            let _ = fs::remove_file(&lock);
            self.reported[i] = true;
            let how = match state {
                Some((_, raw)) => format!("ended {raw}"),
                None => "is no longer known to Slurm".into(),
            };
            if cancelling {
                out.push((i, JobOutcome::Cancelled));
                continue;
            }
            let msg = format!(
                "Slurm task {} {how} without a result (log: {})",
                self.task_id(i),
                log.display()
            );
            if let Err(e) =
                self.store
                    .record_failure(&job.key, &job.title(), &msg, Some(path_str(&log)))
            {
                tracing::warn!("cannot record the failure of {}: {e}", job.title());
            }
            out.push((i, JobOutcome::Failed(msg)));
        }
        out
    }

    /// The jobs still open when the watch stops: reported as cancelled.
    fn give_up(&mut self) -> Vec<(usize, JobOutcome)> {
        let mut out = Vec::new();
        for (i, r) in self.reported.iter_mut().enumerate() {
            if !*r {
                *r = true;
                out.push((i, JobOutcome::Cancelled));
            }
        }
        out
    }

    fn counts_line(&self, array: &str, states: &HashMap<String, (TaskState, String)>) -> String {
        let (mut pending, mut running, mut done, mut failed) = (0, 0, 0, 0);
        for i in 0..self.jobs.len() {
            if self.reported[i] {
                if self.store.contains(ObjectKind::Result, &self.jobs[i].key) {
                    done += 1;
                } else {
                    failed += 1;
                }
                continue;
            }
            match states.get(&self.task_id(i)).map(|(s, _)| *s) {
                Some(TaskState::Running) => running += 1,
                Some(TaskState::Pending) | None => pending += 1,
                _ => running += 1,
            }
        }
        format!(
            "slurm array {array}: {pending} pending, {running} running, {done} done, {failed} failed"
        )
    }
}

impl Executor for SlurmExecutor {
    fn execute(
        &self,
        jobs: &[Job],
        control: &Control,
        on_done: &mut dyn FnMut(&Job, JobOutcome),
    ) -> Result<(), ScheduleError> {
        if jobs.is_empty() || control.cancel.load(Ordering::SeqCst) {
            return Ok(());
        }
        let sub = self.submit(jobs)?;
        control.progress.println(&format!(
            "submitted {} job(s) as Slurm array {} (script {}, logs in {})",
            jobs.len(),
            sub.array,
            sub.script.display(),
            sub.dir.join("logs").display()
        ));
        if let Ok(mut s) = self.submitted.lock() {
            s.push(sub.clone());
        }
        if self.config.detach {
            return Ok(());
        }
        self.watch(jobs, &sub, control, on_done)?;
        Ok(())
    }
}
