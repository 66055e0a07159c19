//! Submitting pending jobs as one array: the job descriptions, the key list
//! and the script written under `<store>/slurm/<experiment>-<time>/`, `sbatch`,
//! and a task record per job; stale locks of dead tasks are broken first.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::schedule::Job;
use crate::store::{Key, now_rfc3339};

use super::config::run_tool;
use super::error::io;
use super::script::path_str;
use super::task::task_record_path;
use super::{SlurmError, SlurmExecutor, TaskRecord, query_tasks, sbatch_script, task_record};

/// What a submission wrote and got.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub array: String,
    pub dir: PathBuf,
    pub script: PathBuf,
    pub keys: Vec<Key>,
}

impl Submission {
    /// The log of array task `task`.
    pub(super) fn log(&self, task: usize) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("{}_{task}.log", self.array))
    }
}

fn absolute(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        }
    })
}

impl SlurmExecutor {
    /// Writes the job descriptions, the key list and the script, submits the
    /// array and records each job's task.
    pub fn submit(&self, jobs: &[Job]) -> Result<Submission, SlurmError> {
        let store = &self.store;
        let root = absolute(store.root());
        for job in jobs {
            let text = serde_json::to_vec_pretty(job).map_err(|e| SlurmError::Io {
                path: store.job_path(&job.key),
                source: std::io::Error::other(e),
            })?;
            store.write_atomic(&store.job_path(&job.key), &text)?;
            // a new attempt: its outcome replaces the old one
            store.clear_failure(&job.key);
        }
        self.break_dead_locks(jobs);
        let experiment = jobs.first().map(|j| j.experiment.as_str()).unwrap_or("run");
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let dir = root.join("slurm").join(format!(
            "{}-{stamp}",
            experiment.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        ));
        fs::create_dir_all(dir.join("logs")).map_err(io(&dir))?;
        let keys: String = jobs.iter().map(|j| format!("{}\n", j.key.hex())).collect();
        let keys_file = dir.join("keys.txt");
        fs::write(&keys_file, keys).map_err(io(&keys_file))?;
        let script = dir.join("submit.sh");
        let text = sbatch_script(&self.config, &root, &dir, experiment, jobs.len());
        fs::write(&script, text).map_err(io(&script))?;

        let mut args: Vec<String> = vec!["--parsable".into()];
        args.extend(self.config.options.sbatch_args.iter().cloned());
        args.push(path_str(&script));
        let out = run_tool(&self.tools.sbatch, &args)?;
        // `--parsable` prints `id` or `id;cluster`
        let array = out
            .lines()
            .next()
            .and_then(|l| l.split(';').next())
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| SlurmError::NoJobId(out.clone()))?
            .to_string();
        let sub = Submission {
            array,
            dir,
            script,
            keys: jobs.iter().map(|j| j.key).collect(),
        };
        let submitted = now_rfc3339();
        for (i, job) in jobs.iter().enumerate() {
            let rec = TaskRecord {
                key: job.key,
                array: sub.array.clone(),
                task: i,
                log: sub.log(i),
                submitted: submitted.clone(),
                build: self.config.build_id.clone(),
            };
            let text = serde_json::to_vec_pretty(&rec).unwrap_or_default();
            store.write_atomic(&task_record_path(store, &job.key), &text)?;
        }
        Ok(sub)
    }

    /// Removes the locks of jobs whose last task is no longer alive (killed by
    /// a time limit or scancel before it could release its lock).
    fn break_dead_locks(&self, jobs: &[Job]) {
        let locked: Vec<(Key, Option<TaskRecord>)> = jobs
            .iter()
            .filter(|j| self.store.lock_path(&j.key).exists())
            .map(|j| (j.key, task_record(&self.store, &j.key)))
            .collect();
        if locked.is_empty() {
            return;
        }
        let arrays: BTreeSet<String> = locked
            .iter()
            .filter_map(|(_, r)| r.as_ref().map(|r| r.array.clone()))
            .collect();
        let Ok(alive) = query_tasks(&self.tools, &arrays.into_iter().collect::<Vec<_>>()) else {
            return;
        };
        for (key, rec) in locked {
            let Some(rec) = rec else { continue };
            let running = alive
                .get(&rec.task_id())
                .is_some_and(|(state, _)| state.active());
            if !running {
                tracing::debug!("removing the lock of {key}: task {} is gone", rec.task_id());
                let _ = fs::remove_file(self.store.lock_path(&key));
            }
        }
    }
}
