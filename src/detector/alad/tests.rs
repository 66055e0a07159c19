//! ALAD's tests: a two-step smoke test, determinism, batching, persistence,
//! stopping, divergence, the score variants and two small learning tests.

use std::sync::atomic::AtomicBool;

use super::*;
use crate::detector::testutil::{
    Record, assert_diverges, assert_fit_cancels_and_needs_two_images, assert_save_load_round_trip,
    bars, ctx, digits_with_anomaly,
};
use crate::detector::{NoProgress, Phase};
use crate::device::DeviceChoice;
use crate::spec::methods::alad::AladScore;

/// Tiny networks for fast tests (no early stopping, a light average).
fn tiny(steps: usize) -> AladParams {
    AladParams {
        image_size: 16,
        latent: 4,
        encoder_width: 4,
        generator_width: 4,
        dxz_width: 4,
        dxx_width: 4,
        dzz_width: 4,
        batch_size: 4,
        max_steps: Some(steps),
        early_stop: false,
        ema_decay: 0.5,
        score_batch_size: 5,
        ..AladParams::default()
    }
}

#[test]
fn two_steps_give_finite_losses_and_one_score_per_image() {
    let cancel = AtomicBool::new(false);
    let rec = Record::default();
    let c = ctx(1, &cancel, &rec);
    let train_set = bars(12, 1, 16, false, 0);
    let p = tiny(2);
    let net = model::NetConfig::new(&p, 1).expect("shapes");
    let images = PreparedImages::new(&train_set, &net.preprocessing()).expect("prepared");
    let device = burn_device(DeviceChoice::Cpu).expect("cpu");
    let mut t = train::Trainer::new(net, &p, 1, &device);
    for (d, g) in [([0, 1, 2, 3], [4, 5, 6, 7]), ([8, 9, 10, 11], [0, 2, 4, 6])] {
        let l = t.step(&images, &d, &g);
        for v in [l.discriminator, l.dxz, l.dxx, l.dzz, l.generator, l.encoder] {
            assert!(v.is_finite() && v > 0.0, "{l:?}");
        }
        assert!((l.discriminator - (l.dxz + l.dxx + l.dzz)).abs() < 1e-5);
    }
    let (model, epochs) = Alad::new(p).fit_model(&train_set, &c).expect("fit");
    assert_eq!(epochs, 1);
    let test = bars(7, 1, 16, true, 9);
    let variants = model.score_variants(&test, &c).expect("score");
    let names: Vec<&str> = variants.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["features", "l1", "l2", "logits"]);
    for (name, s) in &variants {
        assert_eq!(s.len(), 7, "{name}");
        assert!(s.iter().all(|v| v.is_finite() && *v >= 0.0), "{name}");
    }
    assert_eq!(model.score(&test, &c).expect("score"), variants[0].1);
    let phases = rec.phases();
    assert!(
        matches!(&phases[0], Phase::Training { epoch: 1, epochs: 1, info } if info.contains("img/s")),
        "{phases:?}"
    );
}

/// `score` reports the configured variant; the others are the same numbers.
#[test]
fn the_shown_score_is_the_configured_variant() {
    let cancel = AtomicBool::new(false);
    let c = ctx(2, &cancel, &NoProgress);
    let train_set = bars(8, 1, 16, false, 0);
    let test = bars(5, 1, 16, true, 1);
    let (mut model, _) = Alad::new(tiny(2)).fit_model(&train_set, &c).expect("fit");
    let variants = model.score_variants(&test, &c).expect("variants");
    for (i, s) in AladScore::ALL.into_iter().enumerate() {
        model.shown = s;
        assert_eq!(
            model.score(&test, &c).expect("score"),
            variants[i].1,
            "{s:?}"
        );
    }
    assert_ne!(variants[0].1, variants[1].1);
}

#[test]
fn same_seed_gives_identical_scores_and_another_seed_does_not() {
    let cancel = AtomicBool::new(false);
    let train_set = bars(12, 1, 16, false, 0);
    let test = bars(6, 1, 16, true, 5);
    let run = |seed| {
        let c = ctx(seed, &cancel, &NoProgress);
        let (m, _) = Alad::new(tiny(3)).fit_model(&train_set, &c).expect("fit");
        m.score_variants(&test, &c).expect("score")
    };
    let a = run(4);
    assert_eq!(a, run(4));
    assert_ne!(a, run(5));
}

#[test]
fn scores_do_not_depend_on_batching_or_order() {
    let cancel = AtomicBool::new(false);
    let c = ctx(2, &cancel, &NoProgress);
    let train_set = bars(8, 1, 16, false, 0);
    let (mut model, _) = Alad::new(tiny(2)).fit_model(&train_set, &c).expect("fit");
    let test = bars(6, 1, 16, true, 5);
    let a = model.score_variants(&test, &c).expect("score");
    model.score_batch_size = 1;
    let rev = test.subset(&[5, 4, 3, 2, 1, 0]);
    let b = model.score_variants(&rev, &c).expect("score");
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let mut y = y.clone();
        y.reverse();
        for (p, q) in x.iter().zip(&y) {
            assert!(
                (p - q).abs() <= 1e-4 * p.abs().max(1e-3),
                "{name}: {x:?} vs {y:?}"
            );
        }
    }
}

/// Every variant survives the round trip (the shared check covers `score`).
#[test]
fn save_and_load_give_identical_scores() {
    let det = Alad::new(tiny(2));
    let train_set = bars(8, 1, 16, false, 0);
    let test = bars(5, 1, 16, true, 1);
    assert_save_load_round_trip(&det, &train_set, &test);
    let cancel = AtomicBool::new(false);
    let c = ctx(3, &cancel, &NoProgress);
    let model = det.fit(&train_set, &c).expect("fit");
    let dir = tempfile::tempdir().expect("tmp");
    model.save(dir.path()).expect("save");
    let back = det.load(dir.path(), &c).expect("load");
    assert_eq!(
        model.score_variants(&test, &c).expect("a"),
        back.score_variants(&test, &c).expect("b")
    );
}

#[test]
fn cancel_stops_training() {
    assert_fit_cancels_and_needs_two_images(
        &Alad::new(tiny(2)),
        &bars(8, 1, 16, false, 0),
        &bars(1, 1, 16, false, 0),
    );
}

#[test]
fn a_huge_learning_rate_is_reported_as_divergence() {
    let p = AladParams {
        lr: 1e30,
        ..tiny(20)
    };
    assert_diverges(&Alad::new(p), &bars(8, 1, 16, false, 0));
}

/// Early stopping holds out a seeded quarter of the normal training images
/// and stops once the validation score is more than `patience` epochs old.
#[test]
fn early_stopping_uses_held_out_normals_and_stops() {
    let det = Alad::new(AladParams {
        early_stop: true,
        patience: 0,
        epochs: 30,
        max_steps: None,
        ..tiny(0)
    });
    let (train_idx, valid_idx) = det.split(12, 7);
    assert_eq!((train_idx.len(), valid_idx.len()), (9, 3));
    let mut all: Vec<usize> = train_idx.iter().chain(&valid_idx).copied().collect();
    all.sort();
    assert_eq!(all, (0..12).collect::<Vec<_>>());
    assert_eq!(det.split(12, 7), (train_idx, valid_idx));
    assert_eq!(det.split(2, 7).1.len(), 0, "two images: nothing held out");
    let cancel = AtomicBool::new(false);
    let rec = Record::default();
    let (_, epochs) = det
        .fit_model(&bars(12, 1, 16, false, 0), &ctx(0, &cancel, &rec))
        .expect("fit");
    // With patience 0 a run stops at the first epoch that does not improve;
    // 30 epochs of a random walk of the score always have one.
    assert!(epochs < 30, "{epochs} epochs");
    let phases = rec.phases();
    assert!(
        matches!(&phases[0], Phase::Training { info, .. } if info.contains("valid")),
        "{phases:?}"
    );
}

/// The embedded UCI digits (8x8, upsampled to 16), digit 0 as the anomaly,
/// the other nine normal: ALAD's default score clearly above chance within
/// a small budget.
#[test]
fn learns_digits_zero_as_anomaly() {
    let cancel = AtomicBool::new(false);
    let c = ctx(0, &cancel, &NoProgress);
    let split = digits_with_anomaly(0);
    let p = AladParams {
        image_size: 16,
        latent: 16,
        encoder_width: 16,
        generator_width: 16,
        dxz_width: 16,
        dxx_width: 16,
        dzz_width: 16,
        early_stop: false,
        ema_decay: 0.9,
        max_steps: Some(300),
        ..AladParams::default()
    };
    let (model, _) = Alad::new(p).fit_model(&split.train, &c).expect("fit");
    let variants = model.score_variants(&split.test, &c).expect("score");
    let aucs: Vec<(String, f64)> = variants
        .iter()
        .map(|(n, s)| {
            let auc = crate::metrics::auroc(&split.test_is_anomaly, s).expect("auroc");
            (n.clone(), auc)
        })
        .collect();
    assert!(aucs[0].1 > 0.7, "{aucs:?}");
}
