//! `runner cache ls|verify|gc`: inspect and maintain the store.

use std::collections::HashSet;

use anyhow::Context;

use crate::spec::ExperimentSpec;
use crate::store::Store;

use super::{CacheCommand, Cli, open_store, plan_spec};

pub(super) fn exec(cli: &Cli, c: &CacheCommand) -> anyhow::Result<u8> {
    let store = open_store(&cli.store)?;
    match c {
        CacheCommand::Ls => list(&store),
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
            let mut keep_envs = HashSet::new();
            for s in specs {
                let spec = ExperimentSpec::load(s, &[]).map_err(crate::Error::from)?;
                let plan = plan_spec(&spec).with_context(|| format!("planning {}", s.display()))?;
                for j in &plan.jobs {
                    keep.insert(j.key);
                    keep.insert(j.model_key);
                }
                keep_envs.extend(super::env::environments_of(&spec).into_keys());
            }
            let g = store.gc(&keep)?;
            let (envs, env_bytes) = store.gc_environments(&keep_envs)?;
            println!(
                "removed {} objects ({} bytes), kept {}",
                g.removed, g.bytes_freed, g.kept
            );
            if envs > 0 {
                println!(
                    "removed {envs} environment(s) no kept spec uses ({})",
                    show_bytes(env_bytes)
                );
            }
            Ok(0)
        }
    }
}

/// `runner cache ls`: every object and training checkpoint with its size,
/// age and device, then the totals.
fn list(store: &Store) -> anyhow::Result<u8> {
    let objs = store.list()?;
    let now = chrono::Utc::now();
    let mut bytes = 0;
    println!(
        "{:<6}  {:<16}  {:>9}  {:>8}  {:<8}  finished",
        "kind", "key", "size", "age", "device"
    );
    for o in &objs {
        bytes += o.bytes;
        let (device, finished) = o
            .manifest
            .as_ref()
            .map(|m| (m.device.clone(), m.finished.clone()))
            .unwrap_or_default();
        let age = chrono::DateTime::parse_from_rfc3339(&finished)
            .map(|t| show_age((now - t.with_timezone(&chrono::Utc)).num_seconds()))
            .unwrap_or_else(|_| "?".into());
        println!(
            "{:<6}  {:<16}  {:>9}  {:>8}  {:<8}  {}",
            o.kind.as_str(),
            o.key.short(),
            show_bytes(o.bytes),
            age,
            device,
            finished
        );
    }
    let checkpoints = store.checkpoints()?;
    for c in &checkpoints {
        bytes += c.bytes;
        let age = c
            .modified
            .and_then(|m| std::time::SystemTime::now().duration_since(m).ok())
            .map(|d| show_age(d.as_secs() as i64))
            .unwrap_or_else(|| "?".into());
        let after = c
            .epoch
            .map(|e| format!("training checkpoint after epoch {e}"))
            .unwrap_or_else(|| "training checkpoint (none complete)".into());
        println!(
            "{:<6}  {:<16}  {:>9}  {:>8}  {:<8}  {after}",
            "ckpt",
            c.key.short(),
            show_bytes(c.bytes),
            age,
            ""
        );
    }
    println!(
        "{} objects{}, {} in {}",
        objs.len(),
        if checkpoints.is_empty() {
            String::new()
        } else {
            format!(" and {} training checkpoint(s)", checkpoints.len())
        },
        show_bytes(bytes),
        store.root().display()
    );
    Ok(0)
}

/// `812 B`, `3.4 KiB`, `120.0 MiB`, `2.1 GiB`.
pub(super) fn show_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `45 s`, `12 min`, `3 h`, `5 d` (negative ages, from clock skew, as `0 s`).
fn show_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_as_a_person_would_write_them() {
        assert_eq!(show_bytes(812), "812 B");
        assert_eq!(show_bytes(3482), "3.4 KiB");
        assert_eq!(show_bytes(120 * 1024 * 1024), "120.0 MiB");
        assert_eq!(show_bytes(2_254_857_830), "2.1 GiB");
        assert_eq!(show_age(-5), "0 s");
        assert_eq!(show_age(45), "45 s");
        assert_eq!(show_age(725), "12 min");
        assert_eq!(show_age(3 * 3600 + 10), "3 h");
        assert_eq!(show_age(5 * 86_400), "5 d");
    }
}
