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

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::DataOptions;
use crate::detector::NoProgress;
use crate::nn::device::DeviceChoice;
use crate::spec::SlurmOptions;
use crate::store::{Key, ObjectKind, Store, StoreError};

use super::execute::JobEnv;
use super::executor::{Control, Executor};
use super::{Job, JobOutcome, ScheduleError};

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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SlurmError + '_ {
    move |source| SlurmError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The identity of this runner build: `<version>+<blake3 of the binary>`.
/// Tasks refuse to run a job submitted by another build.
pub fn build_id() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let digest = std::env::current_exe()
            .and_then(fs::File::open)
            .and_then(|f| {
                let mut h = blake3::Hasher::new();
                h.update_reader(f)?;
                Ok(h.finalize().to_hex()[..16].to_string())
            })
            .unwrap_or_else(|_| "unknown".into());
        format!("{}+{digest}", env!("CARGO_PKG_VERSION"))
    })
    .clone()
}

/// The Slurm programs to call (their names, or paths).
#[derive(Clone, Debug)]
pub struct SlurmTools {
    pub sbatch: OsString,
    pub squeue: OsString,
    pub scancel: OsString,
}

impl Default for SlurmTools {
    fn default() -> SlurmTools {
        SlurmTools {
            sbatch: "sbatch".into(),
            squeue: "squeue".into(),
            scancel: "scancel".into(),
        }
    }
}

fn run_tool(program: &OsString, args: &[String]) -> Result<String, SlurmError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| SlurmError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(SlurmError::Command {
            command: format!("{} {}", program.to_string_lossy(), args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Everything the executor needs besides the jobs.
#[derive(Clone, Debug)]
pub struct SlurmConfig {
    /// Spec options merged with the command line (the command line wins).
    pub options: SlurmOptions,
    /// Device passed to every task (`--device`).
    pub device: DeviceChoice,
    /// Return right after submission.
    pub detach: bool,
    /// The runner binary the nodes run (default: this one).
    pub binary: PathBuf,
    /// The build id the tasks must have.
    pub build_id: String,
    /// Folder the tasks start in (relative dataset paths resolve from it).
    pub workdir: PathBuf,
    /// Data search folders handed to the tasks (`RUNNER_DATA`).
    pub data: DataOptions,
    /// Polling: first and longest wait between two looks at the queue.
    pub poll_min: Duration,
    pub poll_max: Duration,
}

impl SlurmConfig {
    /// A configuration for this binary, in the current folder.
    pub fn new(options: SlurmOptions, device: DeviceChoice, data: DataOptions) -> SlurmConfig {
        SlurmConfig {
            options,
            device,
            detach: false,
            binary: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("runner")),
            build_id: build_id(),
            workdir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            data,
            poll_min: Duration::from_millis(250),
            poll_max: Duration::from_secs(15),
        }
    }
}

/// Spec options overridden by the command line's (`sbatch_args` add up, the
/// command line's last, so that they win in sbatch).
pub fn merge_options(spec: Option<&SlurmOptions>, cli: &SlurmOptions) -> SlurmOptions {
    let base = spec.cloned().unwrap_or_default();
    let mut sbatch_args = base.sbatch_args.clone();
    sbatch_args.extend(cli.sbatch_args.iter().cloned());
    SlurmOptions {
        partition: cli.partition.clone().or(base.partition),
        time: cli.time.clone().or(base.time),
        gpus_per_job: cli.gpus_per_job.or(base.gpus_per_job),
        cpus_per_job: cli.cpus_per_job.or(base.cpus_per_job),
        mem: cli.mem.clone().or(base.mem),
        max_parallel: cli.max_parallel.or(base.max_parallel),
        sbatch_args,
    }
}

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

fn task_record_path(store: &Store, key: &Key) -> PathBuf {
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

/// What a submission wrote and got.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    pub array: String,
    pub dir: PathBuf,
    pub script: PathBuf,
    pub keys: Vec<Key>,
}

impl Submission {
    fn log(&self, task: usize) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("{}_{task}.log", self.array))
    }
}

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The sbatch script of an array of `n` tasks whose keys are in `keys_file`.
pub fn sbatch_script(
    cfg: &SlurmConfig,
    store_root: &Path,
    dir: &Path,
    experiment: &str,
    n: usize,
) -> String {
    let o = &cfg.options;
    let mut s = String::from("#!/bin/bash\n");
    let mut directive = |arg: String| {
        let _ = writeln!(s, "#SBATCH {arg}");
    };
    let name: String = experiment
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    directive(format!("--job-name=runner-{name}"));
    let limit = o
        .max_parallel
        .filter(|&k| k > 0)
        .map(|k| format!("%{k}"))
        .unwrap_or_default();
    directive(format!("--array=0-{}{limit}", n.saturating_sub(1)));
    directive(format!(
        "--output={}",
        path_str(&dir.join("logs").join("%A_%a.log"))
    ));
    directive("--ntasks=1".into());
    if let Some(p) = &o.partition {
        directive(format!("--partition={p}"));
    }
    if let Some(t) = &o.time {
        directive(format!("--time={t}"));
    }
    if let Some(g) = o.gpus_per_job.filter(|&g| g > 0) {
        directive(format!("--gres=gpu:{g}"));
    }
    if let Some(c) = o.cpus_per_job {
        directive(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = &o.mem {
        directive(format!("--mem={m}"));
    }
    s.push_str("set -euo pipefail\n");
    let _ = writeln!(s, "cd {}", sh_quote(&path_str(&cfg.workdir)));
    if !cfg.data.search.is_empty() {
        let joined = std::env::join_paths(&cfg.data.search)
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(s, "export RUNNER_DATA={}", sh_quote(&joined));
    }
    if o.cpus_per_job.is_some() {
        s.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    }
    let _ = writeln!(
        s,
        "key=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {})",
        sh_quote(&path_str(&dir.join("keys.txt")))
    );
    let log = format!(
        "{}/${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.log",
        sh_quote(&path_str(&dir.join("logs")))
    );
    let _ = writeln!(
        s,
        "exec {} --store {} exec-job \"$key\" --device {} --expect-version {} --log \"{log}\"",
        sh_quote(&path_str(&cfg.binary)),
        sh_quote(&path_str(store_root)),
        sh_quote(&cfg.device.to_string()),
        sh_quote(&cfg.build_id),
    );
    s
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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

    fn active(self) -> bool {
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
        let submitted = now();
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

    fn cancel_array(&self, sub: &Submission) {
        if let Err(e) = run_tool(&self.tools.scancel, std::slice::from_ref(&sub.array)) {
            tracing::warn!("scancel {}: {e}", sub.array);
        }
    }

    /// Watches the tasks of `sub` until every job has ended, reporting each.
    fn watch(
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
struct Watch<'a> {
    store: &'a Store,
    jobs: &'a [Job],
    sub: &'a Submission,
    reported: Vec<bool>,
    /// How many looks in a row found the task ended (or unknown) without a result.
    ended_looks: Vec<u32>,
}

impl<'a> Watch<'a> {
    fn new(store: &'a Store, jobs: &'a [Job], sub: &'a Submission) -> Watch<'a> {
        Watch {
            store,
            jobs,
            sub,
            reported: vec![false; jobs.len()],
            ended_looks: vec![0; jobs.len()],
        }
    }

    fn all_reported(&self) -> bool {
        self.reported.iter().all(|&r| r)
    }

    fn task_id(&self, i: usize) -> String {
        format!("{}_{i}", self.sub.array)
    }

    /// One look: the outcomes of the jobs that ended since the last look.
    fn step(
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
                    match self.store.result(&job.key) {
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
    fn name(&self) -> &'static str {
        "slurm"
    }

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

/// Options of one task (`runner exec-job`).
#[derive(Clone, Debug)]
pub struct TaskOptions {
    pub device: DeviceChoice,
    /// The build the submitter had; refuse to run under another.
    pub expect_version: Option<String>,
    /// This task's log, recorded with a failure.
    pub log: Option<PathBuf>,
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
            TaskEnd::AlreadyDone | TaskEnd::Busy(_) | TaskEnd::Ran(JobOutcome::Done(_)) => 0,
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
    if store.contains(ObjectKind::Result, key) {
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
    if store.contains(ObjectKind::Result, key) {
        return Ok(TaskEnd::AlreadyDone);
    }
    let env = JobEnv::new(store.clone(), opts.data.clone(), opts.device);
    let cancel = AtomicBool::new(false);
    let outcome = env.run(&job, &NoProgress, &cancel);
    if let JobOutcome::Failed(msg) = &outcome {
        store.record_failure(key, &job.title(), &with_log(msg), log.clone())?;
    }
    Ok(TaskEnd::Ran(outcome))
}

/// Checks the numeric options.
pub fn check_options(o: &SlurmOptions) -> Result<(), SlurmError> {
    if o.max_parallel == Some(0) {
        return Err(SlurmError::BadOption {
            name: "max_parallel",
            why: "must be at least 1".into(),
        });
    }
    if let Some(t) = &o.time
        && (t.is_empty()
            || !t
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '-'))
    {
        return Err(SlurmError::BadOption {
            name: "time",
            why: format!("`{t}` is not a Slurm time (minutes, MM:SS, HH:MM:SS or D-HH:MM:SS)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
