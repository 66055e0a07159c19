//! The statistics of a report, as pure functions: per-cell confidence
//! intervals, the Wilcoxon signed-rank test (exact for small samples), Holm's
//! correction, the Friedman test with average ranks, and the Nemenyi
//! critical difference (Demšar 2006).
//!
//! The distributions they need (normal, Student t, chi-square, F) come from
//! `statrs`; the one it lacks, the range of k normal variables behind the
//! Nemenyi critical values, is integrated here ([`normal_range_cdf`]).
//!
//! Every function is checked against published tables (Student t quantiles,
//! Wilcoxon critical values, Demšar's Table 5 and worked example) or scipy's
//! output recorded as fixed numbers in the tests.

use statrs::distribution::{
    ChiSquared, Continuous, ContinuousCDF, FisherSnedecor, Normal, StudentsT,
};
use statrs::function::gamma::checked_gamma_ur;

/// The standard normal distribution function Φ(z), as Q(1/2, z²/2) / 2 for
/// z <= 0 with statrs' regularised incomplete gamma function Q: accurate to
/// about 1e-16, where statrs' `Normal::cdf` (its erfc) is off by up to 1e-11
/// (Φ(-1) = 0.15865525393145705: `Normal::cdf` gives 0.158655253945).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z * z / 2.0;
    // Q(a, 0) = 1; statrs takes x > 0 only (and gives NaN for a NaN z)
    let q = if x == 0.0 {
        1.0
    } else {
        checked_gamma_ur(0.5, x).unwrap_or(0.0)
    };
    if z < 0.0 { 0.5 * q } else { 1.0 - 0.5 * q }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (p in (0, 1));
/// NaN for a p or df outside their ranges.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) if (0.0..=1.0).contains(&p) => t.inverse_cdf(p),
        _ => f64::NAN,
    }
}

/// P(X > x) for the chi-square distribution with `df` degrees of freedom
/// (NaN for df <= 0).
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    ChiSquared::new(df).map_or(f64::NAN, |d| d.sf(x))
}

/// P(X > f) for the F distribution with (d1, d2) degrees of freedom (NaN
/// for d1 or d2 <= 0).
pub fn f_sf(f: f64, d1: f64, d2: f64) -> f64 {
    if f <= 0.0 {
        return 1.0;
    }
    FisherSnedecor::new(d1, d2).map_or(f64::NAN, |d| d.sf(f))
}

/// Mean, sample standard deviation (ddof 1) and the half-width of the
/// two-sided 95% Student t confidence interval of the mean,
/// t(0.975, n-1) · s / √n. None for an empty sample; std and half-width
/// None with fewer than two values. (The grid gets mean and std from polars
/// and the half-width from [`ci95_half_width`]; this is their reference.)
#[cfg(test)]
pub fn mean_std_ci(xs: &[f64]) -> Option<(f64, Option<f64>, Option<f64>)> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Some((mean, None, None));
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    Some((mean, Some(std), Some(ci95_half_width(std, n))))
}

/// t(0.975, n-1) · std / √n: the half-width of a 95% interval of a mean of
/// `n` values with sample std `std` (n >= 2).
pub fn ci95_half_width(std: f64, n: usize) -> f64 {
    t_quantile(0.975, (n - 1) as f64) * std / (n as f64).sqrt()
}

/// Ranks of `xs` (1 = smallest), ties get their average rank.
pub fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut out = vec![0.0; xs.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Which distribution a Wilcoxon p-value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WilcoxonMethod {
    /// The exact null distribution of W+ over the sign flips of the ranks
    /// (given the ties).
    Exact,
    /// The normal approximation with the tie correction of the variance, no
    /// continuity correction.
    Normal,
}

/// The Wilcoxon signed-rank test of paired samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Wilcoxon {
    /// Pairs with a non-zero difference (zero differences are dropped, as in
    /// Wilcoxon's original test and scipy's default `zero_method="wilcox"`).
    pub n: usize,
    /// The rank sums of the positive and the negative differences (x - y).
    pub r_plus: f64,
    pub r_minus: f64,
    /// Two-sided p-value.
    pub p: f64,
    pub method: WilcoxonMethod,
    /// Matched-pairs rank-biserial correlation (R+ - R-) / (R+ + R-), in
    /// [-1, 1]: 1 when x is larger in every pair; 0 with no non-zero pair.
    pub effect: f64,
}

impl Wilcoxon {
    /// The test statistic T = min(R+, R-) of the tables.
    #[cfg(test)]
    pub fn statistic(&self) -> f64 {
        self.r_plus.min(self.r_minus)
    }
}

/// How many of the 2^n sign choices of the weights give each sum of the
/// positive ones (the null distribution of a signed-rank sum).
fn sign_flip_counts(weights: &[usize]) -> Vec<f64> {
    let max: usize = weights.iter().sum();
    let mut counts = vec![0.0; max + 1];
    counts[0] = 1.0;
    let mut reach = 0;
    for &w in weights {
        reach += w;
        for s in (w..=reach).rev() {
            counts[s] += counts[s - w];
        }
    }
    counts
}

/// P(W+ <= t) under the null hypothesis, with n untied non-zero differences.
#[cfg(test)]
pub fn signed_rank_cdf(t: f64, n: usize) -> f64 {
    if t < 0.0 {
        return 0.0;
    }
    let ranks: Vec<usize> = (1..=n).collect();
    let counts = sign_flip_counts(&ranks);
    let upto = (t.floor() as usize).min(counts.len() - 1);
    counts[..=upto].iter().sum::<f64>() / 2f64.powi(n as i32)
}

/// The two-sided Wilcoxon signed-rank test of x against y (paired), with
/// zero differences dropped. The p-value follows scipy's `method="auto"`
/// (1.17): exact with no ties and no zeros and at most 50 pairs; with ties or
/// zeros, exact over the 2^n sign flips of the (average) ranks when there are
/// at most 13 pairs; else the normal approximation with the tie correction
/// of the variance and no continuity correction. None when the samples
/// differ in length.
pub fn wilcoxon(x: &[f64], y: &[f64]) -> Option<Wilcoxon> {
    if x.len() != y.len() {
        return None;
    }
    let pairs = x.len();
    let d: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(a, b)| a - b)
        .filter(|d| *d != 0.0)
        .collect();
    let n = d.len();
    if n == 0 {
        return Some(Wilcoxon {
            n,
            r_plus: 0.0,
            r_minus: 0.0,
            p: 1.0,
            method: WilcoxonMethod::Exact,
            effect: 0.0,
        });
    }
    let abs: Vec<f64> = d.iter().map(|d| d.abs()).collect();
    let r = ranks(&abs);
    let r_plus: f64 = d
        .iter()
        .zip(&r)
        .filter(|(d, _)| **d > 0.0)
        .map(|(_, r)| r)
        .sum::<f64>()
        + 0.0; // an empty f64 sum is -0.0
    let total = (n * (n + 1)) as f64 / 2.0;
    let r_minus = total - r_plus;
    // tie groups of the absolute differences
    let mut sorted = abs.clone();
    sorted.sort_by(f64::total_cmp);
    let mut ties = Vec::new();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        ties.push((j - i + 1) as f64);
        i = j + 1;
    }
    let tied = ties.iter().any(|&t| t > 1.0);
    let exact = pairs <= 50 && ((!tied && n == pairs) || pairs <= 13);
    let (p, method) = if exact {
        // average ranks are multiples of 1/2: count sums of doubled ranks
        let doubled: Vec<usize> = r.iter().map(|r| (2.0 * r).round() as usize).collect();
        let counts = sign_flip_counts(&doubled);
        let obs = (2.0 * r_plus).round() as usize;
        let all = 2f64.powi(n as i32);
        let below = counts[..=obs].iter().sum::<f64>() / all;
        let above = counts[obs..].iter().sum::<f64>() / all;
        ((2.0 * below.min(above)).min(1.0), WilcoxonMethod::Exact)
    } else {
        let mean = total / 2.0;
        let var = (n * (n + 1) * (2 * n + 1)) as f64 / 24.0
            - ties.iter().map(|t| t * t * t - t).sum::<f64>() / 48.0;
        let p = if var > 0.0 {
            let z = (r_plus.min(r_minus) - mean) / var.sqrt();
            (2.0 * normal_cdf(z)).min(1.0)
        } else {
            1.0
        };
        (p, WilcoxonMethod::Normal)
    };
    Some(Wilcoxon {
        n,
        r_plus,
        r_minus,
        p,
        method,
        effect: (r_plus - r_minus) / total,
    })
}

/// Holm's step-down adjustment of p-values (family-wise error rate), in the
/// order given.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (i, &k) in order.iter().enumerate() {
        running = running.max(((m - i) as f64 * p[k]).min(1.0));
        out[k] = running;
    }
    out
}

/// The Friedman test over `blocks` (here: classes), each a value per
/// treatment (here: method); the higher value gets the better (lower) rank.
#[derive(Clone, Debug, PartialEq)]
pub struct Friedman {
    /// Number of blocks N and treatments k.
    pub blocks: usize,
    pub treatments: usize,
    /// Average rank of each treatment (1 = best), ties averaged.
    pub average_ranks: Vec<f64>,
    /// Friedman's statistic as in Demšar (2006), eq. 4 (no tie correction):
    /// 12N / (k(k+1)) · (Σ R_j² - k(k+1)²/4), chi-square with k-1 df.
    pub chi2: f64,
    pub p_chi2: f64,
    /// Iman and Davenport's F = (N-1) χ² / (N(k-1) - χ²), F with (k-1) and
    /// (k-1)(N-1) df (Demšar's eq. 5; less conservative than χ²).
    pub f: f64,
    pub p_f: f64,
}

/// Average ranks and the Friedman test; None with fewer than 2 blocks or 2
/// treatments, or blocks of unequal length.
pub fn friedman(blocks: &[Vec<f64>]) -> Option<Friedman> {
    let n = blocks.len();
    let k = blocks.first()?.len();
    if n < 2 || k < 2 || blocks.iter().any(|b| b.len() != k) {
        return None;
    }
    let mut sum = vec![0.0; k];
    for b in blocks {
        let neg: Vec<f64> = b.iter().map(|x| -x).collect();
        for (s, r) in sum.iter_mut().zip(ranks(&neg)) {
            *s += r;
        }
    }
    let average_ranks: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
    let (nf, kf) = (n as f64, k as f64);
    let chi2 = 12.0 * nf / (kf * (kf + 1.0))
        * (average_ranks.iter().map(|r| r * r).sum::<f64>() - kf * (kf + 1.0).powi(2) / 4.0);
    let denom = nf * (kf - 1.0) - chi2;
    let (f, p_f) = if denom > 1e-12 {
        let f = (nf - 1.0) * chi2 / denom;
        (f, f_sf(f, kf - 1.0, (kf - 1.0) * (nf - 1.0)))
    } else {
        (f64::INFINITY, 0.0)
    };
    Some(Friedman {
        blocks: n,
        treatments: k,
        average_ranks,
        chi2,
        p_chi2: chi2_sf(chi2, kf - 1.0),
        f,
        p_f,
    })
}

/// P(R <= q) for the range R of `k` independent standard normal variables
/// (the studentized range with infinite degrees of freedom):
/// k ∫ φ(z) (Φ(z) - Φ(z - q))^(k-1) dz, by Simpson's rule on [-8, 8].
/// (statrs has no studentized range distribution.)
pub fn normal_range_cdf(q: f64, k: usize) -> f64 {
    if q <= 0.0 {
        return 0.0;
    }
    const STEPS: usize = 400;
    let (a, b) = (-8.0, 8.0);
    let h = (b - a) / STEPS as f64;
    let normal = Normal::standard();
    let f = |z: f64| normal.pdf(z) * (normal_cdf(z) - normal_cdf(z - q)).powi(k as i32 - 1);
    let mut s = f(a) + f(b);
    for i in 1..STEPS {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        s += w * f(a + i as f64 * h);
    }
    (k as f64 * s * h / 3.0).min(1.0)
}

/// The Nemenyi test's critical value q_α for `k` treatments: the 1-α
/// quantile of the normal range of k variables divided by √2 (Demšar 2006,
/// Table 5).
pub fn nemenyi_q(alpha: f64, k: usize) -> f64 {
    let (mut lo, mut hi) = (0.0, 20.0);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if normal_range_cdf(mid, k) < 1.0 - alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi) / 2f64.sqrt()
}

/// The Nemenyi critical difference of average ranks, q_α √(k(k+1) / (6N)).
pub fn nemenyi_cd(alpha: f64, k: usize, blocks: usize) -> f64 {
    nemenyi_q(alpha, k) * ((k * (k + 1)) as f64 / (6.0 * blocks as f64)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol,
            "got {got}, want {want} (± {tol})"
        );
    }

    #[test]
    fn statrs_special_functions_match_known_values() {
        // what the distributions above rest on, pinned so that a statrs update
        // that changed them would show here first
        use statrs::function::beta::beta_reg;
        use statrs::function::gamma::{gamma_ur, ln_gamma};
        use std::f64::consts::PI;
        close(ln_gamma(1.0), 0.0, 1e-14);
        close(ln_gamma(0.5), PI.sqrt().ln(), 1e-14);
        close(ln_gamma(10.0), 362_880f64.ln(), 1e-12);
        close(ln_gamma(0.1), 2.252_712_651_734_206, 1e-12);
        // Q(1, x) = e^-x
        close(gamma_ur(1.0, 2.0), (-2.0f64).exp(), 1e-14);
        close(
            gamma_ur(3.0, 0.5),
            (-0.5f64).exp() * (1.0 + 0.5 + 0.125),
            1e-14,
        );
        // I_x(1, 1) = x, I_x(a, 1) = x^a
        close(beta_reg(1.0, 1.0, 0.3), 0.3, 1e-14);
        close(beta_reg(2.5, 1.0, 0.4), 0.4f64.powf(2.5), 1e-13);
        close(
            beta_reg(2.0, 3.0, 0.9),
            1.0 - beta_reg(3.0, 2.0, 0.1),
            1e-14,
        );
    }

    #[test]
    fn distributions_match_published_tables() {
        // the normal table
        close(normal_cdf(1.959_963_984_540_054), 0.975, 1e-12);
        close(normal_cdf(-1.0), 0.158_655_253_931_457_05, 1e-13);
        close(normal_cdf(0.0), 0.5, 1e-15);
        // Student t quantiles t(0.975, df) of every textbook table
        for (df, t) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (3.0, 3.182),
            (4.0, 2.776),
            (9.0, 2.262),
            (10.0, 2.228),
            (29.0, 2.045),
            (30.0, 2.042),
        ] {
            close(t_quantile(0.975, df), t, 5e-4);
        }
        // scipy.stats.t.ppf(0.975, 2) = 4.302652729749464
        close(t_quantile(0.975, 2.0), 4.302_652_729_749_464, 1e-9);
        close(t_quantile(0.025, 5.0), -2.570_581_835_636_314, 1e-9);
        // chi-square and F upper critical values at 0.05
        close(chi2_sf(3.841_458_820_694_124, 1.0), 0.05, 1e-12);
        close(chi2_sf(7.814_727_903_251_178, 3.0), 0.05, 1e-12);
        // scipy.stats.f.ppf(0.95, 3, 39) = 2.845067805279349
        close(f_sf(2.845_067_805_279_349, 3.0, 39.0), 0.05, 1e-10);
    }

    #[test]
    fn cell_interval_is_student_t_over_seeds() {
        // hand-worked: 0.7, 0.8, 0.9 -> mean 0.8, s 0.1, half-width 4.3027 · 0.1 / √3
        let (m, s, h) = mean_std_ci(&[0.7, 0.8, 0.9]).unwrap();
        close(m, 0.8, 1e-15);
        close(s.unwrap(), 0.1, 1e-15);
        close(h.unwrap(), 4.302_652_729_749_464 * 0.1 / 3f64.sqrt(), 1e-9);
        // scipy.stats.t.interval(0.95, 1, loc=0.65, scale=sem([0.6, 0.7]))
        //   = (0.01468..., 1.28531...): half-width 12.7062 · 0.070711 / √2
        let (_, _, h) = mean_std_ci(&[0.6, 0.7]).unwrap();
        close(h.unwrap(), 0.635_310_236_808_418, 1e-9);
        assert_eq!(mean_std_ci(&[0.5]), Some((0.5, None, None)));
        assert_eq!(mean_std_ci(&[]), None);
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 2.0, 2.0]), vec![4.0, 1.0, 2.5, 2.5]);
    }

    #[test]
    fn wilcoxon_exact_distribution_matches_the_critical_value_table() {
        // two-sided α = 0.05 critical values of T (reject when T <= value),
        // the standard table (e.g. Demšar 2006 quotes 21 for N = 14)
        for (n, crit) in [(6, 0), (8, 3), (10, 8), (14, 21), (20, 52), (25, 89)] {
            assert!(2.0 * signed_rank_cdf(crit as f64, n) <= 0.05, "n {n}");
            assert!(2.0 * signed_rank_cdf(crit as f64 + 1.0, n) > 0.05, "n {n}");
        }
        // n = 3: 8 equally likely subsets, one with sum 0
        close(signed_rank_cdf(0.0, 3), 0.125, 1e-15);
    }

    #[test]
    fn wilcoxon_matches_scipy() {
        // scipy 1.17.1, import scipy.stats as s
        // no ties:  s.wilcoxon([.9,.8,.7,.95,.6,.85], [.85,.82,.6,.81,.55,.84])
        let w = wilcoxon(
            &[0.9, 0.8, 0.7, 0.95, 0.6, 0.85],
            &[0.85, 0.82, 0.6, 0.81, 0.55, 0.84],
        )
        .unwrap();
        assert_eq!(w.method, WilcoxonMethod::Exact);
        close(w.statistic(), SCIPY_NO_TIES.0, 1e-12);
        close(w.p, SCIPY_NO_TIES.1, 1e-12);
        // ties (two differences of -0.01), n <= 13: exact over sign flips
        // x = [0.92, 0.85, 0.78, 0.99, 0.71, 0.88, 0.80, 0.95, 0.83, 0.77]
        // y = [0.90, 0.80, 0.79, 0.93, 0.60, 0.84, 0.81, 0.85, 0.79, 0.70]
        // s.wilcoxon(x, y) -> statistic=3.0, pvalue=0.009765625
        let x = [0.92, 0.85, 0.78, 0.99, 0.71, 0.88, 0.80, 0.95, 0.83, 0.77];
        let y = [0.90, 0.80, 0.79, 0.93, 0.60, 0.84, 0.81, 0.85, 0.79, 0.70];
        let w = wilcoxon(&x, &y).unwrap();
        assert_eq!(w.method, WilcoxonMethod::Exact);
        close(w.statistic(), 3.0, 1e-12);
        close(w.p, 0.009_765_625, 1e-12);
        close(w.effect, (w.r_plus - 3.0) / 55.0, 1e-12);
        assert!(w.effect > 0.0);
        // Demšar (2006), Table 2: C4.5+m vs C4.5 on 14 data sets, two zero
        // differences (dropped) and ties: the normal approximation.
        // s.wilcoxon(cm, c) -> statistic=6.5, pvalue=0.01075713311978963
        let (c, cm) = demsar_c45();
        let w = wilcoxon(&cm, &c).unwrap();
        assert_eq!(w.n, 12);
        assert_eq!(w.method, WilcoxonMethod::Normal);
        close(w.statistic(), 6.5, 1e-9);
        close(w.p, 0.010_757_133_119_789_63, 1e-9);
        // identical samples: nothing to test
        assert_eq!(wilcoxon(&x, &x).unwrap().p, 1.0);
        assert!(wilcoxon(&x, &y[..3]).is_none());
    }

    #[test]
    fn holm_matches_the_textbook_example() {
        // p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1
        // -> 0.02, 0.03, 0.06, max(0.06, 0.04) = 0.06
        // statsmodels.stats.multitest.multipletests(p, method="holm")[1] agrees
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        for (a, b) in adj.iter().zip([0.03, 0.06, 0.06, 0.02]) {
            close(*a, b, 1e-15);
        }
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]); // monotone: 0.9 · 1 < 1.0
        assert!(holm(&[]).is_empty());
    }

    /// AUC of C4.5, C4.5+m, C4.5+cf, C4.5+m+cf on 14 data sets: Demšar
    /// (2006), Table 6. The printed table ties C4.5+cf and C4.5+m+cf on
    /// `voting` (0.975) where the paper's ranks (2, 3) come from the unrounded
    /// values: 0.97501 breaks the tie the same way.
    fn demsar_table6() -> Vec<Vec<f64>> {
        vec![
            vec![0.763, 0.768, 0.771, 0.798],
            vec![0.599, 0.591, 0.590, 0.569],
            vec![0.954, 0.971, 0.968, 0.967],
            vec![0.628, 0.661, 0.654, 0.657],
            vec![0.882, 0.888, 0.886, 0.898],
            vec![0.936, 0.931, 0.916, 0.931],
            vec![0.661, 0.668, 0.609, 0.685],
            vec![0.583, 0.583, 0.563, 0.625],
            vec![0.775, 0.838, 0.866, 0.875],
            vec![1.000, 1.000, 1.000, 1.000],
            vec![0.940, 0.962, 0.965, 0.962],
            vec![0.619, 0.666, 0.614, 0.669],
            vec![0.972, 0.981, 0.975_01, 0.975],
            vec![0.957, 0.978, 0.946, 0.970],
        ]
    }

    fn demsar_c45() -> (Vec<f64>, Vec<f64>) {
        let t = demsar_table6();
        (
            t.iter().map(|r| r[0]).collect(),
            t.iter().map(|r| r[1]).collect(),
        )
    }

    /// (statistic, p-value) of scipy for the untied sample above.
    const SCIPY_NO_TIES: (f64, f64) = (2.0, 0.093_75);

    #[test]
    fn friedman_reproduces_demsar_example() {
        // Demšar (2006), section 3.2.2: average ranks 3.143, 2.000, 2.893,
        // 1.964; χ²_F = 9.28; F_F = 3.69 (critical F(3, 39) = 2.85 at 0.05)
        let f = friedman(&demsar_table6()).unwrap();
        for (r, want) in f.average_ranks.iter().zip([3.143, 2.000, 2.893, 1.964]) {
            close(*r, want, 5e-4);
        }
        close(f.chi2, 9.28, 5e-3);
        close(f.f, 3.69, 5e-3);
        assert!(f.p_f < 0.05 && f.p_chi2 < 0.05);
        // with no ties scipy's tie correction is 1, so scipy agrees:
        // b = [[.9,.8,.7],[.85,.86,.6],[.7,.75,.72],[.99,.9,.8],[.6,.65,.7]]
        // s.friedmanchisquare(*np.array(b).T) -> 1.6000000000000014, p 0.44932896411722134
        let b = [
            vec![0.9, 0.8, 0.7],
            vec![0.85, 0.86, 0.6],
            vec![0.7, 0.75, 0.72],
            vec![0.99, 0.9, 0.8],
            vec![0.6, 0.65, 0.7],
        ];
        let g = friedman(&b).unwrap();
        close(g.chi2, 1.6, 1e-12);
        close(g.p_chi2, 0.449_328_964_117_221_34, 1e-12);
        assert!(friedman(&[vec![1.0, 2.0]]).is_none());
    }

    #[test]
    fn nemenyi_matches_demsar_table5() {
        let q05 = [
            1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164,
        ];
        let q10 = [
            1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920,
        ];
        for (i, (a, b)) in q05.iter().zip(q10).enumerate() {
            close(nemenyi_q(0.05, i + 2), *a, 1.5e-3);
            close(nemenyi_q(0.10, i + 2), b, 1.5e-3);
        }
        // beyond the table: scipy.stats.studentized_range.ppf(0.95, 12, np.inf) / np.sqrt(2)
        close(nemenyi_q(0.05, 12), 3.268_003_924_466_142, 1e-4);
        // Demšar's example: CD = 2.569 · √(4·5 / (6·14)) = 1.25
        close(nemenyi_cd(0.05, 4, 14), 1.25, 5e-3);
    }
}
