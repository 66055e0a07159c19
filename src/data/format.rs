//! The [`Format`] trait: how a dataset of one on-disk format is recognised
//! and verified (`probe`) and decoded (`load`), the table that picks the
//! implementation for a [`DataFormat`], and what the implementations share:
//! what is looked for ([`Want`]), where files are ([`Source`]), and the check
//! of a file against its published size and md5.
//!
//! Each implementation lives beside its reader (`idx`, `cifar`, `folder`,
//! `digits`). Adding a format: a `DataFormat` variant in the spec, one
//! `impl Format` beside its reader, one line in [`format`].

use std::path::{Path, PathBuf};

use super::hash::file_digest;
use super::registry::{Known, KnownFile};
use super::{DataError, Dataset, DatasetId, ImageSet, Located, cifar, digits, folder, idx};
use crate::spec::DataFormat;

/// The state of a copy whose every file matched its published md5.
pub const STATE_OFFICIAL: &str = "verified (official md5)";
/// The state of the copy built into the program.
pub const STATE_EMBEDDED: &str = "embedded";

/// One on-disk format.
pub trait Format: Sync {
    /// What a copy looks like on disk (for "not found" messages).
    fn layout(&self) -> &'static str;

    /// A copy built into the program, used for a known dataset before any
    /// search.
    fn embedded(&self, _want: &Want) -> Option<Located> {
        None
    }

    /// Looks for a copy at `path` (a folder or a file) and verifies it
    /// without decoding the images: `Ok(None)` when nothing of this format
    /// is there, an error when something is there but wrong.
    fn probe(&self, path: &Path, want: &Want) -> Result<Option<Located>, DataError>;

    /// Decodes a located copy: (train, test), checking every header, count
    /// and label.
    fn load(&self, located: &Located) -> Result<(ImageSet, ImageSet), DataError>;
}

/// The implementation of `f`: the table of formats.
pub fn format(f: DataFormat) -> &'static dyn Format {
    match f {
        DataFormat::Idx => &idx::Idx,
        DataFormat::Cifar10Binary => &cifar::Cifar10Binary,
        DataFormat::ImageFolder => &folder::ImageFolder,
        DataFormat::DigitsCsv => &digits::DigitsCsv,
    }
}

/// Decodes a located dataset with its format's reader.
pub fn load(l: &Located) -> Result<Dataset, DataError> {
    let (train, test) = format(l.format).load(l)?;
    if train.is_empty() || test.is_empty() {
        return Err(DataError::bad(
            l.path.clone().unwrap_or_default(),
            "no training or no test images",
            Some(&l.id.name),
        ));
    }
    Ok(Dataset {
        id: l.id.clone(),
        classes: l.classes.clone(),
        train,
        test,
    })
}

/// The file or folder a located dataset is read from (all but the embedded
/// digits have one).
pub fn path_of(l: &Located) -> Result<&Path, DataError> {
    l.path
        .as_deref()
        .ok_or_else(|| DataError::Other(format!("dataset `{}` has no location", l.id.name)))
}

/// What is being looked for: a dataset's name, its registry entry if it is a
/// known one, and the spec's class list.
#[derive(Clone, Copy, Debug)]
pub struct Want<'a> {
    pub name: &'a str,
    pub known: Option<&'static Known>,
    pub classes: Option<&'a [String]>,
}

impl Want<'_> {
    /// The dataset name for error hints.
    pub fn ds(&self) -> Option<&str> {
        Some(self.name)
    }

    /// The class names fixed before looking at the data: the spec's list,
    /// else the known dataset's.
    pub fn fixed_classes(&self) -> Option<Vec<String>> {
        match (self.classes, self.known) {
            (Some(c), _) => Some(c.to_vec()),
            (None, Some(k)) => Some(k.classes.iter().map(|s| s.to_string()).collect()),
            (None, None) => None,
        }
    }

    /// The fixed class names, else `fallback`.
    pub fn class_names(&self, fallback: &[&str]) -> Vec<String> {
        self.fixed_classes()
            .unwrap_or_else(|| fallback.iter().map(|s| s.to_string()).collect())
    }

    /// The identity of a copy with content digest `digest`.
    pub fn id(&self, digest: String) -> DatasetId {
        DatasetId {
            name: self.name.to_string(),
            digest,
            approximate: self.known.is_some_and(|k| k.approximate),
        }
    }
}

/// Where a dataset's files are: a folder, or an archive (`.tar`, `.tar.gz`)
/// holding them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Folder(PathBuf),
    Archive(PathBuf),
}

impl Source {
    /// An archive if `path` is a file, else a folder.
    pub fn at(path: &Path) -> Source {
        if path.is_file() {
            Source::Archive(path.to_path_buf())
        } else {
            Source::Folder(path.to_path_buf())
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Source::Folder(p) | Source::Archive(p) => p,
        }
    }
}

/// The last component of `p`, as text.
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks `path` against a known file's size and md5 (the compressed or the
/// uncompressed variant, by its name). Returns whether an official md5
/// matched, and the file's blake3.
///
/// A gzip file compressed anew (Debian's `dataset-fashion-mnist` is: same
/// images, other gzip bytes) is accepted when its content has the
/// uncompressed variant's size (and md5, when one is published); it is not
/// official then, its structure is checked by the reader, and its blake3 is
/// that of the content, as for an uncompressed copy.
pub fn check_known_file(
    path: &Path,
    kf: &KnownFile,
    dataset: Option<&str>,
) -> Result<(bool, blake3::Hash), DataError> {
    match check_known_bytes(path, kf, dataset) {
        Err(e) if file_name(path) == kf.name && kf.raw.is_some() => {
            recompressed(path, kf, dataset).ok_or(e)
        }
        other => other,
    }
}

/// The content check of a gzip file that failed the published digest (see
/// [`check_known_file`]): `None` when its content is not the known one.
fn recompressed(
    path: &Path,
    kf: &KnownFile,
    dataset: Option<&str>,
) -> Option<(bool, blake3::Hash)> {
    let (_, raw_size, raw_md5) = kf.raw?;
    let bytes = std::fs::read(path).ok()?;
    if !super::idx::is_gzip(&bytes) {
        return None;
    }
    let raw = super::idx::gunzip(&bytes, path, dataset).ok()?;
    if raw.len() as u64 != raw_size {
        return None;
    }
    if raw_md5.is_some_and(|m| super::hash::md5_hex(&raw) != m) {
        return None;
    }
    Some((false, blake3::hash(&raw)))
}

fn check_known_bytes(
    path: &Path,
    kf: &KnownFile,
    dataset: Option<&str>,
) -> Result<(bool, blake3::Hash), DataError> {
    let fname = file_name(path);
    let (size, md5) = if fname == kf.name {
        (kf.size, Some(kf.md5))
    } else if let Some((_, size, md5)) = kf.raw.filter(|r| r.0 == fname) {
        (size, md5)
    } else {
        return Err(DataError::bad(path, "not a file of this dataset", dataset));
    };
    let len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e, dataset))?
        .len();
    if len != size {
        return Err(DataError::bad(
            path,
            format!("{len} bytes, expected {size} (truncated or not the official file)"),
            dataset,
        ));
    }
    let d = file_digest(path, dataset)?;
    match md5 {
        Some(m) if d.md5 != m => Err(DataError::bad(
            path,
            format!(
                "md5 {} does not match the official {m} (damaged or not the official file)",
                d.md5
            ),
            dataset,
        )),
        Some(_) => Ok((true, d.blake3)),
        None => Ok((false, d.blake3)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_are_the_spec_spelling() {
        for f in [
            DataFormat::Idx,
            DataFormat::Cifar10Binary,
            DataFormat::ImageFolder,
            DataFormat::DigitsCsv,
        ] {
            assert_eq!(serde_json::to_value(f).unwrap(), f.as_str());
            assert!(!format(f).layout().is_empty());
        }
    }

    #[test]
    fn a_known_file_is_checked_by_size_and_md5() {
        let dir = tempfile::tempdir().unwrap();
        let kf = KnownFile {
            name: "f.gz",
            size: 3,
            md5: "900150983cd24fb0d6963f7d28e17f72", // md5("abc")
            raw: Some(("f", 4, None)),
        };
        let p = dir.path().join("f.gz");
        std::fs::write(&p, b"abc").unwrap();
        assert!(check_known_file(&p, &kf, None).unwrap().0);
        std::fs::write(&p, b"abd").unwrap();
        let e = check_known_file(&p, &kf, Some("x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not match the official"), "{e}");
        std::fs::write(&p, b"ab").unwrap();
        let e = check_known_file(&p, &kf, None).unwrap_err().to_string();
        assert!(e.contains("2 bytes, expected 3"), "{e}");
        // the uncompressed variant without a digest: size only, not official
        let raw = dir.path().join("f");
        std::fs::write(&raw, b"abcd").unwrap();
        assert!(!check_known_file(&raw, &kf, None).unwrap().0);
        let other = dir.path().join("g");
        std::fs::write(&other, b"abcd").unwrap();
        let e = check_known_file(&other, &kf, None).unwrap_err().to_string();
        assert!(e.contains("not a file of this dataset"), "{e}");
    }

    #[test]
    fn a_gzip_compressed_anew_is_accepted_by_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"the official content".to_vec();
        let official = super::super::testutil::gz(&content);
        let kf = |raw_md5| KnownFile {
            name: "f.gz",
            size: official.len() as u64 + 1000, // the published gzip is another
            md5: "00000000000000000000000000000000",
            raw: Some(("f", content.len() as u64, raw_md5)),
        };
        let p = dir.path().join("f.gz");
        std::fs::write(&p, &official).unwrap();
        let (is_official, b3) = check_known_file(&p, &kf(None), None).unwrap();
        assert!(!is_official);
        assert_eq!(b3, blake3::hash(&content), "the content's digest");
        // a published content md5 must match too
        let wrong = "4b4a5e13e9d3a63ff7cde6b6c8d5a2b8";
        // md5sum of "the official content"
        assert!(check_known_file(&p, &kf(Some("faa5918e49282004756358040de0b5d0")), None).is_ok());
        let e = check_known_file(&p, &kf(Some(wrong)), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected"),
            "a wrong content md5 keeps the size error: {e}"
        );
        // other content of another size: the published size error
        std::fs::write(&p, super::super::testutil::gz(b"something else entirely")).unwrap();
        let e = check_known_file(&p, &kf(None), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated or not the official file"), "{e}");
        // not gzip at all
        std::fs::write(&p, b"plain").unwrap();
        assert!(check_known_file(&p, &kf(None), None).is_err());
    }
}
