//! What can go wrong talking to Slurm or running a task.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::schedule::ScheduleError;
use crate::store::StoreError;

/// What can go wrong talking to Slurm or running a task.
#[derive(Debug, Error)]
pub enum SlurmError {
    #[error(
        "cannot run `{program}`: {source}; is Slurm installed here (and SLURM_CONF set for a non-default cluster)?"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("sbatch printed no job id (output: {0:?})")]
    NoJobId(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "this runner is build {found}, but the job was submitted by build {expected}; install the same runner binary on the nodes (or submit again with the runner the nodes have)"
    )]
    VersionMismatch { expected: String, found: String },
    #[error("no job description for key {key} at {path} ({why}); submit the spec again")]
    NoJob {
        key: String,
        path: PathBuf,
        why: String,
    },
    #[error("bad option {name}: {why}")]
    BadOption { name: &'static str, why: String },
}

impl From<SlurmError> for ScheduleError {
    fn from(e: SlurmError) -> ScheduleError {
        ScheduleError::Other(e.to_string())
    }
}

/// Maps an I/O error on `path` to [`SlurmError::Io`].
pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SlurmError + '_ {
    move |source| SlurmError::Io {
        path: path.to_path_buf(),
        source,
    }
}
