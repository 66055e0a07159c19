//! `runner env build|ls`: the environments external methods declare, built
//! into the store without running any job (on a cluster's login node, which
//! has the network its compute nodes may lack), and listed.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use anyhow::bail;

use crate::detector::external::environment;
use crate::spec::methods::ExternalParams;
use crate::spec::{MethodConfig, ValidSpec};
use crate::store::Store;

use super::{Cli, EnvCommand, SpecArgs, load_spec, open_store};

pub(super) fn exec(cli: &Cli, c: &EnvCommand) -> anyhow::Result<u8> {
    let store = open_store(&cli.store)?;
    match c {
        EnvCommand::Build(a) => build(cli, &store, a),
        EnvCommand::Ls => list(&store),
    }
}

/// An environment a spec declares: the first method that declares it (its
/// parameters build it) and the names of all that do.
pub struct DeclaredEnvironment {
    pub params: ExternalParams,
    pub methods: Vec<String>,
}

/// The environments the external methods of `spec` declare, by key.
pub fn environments_of(spec: &ValidSpec) -> BTreeMap<String, DeclaredEnvironment> {
    let mut out: BTreeMap<String, DeclaredEnvironment> = BTreeMap::new();
    for entry in &spec.methods {
        for v in &entry.variants {
            if let MethodConfig::External(p) = &v.config
                && let Some(key) = &p.environment_key
            {
                let e = out
                    .entry(key.clone())
                    .or_insert_with(|| DeclaredEnvironment {
                        params: p.clone(),
                        methods: Vec::new(),
                    });
                if !e.methods.contains(&p.name) {
                    e.methods.push(p.name.clone());
                }
            }
        }
    }
    out
}

/// Builds every environment of `spec` that `store` lacks; `Err` with every
/// failure's message.
pub fn build_missing(store: &Store, spec: &ValidSpec, quiet: bool) -> Result<(), Vec<String>> {
    let cancel = AtomicBool::new(false);
    let mut failures = Vec::new();
    for (key, declared) in environments_of(spec) {
        let p = declared.params;
        let requirements = p.requirements_file();
        let had = store.environment(&key).is_some();
        if !had && !quiet {
            eprintln!(
                "building the environment {requirements} of `{}` (key {}) with {}",
                p.name,
                &key[..12],
                environment::installer().name()
            );
        }
        let waiting = |holder: &str| {
            if !quiet {
                eprintln!("  waiting for {holder}, which builds it");
            }
        };
        match environment::ensure(store, &p, &cancel, &waiting) {
            Ok(Some(ready)) => {
                if !quiet {
                    let how = if ready.built_here {
                        format!("built in {:.0} s", ready.record.build_seconds)
                    } else {
                        "ready".to_string()
                    };
                    eprintln!(
                        "environment {requirements} [{}]: {how}, {} packages, {}",
                        &key[..12],
                        ready.record.packages.len(),
                        ready.record.python
                    );
                }
            }
            Ok(None) => {}
            Err(e) => failures.push(format!("`{}`: {e}", p.name)),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// `runner env build SPEC`: builds what the spec's methods need.
fn build(cli: &Cli, store: &Store, a: &SpecArgs) -> anyhow::Result<u8> {
    let spec = load_spec(a)?;
    if environments_of(&spec).is_empty() {
        if !cli.quiet {
            eprintln!("{}: no method declares an environment", spec.name);
        }
        return Ok(0);
    }
    if let Err(failures) = build_missing(store, &spec, cli.quiet) {
        bail!("{}", failures.join("\n"));
    }
    Ok(0)
}

/// `runner env ls`: every environment in the store.
fn list(store: &Store) -> anyhow::Result<u8> {
    let envs = store.environments()?;
    println!(
        "{:<12}  {:<10}  {:>9}  {:>8}  {:<16}  requirements",
        "key", "state", "size", "packages", "python"
    );
    for e in &envs {
        let (state, packages, python, requirements) = match &e.record {
            Some(r) => (
                "ready",
                r.packages.len().to_string(),
                r.python.clone(),
                r.requirements.clone(),
            ),
            None => ("unfinished", "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<12}  {state:<10}  {:>9}  {packages:>8}  {python:<16}  {requirements}",
            &e.key[..e.key.len().min(12)],
            super::cache::show_bytes(e.bytes)
        );
    }
    println!("{} environment(s)", envs.len());
    Ok(0)
}

/// `Err` naming every environment of `spec` that `store` lacks (for
/// `run --offline`, which cannot build them).
pub fn require_built(
    store: &Store,
    spec: &ValidSpec,
    spec_path: &std::path::Path,
) -> anyhow::Result<()> {
    let missing: Vec<String> = environments_of(spec)
        .into_iter()
        .filter(|(key, _)| store.environment(key).is_none())
        .map(|(key, d)| {
            format!(
                "`{}` needs the environment {} (key {}), which is not built",
                d.methods.join("`, `"),
                d.params.requirements_file(),
                &key[..12]
            )
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "--offline: {}; build it first where the package registry is reachable: `runner env build {}{}`",
        missing.join("; "),
        spec_path.display(),
        if store.root() == std::path::Path::new("cache") {
            String::new()
        } else {
            format!(" --store {}", store.root().display())
        }
    )
}
