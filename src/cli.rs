//! The command line: `runner run|plan|status|report|cache|data|schema`.
//! Thin: parse, call the library, print, choose the exit code.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::data::DataOptions;
use crate::nn::device::DeviceChoice;
use crate::schedule::execute::JobEnv;
use crate::schedule::progress::ProgressUi;
use crate::schedule::slurm::{self, SlurmConfig, SlurmExecutor, SlurmTools, TaskEnd, TaskOptions};
use crate::schedule::{self, Control, JobState, LocalExecutor, Plan, RunSummary};
use crate::spec::{ExecutorSpec, ExperimentSpec, SlurmOptions, ValidSpec};
use crate::store::{ObjectKind, Store};

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
    /// Write tables and plots of a spec's results under reports/<name>/.
    #[command(after_help = "Example:\n  runner report experiments/mnist.yaml --out reports")]
    Report(ReportArgs),
    /// Inspect and maintain the store.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Find, download and verify datasets.
    #[command(subcommand)]
    Data(DataCommand),
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
    /// Parallel jobs (default: the number of cores). Jobs on a GPU share it.
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Stop launching jobs after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Compute device for neural methods: cpu, cuda[:N] or vulkan[:N].
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
    pub slurm: SlurmArgs,
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
    /// Take over a job lock older than this many hours (its holder died).
    #[arg(long, default_value_t = 72.0)]
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
        Command::Run(a) => cmd_run(cli, a),
        Command::Plan(a) => cmd_plan(cli, a),
        Command::Status(a) => cmd_status(cli, a),
        Command::Report(a) => {
            let spec = load_spec(&a.spec)?;
            let plan = plan_spec(&spec)?;
            let store = open_store(&cli.store)?;
            write_report(&plan, &store, &a.out, cli.quiet)?;
            Ok(0)
        }
        Command::Cache(c) => cmd_cache(cli, c),
        Command::Data(d) => cmd_data(d),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::spec::schema::spec_schema())?
            );
            Ok(0)
        }
        Command::Cancel(a) => cmd_cancel(cli, a),
        Command::ExecJob(a) => cmd_exec_job(cli, a),
    }
}

fn cmd_plan(cli: &Cli, a: &SpecArgs) -> anyhow::Result<u8> {
    let spec = load_spec(a)?;
    let plan = plan_spec(&spec)?;
    // `plan` has no side effects: it only reads a store that exists.
    let store = if cli.store.join("STORE_VERSION").is_file() {
        Some(open_store(&cli.store)?)
    } else {
        None
    };
    let mut cached = 0;
    println!(
        "{:<16}  {:<28}  {:<16}  {:>4}  {:<7}",
        "key", "method", "class", "seed", "state"
    );
    for job in &plan.jobs {
        let hit = store
            .as_ref()
            .is_some_and(|s| s.contains(ObjectKind::Result, &job.key));
        let model = store
            .as_ref()
            .is_some_and(|s| s.contains(ObjectKind::Model, &job.model_key));
        cached += hit as usize;
        let state = match (hit, model) {
            (true, _) => "cached",
            (false, true) => "rescore",
            (false, false) => "train",
        };
        println!(
            "{:<16}  {:<28}  {:<16}  {:>4}  {state}",
            job.key.short(),
            job.label,
            class_cell(job.class, &job.class_name),
            job.seed
        );
    }
    println!(
        "{} jobs ({} cached, {} to run) on {} [{}]",
        plan.jobs.len(),
        cached,
        plan.jobs.len() - cached,
        plan.dataset.name,
        &plan.dataset.digest[..plan.dataset.digest.len().min(12)]
    );
    Ok(0)
}

/// `3 cat`, or just `3` when the class name is its index.
fn class_cell(index: usize, name: &str) -> String {
    if name == index.to_string() {
        name.to_string()
    } else {
        format!("{index} {name}")
    }
}

fn cmd_status(cli: &Cli, a: &SpecArgs) -> anyhow::Result<u8> {
    let spec = load_spec(a)?;
    let plan = plan_spec(&spec)?;
    let store = open_store(&cli.store)?;
    let (mut done, mut failed, mut missing) = (0, 0, 0);
    for (job, state) in plan.jobs.iter().zip(plan.states(&store)) {
        match state {
            JobState::Done => done += 1,
            JobState::Failed(e) => {
                failed += 1;
                println!("failed   {}  {}: {e}", job.key.short(), job.title());
            }
            JobState::Missing => {
                missing += 1;
                match slurm::task_record(&store, &job.key) {
                    Some(t) => println!(
                        "missing  {}  {} (submitted as Slurm task {}, log {})",
                        job.key.short(),
                        job.title(),
                        t.task_id(),
                        t.log.display()
                    ),
                    None => println!("missing  {}  {}", job.key.short(), job.title()),
                }
            }
        }
    }
    println!(
        "{}: {} jobs: {done} done, {failed} failed, {missing} missing",
        spec.name,
        plan.jobs.len()
    );
    Ok(if failed + missing == 0 { 0 } else { 1 })
}

fn cmd_run(cli: &Cli, a: &RunArgs) -> anyhow::Result<u8> {
    let spec = load_spec(&a.spec)?;
    let data = data_options(a.offline);
    let plan = Plan::new(&spec, &data)?;
    let store = open_store(&cli.store)?;
    let spec_slurm = match &spec.executor {
        Some(ExecutorSpec::Slurm(o)) => Some(o),
        _ => None,
    };
    let use_slurm = match a.slurm.executor {
        Some(kind) => kind == ExecutorKind::Slurm,
        None => spec_slurm.is_some(),
    };
    if use_slurm {
        return cmd_run_slurm(cli, a, &plan, &store, spec_slurm, data);
    }
    crate::nn::device::check_available(a.device).map_err(crate::Error::from)?;
    let workers = a.jobs.unwrap_or_else(num_cpus::get).max(1);
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrlc(cancel.clone());
    let pending = plan.pending(&store);
    if !cli.quiet {
        eprintln!(
            "{}: {} jobs, {} cached, {} to run with {} worker(s) on {}",
            spec.name,
            plan.jobs.len(),
            plan.jobs.len() - pending,
            pending,
            workers.min(pending.max(1)),
            a.device
        );
    }
    let control = Control {
        cancel: cancel.clone(),
        fail_fast: a.fail_fast,
        progress: ProgressUi::new(pending, !cli.quiet),
    };
    let executor = LocalExecutor {
        workers,
        runner: JobEnv::new(store.clone(), data, a.device),
    };
    let summary = schedule::run(&plan, &store, &executor, &control)?;
    finish_run(cli, a, &plan, &store, &summary)
}

/// Prints the summary of a run and writes its report.
fn finish_run(
    cli: &Cli,
    a: &RunArgs,
    plan: &Plan,
    store: &Store,
    summary: &RunSummary,
) -> anyhow::Result<u8> {
    if !cli.quiet {
        eprintln!("{}", summary.line());
        for (title, err) in &summary.failed {
            eprintln!("  failed: {title}: {err}");
        }
    }
    if !a.no_report && !summary.cancelled {
        write_report(plan, store, &a.out, cli.quiet)?;
    }
    Ok(summary.exit_code())
}

/// `runner run --executor slurm`: submits the pending jobs as one job array.
fn cmd_run_slurm(
    cli: &Cli,
    a: &RunArgs,
    plan: &Plan,
    store: &Store,
    spec_options: Option<&SlurmOptions>,
    data: DataOptions,
) -> anyhow::Result<u8> {
    let options = slurm::merge_options(spec_options, &a.slurm.options());
    slurm::check_options(&options)?;
    let mut config = SlurmConfig::new(options, a.device, data);
    config.detach = a.slurm.detach;
    if let Some(bin) = &a.slurm.runner_bin {
        config.binary =
            std::path::absolute(bin).with_context(|| format!("--runner-bin {}", bin.display()))?;
    }
    let pending = plan.pending(store);
    if !cli.quiet {
        eprintln!(
            "{}: {} jobs, {} cached, {} to submit to Slurm (device {})",
            plan.spec.name,
            plan.jobs.len(),
            plan.jobs.len() - pending,
            pending,
            a.device
        );
    }
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrlc(cancel.clone());
    let control = Control {
        cancel,
        fail_fast: a.fail_fast,
        progress: ProgressUi::new(pending, !cli.quiet && !a.slurm.detach),
    };
    let executor = SlurmExecutor::new(store.clone(), config);
    let summary = schedule::run(plan, store, &executor, &control)?;
    if a.slurm.detach {
        let subs = executor
            .submitted
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let spec = a.spec.spec.display();
        let store_arg = store.root().display();
        match subs.first() {
            Some(s) => {
                println!(
                    "submitted {} job(s) as Slurm array {} (logs: {})",
                    s.keys.len(),
                    s.array,
                    s.dir.join("logs").display()
                );
                println!("follow:  runner status {spec} --store {store_arg}");
                println!("cancel:  runner cancel {spec} --store {store_arg}");
                println!("report:  runner report {spec} --store {store_arg}");
            }
            None => println!("nothing to submit: all {} jobs are cached", plan.jobs.len()),
        }
        return Ok(0);
    }
    finish_run(cli, a, plan, store, &summary)
}

fn cmd_cancel(cli: &Cli, a: &SpecArgs) -> anyhow::Result<u8> {
    let spec = load_spec(a)?;
    let plan = plan_spec(&spec)?;
    let store = open_store(&cli.store)?;
    let s = slurm::cancel(
        &store,
        &plan.jobs,
        &SlurmTools::default(),
        std::time::Duration::from_secs(60),
    )?;
    if s.cancelled.is_empty() {
        println!(
            "{}: no Slurm task of this spec is pending or running",
            spec.name
        );
    } else {
        println!(
            "{}: cancelled {} Slurm task(s): {}",
            spec.name,
            s.cancelled.len(),
            s.cancelled.join(" ")
        );
    }
    Ok(0)
}

fn write_report(plan: &Plan, store: &Store, out: &Path, quiet: bool) -> anyhow::Result<()> {
    let input = schedule::collect::report_input(plan, store)?;
    let dir = out.join(&plan.spec.name);
    let summary = crate::report::write(&input, &dir).map_err(crate::Error::from)?;
    if !quiet {
        println!("{}", summary.table_markdown);
    }
    println!("report: {}", summary.dir.display());
    Ok(())
}

fn install_ctrlc(cancel: Arc<AtomicBool>) {
    let res = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting now");
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupt: starting no new jobs, stopping running ones (Ctrl-C again to exit now)"
        );
    });
    if let Err(e) = res {
        tracing::warn!("cannot install the Ctrl-C handler: {e}");
    }
}

fn cmd_cache(cli: &Cli, c: &CacheCommand) -> anyhow::Result<u8> {
    let store = open_store(&cli.store)?;
    match c {
        CacheCommand::Ls => {
            let objs = store.list()?;
            let mut bytes = 0;
            for o in &objs {
                bytes += o.bytes;
                let (device, finished) = o
                    .manifest
                    .as_ref()
                    .map(|m| (m.device.clone(), m.finished.clone()))
                    .unwrap_or_default();
                println!(
                    "{:<6}  {}  {:>10}  {:<8}  {}",
                    o.kind.as_str(),
                    o.key.short(),
                    o.bytes,
                    device,
                    finished
                );
            }
            println!(
                "{} objects, {} bytes in {}",
                objs.len(),
                bytes,
                store.root().display()
            );
            Ok(0)
        }
        CacheCommand::Verify => {
            let objs = store.list()?.len();
            let bad = store.verify()?;
            for e in &bad {
                println!("{e}");
            }
            println!("{objs} objects verified, {} corrupt", bad.len());
            Ok(if bad.is_empty() { 0 } else { 1 })
        }
        CacheCommand::Gc { specs } => {
            let mut keep = HashSet::new();
            for s in specs {
                let spec = ExperimentSpec::load(s, &[]).map_err(crate::Error::from)?;
                let plan = plan_spec(&spec).with_context(|| format!("planning {}", s.display()))?;
                for j in &plan.jobs {
                    keep.insert(j.key);
                    keep.insert(j.model_key);
                }
            }
            let g = store.gc(&keep)?;
            println!(
                "removed {} objects ({} bytes), kept {}",
                g.removed, g.bytes_freed, g.kept
            );
            Ok(0)
        }
    }
}

fn cmd_data(d: &DataCommand) -> anyhow::Result<u8> {
    match d {
        DataCommand::Ls => {
            let rows = crate::data::status_all(&data_options(true));
            let width = rows
                .iter()
                .map(|s| s.state.len() + if s.approximate { 14 } else { 0 })
                .max()
                .unwrap_or(5)
                .max(5);
            println!(
                "{:<14}  {:<15}  {:<width$}  location",
                "dataset", "format", "state"
            );
            for s in rows {
                let fmt = serde_json::to_value(s.format)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let state = if s.approximate {
                    format!("{} (lossy copy)", s.state)
                } else {
                    s.state.clone()
                };
                println!(
                    "{:<14}  {:<15}  {:<28}  {}",
                    s.name,
                    fmt,
                    state,
                    s.location.unwrap_or_else(|| "-".into())
                );
            }
            Ok(0)
        }
        DataCommand::Fetch { name } => {
            let l = crate::data::fetch(name, &data_options(false)).map_err(crate::Error::from)?;
            println!(
                "{}: {} classes, digest {} at {}",
                l.id.name,
                l.classes.len(),
                l.id.digest,
                l.path
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(embedded)".into())
            );
            Ok(0)
        }
        DataCommand::Verify { name } => {
            let report =
                crate::data::verify(name, &data_options(true)).map_err(crate::Error::from)?;
            println!("{report}");
            Ok(0)
        }
    }
}

fn cmd_exec_job(cli: &Cli, a: &ExecJobArgs) -> anyhow::Result<u8> {
    let key: crate::store::Key = match a.key.parse() {
        Ok(k) => k,
        Err(e) => bail!(e),
    };
    let store = open_store(&cli.store)?;
    let opts = TaskOptions {
        device: a.device,
        expect_version: a.expect_version.clone(),
        log: a.log.clone(),
        lock_stale: std::time::Duration::from_secs_f64(a.lock_stale_hours.max(0.0) * 3600.0),
        data: data_options(false),
    };
    let end = slurm::exec_job(&store, &key, &opts)?;
    let short = key.short();
    match &end {
        TaskEnd::AlreadyDone => println!("{short}: already done"),
        TaskEnd::Busy(holder) => {
            println!("{short}: being run by {holder}; leaving it to that worker")
        }
        TaskEnd::Ran(schedule::JobOutcome::Done(r)) => println!("{short}: AUROC {:.4}", r.auroc),
        TaskEnd::Ran(schedule::JobOutcome::Failed(e)) => eprintln!("{short}: failed: {e}"),
        TaskEnd::Ran(schedule::JobOutcome::Cancelled) => eprintln!("{short}: stopped"),
    }
    Ok(end.exit_code())
}
