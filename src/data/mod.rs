//! Datasets: where they are (resolve, verify, download), how they are read
//! (IDX, CIFAR-10 binary, image folders, the embedded digits), and how a
//! protocol splits them into training normals and a labelled test set.
//!
//! Every image is kept as bytes (0..=255), channel-major (`[c][h][w]`); each
//! detector converts to its own input (size, scaling) itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What can go wrong with data; every message names the file and what to do.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("unknown dataset `{name}`; known datasets: {known}")]
    UnknownDataset { name: String, known: String },
    #[error("{0}")]
    Other(String),
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
}

/// Finds the dataset a spec names: the spec's path, `RUNNER_DATA` folders,
/// `./data/<name>`, system locations, then (unless offline) a download.
pub fn locate(spec: &crate::spec::DatasetSpec, opts: &DataOptions) -> Result<Located, DataError> {
    let _ = (spec, opts);
    Err(DataError::Other("data::locate is not written yet".into()))
}

/// Decodes a located dataset.
pub fn load(located: &Located) -> Result<Dataset, DataError> {
    let _ = located;
    Err(DataError::Other("data::load is not written yet".into()))
}

/// The protocol split of `class` with data limits applied (deterministic in `seed`).
pub fn split(
    ds: &Dataset,
    protocol: crate::spec::Protocol,
    class: usize,
    seed: u64,
    limits: crate::spec::Limits,
) -> Result<Split, DataError> {
    let _ = (ds, protocol, class, seed, limits);
    Err(DataError::Other("data::split is not written yet".into()))
}

/// One line of `runner data ls`.
#[derive(Clone, Debug)]
pub struct DatasetStatus {
    pub name: String,
    pub format: crate::spec::DataFormat,
    /// Where it was found, if it was.
    pub location: Option<String>,
    /// `verified (official md5)`, `embedded`, `not found`, or the error.
    pub state: String,
    pub approximate: bool,
}

/// The state of every known dataset on this machine (never downloads).
pub fn status_all(opts: &DataOptions) -> Vec<DatasetStatus> {
    let _ = opts;
    Vec::new()
}

/// Downloads (if needed) and verifies a known dataset.
pub fn fetch(name: &str, opts: &DataOptions) -> Result<Located, DataError> {
    locate(&crate::spec::DatasetSpec::named(name), opts)
}

/// Verifies every file of a dataset against its known digests; returns a report.
pub fn verify(name: &str, opts: &DataOptions) -> Result<String, DataError> {
    let _ = (name, opts);
    Err(DataError::Other("data::verify is not written yet".into()))
}
