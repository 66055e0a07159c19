//! Records the versions of the libraries that shape results (as resolved in
//! Cargo.lock) for the manifests of stored objects: `RUNNER_LIB_VERSIONS`,
//! `name=version` pairs separated by commas.

use std::path::Path;

/// Libraries whose version can change a stored model or score.
const SHAPING: &[&str] = &["burn", "burn-flex", "faer", "rand", "rand_chacha"];

fn main() {
    let lock =
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-changed=build.rs");
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let mut found: Vec<(String, String)> = Vec::new();
    let mut name: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            name = None;
        } else if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("version = ")
            && let Some(n) = name.take()
            && SHAPING.contains(&n.as_str())
            && !found.iter().any(|(f, _)| *f == n)
        {
            found.push((n, v.trim_matches('"').to_string()));
        }
    }
    let pairs: Vec<String> = SHAPING
        .iter()
        .map(|n| {
            let v = found
                .iter()
                .find(|(f, _)| f == n)
                .map_or("unknown", |(_, v)| v.as_str());
            format!("{n}={v}")
        })
        .collect();
    println!("cargo:rustc-env=RUNNER_LIB_VERSIONS={}", pairs.join(","));
}
