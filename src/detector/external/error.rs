//! What can go wrong around an external program, with the message a user
//! reads (what happened, where, what to do).

use std::path::{Path, PathBuf};

use thiserror::Error;

/// What can go wrong around an external program.
#[derive(Debug, Error)]
pub enum ExternalError {
    #[error("cannot start `{program}` (in {}): {reason}; check the method's `command`", workdir.display())]
    Spawn {
        program: String,
        workdir: PathBuf,
        reason: String,
    },
    #[error(
        "the program's {phase} {how}{}\n  full stdout and stderr: {}",
        show_tail(tail),
        logs.display()
    )]
    Failed {
        phase: &'static str,
        how: String,
        tail: String,
        logs: PathBuf,
    },
    #[error(
        "the program's fit exited 0 but wrote nothing into its model folder {}: write the model there (`model_dir` in the job file)\n  full stdout and stderr: {}",
        dir.display(),
        logs.display()
    )]
    NoModel { dir: PathBuf, logs: PathBuf },
    #[error("the program's scores file {}: {reason}\n  full stdout and stderr: {}", kept.display(), logs.display())]
    Scores {
        kept: PathBuf,
        reason: String,
        logs: PathBuf,
    },
    #[error(
        "the program wrote no score column `{wanted}` (its columns: {columns}); fix the method's `score`"
    )]
    NoColumn { wanted: String, columns: String },
    /// An input file of the method changed (or went missing) since the
    /// job was planned: its key no longer says what would run.
    #[error("{0}")]
    InputsChanged(String),
    #[error("{field}: {reason}")]
    Setting { field: &'static str, reason: String },
    #[error("the program wrote no score column")]
    NoScores,
    /// The method's environment cannot be built or used.
    #[error("{0}")]
    Environment(String),
    #[error(
        "the method `{method}` declares an environment but runs without a store to build it in"
    )]
    NoStore { method: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ExternalError {
    pub fn io(path: &Path, what: &'static str, source: std::io::Error) -> ExternalError {
        ExternalError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

fn show_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        "; it wrote nothing on stderr".to_string()
    } else {
        format!(
            "; the last lines of its stderr:\n    {}",
            tail.lines().collect::<Vec<_>>().join("\n    ")
        )
    }
}
