//! `runner cancel`: scancel the Slurm tasks of a spec's unfinished jobs.

use crate::schedule::slurm::{self, SlurmTools};

use super::{Cli, SpecArgs, load_spec, open_store, plan_spec};

pub(super) fn exec(cli: &Cli, a: &SpecArgs) -> anyhow::Result<u8> {
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
