//! A fixed, hand-made results set for the report's tests: two row labels
//! (one of them a sweep setting), three classes, three seeds, one failed job,
//! one missing job, reference numbers and training logs of the GANomaly
//! jobs.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Outcome, Record, ReportInput};
use crate::metrics;
use crate::spec::{Protocol, Reference};
use crate::store::{EpochLog, JobResult, Scores, TrainingLog};

/// 40 test images (every fourth an anomaly), scores separated by `shift`.
pub fn scores(shift: f32, seed: u64) -> Scores {
    scores_n(40, shift, seed)
}

/// `n` test images (every fourth an anomaly), scores separated by `shift`.
pub fn scores_n(n: usize, shift: f32, seed: u64) -> Scores {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<u8> = (0..n).map(|i| (i % 4 == 0) as u8).collect();
    let scores = labels
        .iter()
        .map(|&l| rng.random::<f32>() + shift * l as f32)
        .collect();
    Scores { labels, scores }
}

pub fn done(scores: Scores) -> Outcome {
    let auroc = metrics::auroc(&scores.labels, &scores.scores).unwrap();
    let auprc = metrics::average_precision(&scores.labels, &scores.scores).unwrap();
    Outcome::Done {
        result: JobResult {
            auroc,
            auprc,
            n_train: 120,
            n_test: scores.labels.len(),
            train_seconds: 1.5,
            score_seconds: 0.25,
            device: "cpu".into(),
            trained: true,
            variants: Default::default(),
        },
        scores,
    }
}

pub fn record(
    method: &str,
    label: &str,
    class: (usize, &str),
    seed: u64,
    outcome: Outcome,
) -> Record {
    let mut sweep = BTreeMap::new();
    if label.contains("w_con=10") {
        sweep.insert("w_con".to_string(), "10".to_string());
    }
    Record {
        label: label.into(),
        method: method.into(),
        key: blake3::hash(format!("{label}/{}/{seed}", class.0).as_bytes())
            .to_hex()
            .to_string(),
        sweep,
        class: class.0,
        class_name: class.1.into(),
        seed,
        outcome,
        training: None,
    }
}

pub const CLASSES: [(usize, &str); 3] = [(0, "zero"), (1, "one"), (7, "seven")];

/// The fixed results set.
pub fn input() -> ReportInput {
    let rows = [("kde", "kde"), ("ganomaly", "ganomaly (w_con=10)")];
    let mut records = Vec::new();
    for (m, (method, label)) in rows.iter().enumerate() {
        for (j, &class) in CLASSES.iter().enumerate() {
            for seed in 0..3u64 {
                let outcome = if *method == "ganomaly" && class.0 == 1 && seed == 2 {
                    Outcome::Failed {
                        error:
                            "training diverged: the generator loss is NaN at step 120\nsee the log"
                                .into(),
                    }
                } else if *method == "kde" && class.0 == 7 && seed == 1 {
                    Outcome::Missing
                } else {
                    let shift = 0.15 + 0.2 * j as f32 + 0.3 * m as f32;
                    done(scores(shift, seed * 100 + (m * 10 + j) as u64))
                };
                let mut r = record(method, label, class, seed, outcome);
                if *method == "ganomaly" && matches!(r.outcome, Outcome::Done { .. }) {
                    r.training = Some(training(seed * 10 + j as u64));
                }
                records.push(r);
            }
        }
    }
    let mut auroc = BTreeMap::new();
    auroc.insert(
        "kde".to_string(),
        vec![
            0.855, 0.996, 0.710, 0.693, 0.844, 0.776, 0.861, 0.844, 0.669, 0.825,
        ],
    );
    auroc.insert(
        "ganomaly".to_string(),
        vec![
            0.892, 0.675, 0.946, 0.793, 0.810, 0.847, 0.821, 0.689, 0.838, 0.650,
        ],
    );
    ReportInput {
        experiment: "demo".into(),
        dataset: "mnist".into(),
        approximate: false,
        protocol: Protocol::AnomalyClass,
        classes: CLASSES.iter().map(|&(c, n)| (c, n.to_string())).collect(),
        rows: rows.iter().map(|(_, l)| l.to_string()).collect(),
        records,
        reference: Some(Reference {
            source: "Silva and Lochter, Table 2 (MNIST)".into(),
            protocol: Protocol::AnomalyClass,
            auroc,
            printed_mean: Default::default(),
        }),
        cell: Default::default(),
        provenance: Default::default(),
    }
}

/// A five-epoch GANomaly-like training log (`g`, `d`, `con`), seeded.
pub fn training(seed: u64) -> TrainingLog {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    TrainingLog {
        epochs: (1..=5)
            .map(|epoch| {
                let e = epoch as f64;
                let mut noise = || rng.random::<f64>() * 0.2;
                EpochLog {
                    epoch,
                    seconds: 2.0 + noise(),
                    values: vec![
                        ("g".into(), 4.0 / e + noise()),
                        ("d".into(), 0.7 - 0.1 * e + noise()),
                        ("con".into(), 1.0 / e + noise()),
                    ],
                }
            })
            .collect(),
    }
}

/// A done job with hand-set metrics.
pub fn with(auroc: f64) -> Outcome {
    let Outcome::Done { scores, .. } = done(scores(0.5, 1)) else {
        unreachable!()
    };
    Outcome::Done {
        result: JobResult {
            auroc,
            auprc: 1.0 - auroc,
            n_train: 1,
            n_test: 40,
            train_seconds: 0.0,
            score_seconds: 0.0,
            device: "cpu".into(),
            trained: true,
            variants: Default::default(),
        },
        scores,
    }
}

/// A small set with hand-set AUROCs (AUPRC = 1 - AUROC), cells partly or wholly failed or missing.
pub fn hand_input() -> ReportInput {
    // row a: zero 0.7, 0.8, 0.9 | one 0.6, failed, missing | seven 0.5, 0.5, 0.8
    // row b: zero 0.9 only (seeds 1, 2 missing) | one: all failed | seven 0.4, 0.6, 0.8
    let c = CLASSES;
    let a = |cl, s, o| record("a", "a", cl, s, o);
    let b = |cl, s, o| record("b", "b", cl, s, o);
    let failed = || Outcome::Failed { error: "x".into() };
    let records = vec![
        a(c[0], 0, with(0.7)),
        a(c[0], 1, with(0.8)),
        a(c[0], 2, with(0.9)),
        a(c[1], 0, with(0.6)),
        a(c[1], 1, failed()),
        a(c[1], 2, Outcome::Missing),
        a(c[2], 0, with(0.5)),
        a(c[2], 1, with(0.5)),
        a(c[2], 2, with(0.8)),
        b(c[0], 0, with(0.9)),
        b(c[0], 1, Outcome::Missing),
        b(c[0], 2, Outcome::Missing),
        b(c[1], 0, failed()),
        b(c[1], 1, failed()),
        b(c[1], 2, failed()),
        b(c[2], 0, with(0.4)),
        b(c[2], 1, with(0.6)),
        b(c[2], 2, with(0.8)),
    ];
    ReportInput {
        experiment: "t".into(),
        dataset: "d".into(),
        approximate: false,
        protocol: Protocol::AnomalyClass,
        classes: c.iter().map(|&(i, n)| (i, n.to_string())).collect(),
        rows: vec!["a".into(), "b".into()],
        records,
        reference: None,
        cell: Default::default(),
        provenance: Default::default(),
    }
}
