//! The IDX format (MNIST, Fashion-MNIST), plain or gzip-compressed: a
//! big-endian header (magic 2051 for images with count, rows, cols; magic 2049
//! for labels with count) followed by one byte per pixel or label.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::registry::IDX_NAMES;
use super::{DataError, ImageSet};

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

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

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
}
