//! `runner run`: the jobs a spec's store lacks, on a local pool of workers or
//! as one Slurm array, then the summary and the report. Ctrl-C stops cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use crate::data::DataOptions;
use crate::schedule::progress::ProgressUi;
use crate::schedule::run_job::JobEnv;
use crate::schedule::slurm::{self, SlurmConfig, SlurmExecutor};
use crate::schedule::{self, Control, LocalExecutor, Plan, RunSummary};
use crate::spec::{ExecutorSpec, SlurmOptions};
use crate::store::Store;

use super::report::write_report;
use super::{Cli, ExecutorKind, RunArgs, data_options, load_spec, open_store};

pub(super) fn exec(cli: &Cli, a: &RunArgs) -> anyhow::Result<u8> {
    let spec = load_spec(&a.spec)?;
    let data = data_options(a.offline);
    let plan = Plan::new(&spec, &data)?;
    let store = open_store(&cli.store)?;
    if a.offline {
        super::env::require_built(&store, &spec, &a.spec.spec)?;
    }
    let spec_slurm = match &spec.executor {
        Some(ExecutorSpec::Slurm(o)) => Some(o),
        _ => None,
    };
    let use_slurm = match a.slurm.executor {
        Some(kind) => kind == ExecutorKind::Slurm,
        None => spec_slurm.is_some(),
    };
    if use_slurm {
        // on the submitting host, which has the network compute nodes may lack
        if let Err(failures) = super::env::build_missing(&store, &spec, cli.quiet) {
            for f in failures {
                eprintln!(
                    "warning: {f}\n  its jobs will fail on the compute nodes unless they can build it"
                );
            }
        }
        return run_slurm(cli, a, &plan, &store, spec_slurm, data);
    }
    a.device.check_available().map_err(crate::Error::from)?;
    let gpu_jobs = usize::from(a.gpu_jobs);
    let workers = a
        .jobs
        .unwrap_or_else(|| num_cpus::get().max(gpu_jobs))
        .max(1);
    let cancel = Arc::new(AtomicBool::new(false));
    install_ctrlc(cancel.clone());
    let standing = plan.standing(&store);
    let pending = standing.pending.len();
    if !cli.quiet {
        let slots = if a.device.is_gpu() {
            format!(" ({} GPU job(s) at once)", gpu_jobs.min(workers))
        } else {
            String::new()
        };
        eprintln!(
            "{}: {} jobs, {} cached, {} to run with {} worker(s) on {}{slots}",
            spec.name,
            plan.jobs.len(),
            standing.cached,
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
        runner: JobEnv::new(store.clone(), data, a.device)
            .with_checkpoints(a.checkpoints.policy())
            .with_gpu_jobs(gpu_jobs)
            .with_workers(workers.min(pending.max(1))),
    };
    let summary = schedule::run_standing(&plan, &standing, &executor, &control)?;
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
fn run_slurm(
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
    config.checkpoints = a.checkpoints.policy();
    config.detach = a.slurm.detach;
    if let Some(bin) = &a.slurm.runner_bin {
        config.binary =
            std::path::absolute(bin).with_context(|| format!("--runner-bin {}", bin.display()))?;
    }
    let standing = plan.standing(store);
    let pending = standing.pending.len();
    if !cli.quiet {
        eprintln!(
            "{}: {} jobs, {} cached, {} to submit to Slurm (device {})",
            plan.spec.name,
            plan.jobs.len(),
            standing.cached,
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
    let summary = schedule::run_standing(plan, &standing, &executor, &control)?;
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
