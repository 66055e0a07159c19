//! `runner exec-job`: run one planned job from the store (what each Slurm
//! array task calls).

use anyhow::bail;

use crate::schedule;
use crate::schedule::slurm::{self, TaskEnd, TaskOptions};

use super::{Cli, ExecJobArgs, data_options, open_store};

pub(super) fn exec(cli: &Cli, a: &ExecJobArgs) -> anyhow::Result<u8> {
    let key: crate::store::Key = match a.key.parse() {
        Ok(k) => k,
        Err(e) => bail!(e),
    };
    let store = open_store(&cli.store)?;
    let opts = TaskOptions {
        device: a.device,
        expect_version: a.expect_version.clone(),
        log: a.log.clone(),
        checkpoints: a.checkpoints.policy(),
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
        TaskEnd::Ran(schedule::JobOutcome::Done(r) | schedule::JobOutcome::MadeElsewhere(r)) => {
            println!("{short}: AUROC {:.4}", r.auroc)
        }
        TaskEnd::Ran(schedule::JobOutcome::Failed(e)) => eprintln!("{short}: failed: {e}"),
        TaskEnd::Ran(schedule::JobOutcome::Cancelled) => eprintln!("{short}: stopped"),
    }
    Ok(end.exit_code())
}
