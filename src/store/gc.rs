//! Listing, verifying and collecting the store: every complete object, the
//! digests of its files, and the removal of what no kept spec uses
//! (objects, checkpoints, program logs, interrupted writes).

use std::collections::HashSet;
use std::fs;
use std::time::{Duration, SystemTime};

use super::{
    Key, ObjectInfo, ObjectKind, Store, StoreError, dir_size, io_err, key_of, object,
    read_dir_sorted,
};

/// What `gc` removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GcSummary {
    pub removed: usize,
    pub kept: usize,
    pub bytes_freed: u64,
}

impl Store {
    /// Every complete object in the store.
    pub fn list(&self) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        for kind in ObjectKind::ALL {
            let kdir = self.root.join("objects").join(kind.as_str());
            for shard in read_dir_sorted(&kdir)? {
                for obj in read_dir_sorted(&shard)? {
                    let Some(key) = key_of(&obj) else {
                        continue;
                    };
                    let manifest = fs::read_to_string(obj.join(object::MANIFEST))
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok());
                    out.push(ObjectInfo {
                        kind,
                        key,
                        bytes: dir_size(&obj),
                        path: obj,
                        manifest,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Recomputes the digest of every file of every object; returns the corrupt ones.
    pub fn verify(&self) -> Result<Vec<StoreError>, StoreError> {
        let mut bad = Vec::new();
        for obj in self.list()? {
            if let Err(e) = object::verify_dir(&obj.path, &obj.key) {
                bad.push(e);
            }
        }
        Ok(bad)
    }

    /// Removes every object whose key is not in `keep`, and leftovers in `tmp/`.
    pub fn gc(&self, keep: &HashSet<Key>) -> Result<GcSummary, StoreError> {
        let mut s = GcSummary::default();
        for obj in self.list()? {
            if keep.contains(&obj.key) {
                s.kept += 1;
            } else {
                fs::remove_dir_all(&obj.path).map_err(io_err(&obj.path))?;
                s.removed += 1;
                s.bytes_freed += obj.bytes;
            }
        }
        // checkpoints of trainings no kept spec needs, unless one is running
        for c in self.checkpoints()? {
            if !keep.contains(&c.key) && !self.lock_path(&c.key).exists() {
                let dir = self.checkpoint_dir(&c.key);
                fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
                s.bytes_freed += c.bytes;
                s.removed += 1;
            }
        }
        // program logs of jobs no kept spec has
        for shard in read_dir_sorted(&self.root.join("logs"))? {
            for dir in read_dir_sorted(&shard)? {
                let key = key_of(&dir);
                if key.is_some_and(|k| !keep.contains(&k) && !self.lock_path(&k).exists()) {
                    s.bytes_freed += dir_size(&dir);
                    fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
                }
            }
        }
        // writes interrupted long ago
        for t in read_dir_sorted(&self.root.join("tmp"))? {
            let old = fs::metadata(&t)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if old {
                s.bytes_freed += dir_size(&t);
                let _ = fs::remove_dir_all(&t).or_else(|_| fs::remove_file(&t));
            }
        }
        Ok(s)
    }
}
