//! Datasets: where they are (resolve, verify, download), how they are read
//! (IDX, CIFAR-10 binary, image folders, the embedded digits), and how a
//! protocol splits them into training normals and a labelled test set.
//!
//! Every image is kept as bytes (0..=255), channel-major (`[c][h][w]`); each
//! detector converts to its own input (size, scaling) itself.
//!
//! Files: `registry` (known datasets, official files and digests, URLs),
//! `locate` (resolution order), `format` (the `Format` trait: probe = find
//! and verify a copy, load = decode it; the table of formats), `idx`,
//! `cifar`, `folder`, `digits` (each reader with its `Format`), `hash`
//! (md5 + blake3 of files, content digest), `download` (mirrors, temporary
//! file, verify, rename), `status` (`data ls` / `data verify`), `split`
//! (protocols, limits, validation), `testutil` (tests only: real and
//! generated datasets).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod cifar;
mod digits;
mod download;
mod folder;
mod format;
mod hash;
mod idx;
mod locate;
mod registry;
mod split;
mod status;
#[cfg(test)]
pub mod testutil;

pub use digits::DIGITS_TEST_EVERY;
pub use download::download_file;
pub use registry::{KNOWN, Known, KnownFile, known};
pub use split::validation_split;
pub use status::{DatasetStatus, status_all, verify};

/// What can go wrong with data; every message names the file and what to do.
#[derive(Debug, Error)]
pub enum DataError {
    #[error(
        "unknown dataset `{name}`; known datasets: {known} (for your own data give `format` and `path`)"
    )]
    UnknownDataset { name: String, known: String },
    #[error("dataset `{name}` not found; looked in:\n{searched}\n  help: {help}")]
    NotFound {
        name: String,
        searched: String,
        help: String,
    },
    #[error("{}: {source}{}", path.display(), hint(dataset.as_deref()))]
    Io {
        path: PathBuf,
        dataset: Option<String>,
        #[source]
        source: std::io::Error,
    },
    /// A file or folder is there but its content is wrong (size, digest,
    /// header, labels, layout).
    #[error("{}: {what}{}", path.display(), hint(dataset.as_deref()))]
    Bad {
        path: PathBuf,
        what: String,
        dataset: Option<String>,
    },
    #[error("could not download `{file}`; tried:\n{attempts}")]
    Download { file: String, attempts: String },
    /// A request that does not fit the dataset (e.g. a class it does not have).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Other(String),
}

/// The help line of a file error: how to get a good copy of a known dataset.
fn hint(dataset: Option<&str>) -> String {
    match dataset.and_then(registry::known) {
        Some(k) if !k.urls.is_empty() => format!(
            "\n  help: run `runner data fetch {}` for a fresh verified copy",
            k.name
        ),
        Some(k) => format!("\n  help: {}", k.how_to_get),
        None => String::new(),
    }
}

impl DataError {
    pub(crate) fn bad(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        dataset: Option<&str>,
    ) -> Self {
        DataError::Bad {
            path: path.into(),
            what: what.into(),
            dataset: dataset.map(String::from),
        }
    }

    pub(crate) fn io(
        path: impl Into<PathBuf>,
        source: std::io::Error,
        dataset: Option<&str>,
    ) -> Self {
        DataError::Io {
            path: path.into(),
            dataset: dataset.map(String::from),
            source,
        }
    }
}

/// A set of same-sized images with their class labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageSet {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `len * channels * height * width` bytes, image after image, each `[c][h][w]`.
    pub pixels: Vec<u8>,
    /// Class index of each image.
    pub labels: Vec<u16>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The bytes of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        ImageSet {
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels,
            labels,
        }
    }

    /// How many images of each class `0..n_classes` (labels beyond are not counted).
    pub fn class_counts(&self, n_classes: usize) -> Vec<usize> {
        let mut c = vec![0; n_classes];
        for &l in &self.labels {
            if let Some(x) = c.get_mut(l as usize) {
                *x += 1;
            }
        }
        c
    }
}

/// The identity of a dataset's content: it goes into every job key, so two
/// different copies never share cache entries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatasetId {
    pub name: String,
    /// blake3 over the dataset's files (hex).
    pub digest: String,
    /// A lossy copy (e.g. CIFAR-10 as JPEG): results on it are approximate.
    pub approximate: bool,
}

/// A loaded dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub id: DatasetId,
    /// Class names in label order.
    pub classes: Vec<String>,
    pub train: ImageSet,
    pub test: ImageSet,
}

/// A protocol split for one class: what a detector trains on and is tested on.
#[derive(Clone, Debug)]
pub struct Split {
    /// Training images of the normal classes only.
    pub train: ImageSet,
    /// The test images.
    pub test: ImageSet,
    /// 1 for each test image that is an anomaly, 0 for a normal one.
    pub test_is_anomaly: Vec<u8>,
}

/// Where to look for data and whether downloads are allowed.
#[derive(Clone, Debug, Default)]
pub struct DataOptions {
    /// Folders from `RUNNER_DATA`, in order.
    pub search: Vec<PathBuf>,
    /// Forbid downloads.
    pub offline: bool,
}

/// A dataset found on disk (or embedded), verified, with its identity and class
/// names, not yet decoded.
#[derive(Clone, Debug)]
pub struct Located {
    pub format: crate::spec::DataFormat,
    /// The file or folder it is read from; `None` for the embedded digits.
    pub path: Option<PathBuf>,
    pub id: DatasetId,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// How it was checked: `verified (official md5)`, `embedded`, ...
    pub state: String,
}

/// Finds the dataset a spec names: the spec's path, `RUNNER_DATA` folders
/// (`<folder>/<name>/`, then the files directly in `<folder>`), `./data/<name>`,
/// `/usr/share/datasets/<name>`, then (unless offline) a download into the
/// first `RUNNER_DATA` folder (as `<folder>/<name>/`) or `./data/<name>`.
/// Files with official digests are verified (size + md5); the result carries
/// the content digest. It does not decode images (see [`load`]).
pub fn locate(spec: &crate::spec::DatasetSpec, opts: &DataOptions) -> Result<Located, DataError> {
    locate::locate(spec, opts)
}

/// Decodes a located dataset (checking every header, count and label).
pub fn load(located: &Located) -> Result<Dataset, DataError> {
    format::load(located)
}

/// The protocol split of `class` with data limits applied (deterministic in `seed`).
///
/// `anomaly-class`: train = the training images of every class but `class`;
/// test = the whole test split, anomaly = `class`. `one-class`: train = the
/// training images of `class`; test = the whole test split, anomaly = every
/// other class. Limits sub-sample each set, stratified by class.
pub fn split(
    ds: &Dataset,
    protocol: crate::spec::Protocol,
    class: usize,
    seed: u64,
    limits: crate::spec::Limits,
) -> Result<Split, DataError> {
    split::split(ds, protocol, class, seed, limits)
}

/// Downloads (if needed) and verifies a known dataset: into the first
/// `RUNNER_DATA` folder (`<folder>/<name>/`) or `./data/<name>`, trying the
/// base URLs of `RUNNER_DATA_MIRRORS` first, then the official URL and the
/// known mirrors. Damaged files in that folder are downloaded again.
pub fn fetch(name: &str, opts: &DataOptions) -> Result<Located, DataError> {
    locate::fetch(name, opts, &download::env_mirrors())
}
