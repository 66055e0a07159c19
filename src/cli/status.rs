//! `runner status`: which jobs of a spec are done, failed (with the reason
//! and, for an external method, where its program's output is) or missing
//! (with the Slurm task they were submitted as).

use crate::schedule::JobState;
use crate::schedule::slurm;
use crate::spec::MethodConfig;

use super::{Cli, SpecArgs, load_spec, open_store, plan_spec};

pub(super) fn exec(cli: &Cli, a: &SpecArgs) -> anyhow::Result<u8> {
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
                let logs = store.logs_dir(&job.key);
                let logs = std::path::absolute(&logs).unwrap_or(logs);
                let shown = e.contains(&logs.display().to_string());
                if matches!(job.method, MethodConfig::External(_)) && logs.is_dir() && !shown {
                    println!("         program output: {}", logs.display());
                }
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
