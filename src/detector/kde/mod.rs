//! The KDE baseline (Deep SVDD's, lukasruff/Deep-SVDD src/kde.py): pixels
//! scaled to [0, 1], PCA keeping a fraction of the variance, a Gaussian kernel
//! density over the training normals with its bandwidth chosen by k-fold
//! cross-validated log-likelihood; score = negative log-density.
//!
//! Pipeline, all statistics from the training normals only:
//! 1. each image to `[0, 1]` (bytes / 255); optionally global contrast
//!    normalisation (l1: minus the image's mean, divided by its mean absolute
//!    value); then min-max scaling with the training set's global minimum and
//!    maximum.
//! 2. PCA: eigenvectors of the training covariance (faer's self-adjoint
//!    eigen solver), keeping the fewest components whose explained variance
//!    exceeds `pca_variance` (scikit-learn's rule for `PCA(0.95)`).
//! 3. Bandwidth: log-spaced grid; for each, the mean over folds of the summed
//!    held-out log-likelihood (scikit-learn's `GridSearchCV(KernelDensity)`
//!    criterion), on at most `cv_max_samples` training points drawn with the
//!    seed. The largest mean wins (the first one on ties).
//! 4. Density: `log p(x) = logsumexp_j(-|x - x_j|^2 / 2h^2) - ln n - d/2 ln(2 pi) - d ln h`
//!    over all training points; score = `-log p(x)`.
//!
//! Squared distances are matrix products (`|a|^2 + |b|^2 - 2 a.b`, faer),
//! computed for a block of queries at a time to bound memory, and shared by
//! every bandwidth of the grid.
//!
//! Files: [`preprocess`] (scaling and PCA), [`density`] (kernel sums,
//! bandwidth search), [`model`] (the fitted model, scoring, save and load).

mod density;
mod model;
mod preprocess;

use std::path::Path;

use super::{Detector, DetectorError, Fitted, MethodDetector, Phase, RunContext};
use crate::data::ImageSet;
use crate::spec::methods::KdeParams;

use density::{argmax, cv_scores};
pub use density::{bandwidth_grid, cv_folds};
pub use model::KdeModel;
use model::{FORMAT, Meta};
use preprocess::{Scaling, embed, fit_pca};

/// The KDE detector with its parameters.
pub struct Kde {
    params: KdeParams,
}

impl Kde {
    pub fn new(params: KdeParams) -> Self {
        Kde { params }
    }
}

impl MethodDetector for KdeParams {
    fn detector(&self) -> Box<dyn Detector> {
        Box::new(Kde::new(self.clone()))
    }
}

impl Detector for Kde {
    fn fit(&self, normal: &ImageSet, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        Ok(Box::new(self.fit_model(normal, ctx)?))
    }

    fn load(&self, dir: &Path, _ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        Ok(Box::new(KdeModel::load(dir)?))
    }

    fn uses_device(&self) -> bool {
        false
    }
}

impl Kde {
    /// Fits the model (the typed result of `Detector::fit`).
    pub fn fit_model(
        &self,
        normal: &ImageSet,
        ctx: &RunContext,
    ) -> Result<KdeModel, DetectorError> {
        let p = &self.params;
        let n = normal.len();
        if n < 2 {
            return Err(DetectorError::TooFewImages(n));
        }
        if normal.image_len() == 0 {
            return Err(DetectorError::NoPixels);
        }
        let bandwidths = bandwidth_grid(p);
        let search = bandwidths.len() > 1;
        let cv_n = p.cv_max_samples.unwrap_or(n).min(n);
        if search && cv_n < p.cv_folds {
            return Err(DetectorError::TooFewForFolds {
                folds: p.cv_folds,
                images: cv_n,
            });
        }
        ctx.progress.phase(Phase::Training {
            epoch: 0,
            epochs: p.cv_folds,
            info: "PCA".into(),
            log: None,
        });
        let t = std::time::Instant::now();
        let scaling = Scaling::fit(p.gcn, normal);
        tracing::debug!(elapsed = ?t.elapsed(), "kde: scaling done");
        let pca = match p.pca_variance {
            Some(v) => Some(fit_pca(&scaling, normal, v)?),
            None => None,
        };
        tracing::debug!(elapsed = ?t.elapsed(), "kde: pca done");
        ctx.check_cancel()?;
        let points = embed(&scaling, pca.as_ref(), normal);
        tracing::debug!(elapsed = ?t.elapsed(), "kde: embed done");
        let (bandwidth, cv) = if search {
            let folds = cv_folds(n, p.cv_folds, p.cv_max_samples, ctx.seed);
            let cv = cv_scores(points.as_ref(), &folds, &bandwidths, ctx)?;
            tracing::debug!(elapsed = ?t.elapsed(), "kde: cv done");
            (bandwidths[argmax(&cv)], cv)
        } else {
            (bandwidths[0], Vec::new())
        };
        let meta = Meta {
            format: FORMAT,
            channels: normal.channels,
            height: normal.height,
            width: normal.width,
            scaling,
            components: pca.as_ref().map(|p| p.components.ncols()),
            dim: points.ncols(),
            points: points.nrows(),
            bandwidth,
            bandwidths: if search { bandwidths } else { Vec::new() },
            cv_scores: cv,
        };
        Ok(KdeModel { meta, pca, points })
    }
}

#[cfg(test)]
mod tests;
