//! Anomaly detectors: validated parameters in, a fitted model out, one score
//! per test image (higher = more anomalous).
//!
//! `build(config)` gives the [`Detector`] of a method; `fit` trains it on
//! normal images, `load` reads a stored model back; the [`Fitted`] model
//! scores images and saves itself into a store object's folder.
//!
//! The detector modules are the registry's (`spec::methods::for_each_method`):
//! each method's folder here is named as in specs. The five GANs implement
//! [`gan::Gan`] for their params type and share one harness ([`gan`]: the
//! detector, the training driver, persistence, scoring, contract tests);
//! KDE is a [`Detector`] of its own.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use thiserror::Error;

use crate::data::ImageSet;
use crate::device::DeviceChoice;
use crate::spec::MethodConfig;

pub use crate::nn::checkpoint::{CheckpointPlan, CheckpointPolicy};

pub mod gan;
#[cfg(test)]
pub mod testutil;

macro_rules! define_detectors {
    ($($name:ident: $variant:ident($params:ident)),* $(,)?) => {
        $(pub mod $name;)*

        /// The detector of a method configuration.
        pub fn build(config: &MethodConfig) -> Box<dyn Detector> {
            match config {
                $(MethodConfig::$variant(p) => MethodDetector::detector(p),)*
            }
        }
    };
}
crate::spec::methods::for_each_method!(define_detectors);

/// How a method's parameters become its detector: every GAN through
/// [`gan::GanDetector`], KDE by its own impl.
pub trait MethodDetector {
    fn detector(&self) -> Box<dyn Detector>;
}

impl<P: gan::Gan> MethodDetector for P {
    fn detector(&self) -> Box<dyn Detector> {
        Box::new(gan::GanDetector(self.clone()))
    }
}

/// What can go wrong while fitting, scoring, saving or loading a detector.
#[derive(Debug, Error)]
pub enum DetectorError {
    /// Divergence, a device this build lacks: from the shared `nn` blocks.
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
    #[error("stopped (interrupted)")]
    Cancelled,
    #[error("cannot train on {0} images: at least 2 are needed")]
    TooFewImages(usize),
    #[error("model file {path}: {reason}")]
    Model { path: String, reason: String },
    #[error(
        "the {method} model was trained on {trained}-channel images but the test images have {given} channels"
    )]
    ChannelMismatch {
        method: String,
        trained: usize,
        given: usize,
    },
    #[error(
        "the {method} model was trained on {trained}x{trained} images but the test images are {height}x{width}"
    )]
    SizeMismatch {
        method: String,
        trained: usize,
        height: usize,
        width: usize,
    },
    #[error("scoring gave {got:?} scores in {columns} column(s) for a batch of {images} images")]
    ScoreCount {
        got: Vec<usize>,
        images: usize,
        columns: usize,
    },
    #[error(
        "images are {}x{}x{} but the {method} model was trained on {}x{}x{} images",
        given[0], given[1], given[2], trained[0], trained[1], trained[2]
    )]
    ShapeMismatch {
        method: &'static str,
        /// Channels, height, width.
        trained: [usize; 3],
        given: [usize; 3],
    },
    #[error("the training images have no pixels")]
    NoPixels,
    #[error(
        "PCA: the {0} training images are all identical (no variance); train on varied images or set `pca_variance: null`"
    )]
    NoVariance(usize),
    #[error("PCA: the eigen solver failed ({0})")]
    EigenSolver(String),
    #[error(
        "cannot choose the bandwidth by {folds}-fold cross-validation on {images} images: give at least {folds} training images, or lower `cv_folds`"
    )]
    TooFewForFolds { folds: usize, images: usize },
    #[error("{0} got no gradient")]
    NoGradient(&'static str),
    #[error("cannot read the scores off the device: {0}")]
    ScoreData(String),
    #[error("cannot read the weights off the device: {0}")]
    WeightData(String),
    #[error("the {method} model has no score named `{name}`")]
    NoSuchScore { method: &'static str, name: String },
    #[error(transparent)]
    External(#[from] external::ExternalError),
}

/// What a job is doing now, for the progress display.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Another runner holds the job (or its model): waiting for it.
    Waiting {
        holder: String,
    },
    Loading,
    /// Getting something ready before the job can start (an external
    /// method's environment being built).
    Preparing {
        what: String,
    },
    Training {
        epoch: usize,
        epochs: usize,
        /// Losses and speed, e.g. `g 1.23 d 0.45, 812 img/s`.
        info: String,
        /// The finished epoch's numbers, for the model's training log
        /// (`None`: not an epoch, e.g. KDE's bandwidth search).
        log: Option<crate::store::EpochLog>,
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
    /// Where and how often training saves its state (`None`: never), and
    /// where a killed job's training resumes from.
    pub checkpoint: Option<CheckpointPlan>,
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
    /// Whether it computes on the run's device (`--device`), so that jobs
    /// on one GPU take turns; `false`: always on the CPU, whatever the device.
    fn uses_device(&self) -> bool;
    /// `steps` training steps on `normal` from `seed` on `device` and on
    /// the CPU, compared (`runner devices --check`); `None` for a method
    /// that does not train on the device.
    fn compare_devices(
        &self,
        _normal: &ImageSet,
        _device: DeviceChoice,
        _steps: usize,
        _seed: u64,
    ) -> Option<Result<gan::device_check::StepComparison, DetectorError>> {
        None
    }
}

impl DetectorError {
    /// Whether it says that the device cannot be used here (not in this
    /// build, no driver, no such adapter, refused), rather than anything
    /// about the method.
    pub fn is_device_unusable(&self) -> bool {
        matches!(
            self,
            DetectorError::Nn(crate::nn::NnError::Device(_) | crate::nn::NnError::Adapter(_))
        )
    }
}

/// The name of the only score of a method with one score.
pub const SCORE: &str = "score";

/// Named columns of per-image scores (see [`Fitted::score_variants`]).
pub type NamedScores = Vec<(String, Vec<f32>)>;

/// A trained model.
pub trait Fitted: Send {
    /// One score per image, higher = more anomalous. Uses no test statistics
    /// (eval mode, no batch-dependent normalisation).
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError>;
    /// Every score variant the model computes in one pass, by name, the
    /// first being the method's default (ALAD: `features`, `l1`, `l2`,
    /// `logits`); all are stored, so a report can show any of them without
    /// scoring again. Methods with one score give `[("score", score)]`.
    fn score_variants(
        &self,
        images: &ImageSet,
        ctx: &RunContext,
    ) -> Result<NamedScores, DetectorError> {
        Ok(vec![(SCORE.to_string(), self.score(images, ctx)?)])
    }
    /// Writes the model into `dir` (a store object being written).
    fn save(&self, dir: &Path) -> Result<(), DetectorError>;
    /// The environment the model's program runs in (an external method's
    /// declared environment), for the manifests of what it makes.
    fn environment(&self) -> Option<crate::store::EnvironmentRecord> {
        None
    }
}
