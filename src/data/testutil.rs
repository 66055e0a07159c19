//! Test helpers: the real datasets of this machine ([`real_data`],
//! [`real_dataset`]), for tests here and in `detector/`; and tiny generated
//! datasets in every format.
//!
//! A real dataset that is absent skips its test (it prints `skipped: ...`)
//! unless `RUNNER_REQUIRE_DATA=1` (CI sets it where the data is), which turns
//! the absence into a failure. A copy that is there but fails verification or
//! decoding always fails the test: it is never reported as skipped.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::cifar::{BATCHES, META};
use super::registry::IDX_NAMES;
use super::{DataError, DataOptions, Dataset, ImageSet, Located};
use crate::spec::DatasetSpec;

/// The variable that makes a missing real dataset a test failure (`1`).
pub const REQUIRE_DATA_ENV: &str = "RUNNER_REQUIRE_DATA";

/// Whether a missing real dataset fails the test (`RUNNER_REQUIRE_DATA=1`).
pub fn data_required() -> bool {
    std::env::var(REQUIRE_DATA_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Reports real data that is not on this machine: prints `skipped: ...` and
/// returns `None`, or panics when [`data_required`].
pub fn missing_data<T>(what: &str) -> Option<T> {
    missing(what, data_required())
}

fn missing<T>(what: &str, required: bool) -> Option<T> {
    if required {
        panic!("{REQUIRE_DATA_ENV}=1 but {what} is not on this machine");
    }
    eprintln!(
        "skipped: {what} is not on this machine (set RUNNER_DATA to the folder holding it; \
         {REQUIRE_DATA_ENV}=1 makes this a failure)"
    );
    None
}

/// Where the real datasets are looked for (offline), before `./data` and
/// `/usr/share/datasets`: the `RUNNER_DATA` folders, then `shared/data` one
/// and two levels above the crate root.
pub fn real_data_options() -> DataOptions {
    let mut search: Vec<PathBuf> = std::env::var_os("RUNNER_DATA")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for up in ["../shared/data", "../../shared/data"] {
        let p = root.join(up);
        let same = |q: &PathBuf| match (q.canonicalize(), p.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if p.is_dir() && !search.iter().any(same) {
            search.push(p);
        }
    }
    DataOptions {
        search,
        offline: true,
    }
}

/// The real dataset `name` (`mnist`, `fashion-mnist`, `cifar10-jpeg`, ...),
/// located and verified like `runner` does (official md5s), not decoded.
/// `None` (after `skipped: ...`) when it is absent; panics when it is absent
/// and `RUNNER_REQUIRE_DATA=1`, and whenever a copy is there but broken.
pub fn real_data(name: &str) -> Option<Located> {
    find_real(name, &real_data_options(), data_required())
}

fn find_real(name: &str, opts: &DataOptions, required: bool) -> Option<Located> {
    match super::locate(&DatasetSpec::named(name), opts) {
        Ok(l) => Some(l),
        Err(e @ DataError::NotFound { .. }) => {
            missing(&format!("the real dataset `{name}` ({e})"), required)
        }
        Err(e) => panic!("the real dataset `{name}` is there but unusable: {e}"),
    }
}

/// [`real_data`], decoded; a copy that fails to decode panics.
pub fn real_dataset(name: &str) -> Option<Dataset> {
    let l = real_data(name)?;
    match super::load(&l) {
        Ok(ds) => Some(ds),
        Err(e) => panic!("the real dataset `{name}` is there but does not decode: {e}"),
    }
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn idx_images(images: &[Vec<u8>], rows: usize, cols: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [2051u32, images.len() as u32, rows as u32, cols as u32] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    for im in images {
        b.extend_from_slice(im);
    }
    b
}

pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&2049u32.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// A 10-class IDX dataset of 4x3 images: `n_train` and `n_test` per class,
/// classes interleaved (0, 1, ..., 9, 0, 1, ...).
pub fn write_idx_dataset(
    dir: &Path,
    gzip: bool,
    n_train: usize,
    n_test: usize,
) -> (ImageSet, ImageSet) {
    std::fs::create_dir_all(dir).unwrap();
    let (rows, cols) = (4, 3);
    let mut sets = Vec::new();
    for (k, n) in [n_train, n_test].into_iter().enumerate() {
        let mut set = ImageSet {
            channels: 1,
            height: rows,
            width: cols,
            ..Default::default()
        };
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n * 10 {
            let im: Vec<u8> = (0..rows * cols)
                .map(|j| ((i * 7 + j * 3 + k * 100) % 256) as u8)
                .collect();
            set.pixels.extend_from_slice(&im);
            set.labels.push((i % 10) as u16);
            images.push(im);
            labels.push((i % 10) as u8);
        }
        for (f, bytes) in [
            (IDX_NAMES[2 * k], idx_images(&images, rows, cols)),
            (IDX_NAMES[2 * k + 1], idx_labels(&labels)),
        ] {
            if gzip {
                std::fs::write(dir.join(format!("{f}.gz")), gz(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(f), bytes).unwrap();
            }
        }
        sets.push(set);
    }
    let test = sets.pop().unwrap();
    (sets.pop().unwrap(), test)
}

pub const CIFAR_META_TEXT: &str =
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

/// A CIFAR-10 binary folder with `per_batch` records in each of the six batches.
pub fn write_cifar_folder(dir: &Path, per_batch: usize) -> (ImageSet, ImageSet) {
    std::fs::create_dir_all(dir).unwrap();
    let mut sets = [(); 2].map(|_| ImageSet {
        channels: 3,
        height: 32,
        width: 32,
        ..Default::default()
    });
    for (b, name) in BATCHES.iter().enumerate() {
        let mut bytes = Vec::new();
        for r in 0..per_batch {
            let label = ((b * per_batch + r) % 10) as u8;
            let px: Vec<u8> = (0..3072)
                .map(|j| ((j + r * 31 + b * 17) % 251) as u8)
                .collect();
            bytes.push(label);
            bytes.extend_from_slice(&px);
            let s = &mut sets[usize::from(b == 5)];
            s.labels.push(label as u16);
            s.pixels.extend_from_slice(&px);
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::write(dir.join(META), CIFAR_META_TEXT).unwrap();
    let [a, b] = sets;
    (a, b)
}

/// Packs the contents of `dir` (under a leading folder named like `dir`) into
/// a `.tar` or `.tar.gz`.
pub fn tar_gz_dir(dir: &Path, out: &Path, gzip: bool) {
    let f = std::fs::File::create(out).unwrap();
    let name = dir.file_name().unwrap();
    if gzip {
        let mut b = tar::Builder::new(GzEncoder::new(f, Compression::fast()));
        b.append_dir_all(name, dir).unwrap();
        b.into_inner().unwrap().finish().unwrap();
    } else {
        let mut b = tar::Builder::new(f);
        b.append_dir_all(name, dir).unwrap();
        b.finish().unwrap();
    }
}

pub fn gray_value(class: usize, i: usize) -> u8 {
    (40 + class * 50 + i * 10) as u8
}

/// A patterned PNG; returns its pixels `[c][h][w]`.
pub fn write_png(path: &Path, channels: usize, h: usize, w: usize, seed: usize) -> Vec<u8> {
    let hwc: Vec<u8> = (0..h * w * channels)
        .map(|j| ((seed * 13 + j * 5) % 256) as u8)
        .collect();
    if channels == 1 {
        image::GrayImage::from_raw(w as u32, h as u32, hwc.clone())
            .unwrap()
            .save(path)
            .unwrap();
        hwc
    } else {
        image::RgbImage::from_raw(w as u32, h as u32, hwc.clone())
            .unwrap()
            .save(path)
            .unwrap();
        let mut chw = vec![0; hwc.len()];
        for i in 0..h * w {
            for c in 0..3 {
                chw[c * h * w + i] = hwc[i * 3 + c];
            }
        }
        chw
    }
}

/// An image folder: per class `n` training PNGs and `n - 1` (at least 1) test
/// JPEGs of one gray value each; returns the PNG pixels by relative path.
pub fn write_image_folder(
    root: &Path,
    classes: &[&str],
    channels: usize,
    h: usize,
    w: usize,
    n: usize,
) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut sorted: Vec<&str> = classes.to_vec();
    sorted.sort();
    for c in classes {
        let ci = sorted.iter().position(|x| x == c).unwrap();
        let d = root.join("train").join(c);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            let px = write_png(&d.join(format!("{i}.png")), channels, h, w, ci * 100 + i);
            out.insert(format!("train/{c}/{i}.png"), px);
        }
        let d = root.join("test").join(c);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n.saturating_sub(1).max(1) {
            let v = gray_value(ci, i);
            let p = d.join(format!("{i}.jpg"));
            if channels == 1 {
                image::GrayImage::from_pixel(w as u32, h as u32, image::Luma([v]))
                    .save(&p)
                    .unwrap();
            } else {
                image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([v, v, v]))
                    .save(&p)
                    .unwrap();
            }
        }
    }
    std::fs::write(root.join("train").join(".DS_Store"), b"junk").unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(dir: &Path) -> DataOptions {
        DataOptions {
            search: vec![dir.to_path_buf()],
            offline: true,
        }
    }

    #[test]
    fn an_absent_dataset_is_skipped_unless_required() {
        let empty = tempfile::tempdir().unwrap();
        assert!(find_real("cifar10", &only(empty.path()), false).is_none());
    }

    #[test]
    #[should_panic(expected = "RUNNER_REQUIRE_DATA=1 but the real dataset `cifar10`")]
    fn an_absent_dataset_fails_when_required() {
        let empty = tempfile::tempdir().unwrap();
        find_real("cifar10", &only(empty.path()), true);
    }

    #[test]
    #[should_panic(expected = "the real dataset `mnist` is there but unusable")]
    fn a_corrupt_dataset_is_never_skipped() {
        let root = tempfile::tempdir().unwrap();
        write_idx_dataset(&root.path().join("mnist"), true, 1, 1);
        find_real("mnist", &only(root.path()), false);
    }
}
