//! Writing one immutable object (temp folder, digests, manifest, fsync, atomic
//! rename) and checking one against its manifest.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Key, ObjectKind, Store, StoreError, io_err, now_rfc3339};

pub(crate) const MANIFEST: &str = "manifest.json";

/// What an object is and how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub kind: ObjectKind,
    pub key: Key,
    /// The canonical inputs the key was computed from.
    pub inputs: Value,
    pub runner_version: String,
    pub libraries: BTreeMap<String, String>,
    pub device: String,
    pub host: String,
    /// The CPU's architecture and the features that select the SIMD code
    /// paths of the CPU backend's kernels ([`super::cpu_features`]): two
    /// stores made on CPUs that differ here may differ in the last bits of
    /// their scores. Empty in manifests written before it was recorded.
    #[serde(default)]
    pub cpu_features: Vec<String>,
    /// The backend features of the runner that made it
    /// ([`super::build_features`]): whether GPU kernels were fused and
    /// autotuned. Empty in manifests written before it was recorded.
    #[serde(default)]
    pub build_features: Vec<String>,
    pub started: String,
    pub finished: String,
    /// Seconds per phase (`load`, `train`, `score`).
    pub durations: BTreeMap<String, f64>,
    /// blake3 (hex) of every file, by path relative to the object.
    pub files: BTreeMap<String, String>,
    /// The environment an external method's program ran in: what it was
    /// built from and every package's exact version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<super::EnvironmentRecord>,
}

/// An object being written under `tmp/`; removed on drop unless committed.
pub struct PendingObject {
    kind: ObjectKind,
    key: Key,
    target: PathBuf,
    tmp: Option<tempfile::TempDir>,
    environment: Option<super::EnvironmentRecord>,
}

impl PendingObject {
    pub(crate) fn new(
        store: &Store,
        kind: ObjectKind,
        key: Key,
    ) -> Result<PendingObject, StoreError> {
        let tmp_root = store.root.join("tmp");
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{}-{}-", kind.as_str(), key.short()))
            .tempdir_in(&tmp_root)
            .map_err(io_err(&tmp_root))?;
        Ok(PendingObject {
            kind,
            key,
            target: store.object_dir(kind, &key),
            tmp: Some(tmp),
            environment: None,
        })
    }

    /// Records in the manifest the environment the object was made in.
    pub fn set_environment(&mut self, environment: Option<super::EnvironmentRecord>) {
        self.environment = environment;
    }

    /// The folder to write the object's files into.
    pub fn dir(&self) -> &Path {
        self.tmp
            .as_ref()
            .map(|t| t.path())
            .unwrap_or(Path::new("/nonexistent"))
    }

    /// Digests every file, writes the manifest, fsyncs and renames the object
    /// into place. If another writer got there first, its object is kept.
    pub fn commit(
        mut self,
        inputs: Value,
        device: &str,
        started: String,
        durations: BTreeMap<String, f64>,
    ) -> Result<Manifest, StoreError> {
        let tmp = self.tmp.take().expect("commit once");
        let dir = tmp.path().to_path_buf();
        let mut files = BTreeMap::new();
        digest_tree(&dir, &dir, &mut files)?;
        let manifest = Manifest {
            kind: self.kind,
            key: self.key,
            inputs,
            runner_version: env!("CARGO_PKG_VERSION").to_string(),
            libraries: super::library_versions(),
            device: device.to_string(),
            host: super::hostname(),
            cpu_features: super::cpu_features(),
            build_features: super::build_features(),
            started,
            finished: now_rfc3339(),
            durations,
            files,
            environment: self.environment.take(),
        };
        let mpath = dir.join(MANIFEST);
        let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        fs::write(&mpath, text).map_err(io_err(&mpath))?;
        sync_tree(&dir)?;
        let parent = self.target.parent().expect("sharded path");
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        let kept = tmp.keep();
        match fs::rename(&kept, &self.target) {
            Ok(()) => {
                if let Ok(d) = fs::File::open(parent) {
                    let _ = d.sync_all();
                }
                Ok(manifest)
            }
            Err(_) if self.target.join(MANIFEST).is_file() => {
                // a concurrent writer committed the same key first: same inputs, keep theirs
                let _ = fs::remove_dir_all(&kept);
                Ok(manifest)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&kept);
                Err(io_err(&self.target)(e))
            }
        }
    }
}

fn digest_file(p: &Path) -> Result<String, StoreError> {
    let mut f = fs::File::open(p).map_err(io_err(p))?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io_err(p))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_hex().to_string())
}

fn digest_tree(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, String>,
) -> Result<(), StoreError> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            digest_tree(root, &p, out)?;
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .replace('\\', "/");
            if rel != MANIFEST {
                out.insert(rel, digest_file(&p)?);
            }
        }
    }
    Ok(())
}

fn sync_tree(dir: &Path) -> Result<(), StoreError> {
    for e in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
        let p = e.path();
        if p.is_dir() {
            sync_tree(&p)?;
        } else {
            fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&p))?;
        }
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Checks an object folder against its manifest.
pub(crate) fn verify_dir(dir: &Path, key: &Key) -> Result<(), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: dir.to_path_buf(),
        reason,
    };
    let mpath = dir.join(MANIFEST);
    let text =
        fs::read_to_string(&mpath).map_err(|e| corrupt(format!("no readable manifest ({e})")))?;
    let m: Manifest =
        serde_json::from_str(&text).map_err(|e| corrupt(format!("unreadable manifest: {e}")))?;
    if m.key != *key {
        return Err(corrupt(format!("manifest names key {}", m.key)));
    }
    let mut found = BTreeMap::new();
    digest_tree(dir, dir, &mut found)?;
    for (name, want) in &m.files {
        match found.get(name) {
            None => return Err(corrupt(format!("file {name} is missing"))),
            Some(got) if got != want => {
                return Err(corrupt(format!(
                    "file {name} has digest {got}, manifest says {want}"
                )));
            }
            _ => {}
        }
    }
    if let Some(extra) = found.keys().find(|k| !m.files.contains_key(*k)) {
        return Err(corrupt(format!("file {extra} is not in the manifest")));
    }
    Ok(())
}
