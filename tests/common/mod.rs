//! Helpers shared by the end-to-end tests: where the real MNIST files are.

use std::path::PathBuf;

/// MNIST's four official files.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// The folder holding the real MNIST `.gz` files (`<data>/mnist`, with `data`
/// a `RUNNER_DATA` folder, `shared/data` beside the checkout or one level up,
/// or `/usr/share/datasets`); `None` (the test is skipped, with a message)
/// when this machine has none, a panic then if `RUNNER_REQUIRE_DATA=1`.
pub fn real_mnist() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut folders: Vec<PathBuf> = std::env::var_os("RUNNER_DATA")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    folders.push(root.join("../shared/data"));
    folders.push(root.join("../../shared/data"));
    folders.push(PathBuf::from("/usr/share/datasets"));
    let found = folders
        .iter()
        .map(|f| f.join("mnist"))
        .find(|d| MNIST_FILES.iter().all(|n| d.join(n).is_file()));
    if found.is_none() {
        if std::env::var("RUNNER_REQUIRE_DATA").is_ok_and(|v| v.trim() == "1") {
            panic!("RUNNER_REQUIRE_DATA=1 but the real MNIST files are not in any of {folders:?}");
        }
        eprintln!(
            "skipped: the real MNIST files are not on this machine (set RUNNER_DATA to the folder holding mnist/)"
        );
    }
    found
}
