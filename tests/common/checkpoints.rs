//! Helper shared by the end-to-end tests of training checkpoints
//! (tests/cli.rs and tests/slurm.rs include this file).

use std::path::{Path, PathBuf};

/// The complete checkpoints (`checkpoints/<key>/epoch-*`) in a store, sorted.
pub fn checkpoints(store: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for job in std::fs::read_dir(store.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for c in std::fs::read_dir(job.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if c.file_name().to_string_lossy().starts_with("epoch-") {
                found.push(c.path());
            }
        }
    }
    found.sort();
    found
}
