//! The task side (`runner exec-job`, what each array task runs): the build
//! check, the job's description read from the store, its lock, and failure
//! records that name the task's log; plus the record of the task each job was
//! last submitted as.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::data::DataOptions;
use crate::detector::CheckpointPolicy;
use crate::detector::NoProgress;
use crate::device::DeviceChoice;
use crate::schedule::run_job::JobEnv;
use crate::schedule::{Job, JobOutcome};
use crate::store::{Key, ObjectKind, ObjectState, Store, StoreError};

use super::script::path_str;
use super::{SlurmError, build_id};

/// Where a job was last submitted (`slurm/tasks/<ab>/<key>.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub key: Key,
    /// Array job id.
    pub array: String,
    /// Index in the array.
    pub task: usize,
    pub log: PathBuf,
    pub submitted: String,
    pub build: String,
}

impl TaskRecord {
    /// `123_4`: the id Slurm commands take.
    pub fn task_id(&self) -> String {
        format!("{}_{}", self.array, self.task)
    }
}

pub(super) fn task_record_path(store: &Store, key: &Key) -> PathBuf {
    let h = key.hex();
    store
        .root()
        .join("slurm")
        .join("tasks")
        .join(&h[..2])
        .join(format!("{h}.json"))
}

/// The last task job `key` was submitted as, if any.
pub fn task_record(store: &Store, key: &Key) -> Option<TaskRecord> {
    let text = fs::read_to_string(task_record_path(store, key)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Options of one task (`runner exec-job`).
#[derive(Clone, Debug)]
pub struct TaskOptions {
    pub device: DeviceChoice,
    /// The build the submitter had; refuse to run under another.
    pub expect_version: Option<String>,
    /// This task's log, recorded with a failure.
    pub log: Option<PathBuf>,
    /// How often training saves its state (a resubmitted task resumes).
    pub checkpoints: CheckpointPolicy,
    /// A lock older than this is taken over (its holder died).
    pub lock_stale: Duration,
    pub data: DataOptions,
}

/// How a task ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskEnd {
    /// The result was already in the store.
    AlreadyDone,
    /// Another worker holds the job's lock: left to it.
    Busy(String),
    Ran(JobOutcome),
}

impl TaskEnd {
    /// The exit code of `exec-job`.
    pub fn exit_code(&self) -> u8 {
        match self {
            TaskEnd::AlreadyDone
            | TaskEnd::Busy(_)
            | TaskEnd::Ran(JobOutcome::Done(_) | JobOutcome::MadeElsewhere(_)) => 0,
            TaskEnd::Ran(JobOutcome::Failed(_)) => 1,
            TaskEnd::Ran(JobOutcome::Cancelled) => 130,
        }
    }
}

fn read_job(store: &Store, key: &Key) -> Result<Job, SlurmError> {
    let path = store.job_path(key);
    let no_job = |why: String| SlurmError::NoJob {
        key: key.hex(),
        path: path.clone(),
        why,
    };
    let text = fs::read_to_string(&path).map_err(|e| no_job(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| no_job(format!("unreadable: {e}")))
}

/// Runs the job `key` described in the store, once: checks the build, skips
/// it when its result exists, takes its lock, runs it and records a failure
/// together with the task's log.
pub fn exec_job(store: &Store, key: &Key, opts: &TaskOptions) -> Result<TaskEnd, SlurmError> {
    let log = opts.log.as_ref().map(|p| path_str(p));
    let with_log = |msg: &str| match &log {
        Some(l) => format!("{msg} (log: {l})"),
        None => msg.to_string(),
    };
    if let Some(expected) = &opts.expect_version {
        let found = build_id();
        if *expected != found {
            let e = SlurmError::VersionMismatch {
                expected: expected.clone(),
                found,
            };
            let title = read_job(store, key)
                .map(|j| j.title())
                .unwrap_or_else(|_| key.hex());
            store.record_failure(key, &title, &with_log(&e.to_string()), log.clone())?;
            return Err(e);
        }
    }
    if store.state(ObjectKind::Result, key) == ObjectState::Intact {
        return Ok(TaskEnd::AlreadyDone);
    }
    let job = match read_job(store, key) {
        Ok(j) => j,
        Err(e) => {
            store.record_failure(key, &key.hex(), &with_log(&e.to_string()), log.clone())?;
            return Err(e);
        }
    };
    let _lock = match store.lock(key, opts.lock_stale) {
        Ok(l) => l,
        Err(StoreError::Locked { holder, .. }) => return Ok(TaskEnd::Busy(holder)),
        Err(e) => return Err(e.into()),
    };
    // it may have finished while we waited for the lock
    if store.state(ObjectKind::Result, key) == ObjectState::Intact {
        return Ok(TaskEnd::AlreadyDone);
    }
    let env = JobEnv::new(store.clone(), opts.data.clone(), opts.device)
        .with_checkpoints(opts.checkpoints);
    let cancel = AtomicBool::new(false);
    let outcome = env.run_holding_lock(&job, &NoProgress, &cancel);
    if let JobOutcome::Failed(msg) = &outcome {
        store.record_failure(key, &job.title(), &with_log(msg), log.clone())?;
    }
    Ok(TaskEnd::Ran(outcome))
}
