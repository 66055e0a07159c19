//! Anomaly detectors: validated parameters in, a fitted model out, one score
//! per test image (higher = more anomalous).
//!
//! `build(config)` gives the [`Detector`] of a method; `fit` trains it on
//! normal images, `load` reads a stored model back; the [`Fitted`] model
//! scores images and saves itself into a store object's folder.

pub mod ganomaly;
pub mod kde;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use thiserror::Error;

use crate::data::ImageSet;
use crate::nn::device::DeviceChoice;
use crate::spec::MethodConfig;

/// What can go wrong while fitting, scoring, saving or loading a detector.
#[derive(Debug, Error)]
pub enum DetectorError {
    #[error(
        "diverged at epoch {epoch}, step {step}: {what} is not finite; lower the learning rate or check the data"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        what: String,
    },
    #[error("stopped (interrupted)")]
    Cancelled,
    #[error("device {device} is not available in this build: rebuild with `--features {feature}`")]
    DeviceUnavailable { device: String, feature: String },
    #[error("cannot train on {0} images: at least 2 are needed")]
    TooFewImages(usize),
    #[error("model file {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("{0}")]
    Other(String),
}

/// What a job is doing now, for the progress display.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Loading,
    Training {
        epoch: usize,
        epochs: usize,
        /// Losses and speed, e.g. `g 1.23 d 0.45, 812 img/s`.
        info: String,
    },
    Scoring {
        done: usize,
        total: usize,
    },
}

/// Receives phase updates from a running job.
pub trait Progress: Send + Sync {
    fn phase(&self, phase: Phase);
}

/// A progress sink that drops everything (tests, quiet runs).
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: Phase) {}
}

/// What a running job may know about its run.
pub struct RunContext<'a> {
    pub seed: u64,
    pub device: DeviceChoice,
    pub progress: &'a dyn Progress,
    /// Set when the user asked to stop (Ctrl-C): return `DetectorError::Cancelled` soon.
    pub cancel: &'a AtomicBool,
}

impl RunContext<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once a stop was asked for.
    pub fn check_cancel(&self) -> Result<(), DetectorError> {
        if self.cancelled() {
            Err(DetectorError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A method with its parameters, ready to train.
pub trait Detector: Send + Sync {
    /// Trains on normal images only.
    fn fit(&self, normal: &ImageSet, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError>;
    /// Reads a model that `Fitted::save` wrote into `dir`.
    fn load(&self, dir: &Path, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError>;
}

/// A trained model.
pub trait Fitted: Send {
    /// One score per image, higher = more anomalous. Uses no test statistics
    /// (eval mode, no batch-dependent normalisation).
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError>;
    /// Writes the model into `dir` (a store object being written).
    fn save(&self, dir: &Path) -> Result<(), DetectorError>;
}

/// The detector of a method configuration.
pub fn build(config: &MethodConfig) -> Box<dyn Detector> {
    match config {
        MethodConfig::Kde(p) => Box::new(kde::Kde::new(p.clone())),
        MethodConfig::Ganomaly(p) => Box::new(ganomaly::Ganomaly::new(p.clone())),
    }
}
