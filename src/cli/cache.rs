//! `runner cache ls|verify|gc`: inspect and maintain the store.

use std::collections::HashSet;

use anyhow::Context;

use crate::spec::ExperimentSpec;

use super::{CacheCommand, Cli, open_store, plan_spec};

pub(super) fn exec(cli: &Cli, c: &CacheCommand) -> anyhow::Result<u8> {
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
