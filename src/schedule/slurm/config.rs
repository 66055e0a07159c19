//! What a submission is configured with: the Slurm programs to call, the
//! spec's options merged with the command line's (and their checks), and the
//! build id that tasks must share with the submitter.

use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::data::DataOptions;
use crate::detector::CheckpointPolicy;
use crate::device::DeviceChoice;
use crate::spec::SlurmOptions;

use super::SlurmError;

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

/// Runs one Slurm program; its standard output, or why it failed.
pub(super) fn run_tool(program: &OsString, args: &[String]) -> Result<String, SlurmError> {
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
    /// Checkpoint policy passed to every task.
    pub checkpoints: CheckpointPolicy,
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
            checkpoints: CheckpointPolicy::default(),
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
