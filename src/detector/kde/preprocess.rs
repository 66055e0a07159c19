//! KDE preprocessing, fitted on the training normals: pixels to [0, 1]
//! (optionally global contrast normalisation), min-max scaling with the
//! training extremes, then PCA keeping a fraction of the variance.

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Par, Side};
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::detector::DetectorError;

/// Images per block when preprocessing and projecting.
const PREP_BLOCK: usize = 2048;

/// Per-image preprocessing before PCA.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Scaling {
    pub(super) gcn: bool,
    /// Training minimum and maximum after `/255` (and GCN).
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Scaling {
    /// Pixels of one image, `/255` and GCN, before min-max.
    pub(super) fn raw(gcn: bool, img: &[u8], out: &mut [f64]) {
        for (o, &b) in out.iter_mut().zip(img) {
            *o = b as f64 / 255.0;
        }
        if gcn {
            let mean = out.iter().sum::<f64>() / out.len() as f64;
            out.iter_mut().for_each(|v| *v -= mean);
            let l1 = out.iter().map(|v| v.abs()).sum::<f64>() / out.len() as f64;
            if l1 > 0.0 {
                out.iter_mut().for_each(|v| *v /= l1);
            }
        }
    }

    pub(super) fn fit(gcn: bool, images: &ImageSet) -> Scaling {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut buf = vec![0.0; images.image_len()];
        for i in 0..images.len() {
            Scaling::raw(gcn, images.image(i), &mut buf);
            for &v in &buf {
                min = min.min(v);
                max = max.max(v);
            }
        }
        Scaling { gcn, min, max }
    }

    /// Images `start..start + len` as rows of a matrix, scaled.
    pub(super) fn rows(&self, images: &ImageSet, start: usize, len: usize) -> Mat<f64> {
        let p = images.image_len();
        let range = self.max - self.min;
        let inv = if range > 0.0 { 1.0 / range } else { 1.0 };
        let mut buf = vec![0.0; len * p];
        for (r, row) in buf.chunks_mut(p.max(1)).enumerate().take(len) {
            Scaling::raw(self.gcn, images.image(start + r), row);
            row.iter_mut().for_each(|v| *v = (*v - self.min) * inv);
        }
        Mat::from_fn(len, p, |i, j| buf[i * p + j])
    }
}

/// A PCA projection: `z = (x - mean) components`.
#[derive(Clone, Debug)]
pub(super) struct Pca {
    pub(super) mean: Vec<f64>,
    /// `p x k`, one principal axis per column, largest variance first.
    pub(super) components: Mat<f64>,
}

/// The number of components scikit-learn keeps for `PCA(variance)`: the
/// fewest whose cumulated explained-variance ratio exceeds `variance`.
pub(super) fn components_for(eigen_desc: &[f64], variance: f64) -> usize {
    let total: f64 = eigen_desc.iter().sum();
    let mut cum = 0.0;
    let mut below = 0;
    for &l in eigen_desc {
        cum += l;
        if cum / total <= variance {
            below += 1;
        } else {
            break;
        }
    }
    (below + 1).min(eigen_desc.len())
}

pub(super) fn fit_pca(
    scaling: &Scaling,
    images: &ImageSet,
    variance: f64,
) -> Result<Pca, DetectorError> {
    let (n, p) = (images.len(), images.image_len());
    let mut mean = vec![0.0; p];
    for start in (0..n).step_by(PREP_BLOCK) {
        let len = PREP_BLOCK.min(n - start);
        let x = scaling.rows(images, start, len);
        for (j, m) in mean.iter_mut().enumerate() {
            *m += x.col_as_slice(j).iter().sum::<f64>();
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = Mat::<f64>::zeros(p, p);
    for start in (0..n).step_by(PREP_BLOCK) {
        let len = PREP_BLOCK.min(n - start);
        let mut x = scaling.rows(images, start, len);
        center(&mut x, &mean);
        // the lower triangle only: the eigen solver reads no more
        triangular::matmul(
            cov.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            x.transpose(),
            BlockStructure::Rectangular,
            x.as_ref(),
            BlockStructure::Rectangular,
            1.0 / (n - 1) as f64,
            Par::rayon(0),
        );
    }
    let evd = cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| DetectorError::EigenSolver(format!("{e:?}")))?;
    // eigenvalues come in nondecreasing order: reverse to largest first
    let s = evd.S().column_vector();
    let eigen_desc: Vec<f64> = (0..p).rev().map(|i| s[i].max(0.0)).collect();
    if eigen_desc.iter().sum::<f64>() <= 0.0 {
        return Err(DetectorError::NoVariance(n));
    }
    let k = components_for(&eigen_desc, variance);
    let u = evd.U();
    let components = Mat::from_fn(p, k, |i, j| u[(i, p - 1 - j)]);
    Ok(Pca { mean, components })
}

pub(super) fn center(x: &mut Mat<f64>, mean: &[f64]) {
    for (j, &m) in mean.iter().enumerate() {
        x.col_as_slice_mut(j).iter_mut().for_each(|v| *v -= m);
    }
}

/// Preprocessing and projection of images to the points the density lives on.
pub(super) fn embed(scaling: &Scaling, pca: Option<&Pca>, images: &ImageSet) -> Mat<f64> {
    let n = images.len();
    let Some(pca) = pca else {
        return scaling.rows(images, 0, n);
    };
    let k = pca.components.ncols();
    let mut z = Mat::<f64>::zeros(n, k);
    for start in (0..n).step_by(PREP_BLOCK) {
        let len = PREP_BLOCK.min(n - start);
        let mut x = scaling.rows(images, start, len);
        center(&mut x, &pca.mean);
        matmul(
            z.as_mut().subrows_mut(start, len),
            Accum::Replace,
            x.as_ref(),
            pca.components.as_ref(),
            1.0,
            Par::rayon(0),
        );
    }
    z
}
