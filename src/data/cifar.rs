//! The CIFAR-10 binary format: `data_batch_{1..5}.bin` (training) and
//! `test_batch.bin`, each a run of records of 1 label byte + 3072 pixel bytes
//! (R, G, B planes of 32x32, row-major), with class names in
//! `batches.meta.txt`. Read from the unpacked `cifar-10-batches-bin/` folder or
//! straight from `cifar-10-binary.tar.gz`.
//!
//! The known `cifar10` is verified by the archive's published md5 (or, when
//! unpacked, by the official file sizes); other copies by their sizes (the
//! [`Cifar10Binary`] format).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::format::{Format, STATE_OFFICIAL, Source, Want, check_known_file, file_name, path_of};
use super::hash::{ContentDigest, file_digest};
use super::registry::{self, CIFAR_ARCHIVE, CIFAR_DIR};
use super::{DataError, ImageSet, Located};
use crate::spec::DataFormat;

const SIDE: usize = 32;
const RECORD: usize = 1 + 3 * SIDE * SIDE;
/// Records per batch file of the official dataset.
pub const OFFICIAL_RECORDS: usize = 10_000;

/// The batch files, in order: five training batches, then the test batch.
pub const BATCHES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
pub const META: &str = "batches.meta.txt";

/// Finds CIFAR-10 binary data at `path` (a folder holding the batch files,
/// or a `.tar.gz` / `.tar` holding them): the archive itself, a folder with the
/// archive, the unpacked `cifar-10-batches-bin/`, or the batch files directly.
pub fn find(path: &Path) -> Option<Source> {
    if path.is_file() {
        return Some(Source::Archive(path.to_path_buf()));
    }
    let archive = path.join(CIFAR_ARCHIVE);
    if archive.is_file() {
        return Some(Source::Archive(archive));
    }
    let unpacked = path.join(CIFAR_DIR);
    if unpacked.join(BATCHES[0]).is_file() {
        return Some(Source::Folder(unpacked));
    }
    if path.join(BATCHES[0]).is_file() {
        return Some(Source::Folder(path.to_path_buf()));
    }
    None
}

/// Class names from the text of `batches.meta.txt` (one per non-empty line).
pub fn parse_meta(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Checks the size of the batch files of an unpacked folder without reading
/// them (and that every one is there); returns their paths.
pub fn folder_files(
    dir: &Path,
    official: bool,
    dataset: Option<&str>,
) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for b in BATCHES {
        let p = dir.join(b);
        let meta = std::fs::metadata(&p).map_err(|e| DataError::io(&p, e, dataset))?;
        check_size(meta.len() as usize, official, &p, dataset)?;
        out.push(p);
    }
    Ok(out)
}

fn check_size(
    len: usize,
    official: bool,
    path: &Path,
    dataset: Option<&str>,
) -> Result<(), DataError> {
    if official && len != OFFICIAL_RECORDS * RECORD {
        return Err(DataError::bad(
            path,
            format!(
                "{len} bytes, expected {} ({OFFICIAL_RECORDS} records of {RECORD} bytes)",
                OFFICIAL_RECORDS * RECORD
            ),
            dataset,
        ));
    }
    if len == 0 || !len.is_multiple_of(RECORD) {
        return Err(DataError::bad(
            path,
            format!("{len} bytes is not a whole number of {RECORD}-byte CIFAR records"),
            dataset,
        ));
    }
    Ok(())
}

/// Appends the records of one batch to `set`.
fn parse_batch(
    bytes: &[u8],
    set: &mut ImageSet,
    n_classes: usize,
    official: bool,
    path: &Path,
    dataset: Option<&str>,
) -> Result<(), DataError> {
    check_size(bytes.len(), official, path, dataset)?;
    set.pixels.reserve(bytes.len() / RECORD * (RECORD - 1));
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] as usize >= n_classes {
            return Err(DataError::bad(
                path,
                format!(
                    "label {} of record {i} is outside 0-{}",
                    rec[0],
                    n_classes.saturating_sub(1)
                ),
                dataset,
            ));
        }
        set.labels.push(rec[0] as u16);
        set.pixels.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

fn empty_set() -> ImageSet {
    ImageSet {
        channels: 3,
        height: SIDE,
        width: SIDE,
        ..Default::default()
    }
}

/// The raw bytes of the six batch files and the meta text, keyed by file name.
fn read_archive(path: &Path, dataset: Option<&str>) -> Result<HashMap<String, Vec<u8>>, DataError> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e, dataset))?;
    let mut head = [0u8; 2];
    let gz = {
        let mut r = &f;
        r.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b]
    };
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e, dataset))?;
    let reader: Box<dyn Read> = if gz {
        Box::new(GzDecoder::new(std::io::BufReader::new(f)))
    } else {
        Box::new(std::io::BufReader::new(f))
    };
    let broken = |e: std::io::Error| {
        DataError::bad(
            path,
            format!("cannot read the archive: truncated or corrupt ({e})"),
            dataset,
        )
    };
    let mut out = HashMap::new();
    let mut ar = tar::Archive::new(reader);
    for entry in ar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let Some(name) = name else { continue };
        if BATCHES.contains(&name.as_str()) || name == META {
            let mut buf = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut buf).map_err(broken)?;
            out.insert(name, buf);
        }
    }
    Ok(out)
}

/// Decodes the training and test sets, and the class names of
/// `batches.meta.txt` when it is there.
pub fn load(
    src: &Source,
    n_classes: usize,
    official: bool,
    dataset: Option<&str>,
) -> Result<(ImageSet, ImageSet, Option<Vec<String>>), DataError> {
    let mut files: HashMap<String, Vec<u8>> = match src {
        Source::Archive(p) => read_archive(p, dataset)?,
        Source::Folder(dir) => {
            let mut m = HashMap::new();
            for b in BATCHES.iter().chain(std::iter::once(&META)) {
                let p = dir.join(b);
                match std::fs::read(&p) {
                    Ok(bytes) => {
                        m.insert(b.to_string(), bytes);
                    }
                    Err(e) if *b == META && e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(DataError::io(&p, e, dataset)),
                }
            }
            m
        }
    };
    let mut train = empty_set();
    let mut test = empty_set();
    for (i, b) in BATCHES.iter().enumerate() {
        let where_ = match src {
            Source::Archive(p) => p.join(b),
            Source::Folder(d) => d.join(b),
        };
        let Some(bytes) = files.remove(*b) else {
            return Err(DataError::bad(
                src.path(),
                format!("`{b}` is missing"),
                dataset,
            ));
        };
        let set = if i < 5 { &mut train } else { &mut test };
        parse_batch(&bytes, set, n_classes, official, &where_, dataset)?;
    }
    let classes = files
        .remove(META)
        .map(|t| parse_meta(&String::from_utf8_lossy(&t)));
    Ok((train, test, classes))
}

/// The CIFAR-10 binary format (see the module header).
pub struct Cifar10Binary;

impl Format for Cifar10Binary {
    fn layout(&self) -> &'static str {
        "cifar-10-binary.tar.gz, or a folder with data_batch_1..5.bin and test_batch.bin"
    }

    fn probe(&self, path: &Path, w: &Want) -> Result<Option<Located>, DataError> {
        let Some(src) = find(path) else {
            return Ok(None);
        };
        let official = w.known.is_some();
        let (files, state) = match &src {
            Source::Archive(a) => {
                let kf = w
                    .known
                    .and_then(|k| k.files.iter().find(|f| f.name == file_name(a)));
                match kf {
                    Some(kf) => {
                        let (_, b3) = check_known_file(a, kf, w.ds())?;
                        (vec![(a.clone(), b3)], STATE_OFFICIAL.to_string())
                    }
                    None if official => {
                        return Err(DataError::bad(
                            a,
                            format!(
                                "expected the official `{CIFAR_ARCHIVE}` or the unpacked folder"
                            ),
                            w.ds(),
                        ));
                    }
                    None => (
                        vec![(a.clone(), file_digest(a, w.ds())?.blake3)],
                        "found (no official digest)".to_string(),
                    ),
                }
            }
            Source::Folder(d) => {
                let mut v = Vec::new();
                for p in folder_files(d, official, w.ds())? {
                    let b3 = file_digest(&p, w.ds())?.blake3;
                    v.push((p, b3));
                }
                (
                    v,
                    "checked (sizes of unpacked files; no official digest)".to_string(),
                )
            }
        };
        let cifar10 = || {
            registry::known("cifar10")
                .map(|k| k.classes.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        };
        let classes = match (w.fixed_classes(), &src) {
            (Some(c), _) => c,
            (None, Source::Folder(d)) => match std::fs::read_to_string(d.join(META)) {
                Ok(t) if !parse_meta(&t).is_empty() => parse_meta(&t),
                _ => cifar10(),
            },
            (None, Source::Archive(_)) => cifar10(),
        };
        let mut digest = ContentDigest::new(DataFormat::Cifar10Binary.as_str(), &classes);
        for (p, b3) in &files {
            digest.file(&file_name(p), b3);
        }
        Ok(Some(Located {
            format: DataFormat::Cifar10Binary,
            path: Some(src.path().to_path_buf()),
            id: w.id(digest.finish()),
            classes,
            state,
        }))
    }

    fn load(&self, l: &Located) -> Result<(ImageSet, ImageSet), DataError> {
        let src = Source::at(path_of(l)?);
        let official = registry::known(&l.id.name).is_some();
        let (train, test, _meta) = load(&src, l.classes.len(), official, Some(&l.id.name))?;
        Ok((train, test))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn reads_folder_and_archive_alike() {
        let dir = tempfile::tempdir().unwrap();
        let (tr, te) = write_cifar_folder(&dir.path().join(CIFAR_DIR), 2);
        let src = find(dir.path()).unwrap();
        assert_eq!(src, Source::Folder(dir.path().join(CIFAR_DIR)));
        let (a, b, names) = load(&src, 10, false, None).unwrap();
        assert_eq!(a, tr);
        assert_eq!(b, te);
        assert_eq!(names.unwrap()[9], "truck");
        assert_eq!(a.len(), 5 * 2);
        assert_eq!(a.channels, 3);

        let ar = tempfile::tempdir().unwrap();
        let tgz = ar.path().join(CIFAR_ARCHIVE);
        tar_gz_dir(dir.path(), &tgz, true);
        let src = find(ar.path()).unwrap();
        assert_eq!(src, Source::Archive(tgz));
        let (a2, b2, n2) = load(&src, 10, false, None).unwrap();
        assert_eq!((a2, b2), (tr, te));
        assert_eq!(n2.unwrap().len(), 10);
    }

    #[test]
    fn bad_batches_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_cifar_folder(dir.path(), 2);
        let src = find(dir.path()).unwrap();
        // official sizes are enforced when asked
        let e = load(&src, 10, true, Some("cifar10"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data_batch_1.bin") && e.contains("expected 30730000"),
            "{e}"
        );
        assert!(e.contains("runner data fetch cifar10"), "{e}");
        // a label outside 0-9
        let p = dir.path().join("test_batch.bin");
        let mut b = std::fs::read(&p).unwrap();
        b[RECORD] = 10;
        std::fs::write(&p, &b).unwrap();
        let e = load(&src, 10, false, None).unwrap_err().to_string();
        assert!(
            e.contains("test_batch.bin: label 10 of record 1 is outside 0-9"),
            "{e}"
        );
        // a partial record
        std::fs::write(&p, &b[..RECORD + 5]).unwrap();
        let e = load(&src, 10, false, None).unwrap_err().to_string();
        assert!(e.contains("not a whole number"), "{e}");
        // a missing batch
        std::fs::remove_file(dir.path().join("data_batch_3.bin")).unwrap();
        let e = load(&src, 10, false, None).unwrap_err().to_string();
        assert!(e.contains("data_batch_3.bin"), "{e}");
    }

    #[test]
    fn truncated_archive_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_cifar_folder(&dir.path().join(CIFAR_DIR), 2);
        let ar = tempfile::tempdir().unwrap();
        let tgz = ar.path().join(CIFAR_ARCHIVE);
        tar_gz_dir(dir.path(), &tgz, true);
        let bytes = std::fs::read(&tgz).unwrap();
        std::fs::write(&tgz, &bytes[..bytes.len() / 2]).unwrap();
        let e = load(&Source::Archive(tgz), 10, false, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(CIFAR_ARCHIVE) && e.contains("truncated or corrupt"),
            "{e}"
        );
    }

    #[test]
    fn probe_finds_folders_reads_the_meta_and_insists_on_official_sizes() {
        let root = tempfile::tempdir().unwrap();
        let w = Want {
            name: "mycifar",
            known: None,
            classes: None,
        };
        assert!(Cifar10Binary.probe(root.path(), &w).unwrap().is_none());
        let cdir = root.path().join("mycifar");
        write_cifar_folder(&cdir.join(CIFAR_DIR), 3);
        let l = Cifar10Binary.probe(&cdir, &w).unwrap().unwrap();
        assert_eq!(l.classes[0], "airplane");
        assert_eq!(l.path.as_deref(), Some(cdir.join(CIFAR_DIR).as_path()));
        let (tr, te) = Cifar10Binary.load(&l).unwrap();
        assert_eq!((tr.len(), te.len()), (15, 3));
        // the known cifar10 insists on official sizes
        let known = Want {
            name: "cifar10",
            known: registry::known("cifar10"),
            classes: None,
        };
        let e = Cifar10Binary.probe(&cdir, &known).unwrap_err().to_string();
        assert!(
            e.contains("data_batch_1.bin") && e.contains("expected 30730000"),
            "{e}"
        );
        // and on the official archive name
        let other = tempfile::tempdir().unwrap();
        let tgz = other.path().join("mine.tar.gz");
        tar_gz_dir(&cdir, &tgz, true);
        let e = Cifar10Binary.probe(&tgz, &known).unwrap_err().to_string();
        assert!(
            e.contains("expected the official `cifar-10-binary.tar.gz`"),
            "{e}"
        );
        // an archive of one's own reads alike, with the same images
        let la = Cifar10Binary.probe(&tgz, &w).unwrap().unwrap();
        assert_eq!(Cifar10Binary.load(&la).unwrap(), (tr, te));
    }

    proptest::proptest! {
        /// Any bytes as a batch: records appended or an error, never a panic.
        #[test]
        fn any_batch_bytes_parse_or_fail_cleanly(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..7000),
            official in proptest::bool::ANY,
        ) {
            let mut set = empty_set();
            if parse_batch(&bytes, &mut set, 10, official, Path::new("b.bin"), None).is_ok() {
                proptest::prop_assert_eq!(set.pixels.len(), set.labels.len() * 3072);
            }
        }

        /// Any text as `batches.meta.txt`: class names, never a panic.
        #[test]
        fn any_meta_text_gives_names(text in ".{0,200}") {
            let _ = parse_meta(&text);
        }
    }
}
