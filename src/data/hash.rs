//! Digests of data files: md5 (to compare with published digests) and blake3
//! (the content identity), computed in one read and remembered for the life
//! of the process per (path, size, mtime).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use md5::{Digest, Md5};

use super::DataError;

/// The size and digests of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDigest {
    pub size: u64,
    pub md5: String,
    pub blake3: blake3::Hash,
}

type Memo = Mutex<HashMap<(PathBuf, u64, Option<SystemTime>), FileDigest>>;

fn memo() -> &'static Memo {
    static MEMO: OnceLock<Memo> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The md5 and blake3 of the file at `path`.
pub fn file_digest(path: &Path, dataset: Option<&str>) -> Result<FileDigest, DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e, dataset))?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(d) = memo().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(d.clone());
    }
    let mut f = File::open(path).map_err(|e| DataError::io(path, e, dataset))?;
    let mut md5 = Md5::new();
    let mut b3 = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| DataError::io(path, e, dataset))?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        b3.update(&buf[..n]);
        size += n as u64;
    }
    let d = FileDigest {
        size,
        md5: hex::encode(md5.finalize()),
        blake3: b3.finalize(),
    };
    memo()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, d.clone());
    Ok(d)
}

/// Forgets the remembered digest of `path` (after it was replaced).
pub fn forget(path: &Path) {
    memo()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|k, _| k.0 != path);
}

/// md5 (hex) of bytes in memory.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Builds a dataset's content digest from its format, class names and files
/// (each by name and content digest), in a fixed order.
pub struct ContentDigest(blake3::Hasher);

impl ContentDigest {
    pub fn new(format: &str, classes: &[String]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"runner-dataset-v1\0");
        h.update(format.as_bytes());
        h.update(b"\0");
        for c in classes {
            h.update(c.as_bytes());
            h.update(b"\0");
        }
        ContentDigest(h)
    }

    pub fn file(&mut self, name: &str, content: &blake3::Hash) {
        self.0.update(b"file\0");
        self.0.update(name.as_bytes());
        self.0.update(b"\0");
        self.0.update(content.as_bytes());
    }

    pub fn finish(self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_values_and_memo_sees_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let d = file_digest(&p, None).unwrap();
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d.size, 3);
        assert_eq!(d.blake3, blake3::hash(b"abc"));
        std::fs::write(&p, b"abcd").unwrap();
        let d2 = file_digest(&p, None).unwrap();
        assert_eq!(d2.size, 4);
        assert_ne!(d2.md5, d.md5);
        assert_eq!(md5_hex(b"abc"), d.md5);
    }

    #[test]
    fn content_digest_depends_on_names_classes_and_content() {
        let a = blake3::hash(b"a");
        let b = blake3::hash(b"b");
        let mk = |cls: &[&str], name: &str, h: &blake3::Hash| {
            let cls: Vec<String> = cls.iter().map(|s| s.to_string()).collect();
            let mut d = ContentDigest::new("idx", &cls);
            d.file(name, h);
            d.finish()
        };
        let base = mk(&["x", "y"], "f", &a);
        assert_ne!(base, mk(&["y", "x"], "f", &a));
        assert_ne!(base, mk(&["x", "y"], "g", &a));
        assert_ne!(base, mk(&["x", "y"], "f", &b));
        assert_eq!(base, mk(&["x", "y"], "f", &a));
    }
}
