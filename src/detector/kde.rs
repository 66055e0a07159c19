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

use std::fs;
use std::io::Write;
use std::path::Path;

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatRef, Par, Side};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Detector, DetectorError, Fitted, Phase, RunContext};
use crate::data::ImageSet;
use crate::spec::methods::KdeParams;

/// Images per block when preprocessing and projecting.
const PREP_BLOCK: usize = 2048;
/// Queries per block of the distance matrix (`block x n_points` f64 per thread).
const QUERY_BLOCK: usize = 64;
/// Version of the saved model format.
const FORMAT: u32 = 1;
const META_FILE: &str = "kde.json";
const ARRAYS_FILE: &str = "kde.f64";

/// The KDE detector with its parameters.
pub struct Kde {
    params: KdeParams,
}

impl Kde {
    pub fn new(params: KdeParams) -> Self {
        Kde { params }
    }
}

/// The bandwidth grid: `count` values log-spaced from `2^min` to `2^max`
/// (numpy's `logspace(min, max, count, base=2)`).
pub fn bandwidth_grid(p: &KdeParams) -> Vec<f64> {
    let n = p.bandwidth_count;
    if n <= 1 {
        return vec![p.bandwidth_log2_min.exp2()];
    }
    let step = (p.bandwidth_log2_max - p.bandwidth_log2_min) / (n - 1) as f64;
    (0..n)
        .map(|i| (p.bandwidth_log2_min + step * i as f64).exp2())
        .collect()
}

/// The folds of the bandwidth search over `n` training points: at most
/// `max_samples` of them, drawn with `seed`, split into `folds` folds of sizes
/// differing by at most one (the larger first, as scikit-learn's `KFold`).
/// Each fold lists indices into the training set.
pub fn cv_folds(n: usize, folds: usize, max_samples: Option<usize>, seed: u64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx.truncate(max_samples.unwrap_or(n).min(n));
    let m = idx.len();
    let folds = folds.max(1);
    let mut out = Vec::with_capacity(folds);
    let mut start = 0;
    for f in 0..folds {
        let size = m / folds + usize::from(f < m % folds);
        out.push(idx[start..start + size].to_vec());
        start += size;
    }
    out
}

/// Per-image preprocessing before PCA.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Scaling {
    gcn: bool,
    /// Training minimum and maximum after `/255` (and GCN).
    min: f64,
    max: f64,
}

impl Scaling {
    /// Pixels of one image, `/255` and GCN, before min-max.
    fn raw(gcn: bool, img: &[u8], out: &mut [f64]) {
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

    fn fit(gcn: bool, images: &ImageSet) -> Scaling {
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
    fn rows(&self, images: &ImageSet, start: usize, len: usize) -> Mat<f64> {
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
struct Pca {
    mean: Vec<f64>,
    /// `p x k`, one principal axis per column, largest variance first.
    components: Mat<f64>,
}

/// The number of components scikit-learn keeps for `PCA(variance)`: the
/// fewest whose cumulated explained-variance ratio exceeds `variance`.
fn components_for(eigen_desc: &[f64], variance: f64) -> usize {
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

fn fit_pca(scaling: &Scaling, images: &ImageSet, variance: f64) -> Result<Pca, DetectorError> {
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
        .map_err(|e| DetectorError::Other(format!("PCA: the eigen solver failed ({e:?})")))?;
    // eigenvalues come in nondecreasing order: reverse to largest first
    let s = evd.S().column_vector();
    let eigen_desc: Vec<f64> = (0..p).rev().map(|i| s[i].max(0.0)).collect();
    if eigen_desc.iter().sum::<f64>() <= 0.0 {
        return Err(DetectorError::Other(format!(
            "PCA: the {n} training images are all identical (no variance); \
             train on varied images or set `pca_variance: null`"
        )));
    }
    let k = components_for(&eigen_desc, variance);
    let u = evd.U();
    let components = Mat::from_fn(p, k, |i, j| u[(i, p - 1 - j)]);
    Ok(Pca { mean, components })
}

fn center(x: &mut Mat<f64>, mean: &[f64]) {
    for (j, &m) in mean.iter().enumerate() {
        x.col_as_slice_mut(j).iter_mut().for_each(|v| *v -= m);
    }
}

/// Preprocessing and projection of images to the points the density lives on.
fn embed(scaling: &Scaling, pca: Option<&Pca>, images: &ImageSet) -> Mat<f64> {
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

/// `exp(-t)` for `t >= 0` (`t` above 700 is taken as 700: `exp(-700)` is
/// below 1e-304), relative error below 1e-14. Written without branches or
/// calls so that the loops over distances vectorise: Cody-Waite reduction
/// `t = n ln2 - u` with `|u| <= ln2 / 2`, a degree-11 Taylor polynomial of
/// `exp(u)` (remainder below `0.347^12 / 12! < 7e-15`), and `2^n` built in
/// the exponent bits.
#[inline(always)]
fn exp_neg(t: f64) -> f64 {
    // adding 1.5 * 2^52 rounds to an integer, which then sits in the low mantissa bits
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let t = t.min(700.0);
    let k = -t * std::f64::consts::LOG2_E + SHIFTER;
    let n = k - SHIFTER;
    let u = (-t - n * LN2_HI) - n * LN2_LO;
    // 1 + u + u^2/2! + ... + u^11/11!, Horner
    let mut p = 1.0 / 39_916_800.0;
    for f in [
        3_628_800.0,
        362_880.0,
        40_320.0,
        5_040.0,
        720.0,
        120.0,
        24.0,
        6.0,
        2.0,
        1.0,
        1.0,
    ] {
        p = p * u + 1.0 / f;
    }
    // n in [-1010, 0]: the biased exponent n + 1023 fits the 11 exponent bits
    let scale = f64::from_bits(k.to_bits().wrapping_add(1023) << 52);
    p * scale
}

/// `sum_j exp(-(d2_j - min) c)`, in eight interleaved partial sums (a fixed
/// order, so results do not depend on threads).
fn sum_exp_neg(d2: &[f64], min: f64, c: f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let chunks = d2.chunks_exact(8);
    let rest = chunks.remainder();
    for ch in chunks {
        for (a, &d) in acc.iter_mut().zip(ch) {
            *a += exp_neg((d - min) * c);
        }
    }
    let mut s: f64 = acc.iter().sum();
    for &d in rest {
        s += exp_neg((d - min) * c);
    }
    s
}

fn row_norms(x: MatRef<'_, f64>) -> Vec<f64> {
    let mut out = vec![0.0; x.nrows()];
    for j in 0..x.ncols() {
        let col = x.col(j);
        for (i, o) in out.iter_mut().enumerate() {
            *o += col[i] * col[i];
        }
    }
    out
}

/// `log sum_j exp(-|q - p_j|^2 * c)` for every query `q` (row of `queries`)
/// and every `c` in `coefs` (`1 / 2h^2`), over the rows `p_j` of `points`.
/// Row-major result: `queries.nrows() x coefs.len()`. Parallel over blocks of
/// queries.
fn log_kernel_sums(
    queries: MatRef<'_, f64>,
    points: MatRef<'_, f64>,
    coefs: &[f64],
    ctx: &RunContext,
) -> Result<Vec<f64>, DetectorError> {
    let (nq, np) = (queries.nrows(), points.nrows());
    let nc = coefs.len();
    let mut out = vec![0.0; nq * nc];
    if nq == 0 || nc == 0 {
        return Ok(out);
    }
    let qn = row_norms(queries);
    let pn = row_norms(points);
    out.par_chunks_mut(QUERY_BLOCK * nc)
        .enumerate()
        .try_for_each_init(
            || (Mat::<f64>::zeros(np, QUERY_BLOCK), vec![0.0; np]),
            |(g, d2), (b, chunk)| {
                ctx.check_cancel()?;
                let start = b * QUERY_BLOCK;
                let len = chunk.len() / nc;
                // g[j, i] = p_j . q_i
                matmul(
                    g.as_mut().subcols_mut(0, len),
                    Accum::Replace,
                    points,
                    queries.subrows(start, len).transpose(),
                    1.0,
                    Par::Seq,
                );
                for i in 0..len {
                    let dots = g.col_as_slice(i);
                    let qi = qn[start + i];
                    let mut min = f64::INFINITY;
                    for ((d, &dot), &pj) in d2.iter_mut().zip(dots).zip(&pn) {
                        *d = (qi + pj - 2.0 * dot).max(0.0);
                        min = min.min(*d);
                    }
                    for (o, &c) in chunk[i * nc..(i + 1) * nc].iter_mut().zip(coefs) {
                        *o = sum_exp_neg(d2, min, c).ln() - min * c;
                    }
                }
                Ok(())
            },
        )?;
    Ok(out)
}

/// `log p(x)` of a Gaussian KDE from `log_kernel_sums`: the normalisation of
/// a `d`-dimensional Gaussian of bandwidth `h`, averaged over `n` points.
fn log_norm(d: usize, h: f64, n: usize) -> f64 {
    let d = d as f64;
    -(n as f64).ln() - 0.5 * d * (2.0 * std::f64::consts::PI).ln() - d * h.ln()
}

/// Mean over folds of the summed held-out log-likelihood, per bandwidth.
fn cv_scores(
    points: MatRef<'_, f64>,
    folds: &[Vec<usize>],
    bandwidths: &[f64],
    ctx: &RunContext,
) -> Result<Vec<f64>, DetectorError> {
    let coefs: Vec<f64> = bandwidths.iter().map(|h| 0.5 / (h * h)).collect();
    let d = points.ncols();
    let mut mean = vec![0.0; bandwidths.len()];
    for (f, held) in folds.iter().enumerate() {
        let train: Vec<usize> = folds
            .iter()
            .enumerate()
            .filter(|&(g, _)| g != f)
            .flat_map(|(_, idx)| idx.iter().copied())
            .collect();
        let rows = |idx: &[usize]| Mat::from_fn(idx.len(), d, |i, j| points[(idx[i], j)]);
        let (q, p) = (rows(held), rows(&train));
        let sums = log_kernel_sums(q.as_ref(), p.as_ref(), &coefs, ctx)?;
        for (b, &h) in bandwidths.iter().enumerate() {
            let total: f64 = sums.iter().skip(b).step_by(bandwidths.len()).sum();
            mean[b] +=
                (total + held.len() as f64 * log_norm(d, h, train.len())) / folds.len() as f64;
        }
        ctx.progress.phase(Phase::Training {
            epoch: f + 1,
            epochs: folds.len(),
            info: "bandwidth search (cross-validation folds)".into(),
        });
    }
    Ok(mean)
}

/// Index of the largest value, the first on ties; NaN never wins.
fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}

/// What is saved besides the arrays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Meta {
    format: u32,
    channels: usize,
    height: usize,
    width: usize,
    scaling: Scaling,
    /// Components kept by PCA; `null` without PCA.
    components: Option<usize>,
    /// Dimension of the density's space.
    dim: usize,
    points: usize,
    bandwidth: f64,
    /// The grid and its cross-validated log-likelihoods (empty with one bandwidth).
    bandwidths: Vec<f64>,
    cv_scores: Vec<f64>,
}

/// A fitted KDE.
pub struct KdeModel {
    meta: Meta,
    pca: Option<Pca>,
    /// Training points in the density's space, `n x dim`.
    points: Mat<f64>,
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
            return Err(DetectorError::Other(format!(
                "images are {}x{}x{} but the KDE was trained on {}x{}x{} images",
                images.channels, images.height, images.width, m.channels, m.height, m.width
            )));
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

impl Detector for Kde {
    fn fit(&self, normal: &ImageSet, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        Ok(Box::new(self.fit_model(normal, ctx)?))
    }

    fn load(&self, dir: &Path, _ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        Ok(Box::new(KdeModel::load(dir)?))
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
            return Err(DetectorError::Other(
                "the training images have no pixels".into(),
            ));
        }
        let bandwidths = bandwidth_grid(p);
        let search = bandwidths.len() > 1;
        let cv_n = p.cv_max_samples.unwrap_or(n).min(n);
        if search && cv_n < p.cv_folds {
            return Err(DetectorError::Other(format!(
                "cannot choose the bandwidth by {}-fold cross-validation on {cv_n} images: \
                 give at least {} training images, or lower `cv_folds`",
                p.cv_folds, p.cv_folds
            )));
        }
        ctx.progress.phase(Phase::Training {
            epoch: 0,
            epochs: p.cv_folds,
            info: "PCA".into(),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use rand::Rng;

    use super::*;
    use crate::detector::NoProgress;
    use crate::nn::device::DeviceChoice;

    /// A standard normal draw (Box-Muller).
    fn normal(rng: &mut impl Rng) -> f64 {
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn with_ctx<T>(seed: u64, f: impl FnOnce(&RunContext) -> T) -> T {
        let cancel = AtomicBool::new(false);
        let ctx = RunContext {
            seed,
            device: DeviceChoice::default(),
            progress: &NoProgress,
            cancel: &cancel,
        };
        f(&ctx)
    }

    fn gaussian(n: usize, d: usize, seed: u64) -> Mat<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f64> = (0..n * d).map(|_| normal(&mut rng)).collect();
        Mat::from_fn(n, d, |i, j| v[i * d + j])
    }

    /// log p(x) summed term by term, straight from the definition.
    fn naive_log_density(x: &[f64], points: MatRef<'_, f64>, h: f64) -> f64 {
        let d = points.ncols() as f64;
        let n = points.nrows();
        let mut p = 0.0;
        for j in 0..n {
            let d2: f64 = (0..x.len()).map(|k| (x[k] - points[(j, k)]).powi(2)).sum();
            p += (-d2 / (2.0 * h * h)).exp() / (2.0 * std::f64::consts::PI * h * h).powf(d / 2.0);
        }
        (p / n as f64).ln()
    }

    fn log_density_of(q: MatRef<'_, f64>, p: MatRef<'_, f64>, h: f64) -> Vec<f64> {
        with_ctx(0, |ctx| {
            let sums = log_kernel_sums(q, p, &[0.5 / (h * h)], ctx).unwrap();
            let norm = log_norm(p.ncols(), h, p.nrows());
            sums.into_iter().map(|s| s + norm).collect()
        })
    }

    #[test]
    fn fast_exp_matches_std() {
        let mut worst: f64 = 0.0;
        for i in 0..=700_000 {
            let t = i as f64 * 1e-3 + (i % 7) as f64 * 1.3e-4;
            let (got, want) = (exp_neg(t), (-t).exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 1e-14, "relative error {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
        assert!(exp_neg(1e9) < 1e-300 && exp_neg(1e9) > 0.0);
        assert_eq!(exp_neg(f64::INFINITY), exp_neg(700.0));
    }

    #[test]
    fn one_point_gives_the_gaussian_density() {
        // a KDE of one point at the origin is N(0, h^2 I): in 1-D at x = 1.5, h = 0.5,
        // log p = -ln(h sqrt(2 pi)) - x^2 / 2h^2
        let p = Mat::from_fn(1, 1, |_, _| 0.0);
        let q = Mat::from_fn(1, 1, |_, _| 1.5);
        let got = log_density_of(q.as_ref(), p.as_ref(), 0.5)[0];
        let want = -(0.5 * (2.0 * std::f64::consts::PI).sqrt()).ln() - 1.5 * 1.5 / (2.0 * 0.25);
        assert!((got - want).abs() < 1e-12, "{got} != {want}");
        // in 2-D at (1, 2), h = 2: log p = -ln(2 pi h^2) - 5 / 2h^2
        let p = Mat::from_fn(1, 2, |_, _| 0.0);
        let q = Mat::from_fn(1, 2, |_, j| [1.0, 2.0][j]);
        let got = log_density_of(q.as_ref(), p.as_ref(), 2.0)[0];
        let want = -(2.0 * std::f64::consts::PI * 4.0).ln() - 5.0 / 8.0;
        assert!((got - want).abs() < 1e-12, "{got} != {want}");
    }

    #[test]
    fn log_density_matches_the_definition_over_many_blocks() {
        // more queries than one block, distances far enough to underflow a plain sum
        let p = gaussian(300, 3, 1);
        let q = gaussian(2 * QUERY_BLOCK + 7, 3, 2);
        for h in [0.3, 1.0, 4.0] {
            let got = log_density_of(q.as_ref(), p.as_ref(), h);
            for (i, &g) in got.iter().enumerate() {
                let x: Vec<f64> = (0..3).map(|k| q[(i, k)]).collect();
                let want = naive_log_density(&x, p.as_ref(), h);
                assert!(
                    (g - want).abs() < 1e-9 * want.abs().max(1.0),
                    "h {h} query {i}: {g} != {want}"
                );
            }
        }
        // far away, a plain sum of exponentials would give ln(0): log-sum-exp stays exact
        let far = Mat::from_fn(1, 3, |_, _| 40.0);
        let got = log_density_of(far.as_ref(), p.as_ref(), 0.1)[0];
        assert!(got.is_finite() && got < -1e4, "{got}");
    }

    #[test]
    fn kde_of_normal_samples_estimates_the_smoothed_density() {
        // E[KDE(0)] for N(0, 1) samples and bandwidth h is the N(0, 1 + h^2) density at 0
        let p = gaussian(20_000, 1, 3);
        let q = Mat::from_fn(1, 1, |_, _| 0.0);
        let got = log_density_of(q.as_ref(), p.as_ref(), 0.5)[0].exp();
        let want = 1.0 / (2.0 * std::f64::consts::PI * 1.25).sqrt();
        assert!((got - want).abs() < 0.01 * want, "{got} vs {want}");
    }

    #[test]
    fn cv_scores_are_the_mean_fold_log_likelihood() {
        let pts = gaussian(53, 2, 4);
        let folds = cv_folds(53, 5, None, 9);
        assert_eq!(
            folds.iter().map(Vec::len).collect::<Vec<_>>(),
            [11, 11, 11, 10, 10]
        );
        let mut all: Vec<usize> = folds.concat();
        all.sort();
        assert_eq!(all, (0..53).collect::<Vec<_>>());
        let hs = [0.2, 0.7];
        let got = with_ctx(0, |ctx| cv_scores(pts.as_ref(), &folds, &hs, ctx).unwrap());
        for (b, &h) in hs.iter().enumerate() {
            let mut want = 0.0;
            for (f, held) in folds.iter().enumerate() {
                let train: Vec<usize> = (0..folds.len())
                    .filter(|&g| g != f)
                    .flat_map(|g| folds[g].clone())
                    .collect();
                let tp = Mat::from_fn(train.len(), 2, |i, j| pts[(train[i], j)]);
                for &i in held {
                    want += naive_log_density(&[pts[(i, 0)], pts[(i, 1)]], tp.as_ref(), h) / 5.0;
                }
            }
            assert!(
                (got[b] - want).abs() < 1e-9 * want.abs(),
                "h {h}: {} != {want}",
                got[b]
            );
        }
    }

    #[test]
    fn bandwidth_choice_is_near_the_rule_of_thumb() {
        // 2-D standard normal, n = 600: Silverman's rule gives h = n^(-1/6) ~ 0.34
        let pts = gaussian(600, 2, 5);
        let p = KdeParams::default();
        let hs = bandwidth_grid(&p);
        assert_eq!(hs.len(), 20);
        assert!((hs[0] - 2f64.powf(-4.5)).abs() < 1e-12 && (hs[19] - 32.0).abs() < 1e-12);
        let folds = cv_folds(600, 5, None, 0);
        let cv = with_ctx(0, |ctx| cv_scores(pts.as_ref(), &folds, &hs, ctx).unwrap());
        let h = hs[argmax(&cv)];
        assert!((0.17..=0.7).contains(&h), "chose {h}");
    }

    #[test]
    fn components_follow_the_scikit_learn_rule() {
        // cumulated ratios .5 .8 .9 1: PCA(0.8) keeps 3 (it must exceed 0.8), PCA(0.79) keeps 2
        assert_eq!(components_for(&[5.0, 3.0, 1.0, 1.0], 0.8), 3);
        assert_eq!(components_for(&[5.0, 3.0, 1.0, 1.0], 0.79), 2);
        assert_eq!(components_for(&[5.0, 3.0, 1.0, 1.0], 0.999), 4);
    }

    /// `n` 8x8 images: a bright 3x3 square whose corner is drawn from `corners`, plus noise.
    fn squares(n: usize, corners: &[(usize, usize)], seed: u64) -> ImageSet {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut pixels = Vec::with_capacity(n * 64);
        for _ in 0..n {
            let (r0, c0) = corners[rng.random_range(0..corners.len())];
            for r in 0..8 {
                for c in 0..8 {
                    let on = (r0..r0 + 3).contains(&r) && (c0..c0 + 3).contains(&c);
                    let base = if on { 200.0 } else { 20.0 };
                    pixels.push((base + 15.0 * normal(&mut rng)).clamp(0.0, 255.0) as u8);
                }
            }
        }
        ImageSet {
            channels: 1,
            height: 8,
            width: 8,
            pixels,
            labels: vec![0; n],
        }
    }

    const NORMAL: &[(usize, usize)] = &[(0, 0), (0, 1), (1, 0), (1, 1)];
    const ODD: &[(usize, usize)] = &[(5, 5), (4, 5), (5, 4)];

    fn test_set(seed: u64) -> (ImageSet, Vec<u8>) {
        let a = squares(60, NORMAL, seed);
        let b = squares(40, ODD, seed + 1);
        let mut t = a.clone();
        t.pixels.extend_from_slice(&b.pixels);
        t.labels.extend_from_slice(&b.labels);
        let labels = [vec![0u8; 60], vec![1u8; 40]].concat();
        (t, labels)
    }

    #[test]
    fn outliers_score_higher_and_learning_works() {
        let train = squares(400, NORMAL, 10);
        let (test, labels) = test_set(20);
        for gcn in [false, true] {
            let kde = Kde::new(KdeParams {
                gcn,
                ..KdeParams::default()
            });
            let model = with_ctx(1, |ctx| kde.fit_model(&train, ctx).unwrap());
            assert!(model.dim() >= 1 && model.dim() < 64, "dim {}", model.dim());
            let scores = with_ctx(1, |ctx| model.score(&test, ctx).unwrap());
            assert_eq!(scores.len(), 100);
            let auc = crate::metrics::auroc(&labels, &scores).unwrap();
            assert!(auc > 0.99, "gcn {gcn}: AUROC {auc}");
        }
    }

    #[test]
    fn pca_keeps_distances_when_the_variance_is_in_one_direction() {
        // pixels 0 and 1 move together, the others are constant: one component
        // holds all the variance, and distances in it equal pixel distances
        let vals = [0u8, 51, 102, 153, 255];
        let pixels: Vec<u8> = vals.iter().flat_map(|&v| [v, v, 7, 7]).collect();
        let train = ImageSet {
            channels: 1,
            height: 2,
            width: 2,
            pixels,
            labels: vec![0; 5],
        };
        let scaling = Scaling::fit(false, &train);
        assert_eq!((scaling.min, scaling.max), (0.0, 1.0));
        let pca = fit_pca(&scaling, &train, 0.95).unwrap();
        assert_eq!(pca.components.ncols(), 1);
        let z = embed(&scaling, Some(&pca), &train);
        let want = (2.0f64).sqrt() * (255.0 - 0.0) / 255.0;
        assert!(((z[(4, 0)] - z[(0, 0)]).abs() - want).abs() < 1e-12);
    }

    #[test]
    fn pca_axes_decorrelate_and_keep_distances() {
        // 6 correlated pixels; with (almost) all variance kept, the projection is a
        // rotation: distances stay, the coordinates are uncorrelated, variances descend
        let mut rng = ChaCha8Rng::seed_from_u64(70);
        let pixels: Vec<u8> = (0..80)
            .flat_map(|_| {
                let (a, b) = (rng.random_range(0..120u32), rng.random_range(0..60u32));
                let noise: Vec<u32> = (0..6).map(|_| rng.random_range(0..20u32)).collect();
                [
                    a + noise[0],
                    a + b + noise[1],
                    b + noise[2],
                    2 * b + noise[3],
                    noise[4],
                    a / 2 + noise[5],
                ]
                .map(|v| v.min(255) as u8)
            })
            .collect();
        let train = ImageSet {
            channels: 1,
            height: 2,
            width: 3,
            pixels,
            labels: vec![0; 80],
        };
        let scaling = Scaling::fit(false, &train);
        let pca = fit_pca(&scaling, &train, 0.999_999).unwrap();
        assert_eq!(pca.components.ncols(), 6);
        let x = scaling.rows(&train, 0, 80);
        let z = embed(&scaling, Some(&pca), &train);
        for (i, j) in [(0, 1), (5, 70), (33, 34)] {
            let dx: f64 = (0..6).map(|k| (x[(i, k)] - x[(j, k)]).powi(2)).sum();
            let dz: f64 = (0..6).map(|k| (z[(i, k)] - z[(j, k)]).powi(2)).sum();
            assert!((dx - dz).abs() < 1e-10, "{dx} != {dz}");
        }
        let cov = |a: usize, b: usize| (0..80).map(|i| z[(i, a)] * z[(i, b)]).sum::<f64>() / 79.0;
        for a in 0..6 {
            assert!(
                (0..80).map(|i| z[(i, a)]).sum::<f64>().abs() < 1e-9,
                "column {a} not centred"
            );
            for b in 0..a {
                assert!(
                    cov(a, b).abs() < 1e-10,
                    "components {a} {b} correlate: {}",
                    cov(a, b)
                );
            }
            if a > 0 {
                assert!(cov(a, a) <= cov(a - 1, a - 1) + 1e-12);
            }
        }
        // 95% keeps fewer: the two latent factors dominate
        assert!(fit_pca(&scaling, &train, 0.95).unwrap().components.ncols() < 6);
    }

    #[test]
    fn same_seed_same_model_and_scores() {
        let train = squares(300, NORMAL, 30);
        let (test, _) = test_set(31);
        let kde = Kde::new(KdeParams {
            cv_max_samples: Some(120),
            ..KdeParams::default()
        });
        let run = |seed| {
            with_ctx(seed, |ctx| {
                let m = kde.fit_model(&train, ctx).unwrap();
                (m.cv_scores().1.to_vec(), m.score(&test, ctx).unwrap())
            })
        };
        assert_eq!(run(7), run(7));
        // the seed draws the sub-sample and the folds
        assert_ne!(run(7).0, run(8).0);
        assert_ne!(
            cv_folds(300, 5, Some(120), 7),
            cv_folds(300, 5, Some(120), 8)
        );
    }

    #[test]
    fn save_and_load_give_identical_scores() {
        let train = squares(200, NORMAL, 40);
        let (test, _) = test_set(41);
        for pca_variance in [Some(0.95), None] {
            let kde = Kde::new(KdeParams {
                pca_variance,
                ..KdeParams::default()
            });
            let dir = tempfile::tempdir().unwrap();
            let (before, after) = with_ctx(3, |ctx| {
                let model = kde.fit(&train, ctx).unwrap();
                model.save(dir.path()).unwrap();
                let loaded = kde.load(dir.path(), ctx).unwrap();
                (
                    model.score(&test, ctx).unwrap(),
                    loaded.score(&test, ctx).unwrap(),
                )
            });
            assert_eq!(before, after);
            // a damaged file is an error that names it
            let arrays = dir.path().join(ARRAYS_FILE);
            let bytes = fs::read(&arrays).unwrap();
            fs::write(&arrays, &bytes[..bytes.len() - 8]).unwrap();
            let err = with_ctx(3, |ctx| kde.load(dir.path(), ctx).err().unwrap());
            assert!(
                matches!(&err, DetectorError::Model { path, .. } if path.ends_with(ARRAYS_FILE)),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let kde = Kde::new(KdeParams::default());
        let one = squares(1, NORMAL, 50);
        let err = with_ctx(0, |ctx| kde.fit(&one, ctx).err().unwrap());
        assert!(matches!(err, DetectorError::TooFewImages(1)), "{err}");
        let three = squares(3, NORMAL, 51);
        let err = with_ctx(0, |ctx| kde.fit(&three, ctx).err().unwrap());
        assert!(
            err.to_string()
                .contains("5-fold cross-validation on 3 images"),
            "{err}"
        );
        // one bandwidth needs no cross-validation
        let fixed = Kde::new(KdeParams {
            bandwidth_count: 1,
            bandwidth_log2_min: 0.0,
            bandwidth_log2_max: 0.0,
            ..KdeParams::default()
        });
        let model = with_ctx(0, |ctx| fixed.fit_model(&three, ctx).unwrap());
        assert_eq!(model.bandwidth(), 1.0);
        // images of another size
        let other = ImageSet {
            channels: 1,
            height: 4,
            width: 4,
            pixels: vec![0; 16],
            labels: vec![0],
        };
        let err = with_ctx(0, |ctx| model.score(&other, ctx).err().unwrap());
        assert!(err.to_string().contains("trained on 1x8x8"), "{err}");
        // identical training images have no principal axis
        let same = ImageSet {
            pixels: vec![9; 64 * 10],
            labels: vec![0; 10],
            ..three.clone()
        };
        let err = with_ctx(0, |ctx| kde.fit(&same, ctx).err().unwrap());
        assert!(err.to_string().contains("all identical"), "{err}");
    }

    #[test]
    fn a_stop_request_cancels_the_fit() {
        let train = squares(200, NORMAL, 60);
        let cancel = AtomicBool::new(true);
        let ctx = RunContext {
            seed: 0,
            device: DeviceChoice::default(),
            progress: &NoProgress,
            cancel: &cancel,
        };
        let err = Kde::new(KdeParams::default())
            .fit(&train, &ctx)
            .err()
            .unwrap();
        assert!(matches!(err, DetectorError::Cancelled));
    }

    /// Real MNIST through the data module (needs the MNIST files: `RUNNER_DATA`
    /// or `../shared/data`). Digit 1 as the normal class (one-class protocol),
    /// where Deep SVDD reports 98.9 AUROC for this baseline. Skipped with a
    /// message when the MNIST files are not on this machine.
    #[test]
    fn kde_learns_mnist() {
        use crate::data::{DataOptions, load, locate, split};
        use crate::spec::{DatasetSpec, Limits, Protocol};
        let mut search: Vec<std::path::PathBuf> = std::env::var_os("RUNNER_DATA")
            .map(|v| std::env::split_paths(&v).collect())
            .unwrap_or_default();
        search.push("../shared/data".into());
        let opts = DataOptions {
            search,
            offline: true,
        };
        let Ok(located) = locate(&DatasetSpec::named("mnist"), &opts) else {
            eprintln!("skipped: MNIST is not in RUNNER_DATA or ../shared/data");
            return;
        };
        let ds = load(&located).unwrap();
        let limits = Limits {
            train: Some(2_000),
            test: Some(2_000),
        };
        let s = split(&ds, Protocol::OneClass, 1, 0, limits).unwrap();
        let auc = with_ctx(0, |ctx| {
            let m = Kde::new(KdeParams::default()).fit(&s.train, ctx).unwrap();
            crate::metrics::auroc(&s.test_is_anomaly, &m.score(&s.test, ctx).unwrap()).unwrap()
        });
        assert!(auc > 0.95, "AUROC {auc}");
    }
}
