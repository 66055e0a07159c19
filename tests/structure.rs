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
