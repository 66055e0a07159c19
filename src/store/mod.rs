//! The content-addressed store (`cache/` by default; `--store` or `RUNNER_STORE`).
//!
//! Layout under the root:
//! ```text
//! STORE_VERSION                         format version of the whole store
//! objects/<kind>/<ab>/<key>/            one immutable object: manifest.json + its files
//! failures/<ab>/<key>.json              the error of the last failed attempt at a job
//! jobs/<ab>/<key>.json                  job descriptions for remote workers (Slurm)
//! locks/<key>.lock                      a job being run right now (host, pid, start)
//! checkpoints/<key>/                    training state of a model not yet stored, saved
//!                                       every epoch so that a killed job resumes; removed
//!                                       once the model is stored
//! logs/<ab>/<key>/                      an external method's program output for job
//!                                       `key` (stdout, stderr, job files, a bad scores
//!                                       file); kept for reading, never an input
//! envs/<key>/                           an external method's environment (a virtual
//!                                       environment built from a requirements file),
//!                                       complete once its environment.json is written
//! tmp/                                  objects being written; never read
//! ```
//! An object becomes visible only when complete: it is written under `tmp/`,
//! every file and the folder are fsynced, then it is renamed into place. Kinds:
//! `model` (a trained model, keyed by the model key) and `result` (per-image
//! scores and metrics, keyed by the result key).
//!
//! Here: the layout, objects' state, failure records and checkpoint
//! folders; [`lock`] holds the job locks and their leases, [`gc`] listing,
//! verification and garbage collection.

pub mod environment;
pub mod gc;
pub mod key;
pub mod lock;
mod object;
pub mod result;
pub mod training;

pub use environment::{EnvironmentInfo, EnvironmentRecord};
pub use gc::GcSummary;
pub use lock::{JobLock, LEASE_EXPIRY, LEASE_RENEW};

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use key::{Key, STORE_VERSION};
pub use object::{Manifest, PendingObject};
pub use result::{JobResult, ScoreTable, Scores, VariantMetrics};
pub use training::{EpochLog, TrainingLog};

/// What can go wrong with the store.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "store {path} has format version {found}, this runner uses {expected}; use another --store folder (or remove this one)"
    )]
    Version {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error(
        "corrupt object {path}: {reason}; remove it (runner cache verify lists all) and run again"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "job {key} is being run by {holder} (lock {path}); if that process is gone, remove the lock file"
    )]
    Locked {
        key: String,
        holder: String,
        path: PathBuf,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The kinds of objects in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Model,
    Result,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Model => "model",
            ObjectKind::Result => "result",
        }
    }
    pub const ALL: [ObjectKind; 2] = [ObjectKind::Model, ObjectKind::Result];
}

/// Whether an object is there and can be used.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectState {
    Absent,
    Intact,
    /// Present, but a file does not match its manifest (the reason says which).
    Corrupt(String),
}

/// The error of a failed job, kept so that `runner status` can say why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub key: Key,
    pub label: String,
    pub error: String,
    pub time: String,
    /// Where a cluster task's log is, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// One object found in the store.
#[derive(Clone, Debug)]
pub struct ObjectInfo {
    pub kind: ObjectKind,
    pub key: Key,
    pub path: PathBuf,
    pub bytes: u64,
    pub manifest: Option<Manifest>,
}

/// The folder name of a complete checkpoint, written after epoch `epoch`
/// (inside [`Store::checkpoint_dir`]; written by `nn::checkpoint`).
pub fn checkpoint_name(epoch: usize) -> String {
    format!("epoch-{epoch:06}")
}

/// The epoch of a complete checkpoint's folder name (`None`: not one).
pub fn checkpoint_epoch(name: &str) -> Option<usize> {
    name.strip_prefix("epoch-")?.parse().ok()
}

/// The checkpoint of one model's training (see [`Store::checkpoint_dir`]).
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    pub key: Key,
    /// The epoch after which the newest complete checkpoint was written.
    pub epoch: Option<usize>,
    pub bytes: u64,
    pub modified: Option<SystemTime>,
}

/// Handle to a store folder.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// Hex key split into the shard folder and the rest.
fn shard(key: &Key) -> (String, String) {
    let h = key.hex();
    (h[..2].to_string(), h)
}

/// The current time as RFC 3339 in UTC with milliseconds
/// (`2024-05-01T12:00:00.000Z`): the one timestamp format of manifests,
/// failure records, locks and Slurm task records.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in ["objects", "failures", "jobs", "locks", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let vfile = root.join("STORE_VERSION");
        match fs::read_to_string(&vfile) {
            Ok(v) if v.trim() == STORE_VERSION.to_string() => {}
            Ok(v) => {
                return Err(StoreError::Version {
                    path: root.to_path_buf(),
                    found: v.trim().to_string(),
                    expected: STORE_VERSION,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Published whole (temp file, then a rename that never
                // replaces): a runner opening the new store at the same time
                // never reads a half-written version, and the first one stays.
                let tmp = root.join("tmp");
                let mut f = tempfile::NamedTempFile::new_in(&tmp).map_err(io_err(&tmp))?;
                f.write_all(format!("{STORE_VERSION}\n").as_bytes())
                    .map_err(io_err(&vfile))?;
                if let Err(e) = f.persist_noclobber(&vfile) {
                    if e.error.kind() != std::io::ErrorKind::AlreadyExists {
                        return Err(io_err(&vfile)(e.error));
                    }
                    return Store::open(root);
                }
            }
            Err(e) => return Err(io_err(&vfile)(e)),
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where object `key` of `kind` lives (whether or not it exists).
    pub fn object_dir(&self, kind: ObjectKind, key: &Key) -> PathBuf {
        let (a, h) = shard(key);
        self.root
            .join("objects")
            .join(kind.as_str())
            .join(a)
            .join(h)
    }

    /// Where the training checkpoints of model `key` go (see `nn::checkpoint`).
    pub fn checkpoint_dir(&self, key: &Key) -> PathBuf {
        self.root.join("checkpoints").join(key.hex())
    }

    /// Where the program output of job `key` is kept (external methods).
    pub fn logs_dir(&self, key: &Key) -> PathBuf {
        let (a, h) = shard(key);
        self.root.join("logs").join(a).join(h)
    }

    /// Removes the checkpoints of model `key` (once the model is stored).
    pub fn remove_checkpoints(&self, key: &Key) -> Result<(), StoreError> {
        let dir = self.checkpoint_dir(key);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// The training checkpoints in the store, one per model being trained
    /// (or whose training was cut), oldest key order.
    pub fn checkpoints(&self) -> Result<Vec<CheckpointInfo>, StoreError> {
        let mut out = Vec::new();
        for dir in read_dir_sorted(&self.root.join("checkpoints"))? {
            let Some(key) = key_of(&dir) else {
                continue;
            };
            let epoch = read_dir_sorted(&dir)?
                .iter()
                .filter_map(|p| checkpoint_epoch(p.file_name()?.to_str()?))
                .max();
            let modified = fs::metadata(&dir).and_then(|m| m.modified()).ok();
            out.push(CheckpointInfo {
                key,
                epoch,
                bytes: dir_size(&dir),
                modified,
            });
        }
        Ok(out)
    }

    /// Whether a complete object exists.
    pub fn contains(&self, kind: ObjectKind, key: &Key) -> bool {
        self.object_dir(kind, key).join(object::MANIFEST).is_file()
    }

    /// Whether object `key` of `kind` is present and intact: every file
    /// matches the digest in its manifest. A corrupt object is reported as
    /// such (with what is wrong), never used.
    pub fn state(&self, kind: ObjectKind, key: &Key) -> ObjectState {
        if !self.contains(kind, key) {
            return ObjectState::Absent;
        }
        match object::verify_dir(&self.object_dir(kind, key), key) {
            Ok(()) => ObjectState::Intact,
            Err(e) => ObjectState::Corrupt(e.to_string()),
        }
    }

    /// Moves object `key` of `kind` out of the way (into `tmp/`, which `gc`
    /// empties after an hour) so that the job that makes it runs again;
    /// returns where it went. For corrupt objects.
    pub fn evict(&self, kind: ObjectKind, key: &Key) -> Result<PathBuf, StoreError> {
        let from = self.object_dir(kind, key);
        let to = self.root.join("tmp").join(format!(
            "corrupt-{}-{}-{}",
            kind.as_str(),
            key.short(),
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")
        ));
        fs::rename(&from, &to).map_err(io_err(&from))?;
        Ok(to)
    }

    /// Starts writing object `key`; nothing is visible until `commit`.
    pub fn begin(&self, kind: ObjectKind, key: &Key) -> Result<PendingObject, StoreError> {
        PendingObject::new(self, kind, *key)
    }

    /// The manifest of an existing object.
    pub fn manifest(&self, kind: ObjectKind, key: &Key) -> Result<Manifest, StoreError> {
        let p = self.object_dir(kind, key).join(object::MANIFEST);
        let text = fs::read_to_string(&p).map_err(io_err(&p))?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: p.clone(),
            reason: format!("unreadable manifest: {e}"),
        })
    }

    fn failure_path(&self, key: &Key) -> PathBuf {
        let (a, h) = shard(key);
        self.root.join("failures").join(a).join(format!("{h}.json"))
    }

    /// Records the failure of job `key` (replacing an older one).
    pub fn record_failure(
        &self,
        key: &Key,
        label: &str,
        error: &str,
        log: Option<String>,
    ) -> Result<(), StoreError> {
        let rec = FailureRecord {
            key: *key,
            label: label.to_string(),
            error: error.to_string(),
            time: now_rfc3339(),
            log,
        };
        let p = self.failure_path(key);
        let text = serde_json::to_vec_pretty(&rec).unwrap_or_default();
        self.write_atomic(&p, &text)
    }

    /// The last failure of job `key`, if it failed and has not succeeded since.
    pub fn failure(&self, key: &Key) -> Option<FailureRecord> {
        let text = fs::read_to_string(self.failure_path(key)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn clear_failure(&self, key: &Key) {
        let _ = fs::remove_file(self.failure_path(key));
    }

    /// Where the description of job `key` is kept for remote workers.
    pub fn job_path(&self, key: &Key) -> PathBuf {
        let (a, h) = shard(key);
        self.root.join("jobs").join(a).join(format!("{h}.json"))
    }

    /// Writes `bytes` to `path` atomically (temp file, fsync, rename).
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut tmp =
            tempfile::NamedTempFile::new_in(self.root.join("tmp")).map_err(io_err(path))?;
        tmp.write_all(bytes).map_err(io_err(path))?;
        tmp.as_file().sync_all().map_err(io_err(path))?;
        tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
        Ok(())
    }
}

/// The key a store folder is named by (an object, checkpoint or log
/// folder), or None for anything else found there.
fn key_of(dir: &Path) -> Option<Key> {
    dir.file_name()?.to_str()?.parse().ok()
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn dir_size(p: &Path) -> u64 {
    match fs::metadata(p) {
        Ok(m) if m.is_dir() => fs::read_dir(p)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// This machine's name, for locks and manifests.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

/// This CPU's architecture, then the features (detected at run time) by
/// which the CPU backend's kernels (gemm, macerator, pulp) choose their SIMD
/// code paths: `x86_64 sse4.2 avx avx2 fma avx512f ...`, `aarch64 neon ...`.
/// The same build gives bit-identical scores on CPUs with the same list; a
/// wider path (AVX-512 against AVX2) can round sums differently.
pub fn cpu_features() -> Vec<String> {
    let mut out = vec![std::env::consts::ARCH.to_string()];
    #[cfg(target_arch = "x86_64")]
    {
        let found = [
            ("sse4.1", std::arch::is_x86_feature_detected!("sse4.1")),
            ("sse4.2", std::arch::is_x86_feature_detected!("sse4.2")),
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("f16c", std::arch::is_x86_feature_detected!("f16c")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
            ("avx512cd", std::arch::is_x86_feature_detected!("avx512cd")),
            ("avx512dq", std::arch::is_x86_feature_detected!("avx512dq")),
            ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
        ];
        out.extend(found.iter().filter(|f| f.1).map(|f| f.0.to_string()));
    }
    #[cfg(target_arch = "aarch64")]
    {
        let found = [
            ("neon", std::arch::is_aarch64_feature_detected!("neon")),
            ("fp16", std::arch::is_aarch64_feature_detected!("fp16")),
            ("sve", std::arch::is_aarch64_feature_detected!("sve")),
        ];
        out.extend(found.iter().filter(|f| f.1).map(|f| f.0.to_string()));
    }
    out
}

/// The Cargo features of this build that choose backends and their kernels
/// (`flex`, `vulkan`, `cuda`, `fusion`, `autotune`), for manifests: on a
/// GPU, kernel fusion and autotuning change which kernels compute a result.
pub fn build_features() -> Vec<String> {
    [
        ("flex", cfg!(feature = "flex")),
        ("vulkan", cfg!(feature = "vulkan")),
        ("cuda", cfg!(feature = "cuda")),
        ("fusion", cfg!(feature = "fusion")),
        ("autotune", cfg!(feature = "autotune")),
    ]
    .iter()
    .filter(|f| f.1)
    .map(|f| f.0.to_string())
    .collect()
}

/// Versions of the runner and of the libraries that shape results (as
/// resolved in Cargo.lock when this binary was built), for manifests.
pub fn library_versions() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("runner".into(), env!("CARGO_PKG_VERSION").into());
    for pair in env!("RUNNER_LIB_VERSIONS").split(',') {
        if let Some((name, version)) = pair.split_once('=') {
            m.insert(name.into(), version.into());
        }
    }
    m
}

#[cfg(test)]
mod tests;
