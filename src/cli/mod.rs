//! The command line: `runner run|plan|status|report|cache|data|devices|cancel|schema`
//! (and the hidden `exec-job` that cluster tasks call). Thin: parse, call the
//! library, print, choose the exit code.
//!
//! This file holds the clap types, `main`, logging and dispatch, and the small
//! helpers every command shares; each command lives in its own file:
//! ```text
//! run.rs       run (local pool or Slurm array), the summary, Ctrl-C
//! plan.rs      plan
//! status.rs    status
//! report.rs    report (and the report input gathered from a plan and the store)
//! cache.rs     cache ls|verify|gc
//! data.rs      data ls|fetch|verify
//! devices.rs   devices
//! cancel.rs    cancel
//! schema.rs    schema
//! exec_job.rs  exec-job
//! ```

mod cache;
mod cancel;
mod data;
mod device_check;
mod devices;
mod env;
mod exec_job;
mod plan;
mod report;
mod run;
mod schema;
mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::data::DataOptions;
use crate::detector::CheckpointPolicy;
use crate::device::DeviceChoice;
use crate::schedule::Plan;
use crate::spec::{ExperimentSpec, SlurmOptions, ValidSpec};
use crate::store::Store;

const EXAMPLES: &str = "\
Examples:
  runner run experiments/quickstart.yaml          train what the cache lacks, then report
  runner run experiments/mnist.yaml -j 2 --set methods.ganomaly.epochs=1
  runner plan experiments/mnist.yaml              list the jobs and their keys
  runner status experiments/mnist.yaml            done / failed (with reason) / missing
  runner report experiments/mnist.yaml            tables and plots under reports/mnist/
  runner run experiments/mnist.yaml --executor slurm --store /shared/cache --gpus-per-job 1 --device cuda
  runner cancel experiments/mnist.yaml            scancel the spec's Slurm tasks
  runner data ls                                  datasets found on this machine
  runner devices                                  CPU, GPUs and Vulkan adapters, with their --device names
  runner cache verify                             recompute every digest in the store";

#[derive(Parser, Debug)]
#[command(
    name = "runner",
    version,
    about = "Reproducible GAN-based image anomaly-detection experiments",
    long_about = "Expands a YAML experiment spec into jobs (methods x sweeps x classes x seeds), \
trains only what the content-addressed cache lacks, scores the test sets and writes \
paper-style AUROC tables and ROC plots.",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors only, no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The store (cache) folder; put it on a shared filesystem for clusters.
    #[arg(long, global = true, env = "RUNNER_STORE", default_value = "cache")]
    pub store: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every job of a spec that the cache lacks, then write the report.
    #[command(
        after_help = "Examples:\n  runner run experiments/quickstart.yaml\n  runner run experiments/mnist.yaml -j 2 --fail-fast\n  runner run experiments/mnist.yaml --set seeds=[0] --set methods.ganomaly.epochs=1"
    )]
    Run(RunArgs),
    /// List the jobs of a spec with their keys and whether they are cached (no side effects).
    #[command(after_help = "Example:\n  runner plan experiments/mnist.yaml")]
    Plan(SpecArgs),
    /// Show which jobs of a spec are done, failed (with the reason) or missing.
    #[command(after_help = "Example:\n  runner status experiments/mnist.yaml")]
    Status(SpecArgs),
    /// Write tables and plots of a spec's results under reports/<name>/;
    /// several specs also get one table side by side.
    #[command(
        after_help = "Examples:\n  runner report experiments/mnist.yaml --out reports\n  runner report experiments/mnist.yaml experiments/mnist-one-class.yaml --name mnist-protocols"
    )]
    Report(ReportArgs),
    /// Inspect and maintain the store.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Build (or list) the environments that external methods declare.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Find, download and verify datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// List the compute devices (CPU, Vulkan adapters) with their `--device`
    /// names, or check that a device trains the GANs as the CPU does.
    #[command(
        after_help = "Examples:\n  runner devices\n  runner devices --check vulkan\n  runner devices --check cuda:0 --spec experiments/mnist.yaml"
    )]
    Devices(DevicesArgs),
    /// Print the JSON Schema of experiment specs (for editors).
    Schema,
    /// Cancel the Slurm tasks of a spec's unfinished jobs (scancel).
    #[command(
        after_help = "Example:\n  runner cancel experiments/mnist.yaml --store /shared/cache"
    )]
    Cancel(SpecArgs),
    /// Run one planned job from the store (what cluster tasks call).
    #[command(hide = true)]
    ExecJob(ExecJobArgs),
}

#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Train each GAN a few steps on DEVICE and on the CPU from the same
    /// start (weights, batches, random streams) and compare their losses and
    /// weight updates: a wrong GPU kernel shows, rounding does not. Exits
    /// with 1 when a method trains otherwise on DEVICE.
    #[arg(long, value_name = "DEVICE")]
    pub check: Option<DeviceChoice>,
    /// The spec whose networks, dataset, first class and first seed the check
    /// uses (default: the quickstart's, on the embedded digits).
    #[arg(long, requires = "check")]
    pub spec: Option<PathBuf>,
    /// Override a value of that spec (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "check")]
    pub sets: Vec<String>,
    /// Training steps of each method on each device.
    #[arg(long, default_value_t = 3, requires = "check", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub steps: u16,
    /// Never download data.
    #[arg(long, requires = "check")]
    pub offline: bool,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// The experiment spec (YAML).
    pub spec: PathBuf,
    /// Override a spec value: `--set methods.ganomaly.epochs=1` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Parallel jobs (default: the number of cores, at least --gpu-jobs).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// How many jobs may use the GPU at once (small networks leave a large GPU
    /// mostly idle: 2-8 can raise throughput; each needs its own GPU memory).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub gpu_jobs: u16,
    /// Stop launching jobs after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Compute device for neural methods: cpu, cuda[:N], vulkan (the best
    /// Vulkan adapter), vulkan:discrete:N, vulkan:integrated:N,
    /// vulkan:virtual:N or vulkan:cpu (software, lavapipe); vulkan:N is
    /// vulkan:discrete:N. `runner devices` lists what this machine has.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Never download data.
    #[arg(long)]
    pub offline: bool,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Do not write the report at the end.
    #[arg(long)]
    pub no_report: bool,
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    #[command(flatten)]
    pub slurm: SlurmArgs,
}

/// How often training saves its state, so that a killed job resumes.
#[derive(Args, Clone, Copy, Debug)]
pub struct CheckpointArgs {
    /// Save a training's state into the store every N epochs, so that a
    /// killed job (crash, Ctrl-C, Slurm time limit) resumes from there when
    /// run again, to the same final model; 0: never.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        env = "RUNNER_CHECKPOINT_EVERY"
    )]
    pub checkpoint_every: usize,
    /// ... and at most once per this many seconds of training, so that
    /// short trainings never pay for one.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60.0,
        env = "RUNNER_CHECKPOINT_MIN_SECS"
    )]
    pub checkpoint_min_secs: f64,
}

impl CheckpointArgs {
    pub fn policy(&self) -> CheckpointPolicy {
        CheckpointPolicy {
            every_epochs: self.checkpoint_every,
            min_interval: std::time::Duration::from_secs_f64(self.checkpoint_min_secs.max(0.0)),
        }
    }
}

/// Where `runner run` runs the jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// Worker threads on this machine.
    Local,
    /// One Slurm job array; the store must be on a filesystem the nodes share.
    Slurm,
}

/// The Slurm options of `runner run` (they win over the spec's `executor: {slurm: ...}`).
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Cluster (Slurm)")]
pub struct SlurmArgs {
    /// Where the jobs run (default: the spec's `executor`, else local).
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorKind>,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Wall-time limit per job (minutes, HH:MM:SS or D-HH:MM:SS).
    #[arg(long)]
    pub time: Option<String>,
    /// GPUs per job (`--gres=gpu:N`); use with `--device cuda`.
    #[arg(long, value_name = "N")]
    pub gpus_per_job: Option<u32>,
    /// CPUs per job (`--cpus-per-task`).
    #[arg(long, value_name = "N")]
    pub cpus_per_job: Option<u32>,
    /// Memory per job (`16G`).
    #[arg(long)]
    pub mem: Option<String>,
    /// At most this many jobs of the array at once.
    #[arg(long, value_name = "K")]
    pub max_parallel: Option<u32>,
    /// An extra sbatch argument, passed as it is (repeatable): `--sbatch-arg=--account=lab`.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Return right after submitting (follow with `runner status SPEC`).
    #[arg(long)]
    pub detach: bool,
    /// The runner binary the nodes run (default: this one; it must be the same build).
    #[arg(long, value_name = "PATH")]
    pub runner_bin: Option<PathBuf>,
}

impl SlurmArgs {
    fn options(&self) -> SlurmOptions {
        SlurmOptions {
            partition: self.partition.clone(),
            time: self.time.clone(),
            gpus_per_job: self.gpus_per_job,
            cpus_per_job: self.cpus_per_job,
            mem: self.mem.clone(),
            max_parallel: self.max_parallel,
            sbatch_args: self.sbatch_args.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// More specs over the same classes: each gets its report, and one more
    /// report puts all their AUROC rows side by side (with their references
    /// and the differences).
    #[arg(value_name = "MORE_SPECS")]
    pub more: Vec<PathBuf>,
    /// Name (and folder under --out) of the side-by-side report; default: the
    /// spec names joined with `+`.
    #[arg(long, requires = "more")]
    pub name: Option<String>,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// List the objects in the store.
    Ls,
    /// Recompute every file digest; name corrupt objects (exit 1 if any).
    Verify,
    /// Remove every object that none of the given specs references.
    #[command(
        after_help = "Example:\n  runner cache gc experiments/quickstart.yaml experiments/mnist.yaml"
    )]
    Gc {
        /// Specs whose models and results are kept.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// Build every environment a spec's external methods declare that the
    /// store lacks, without running jobs (e.g. on a cluster's login node).
    #[command(after_help = "Example:\n  runner env build experiments/baselines.yaml")]
    Build(SpecArgs),
    /// List the environments in the store.
    Ls,
}

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Every known dataset: where it was found and whether it verified.
    Ls,
    /// Download (if missing) and verify a dataset.
    Fetch { name: String },
    /// Verify a dataset's files against their known digests.
    Verify { name: String },
}

#[derive(Args, Debug)]
pub struct ExecJobArgs {
    /// Key of a job whose description is in the store.
    pub key: String,
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Refuse to run unless this runner is that build (`runner` version+binary digest).
    #[arg(long)]
    pub expect_version: Option<String>,
    /// This task's log file, recorded with a failure.
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    /// Take over a job lock whose lease was not renewed for this many hours
    /// (its holder died); holders renew every 15 s. A holder on this host
    /// whose process is gone loses its lock at once.
    #[arg(long, default_value_t = 0.025)]
    pub lock_stale_hours: f64,
}

/// Runs the command line; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .downcast_ref::<crate::Error>()
                .map(|e| e.exit_code())
                .or_else(|| e.downcast_ref::<crate::spec::SpecError>().map(|_| 2))
                .unwrap_or(1);
            ExitCode::from(code)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUNNER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("runner={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Data search folders from `RUNNER_DATA` (a `:`-separated list).
pub fn data_options(offline: bool) -> DataOptions {
    let search = std::env::var_os("RUNNER_DATA")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    DataOptions { search, offline }
}

fn load_spec(args: &SpecArgs) -> anyhow::Result<ValidSpec> {
    Ok(ExperimentSpec::load(&args.spec, &args.sets).map_err(crate::Error::from)?)
}

fn plan_spec(spec: &ValidSpec) -> anyhow::Result<Plan> {
    Ok(Plan::new(spec, &data_options(true))?)
}

fn open_store(path: &Path) -> anyhow::Result<Store> {
    Ok(Store::open(path).map_err(crate::Error::from)?)
}

fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Run(a) => run::exec(cli, a),
        Command::Plan(a) => plan::exec(cli, a),
        Command::Status(a) => status::exec(cli, a),
        Command::Report(a) => report::exec(cli, a),
        Command::Cache(c) => cache::exec(cli, c),
        Command::Env(c) => env::exec(cli, c),
        Command::Data(d) => data::exec(d),
        Command::Devices(a) => devices::exec(a),
        Command::Schema => schema::exec(),
        Command::Cancel(a) => cancel::exec(cli, a),
        Command::ExecJob(a) => exec_job::exec(cli, a),
    }
}
