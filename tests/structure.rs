//! The module edges that must stay one-way: the source, read as text.

use std::path::Path;

/// The code lines of a source file (comments dropped).
fn code(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines()
        .map(|l| l.split("//").next().unwrap_or("").to_string())
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// The lines of `file` that name any of `modules`.
fn naming(file: &str, modules: &[&str]) -> Vec<String> {
    code(file)
        .into_iter()
        .filter(|l| modules.iter().any(|m| l.contains(m)))
        .collect()
}

#[test]
fn the_device_layer_does_not_reach_into_nn() {
    assert_eq!(
        naming("src/device.rs", &["crate::nn", "nn::", "burn"]),
        Vec::<String>::new()
    );
    // nn::vulkan imports the device layer, which is what makes this one-way
    assert!(!naming("src/nn/vulkan.rs", &["crate::device"]).is_empty());
}

#[test]
fn the_results_table_does_not_import_the_reference_comparison() {
    assert_eq!(
        naming("src/report/table.rs", &["reference::", "super::reference"]),
        Vec::<String>::new()
    );
    assert!(!naming("src/report/reference.rs", &["super::table"]).is_empty());
}

/// The `.rs` files under `dir`, relative to the crate root.
fn sources(dir: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut todo = vec![root.join(dir)];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under the root");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The command line and the scheduler reach devices through the burn-free
/// device layer (`src/device.rs` and its listing of Vulkan adapters), never
/// through `nn`.
#[test]
fn the_command_line_and_the_scheduler_do_not_import_nn() {
    let files: Vec<String> = ["src/cli", "src/schedule", "src/device"]
        .iter()
        .flat_map(|d| sources(d))
        .chain(["src/cli.rs".to_string()])
        .filter(|f| Path::new(env!("CARGO_MANIFEST_DIR")).join(f).exists())
        .collect();
    assert!(files.len() > 5, "{files:?}");
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| {
            naming(f, &["crate::nn", "nn::", "burn::"])
                .into_iter()
                .map(move |l| format!("{f}: {l}"))
        })
        .collect();
    assert_eq!(found, Vec::<String>::new());
}

/// The code lines of `file` before its test module (`#[cfg(test)] mod`), if any.
fn code_before_tests(file: &str) -> Vec<String> {
    code(file)
        .into_iter()
        .take_while(|l| !l.contains("#[cfg(test)]"))
        .collect()
}

/// Tensors reach the host in the networks and the detectors only through
/// `nn::host`, which counts the reads that the GANs' contract tests pin (one
/// per training step, one per scoring batch); checkpoints, written once per
/// epoch at most, read their tensors directly.
#[test]
fn host_reads_go_through_nn_host() {
    let allowed = [
        "src/nn/host.rs",
        "src/nn/checkpoint/state.rs",
        "src/nn/shared_adam.rs",
    ];
    let files: Vec<String> = ["src/nn", "src/detector"]
        .iter()
        .flat_map(|d| sources(d))
        .filter(|f| !allowed.contains(&f.as_str()))
        .filter(|f| !f.ends_with("tests.rs") && !f.ends_with("testutil.rs"))
        .collect();
    assert!(files.len() > 20, "{files:?}");
    let reads = [".into_scalar", ".into_data", ".to_data"];
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| {
            code_before_tests(f)
                .into_iter()
                .filter(|l| reads.iter().any(|r| l.contains(r)))
                .map(move |l| format!("{f}: {l}"))
        })
        .collect();
    assert_eq!(found, Vec::<String>::new());
    // The check sees a read where there is one.
    assert!(
        code_before_tests("src/nn/host.rs")
            .iter()
            .any(|l| l.contains(".into_data("))
    );
}
