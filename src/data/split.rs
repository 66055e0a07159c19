//! Protocol splits (which images a detector trains on, which it is tested on
//! and which of those are anomalies), deterministic stratified sub-sampling
//! for data limits, and validation sets carved from the training normals.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset, ImageSet, Split};
use crate::spec::{Limits, Protocol};

const TRAIN_SALT: u64 = 0x7472_6169_6e00_0001;
const TEST_SALT: u64 = 0x7465_7374_0000_0002;
const VALID_SALT: u64 = 0x7661_6c69_6400_0003;

/// Picks at most `limit` of `idx` (positions into `labels`), stratified by
/// label: each class keeps its share (largest remainders get the rounding),
/// the images of a class are drawn at random with `rng`. The result is in
/// the order of `idx`.
pub fn stratified_subsample(
    labels: &[u16],
    idx: &[usize],
    limit: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    if limit >= idx.len() {
        return idx.to_vec();
    }
    let mut groups: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (pos, &i) in idx.iter().enumerate() {
        groups.entry(labels[i]).or_default().push(pos);
    }
    let n = idx.len();
    let mut quota: Vec<(u16, usize, usize)> = groups
        .iter()
        .map(|(&l, g)| {
            let exact = limit * g.len();
            (l, exact / n, exact % n)
        })
        .collect();
    let given: usize = quota.iter().map(|q| q.1).sum();
    let mut order: Vec<usize> = (0..quota.len()).collect();
    // largest remainder first; ties to the smaller label
    order.sort_by(|&a, &b| {
        quota[b]
            .2
            .cmp(&quota[a].2)
            .then(quota[a].0.cmp(&quota[b].0))
    });
    for &k in order.iter().take(limit - given) {
        quota[k].1 += 1;
    }
    let mut picked: Vec<usize> = Vec::with_capacity(limit);
    for (l, q, _) in quota {
        let mut g = groups.remove(&l).unwrap_or_default();
        g.shuffle(rng);
        picked.extend_from_slice(&g[..q.min(g.len())]);
    }
    picked.sort_unstable();
    picked.into_iter().map(|pos| idx[pos]).collect()
}

/// See [`super::split`].
pub fn split(
    ds: &Dataset,
    protocol: Protocol,
    class: usize,
    seed: u64,
    limits: Limits,
) -> Result<Split, DataError> {
    let n_classes = ds.classes.len();
    if class >= n_classes {
        return Err(DataError::Invalid(format!(
            "class {class} does not exist in dataset `{}` (classes 0-{}: {})",
            ds.id.name,
            n_classes.saturating_sub(1),
            ds.classes.join(", ")
        )));
    }
    let c = class as u16;
    let normal_train = |l: u16| match protocol {
        Protocol::AnomalyClass => l != c,
        Protocol::OneClass => l == c,
    };
    let train_idx: Vec<usize> = (0..ds.train.len())
        .filter(|&i| normal_train(ds.train.labels[i]))
        .collect();
    let test_idx: Vec<usize> = (0..ds.test.len()).collect();
    let train_idx = match limits.train {
        Some(l) => stratified_subsample(
            &ds.train.labels,
            &train_idx,
            l,
            &mut ChaCha8Rng::seed_from_u64(seed ^ TRAIN_SALT),
        ),
        None => train_idx,
    };
    let test_idx = match limits.test {
        Some(l) => stratified_subsample(
            &ds.test.labels,
            &test_idx,
            l,
            &mut ChaCha8Rng::seed_from_u64(seed ^ TEST_SALT),
        ),
        None => test_idx,
    };
    if train_idx.is_empty() {
        return Err(DataError::Invalid(format!(
            "dataset `{}` has no training images of the normal class(es) for class {class} ({}) under {}",
            ds.id.name,
            ds.classes[class],
            protocol.as_str()
        )));
    }
    let test = ds.test.subset(&test_idx);
    let test_is_anomaly = test
        .labels
        .iter()
        .map(|&l| u8::from(!normal_train(l)))
        .collect();
    Ok(Split {
        train: ds.train.subset(&train_idx),
        test,
        test_is_anomaly,
    })
}

/// Carves a validation set from training normals (never from test data):
/// `fraction` of the images, stratified by class, drawn with `seed`.
/// Returns (the remaining training images, the validation images), both in
/// their original order.
pub fn validation_split(
    train: &ImageSet,
    fraction: f64,
    seed: u64,
) -> Result<(ImageSet, ImageSet), DataError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(DataError::Invalid(format!(
            "validation fraction {fraction} must be between 0 and 1 (exclusive)"
        )));
    }
    let all: Vec<usize> = (0..train.len()).collect();
    let n_val = ((train.len() as f64) * fraction).round() as usize;
    if n_val == 0 || n_val >= train.len() {
        return Err(DataError::Invalid(format!(
            "a validation fraction of {fraction} of {} training images leaves no validation or no training image",
            train.len()
        )));
    }
    let val = stratified_subsample(
        &train.labels,
        &all,
        n_val,
        &mut ChaCha8Rng::seed_from_u64(seed ^ VALID_SALT),
    );
    let mut is_val = vec![false; train.len()];
    for &i in &val {
        is_val[i] = true;
    }
    let rest: Vec<usize> = all.into_iter().filter(|&i| !is_val[i]).collect();
    Ok((train.subset(&rest), train.subset(&val)))
}

#[cfg(test)]
mod tests {
    use super::super::DatasetId;
    use super::*;

    /// 10 classes; class k has 10 + k training and 5 + k test images; each
    /// image's single pixel is its index (mod 256).
    fn toy() -> Dataset {
        let mk = |base: usize| {
            let mut s = ImageSet {
                channels: 1,
                height: 1,
                width: 1,
                ..Default::default()
            };
            let mut i = 0;
            for k in 0..10u16 {
                for _ in 0..base + k as usize {
                    s.labels.push(k);
                    s.pixels.push((i % 256) as u8);
                    i += 1;
                }
            }
            s
        };
        Dataset {
            id: DatasetId {
                name: "toy".into(),
                digest: "x".into(),
                approximate: false,
            },
            classes: (0..10).map(|k| k.to_string()).collect(),
            train: mk(10),
            test: mk(5),
        }
    }

    #[test]
    fn anomaly_class_and_one_class_pick_the_right_images() {
        let ds = toy();
        let s = split(&ds, Protocol::AnomalyClass, 3, 0, Limits::default()).unwrap();
        assert_eq!(s.train.len(), ds.train.len() - 13);
        assert!(s.train.labels.iter().all(|&l| l != 3));
        assert_eq!(s.test, ds.test);
        assert_eq!(s.test_is_anomaly.iter().filter(|&&a| a == 1).count(), 8);
        for (l, a) in s.test.labels.iter().zip(&s.test_is_anomaly) {
            assert_eq!(*a == 1, *l == 3);
        }
        let o = split(&ds, Protocol::OneClass, 3, 0, Limits::default()).unwrap();
        assert_eq!(o.train.len(), 13);
        assert!(o.train.labels.iter().all(|&l| l == 3));
        assert_eq!(
            o.test_is_anomaly.iter().filter(|&&a| a == 0).count(),
            8,
            "one-class: only class 3 is normal"
        );
        let e = split(&ds, Protocol::OneClass, 10, 0, Limits::default()).unwrap_err();
        assert!(e.to_string().contains("class 10 does not exist"), "{e}");
    }

    #[test]
    fn limits_are_stratified_and_deterministic_per_seed() {
        let ds = toy();
        let lim = Limits {
            train: Some(40),
            test: Some(30),
        };
        let a = split(&ds, Protocol::AnomalyClass, 0, 7, lim).unwrap();
        let b = split(&ds, Protocol::AnomalyClass, 0, 7, lim).unwrap();
        let c = split(&ds, Protocol::AnomalyClass, 0, 8, lim).unwrap();
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
        assert_ne!(a.train.pixels, c.train.pixels);
        assert_eq!(a.train.len(), 40);
        assert_eq!(a.test.len(), 30);
        // train normals are classes 1-9 with 11..19 images (135): shares of 40
        let counts = a.train.class_counts(10);
        assert_eq!(counts[0], 0);
        for (k, &n) in counts.iter().enumerate().skip(1) {
            let exact = 40.0 * (10 + k) as f64 / 135.0;
            assert!((n as f64 - exact).abs() < 1.0, "class {k}: {n} vs {exact}");
        }
        // test: 95 images, every class keeps its share, anomalies included
        assert!(a.test.class_counts(10).iter().all(|&n| n >= 2));
        assert!(a.test_is_anomaly.contains(&1));
        // sub-samples keep the original order
        assert!(a.train.pixels.windows(2).all(|w| w[0] < w[1]));
        // a limit above the size keeps everything
        let all = split(
            &ds,
            Protocol::AnomalyClass,
            0,
            7,
            Limits {
                train: Some(10_000),
                test: None,
            },
        )
        .unwrap();
        assert_eq!(all.train.len(), 135);
    }

    #[test]
    fn validation_comes_from_training_normals_only() {
        let ds = toy();
        let s = split(&ds, Protocol::AnomalyClass, 0, 1, Limits::default()).unwrap();
        let (rest, val) = validation_split(&s.train, 0.2, 5).unwrap();
        assert_eq!(rest.len() + val.len(), s.train.len());
        assert_eq!(val.len(), 27);
        assert!(val.labels.iter().all(|&l| l != 0));
        // disjoint: pixels are unique image ids here
        assert!(val.pixels.iter().all(|p| !rest.pixels.contains(p)));
        let (_, val2) = validation_split(&s.train, 0.2, 5).unwrap();
        assert_eq!(val, val2);
        let (_, val3) = validation_split(&s.train, 0.2, 6).unwrap();
        assert_ne!(val, val3);
        assert!(validation_split(&s.train, 1.0, 5).is_err());
    }
}
