//! The fitted KDE: the preprocessing, the training points in the density's
//! space and the bandwidth; scoring (`-log p(x)`), save and load.
//!
//! On disk (a store object's folder): `kde.json` (shapes, scaling, bandwidth
//! and the cross-validation scores) and `kde.f64` (little-endian f64: the PCA
//! mean and axes, then the points, column-major).

use std::fs;
use std::io::Write;
use std::path::Path;

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use super::density::{QUERY_BLOCK, log_kernel_sums, log_norm};
use super::preprocess::{Pca, Scaling, embed};
use crate::data::ImageSet;
use crate::detector::{DetectorError, Fitted, Phase, RunContext};

/// Version of the saved model format.
pub(super) const FORMAT: u32 = 1;
pub(super) const META_FILE: &str = "kde.json";
pub(super) const ARRAYS_FILE: &str = "kde.f64";

/// What is saved besides the arrays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Meta {
    pub(super) format: u32,
    pub(super) channels: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) scaling: Scaling,
    /// Components kept by PCA; `null` without PCA.
    pub(super) components: Option<usize>,
    /// Dimension of the density's space.
    pub(super) dim: usize,
    pub(super) points: usize,
    pub(super) bandwidth: f64,
    /// The grid and its cross-validated log-likelihoods (empty with one bandwidth).
    pub(super) bandwidths: Vec<f64>,
    pub(super) cv_scores: Vec<f64>,
}

/// A fitted KDE.
pub struct KdeModel {
    pub(super) meta: Meta,
    pub(super) pca: Option<Pca>,
    /// Training points in the density's space, `n x dim`.
    pub(super) points: Mat<f64>,
}

impl KdeModel {
    /// The chosen bandwidth.
    pub fn bandwidth(&self) -> f64 {
        self.meta.bandwidth
    }

    /// Dimension of the density's space (PCA components kept).
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// The bandwidth grid and each value's mean held-out log-likelihood.
    pub fn cv_scores(&self) -> (&[f64], &[f64]) {
        (&self.meta.bandwidths, &self.meta.cv_scores)
    }

    /// `log p(x)` of each image.
    pub fn log_density(
        &self,
        images: &ImageSet,
        ctx: &RunContext,
    ) -> Result<Vec<f64>, DetectorError> {
        let m = &self.meta;
        if (images.channels, images.height, images.width) != (m.channels, m.height, m.width) {
            return Err(DetectorError::ShapeMismatch {
                method: "KDE",
                trained: [m.channels, m.height, m.width],
                given: [images.channels, images.height, images.width],
            });
        }
        let z = embed(&m.scaling, self.pca.as_ref(), images);
        let total = images.len();
        let c = [0.5 / (m.bandwidth * m.bandwidth)];
        let norm = log_norm(m.dim, m.bandwidth, m.points);
        // in chunks, so that progress shows and a stop is honoured between them
        let mut out = Vec::with_capacity(total);
        for start in (0..total).step_by(QUERY_BLOCK * 64) {
            let len = (QUERY_BLOCK * 64).min(total - start);
            let sums = log_kernel_sums(
                z.as_ref().subrows(start, len),
                self.points.as_ref(),
                &c,
                ctx,
            )?;
            out.extend(sums.into_iter().map(|s| s + norm));
            ctx.progress.phase(Phase::Scoring {
                done: start + len,
                total,
            });
        }
        Ok(out)
    }
}

fn model_err(path: &Path, reason: impl std::fmt::Display) -> DetectorError {
    DetectorError::Model {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl KdeModel {
    /// Reads a model that `save` wrote into `dir`.
    pub fn load(dir: &Path) -> Result<KdeModel, DetectorError> {
        let meta_path = dir.join(META_FILE);
        let text = fs::read_to_string(&meta_path).map_err(|e| model_err(&meta_path, e))?;
        let meta: Meta = serde_json::from_str(&text).map_err(|e| model_err(&meta_path, e))?;
        if meta.format != FORMAT {
            return Err(model_err(
                &meta_path,
                format!(
                    "format {} is not the format {FORMAT} this version reads; delete the cached model to retrain",
                    meta.format
                ),
            ));
        }
        let arrays_path = dir.join(ARRAYS_FILE);
        let bytes = fs::read(&arrays_path).map_err(|e| model_err(&arrays_path, e))?;
        let p = meta.channels * meta.height * meta.width;
        let pca_len = meta.components.map_or(0, |k| p + p * k);
        let want = (pca_len + meta.points * meta.dim) * 8;
        if bytes.len() != want || meta.components.is_some_and(|k| k != meta.dim) {
            return Err(model_err(
                &arrays_path,
                format!(
                    "{} bytes where the header promises {want}: the file is damaged; delete it to retrain",
                    bytes.len()
                ),
            ));
        }
        let values: Vec<f64> = bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let pca = meta.components.map(|k| Pca {
            mean: values[..p].to_vec(),
            components: Mat::from_fn(p, k, |i, j| values[p + j * p + i]),
        });
        let (n, d) = (meta.points, meta.dim);
        let pts = &values[pca_len..];
        let points = Mat::from_fn(n, d, |i, j| pts[j * n + i]);
        Ok(KdeModel { meta, pca, points })
    }
}

fn push_col_major(out: &mut Vec<u8>, m: MatRef<'_, f64>) {
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            out.extend_from_slice(&m[(i, j)].to_le_bytes());
        }
    }
}

impl Fitted for KdeModel {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        Ok(self
            .log_density(images, ctx)?
            .into_iter()
            .map(|l| -l as f32)
            .collect())
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        let meta_path = dir.join(META_FILE);
        let text =
            serde_json::to_string_pretty(&self.meta).map_err(|e| model_err(&meta_path, e))?;
        fs::write(&meta_path, text).map_err(|e| model_err(&meta_path, e))?;
        let arrays_path = dir.join(ARRAYS_FILE);
        let mut bytes = Vec::new();
        if let Some(pca) = &self.pca {
            bytes.extend(pca.mean.iter().flat_map(|v| v.to_le_bytes()));
            push_col_major(&mut bytes, pca.components.as_ref());
        }
        push_col_major(&mut bytes, self.points.as_ref());
        let mut file = fs::File::create(&arrays_path).map_err(|e| model_err(&arrays_path, e))?;
        file.write_all(&bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| model_err(&arrays_path, e))
    }
}
