//! Helper shared by the end-to-end tests that look into a store
//! (tests/cli.rs and tests/external.rs include this file).

use std::path::{Path, PathBuf};

/// Every file below `dir`, at any depth (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
