//! The Gaussian kernel density: log-sums of kernels over the training
//! points as blocked matrix products, the normalisation, the bandwidth grid
//! and its k-fold cross-validated log-likelihood.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::detector::{DetectorError, Phase, RunContext};
use crate::spec::methods::KdeParams;

/// Queries per block of the distance matrix (`block x n_points` f64 per thread).
pub(super) const QUERY_BLOCK: usize = 64;

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

/// `exp(-t)` for `t >= 0` (`t` above 700 is taken as 700: `exp(-700)` is
/// below 1e-304), relative error below 1e-14. Written without branches or
/// calls so that the loops over distances vectorise: Cody-Waite reduction
/// `t = n ln2 - u` with `|u| <= ln2 / 2`, a degree-11 Taylor polynomial of
/// `exp(u)` (remainder below `0.347^12 / 12! < 7e-15`), and `2^n` built in
/// the exponent bits.
#[inline(always)]
pub(super) fn exp_neg(t: f64) -> f64 {
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
pub(super) fn sum_exp_neg(d2: &[f64], min: f64, c: f64) -> f64 {
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

pub(super) fn row_norms(x: MatRef<'_, f64>) -> Vec<f64> {
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
pub(super) fn log_kernel_sums(
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
                Ok::<(), DetectorError>(())
            },
        )?;
    Ok(out)
}

/// `log p(x)` of a Gaussian KDE from `log_kernel_sums`: the normalisation of
/// a `d`-dimensional Gaussian of bandwidth `h`, averaged over `n` points.
pub(super) fn log_norm(d: usize, h: f64, n: usize) -> f64 {
    let d = d as f64;
    -(n as f64).ln() - 0.5 * d * (2.0 * std::f64::consts::PI).ln() - d * h.ln()
}

/// Mean over folds of the summed held-out log-likelihood, per bandwidth.
pub(super) fn cv_scores(
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
            log: None,
        });
    }
    Ok(mean)
}

/// Index of the largest value, the first on ties; NaN never wins.
pub(super) fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}
