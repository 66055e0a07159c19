//! The Slurm executor: runs a spec's pending jobs as ONE Slurm job array on a
//! cluster that shares the store folder. It writes each job's description into
//! the store, writes an sbatch script under `<store>/slurm/<experiment>-<time>/`
//! whose task i runs `runner exec-job <key i>`, submits it with `sbatch`, and
//! (unless detached) watches the tasks with `squeue` until every job has a
//! result or a recorded failure. It also owns the task side (`exec-job`: the
//! version check, the job lock, failure records with the task's log) and
//! `runner cancel`.
//!
//! Files it adds to the store:
//! ```text
//! slurm/<experiment>-<time>/submit.sh      the submitted script
//! slurm/<experiment>-<time>/keys.txt       line i: the job key of array task i
//! slurm/<experiment>-<time>/logs/A_i.log   output of task i of array A
//! slurm/tasks/<ab>/<key>.json              the last task a job was submitted as
//! ```
//!
//! One concept per file:
//! ```text
//! error.rs    SlurmError
//! config.rs   SlurmTools (and calling them), SlurmConfig, merge_options, check_options, build_id
//! script.rs   the sbatch script and shell quoting
//! submit.rs   Submission, SlurmExecutor::submit (files, sbatch, task records, dead locks)
//! squeue.rs   TaskState, parse_squeue, query_tasks
//! watch.rs    SlurmExecutor, the watch loop, the Executor impl
//! cancel.rs   cancel (`runner cancel`)
//! task.rs     TaskRecord, TaskOptions, TaskEnd, exec_job (`runner exec-job`)
//! ```

mod cancel;
mod config;
mod error;
mod script;
mod squeue;
mod submit;
mod task;
mod watch;

pub use cancel::{CancelSummary, cancel};
pub use config::{SlurmConfig, SlurmTools, build_id, check_options, merge_options};
pub use error::SlurmError;
pub use script::sbatch_script;
pub use squeue::{TaskState, parse_squeue, query_tasks};
pub use submit::Submission;
pub use task::{TaskEnd, TaskOptions, TaskRecord, exec_job, task_record};
pub use watch::SlurmExecutor;

#[cfg(test)]
mod tests;
