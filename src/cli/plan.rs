//! `runner plan`: the jobs of a spec with their keys and what running them
//! would do (cached, rescore, train). No side effects.

use crate::store::{ObjectKind, ObjectState};

use super::{Cli, SpecArgs, load_spec, open_store, plan_spec};

pub(super) fn exec(cli: &Cli, a: &SpecArgs) -> anyhow::Result<u8> {
    let spec = load_spec(a)?;
    let plan = plan_spec(&spec)?;
    // `plan` has no side effects: it only reads a store that exists.
    let store = if cli.store.join("STORE_VERSION").is_file() {
        Some(open_store(&cli.store)?)
    } else {
        None
    };
    let mut cached = 0;
    // jobs that differ only in the shown score variant share one result
    let mut to_run = std::collections::HashSet::new();
    println!(
        "{:<16}  {:<28}  {:<16}  {:>4}  {:<7}",
        "key", "method", "class", "seed", "state"
    );
    for job in &plan.jobs {
        // A corrupt object counts as missing: `run` makes it again.
        let intact = |kind, key| {
            store
                .as_ref()
                .is_some_and(|s| s.state(kind, key) == ObjectState::Intact)
        };
        let hit = intact(ObjectKind::Result, &job.key);
        let model = intact(ObjectKind::Model, &job.model_key);
        if hit {
            cached += 1;
        } else {
            to_run.insert(job.key);
        }
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
    print_commands(&spec);
    print_environments(&spec, store.as_ref());
    let to_run = to_run.len();
    let shared = plan.jobs.len() - cached - to_run;
    let shared = if shared > 0 {
        format!(", {shared} share a result")
    } else {
        String::new()
    };
    println!(
        "{} jobs ({} cached, {} to run{shared}) on {} [{}]",
        plan.jobs.len(),
        cached,
        to_run,
        plan.dataset.name,
        &plan.dataset.digest[..plan.dataset.digest.len().min(12)]
    );
    Ok(0)
}

/// The command line of every external method (each variant once), as
/// `run` would start it, and where.
fn print_commands(spec: &crate::spec::ValidSpec) {
    let mut seen = std::collections::HashSet::new();
    for entry in &spec.methods {
        for v in &entry.variants {
            let crate::spec::MethodConfig::External(p) = &v.config else {
                continue;
            };
            if seen.insert(p.command_line()) {
                println!(
                    "command  {}: {} fit|score JOB_FILE  (in {})",
                    p.name,
                    p.command_line(),
                    p.workdir
                        .as_deref()
                        .unwrap_or(std::path::Path::new("."))
                        .display()
                );
            }
        }
    }
}

/// Every environment the external methods declare, and whether the store
/// has it built.
fn print_environments(spec: &crate::spec::ValidSpec, store: Option<&crate::store::Store>) {
    for (key, d) in super::env::environments_of(spec) {
        let state = match store.and_then(|s| s.environment(&key)) {
            Some(r) => format!("ready ({} packages)", r.packages.len()),
            None => "to build (`runner env build`, or the first job builds it)".to_string(),
        };
        let env = d.params.environment.as_ref();
        println!(
            "environment  {}: {} with {} [{}]  {state}",
            d.methods.join(", "),
            env.map(|e| e.requirements()).unwrap_or_default(),
            env.map(|e| e.python()).unwrap_or_default(),
            &key[..12]
        );
    }
}

/// `3 cat`, or just `3` when the class name is its index.
fn class_cell(index: usize, name: &str) -> String {
    if name == index.to_string() {
        name.to_string()
    } else {
        format!("{index} {name}")
    }
}
