//! Tests of the KDE: the density against its definition, the bandwidth
//! search, PCA, learning, persistence, errors, and real MNIST.

use std::fs;
use std::sync::atomic::AtomicBool;

use faer::{Mat, MatRef};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::density::*;
use super::model::*;
use super::preprocess::*;
use super::*;
use crate::detector::NoProgress;
use crate::device::DeviceChoice;

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
        checkpoint: None,
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
        checkpoint: None,
    };
    let err = Kde::new(KdeParams::default())
        .fit(&train, &ctx)
        .err()
        .unwrap();
    assert!(matches!(err, DetectorError::Cancelled));
}

/// Real MNIST through the data module (`crate::data::testutil::real_dataset`:
/// `RUNNER_DATA` or `../shared/data`). Digit 1 as the normal class (one-class
/// protocol), where Deep SVDD reports 98.9 AUROC for this baseline. Skipped
/// with a message when MNIST is absent, failed when `RUNNER_REQUIRE_DATA=1`;
/// a damaged copy always fails.
#[test]
fn kde_learns_mnist() {
    use crate::data::split;
    use crate::spec::{Limits, Protocol};
    let Some(ds) = crate::data::testutil::real_dataset("mnist") else {
        return;
    };
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
