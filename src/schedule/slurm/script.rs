//! The sbatch script of a job array: one task per job, each running
//! `runner exec-job <key>` with the key read from `keys.txt`; and the shell
//! quoting it needs.

use std::fmt::Write as _;
use std::path::Path;

use super::SlurmConfig;

/// Quotes `s` for a POSIX shell.
pub(super) fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A path as text (lossy), for scripts, arguments and records.
pub(super) fn path_str(p: &Path) -> String {
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
        "exec {} --store {} exec-job \"$key\" --device {} --expect-version {} --checkpoint-every {} --checkpoint-min-secs {} --log \"{log}\"",
        sh_quote(&path_str(&cfg.binary)),
        sh_quote(&path_str(store_root)),
        sh_quote(&cfg.device.to_string()),
        sh_quote(&cfg.build_id),
        cfg.checkpoints.every_epochs,
        cfg.checkpoints.min_interval.as_secs_f64(),
    );
    s
}
