//! Reading the queue: task states as `squeue` prints them.

use std::collections::HashMap;

use super::config::run_tool;
use super::{SlurmError, SlurmTools};

/// A Slurm task's state as `squeue` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting, starting or running (or suspended, requeued: it may still run).
    Pending,
    Running,
    Completed,
    /// Ended without success: FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL...
    Ended,
}

impl TaskState {
    pub fn parse(s: &str) -> TaskState {
        match s.trim() {
            "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" => TaskState::Running,
            "COMPLETED" => TaskState::Completed,
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_FED" | "REQUEUE_HOLD"
            | "RESIZING" | "SUSPENDED" | "STOPPED" | "RESV_DEL_HOLD" => TaskState::Pending,
            _ => TaskState::Ended,
        }
    }

    /// Pending or running: the task may still write a result.
    pub(super) fn active(self) -> bool {
        matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// Parses `squeue -h -r -o '%i|%T'` output into `task id -> (state, raw state)`.
pub fn parse_squeue(text: &str) -> HashMap<String, (TaskState, String)> {
    text.lines()
        .filter_map(|l| {
            let (id, st) = l.trim().split_once('|')?;
            Some((
                id.trim().to_string(),
                (TaskState::parse(st), st.trim().to_string()),
            ))
        })
        .collect()
}

/// The tasks of arrays `ids`, as Slurm still knows them (finished tasks drop
/// out after the cluster's MinJobAge).
pub fn query_tasks(
    tools: &SlurmTools,
    ids: &[String],
) -> Result<HashMap<String, (TaskState, String)>, SlurmError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let args = vec![
        "-h".into(),
        "-r".into(),
        "-t".into(),
        "all".into(),
        "-o".into(),
        "%i|%T".into(),
        "-j".into(),
        ids.join(","),
    ];
    match run_tool(&tools.squeue, &args) {
        Ok(out) => Ok(parse_squeue(&out)),
        // squeue refuses ids it no longer knows: then none is alive.
        Err(SlurmError::Command { stderr, .. }) if stderr.contains("Invalid job id") => {
            Ok(HashMap::new())
        }
        Err(e) => Err(e),
    }
}
