//! Environments of external methods in the store: `envs/<key>/` holds one
//! built environment (`venv/`, its `build.log`), complete only once its
//! `environment.json` (the [`EnvironmentRecord`]) is there, which is
//! written last. A folder without it is a build that is running or was
//! killed: never used. `envs/<key>.failed.log` is the output of the last
//! failed build. Building is `detector::external::environment`'s.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, io_err, read_dir_sorted};

/// The file that marks a complete environment and says what is in it.
pub const ENVIRONMENT_RECORD: &str = "environment.json";

/// What an environment was built from and what it holds: in the
/// environment's folder, and in the manifest of every model and result
/// made with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    /// Its key (requirements content, interpreter version and platform).
    pub key: String,
    /// The requirements file as the spec names it, and its content.
    pub requirements: String,
    pub requirements_text: String,
    /// The interpreter it was made from: `cpython 3.11.7`, its path, the
    /// platform (`linux-x86_64`) and C library.
    pub python: String,
    pub python_path: String,
    pub platform: String,
    pub libc: String,
    /// `pip` or `uv`.
    pub installer: String,
    /// Every installed package and its exact version (`pip freeze`), by name.
    pub packages: BTreeMap<String, String>,
    pub built: String,
    pub build_seconds: f64,
    pub host: String,
}

/// An environment folder in the store.
#[derive(Clone, Debug)]
pub struct EnvironmentInfo {
    pub key: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// `None`: not complete (a build running, or killed).
    pub record: Option<EnvironmentRecord>,
}

impl Store {
    /// The folder of environment `key`.
    pub fn environment_dir(&self, key: &str) -> PathBuf {
        self.root.join("envs").join(key)
    }

    /// The output of the last failed build of environment `key`.
    pub fn environment_failure_log(&self, key: &str) -> PathBuf {
        self.root.join("envs").join(format!("{key}.failed.log"))
    }

    /// The record of environment `key` when it is complete.
    pub fn environment(&self, key: &str) -> Option<EnvironmentRecord> {
        let text = fs::read(self.environment_dir(key).join(ENVIRONMENT_RECORD)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Marks environment `key` complete by writing its record (atomically).
    pub fn complete_environment(&self, record: &EnvironmentRecord) -> Result<(), StoreError> {
        let path = self.environment_dir(&record.key).join(ENVIRONMENT_RECORD);
        let text = serde_json::to_vec_pretty(record).unwrap_or_default();
        self.write_atomic(&path, &text)
    }

    /// Every environment folder, complete or not, in key order.
    pub fn environments(&self) -> Result<Vec<EnvironmentInfo>, StoreError> {
        let mut out = Vec::new();
        for dir in read_dir_sorted(&self.root.join("envs"))? {
            if !dir.is_dir() {
                continue;
            }
            let key = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(EnvironmentInfo {
                record: self.environment(&key),
                bytes: size_on_disk(&dir),
                key,
                path: dir,
            });
        }
        Ok(out)
    }

    /// Removes every environment whose key is not in `keep` and which no
    /// build holds now (with its failure log); returns (removed, bytes).
    pub fn gc_environments(&self, keep: &HashSet<String>) -> Result<(usize, u64), StoreError> {
        let (mut removed, mut bytes) = (0, 0);
        for e in self.environments()? {
            let building = e.key.parse().is_ok_and(|k| self.lock_path(&k).exists());
            if keep.contains(&e.key) || building {
                continue;
            }
            bytes += e.bytes;
            fs::remove_dir_all(&e.path).map_err(io_err(&e.path))?;
            removed += 1;
        }
        for f in read_dir_sorted(&self.root.join("envs"))? {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(key) = name.strip_suffix(".failed.log")
                && !keep.contains(key)
            {
                let _ = fs::remove_file(&f);
            }
        }
        Ok((removed, bytes))
    }
}

/// The bytes of the files under `p`, symbolic links not followed (a
/// virtual environment links its interpreter and `lib64` to `lib`).
fn size_on_disk(p: &Path) -> u64 {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| size_on_disk(&e.path()))
                    .sum()
            })
            .unwrap_or(0),
        Ok(m) if m.is_file() => m.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn record(key: &str) -> EnvironmentRecord {
        EnvironmentRecord {
            key: key.into(),
            requirements: "r.txt".into(),
            requirements_text: "a==1\n".into(),
            python: "cpython 3.11.7".into(),
            python_path: "/usr/bin/python3".into(),
            platform: "linux-x86_64".into(),
            libc: "glibc 2.36".into(),
            installer: "pip".into(),
            packages: [("a".to_string(), "1".to_string())].into(),
            built: "2026-12-07T00:00:00Z".into(),
            build_seconds: 1.0,
            host: "h".into(),
        }
    }

    #[test]
    fn environments_are_complete_once_recorded_and_gc_keeps_what_specs_use() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("store");
        let (used, unused, partial) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        for key in [&used, &unused, &partial] {
            let venv = store.environment_dir(key).join("venv/bin");
            fs::create_dir_all(&venv).expect("dir");
            fs::write(venv.join("python"), b"12345").expect("write");
        }
        assert_eq!(store.environment(&used), None, "no record: not complete");
        for key in [&used, &unused] {
            store.complete_environment(&record(key)).expect("record");
        }
        assert_eq!(store.environment(&used), Some(record(&used)));
        fs::write(store.environment_failure_log(&unused), "pip said no").expect("log");
        let listed = store.environments().expect("list");
        assert_eq!(listed.len(), 3);
        assert!(listed[2].record.is_none(), "the partial one");
        assert!(listed[0].bytes >= 5);
        // a build holding its lock is never removed
        let lock = store
            .lock(&partial.parse().expect("key"), Duration::from_secs(90))
            .expect("lock");
        let keep: HashSet<String> = [used.clone()].into();
        let (removed, bytes) = store.gc_environments(&keep).expect("gc");
        assert_eq!(removed, 1);
        assert!(bytes > 0);
        assert!(store.environment_dir(&used).exists());
        assert!(!store.environment_dir(&unused).exists());
        assert!(!store.environment_failure_log(&unused).exists());
        assert!(
            store.environment_dir(&partial).exists(),
            "a running build was removed"
        );
        drop(lock);
        let (removed, _) = store.gc_environments(&keep).expect("gc");
        assert_eq!(removed, 1);
        assert!(!store.environment_dir(&partial).exists());
    }
}
