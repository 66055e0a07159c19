//! The IDX format (MNIST, Fashion-MNIST), plain or gzip-compressed: a
//! big-endian header (magic 2051 for images with count, rows, cols; magic 2049
//! for labels with count) followed by one byte per pixel or label.
//!
//! A copy is a folder with the four files (each plain or `.gz`); a known
//! dataset's files are checked against their published sizes and md5s, others
//! by their headers (the [`Idx`] format).

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::format::{Format, STATE_OFFICIAL, Want, check_known_file, file_name, path_of};
use super::hash::{ContentDigest, file_digest};
use super::registry::{DIGIT_NAMES, IDX_NAMES};
use super::{DataError, ImageSet, Located};
use crate::spec::DataFormat;

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;

/// Whether `bytes` start like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// Decompresses a whole gzip stream; a truncated or damaged stream is an
/// error naming `path`.
pub fn gunzip(bytes: &[u8], path: &Path, dataset: Option<&str>) -> Result<Vec<u8>, DataError> {
    // the last 4 bytes hold the uncompressed size (mod 2^32): a capacity hint
    let hint = bytes
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize)
        .unwrap_or(0)
        .min(1 << 30);
    let mut out = Vec::with_capacity(hint);
    GzDecoder::new(bytes).read_to_end(&mut out).map_err(|e| {
        DataError::bad(
            path,
            format!("truncated or corrupt gzip data ({e})"),
            dataset,
        )
    })?;
    Ok(out)
}

/// Reads a file, decompressing it if it is gzip.
pub fn read_maybe_gz(path: &Path, dataset: Option<&str>) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e, dataset))?;
    if is_gzip(&bytes) {
        gunzip(&bytes, path, dataset)
    } else {
        Ok(bytes)
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses an IDX image file: (count, rows, cols, pixels).
pub fn parse_images(
    bytes: &[u8],
    path: &Path,
    dataset: Option<&str>,
) -> Result<(usize, usize, usize, Vec<u8>), DataError> {
    if bytes.len() < 16 {
        return Err(DataError::bad(
            path,
            format!(
                "IDX image file too short ({} bytes, header needs 16)",
                bytes.len()
            ),
            dataset,
        ));
    }
    let magic = be32(bytes, 0);
    if magic != IMAGES_MAGIC {
        return Err(DataError::bad(
            path,
            format!("not an IDX image file: magic number {magic}, expected {IMAGES_MAGIC}"),
            dataset,
        ));
    }
    let (n, rows, cols) = (
        be32(bytes, 4) as usize,
        be32(bytes, 8) as usize,
        be32(bytes, 12) as usize,
    );
    if rows == 0 || cols == 0 {
        return Err(DataError::bad(
            path,
            format!("IDX header gives an empty image size {rows}x{cols}"),
            dataset,
        ));
    }
    let want = n
        .checked_mul(rows * cols)
        .and_then(|x| x.checked_add(16))
        .unwrap_or(usize::MAX);
    if bytes.len() != want {
        return Err(DataError::bad(
            path,
            format!(
                "IDX header says {n} images of {rows}x{cols} ({want} bytes) but the data has {} bytes",
                bytes.len()
            ),
            dataset,
        ));
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Parses an IDX label file; every label must be below `n_classes`.
pub fn parse_labels(
    bytes: &[u8],
    n_classes: usize,
    path: &Path,
    dataset: Option<&str>,
) -> Result<Vec<u16>, DataError> {
    if bytes.len() < 8 {
        return Err(DataError::bad(
            path,
            format!(
                "IDX label file too short ({} bytes, header needs 8)",
                bytes.len()
            ),
            dataset,
        ));
    }
    let magic = be32(bytes, 0);
    if magic != LABELS_MAGIC {
        return Err(DataError::bad(
            path,
            format!("not an IDX label file: magic number {magic}, expected {LABELS_MAGIC}"),
            dataset,
        ));
    }
    let n = be32(bytes, 4) as usize;
    if bytes.len() != n + 8 {
        return Err(DataError::bad(
            path,
            format!(
                "IDX header says {n} labels ({} bytes) but the data has {} bytes",
                n + 8,
                bytes.len()
            ),
            dataset,
        ));
    }
    let labels = &bytes[8..];
    if let Some(i) = labels.iter().position(|&l| l as usize >= n_classes) {
        return Err(DataError::bad(
            path,
            format!(
                "label {} at index {i} is outside 0-{}",
                labels[i],
                n_classes.saturating_sub(1)
            ),
            dataset,
        ));
    }
    Ok(labels.iter().map(|&l| l as u16).collect())
}

/// The four IDX files in `dir` (each `.gz` or plain), if all are there.
pub fn find_files(dir: &Path) -> Option<[PathBuf; 4]> {
    let mut out: [PathBuf; 4] = Default::default();
    for (i, name) in IDX_NAMES.iter().enumerate() {
        let gz = dir.join(format!("{name}.gz"));
        let raw = dir.join(name);
        out[i] = if gz.is_file() {
            gz
        } else if raw.is_file() {
            raw
        } else {
            return None;
        };
    }
    Some(out)
}

/// Whether any of the four IDX files is in `dir`.
pub fn any_file(dir: &Path) -> bool {
    IDX_NAMES
        .iter()
        .any(|n| dir.join(n).is_file() || dir.join(format!("{n}.gz")).is_file())
}

/// Checks the header of an IDX file without reading it all (gzip or not):
/// the magic number, and for plain files the size the header implies.
/// Returns (count, rows, cols) (rows = cols = 0 for labels).
pub fn check_header(
    path: &Path,
    images: bool,
    dataset: Option<&str>,
) -> Result<(usize, usize, usize), DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e, dataset))?;
    let mut head = [0u8; 2];
    let got = f
        .read(&mut head)
        .map_err(|e| DataError::io(path, e, dataset))?;
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e, dataset))?;
    let gz = got == 2 && is_gzip(&head);
    let mut r: Box<dyn Read> = if gz {
        Box::new(GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let need = if images { 16 } else { 8 };
    let mut h = [0u8; 16];
    r.read_exact(&mut h[..need]).map_err(|e| {
        DataError::bad(
            path,
            format!("cannot read the {need}-byte IDX header ({e})"),
            dataset,
        )
    })?;
    let (magic, want) = if images {
        (IMAGES_MAGIC, "image")
    } else {
        (LABELS_MAGIC, "label")
    };
    let m = be32(&h, 0);
    if m != magic {
        return Err(DataError::bad(
            path,
            format!("not an IDX {want} file: magic number {m}, expected {magic}"),
            dataset,
        ));
    }
    let n = be32(&h, 4) as usize;
    let (rows, cols) = if images {
        (be32(&h, 8) as usize, be32(&h, 12) as usize)
    } else {
        (0, 0)
    };
    if !gz {
        let len = std::fs::metadata(path)
            .map_err(|e| DataError::io(path, e, dataset))?
            .len() as usize;
        let expect = need + n * if images { rows * cols } else { 1 };
        if len != expect {
            return Err(DataError::bad(
                path,
                format!("IDX header implies {expect} bytes but the file has {len}"),
                dataset,
            ));
        }
    }
    Ok((n, rows, cols))
}

/// Reads and checks one images + labels pair.
fn load_pair(
    images: &Path,
    labels: &Path,
    n_classes: usize,
    dataset: Option<&str>,
) -> Result<ImageSet, DataError> {
    let (ib, lb) = rayon::join(
        || read_maybe_gz(images, dataset),
        || read_maybe_gz(labels, dataset),
    );
    let (n, rows, cols, pixels) = parse_images(&ib?, images, dataset)?;
    let labels_v = parse_labels(&lb?, n_classes, labels, dataset)?;
    if labels_v.len() != n {
        return Err(DataError::bad(
            labels,
            format!(
                "{} labels but {} has {n} images",
                labels_v.len(),
                images.display()
            ),
            dataset,
        ));
    }
    Ok(ImageSet {
        channels: 1,
        height: rows,
        width: cols,
        pixels,
        labels: labels_v,
    })
}

/// Decodes the train and test sets of an IDX dataset from its four files.
pub fn load(
    files: &[PathBuf; 4],
    n_classes: usize,
    dataset: Option<&str>,
) -> Result<(ImageSet, ImageSet), DataError> {
    let (train, test) = rayon::join(
        || load_pair(&files[0], &files[1], n_classes, dataset),
        || load_pair(&files[2], &files[3], n_classes, dataset),
    );
    let (train, test) = (train?, test?);
    if (train.height, train.width) != (test.height, test.width) {
        return Err(DataError::bad(
            &files[2],
            format!(
                "test images are {}x{} but training images are {}x{}",
                test.height, test.width, train.height, train.width
            ),
            dataset,
        ));
    }
    Ok((train, test))
}

/// The IDX format (see the module header).
pub struct Idx;

impl Format for Idx {
    fn layout(&self) -> &'static str {
        "a folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may be .gz)"
    }

    fn probe(&self, dir: &Path, w: &Want) -> Result<Option<Located>, DataError> {
        if !dir.is_dir() || !any_file(dir) {
            return Ok(None);
        }
        let Some(files) = find_files(dir) else {
            let missing: Vec<&str> = IDX_NAMES
                .iter()
                .copied()
                .filter(|n| !dir.join(n).is_file() && !dir.join(format!("{n}.gz")).is_file())
                .collect();
            return Err(DataError::bad(
                dir,
                format!(
                    "incomplete IDX dataset: missing {} (or .gz)",
                    missing.join(", ")
                ),
                w.ds(),
            ));
        };
        let classes = w.class_names(DIGIT_NAMES);
        let mut digest = ContentDigest::new(DataFormat::Idx.as_str(), &classes);
        let mut all_official = true;
        let mut counts = [0usize; 4];
        for (i, p) in files.iter().enumerate() {
            let official = match w.known {
                Some(k) => {
                    let (ok, b3) = check_known_file(p, &k.files[i], w.ds())?;
                    digest.file(&file_name(p), &b3);
                    ok
                }
                None => {
                    digest.file(&file_name(p), &file_digest(p, w.ds())?.blake3);
                    false
                }
            };
            if !official {
                all_official = false;
                counts[i] = check_header(p, i % 2 == 0, w.ds())?.0;
            }
        }
        if !all_official {
            for (i, j) in [(0, 1), (2, 3)] {
                if counts[i] != counts[j] && counts[i] > 0 && counts[j] > 0 {
                    return Err(DataError::bad(
                        &files[j],
                        format!(
                            "{} labels but {} has {} images",
                            counts[j],
                            files[i].display(),
                            counts[i]
                        ),
                        w.ds(),
                    ));
                }
            }
        }
        Ok(Some(Located {
            format: DataFormat::Idx,
            path: Some(dir.to_path_buf()),
            id: w.id(digest.finish()),
            classes,
            state: if all_official {
                STATE_OFFICIAL.into()
            } else {
                "checked (IDX headers; no official digest)".into()
            },
        }))
    }

    fn load(&self, l: &Located) -> Result<(ImageSet, ImageSet), DataError> {
        let ds = Some(l.id.name.as_str());
        let dir = path_of(l)?;
        let files = find_files(dir)
            .ok_or_else(|| DataError::bad(dir, "the IDX files are no longer all there", ds))?;
        load(&files, l.classes.len(), ds)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::spec::{DatasetSpec, Limits, Protocol};

    fn want(name: &str) -> Want<'_> {
        Want {
            name,
            known: super::super::registry::known(name),
            classes: None,
        }
    }

    #[test]
    fn reads_plain_and_gzip_idx() {
        let dir = tempfile::tempdir().unwrap();
        let (tr, te) = write_idx_dataset(dir.path(), true, 3, 2);
        let files = find_files(dir.path()).unwrap();
        assert!(files[0].to_string_lossy().ends_with(".gz"));
        let (a, b) = load(&files, 10, None).unwrap();
        assert_eq!(a, tr);
        assert_eq!(b, te);

        let dir2 = tempfile::tempdir().unwrap();
        write_idx_dataset(dir2.path(), false, 3, 2);
        let files2 = find_files(dir2.path()).unwrap();
        assert!(!files2[0].to_string_lossy().ends_with(".gz"));
        let (a2, b2) = load(&files2, 10, None).unwrap();
        assert_eq!(a2, tr);
        assert_eq!(b2, te);
    }

    #[test]
    fn bad_headers_counts_and_labels_are_named_errors() {
        let p = Path::new("x-idx3-ubyte");
        let good = idx_images(&[[1u8; 4].to_vec(), [2u8; 4].to_vec()], 2, 2);
        assert!(parse_images(&good, p, None).is_ok());

        let mut bad_magic = good.clone();
        bad_magic[3] = 1;
        let e = parse_images(&bad_magic, p, None).unwrap_err().to_string();
        assert!(
            e.contains("x-idx3-ubyte") && e.contains("magic number 2049"),
            "{e}"
        );

        let short = &good[..good.len() - 1];
        let e = parse_images(short, p, Some("mnist"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("says 2 images of 2x2") && e.contains("runner data fetch mnist"),
            "{e}"
        );

        let e = parse_images(&good[..10], p, None).unwrap_err().to_string();
        assert!(e.contains("too short"), "{e}");

        let labels = idx_labels(&[1, 12, 3]);
        let e = parse_labels(&labels, 10, Path::new("l"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label 12 at index 1 is outside 0-9"), "{e}");
        let e = parse_labels(&labels[..9], 10, Path::new("l"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("says 3 labels"), "{e}");
    }

    #[test]
    fn truncated_gzip_and_count_mismatch_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_idx_dataset(dir.path(), true, 3, 2);
        let files = find_files(dir.path()).unwrap();
        let bytes = std::fs::read(&files[0]).unwrap();
        std::fs::write(&files[0], &bytes[..bytes.len() - 10]).unwrap();
        let e = load(&files, 10, Some("mnist")).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
        assert!(e.contains("truncated or corrupt gzip"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        write_idx_dataset(dir.path(), false, 3, 2);
        let files = find_files(dir.path()).unwrap();
        std::fs::write(&files[1], idx_labels(&[1, 2])).unwrap();
        let e = load(&files, 10, None).unwrap_err().to_string();
        assert!(
            e.contains("2 labels but") && e.contains("has 30 images"),
            "{e}"
        );
    }

    #[test]
    fn probe_checks_headers_and_names_missing_files() {
        let root = tempfile::tempdir().unwrap();
        assert!(Idx.probe(root.path(), &want("own")).unwrap().is_none());
        let d = root.path().join("own");
        write_idx_dataset(&d, false, 1, 1);
        let l = Idx.probe(&d, &want("own")).unwrap().unwrap();
        assert!(l.state.starts_with("checked"), "{}", l.state);
        assert_eq!(l.classes[9], "9");
        let (tr, te) = Idx.load(&l).unwrap();
        assert_eq!((tr.len(), te.len()), (10, 10));
        // a bad header is caught without decoding, for data without digests
        std::fs::write(
            d.join("t10k-labels-idx1-ubyte"),
            idx_images(&[vec![1]], 1, 1),
        )
        .unwrap();
        let e = Idx.probe(&d, &want("own")).unwrap_err().to_string();
        assert!(
            e.contains("t10k-labels-idx1-ubyte: not an IDX label file"),
            "{e}"
        );
        // counts that disagree
        std::fs::write(d.join("t10k-labels-idx1-ubyte"), idx_labels(&[1; 3])).unwrap();
        let e = Idx.probe(&d, &want("own")).unwrap_err().to_string();
        assert!(
            e.contains("3 labels but") && e.contains("has 10 images"),
            "{e}"
        );
        // an incomplete set names what is missing
        std::fs::remove_file(d.join("t10k-labels-idx1-ubyte")).unwrap();
        let e = Idx.probe(&d, &want("own")).unwrap_err().to_string();
        assert!(e.contains("missing t10k-labels-idx1-ubyte"), "{e}");
        // files gone after locating: a named error
        std::fs::remove_file(d.join("t10k-images-idx3-ubyte")).unwrap();
        let e = Idx.load(&l).unwrap_err().to_string();
        assert!(e.contains("no longer all there"), "{e}");
    }

    #[test]
    fn a_copy_of_mnist_that_is_not_official_is_named_with_the_fix() {
        let root = tempfile::tempdir().unwrap();
        write_idx_dataset(root.path(), true, 1, 1);
        let e = Idx
            .probe(root.path(), &want("mnist"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
        assert!(e.contains("expected 9912422"), "{e}");
        assert!(e.contains("runner data fetch mnist"), "{e}");
    }

    /// Debian's `dataset-fashion-mnist` gzips the official files anew: the
    /// copy is accepted by its content (CI installs the package).
    #[test]
    fn real_fashion_mnist_loads_from_the_system_package() {
        let Some(l) = real_data("fashion-mnist") else {
            return;
        };
        let ds = super::super::load(&l).unwrap();
        assert_eq!(ds.train.class_counts(10), vec![6000; 10]);
        assert_eq!(ds.test.class_counts(10), vec![1000; 10]);
        assert_eq!(&ds.train.labels[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
        assert_eq!(&ds.test.labels[..10], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
        assert_eq!(
            (ds.train.height, ds.train.width, ds.train.channels),
            (28, 28, 1)
        );
    }

    #[test]
    fn real_mnist_verifies_and_gives_table_1_counts() {
        let t0 = std::time::Instant::now();
        let Some(l) = real_data("mnist") else { return };
        let t_locate = t0.elapsed();
        assert_eq!(l.state, STATE_OFFICIAL);
        let t1 = std::time::Instant::now();
        let ds = super::super::load(&l).unwrap();
        eprintln!(
            "mnist: locate {:.3} s, load {:.3} s",
            t_locate.as_secs_f64(),
            t1.elapsed().as_secs_f64()
        );
        assert_eq!(
            ds.train.class_counts(10),
            vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        );
        assert_eq!(
            ds.test.class_counts(10),
            vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        assert_eq!(&ds.train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        assert_eq!(&ds.test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
        assert_eq!(
            (ds.train.height, ds.train.width, ds.train.channels),
            (28, 28, 1)
        );
        let mean = ds.train.pixels.iter().map(|&p| p as u64).sum::<u64>() as f64
            / ds.train.pixels.len() as f64;
        assert!((mean - 33.318).abs() < 0.001, "{mean}");
        let s = super::super::split(&ds, Protocol::AnomalyClass, 0, 0, Limits::default()).unwrap();
        assert_eq!(s.train.len(), 54077);
        let anomalies = s.test_is_anomaly.iter().filter(|&&a| a == 1).count();
        assert_eq!(anomalies, 980);
        assert_eq!(s.test.len() - anomalies, 9020);
        // the same copy is found again with the same identity
        let again = super::super::locate(&DatasetSpec::named("mnist"), &real_data_options());
        assert_eq!(again.unwrap().id, l.id);
    }

    proptest::proptest! {
        /// Any bytes: an image set or an error, never a panic or a huge allocation.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let p = Path::new("x-idx3-ubyte");
            if let Ok((n, r, c, px)) = parse_images(&bytes, p, None) {
                proptest::prop_assert_eq!(px.len(), n * r * c);
            }
            let _ = parse_labels(&bytes, 10, p, None);
        }

        /// A valid header with any counts and sizes, then any body.
        #[test]
        fn any_header_parses_or_fails_cleanly(
            dims in proptest::array::uniform3(proptest::num::u32::ANY),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
        ) {
            let mut bytes = vec![0, 0, 8, 3];
            for d in dims {
                bytes.extend(d.to_be_bytes());
            }
            bytes.extend(body);
            let _ = parse_images(&bytes, Path::new("x"), None);
            let mut labels = vec![0, 0, 8, 1];
            labels.extend(dims[0].to_be_bytes());
            labels.extend(&bytes[16..]);
            let _ = parse_labels(&labels, 10, Path::new("y"), None);
        }
    }
}
