//! Ranking metrics on (label, score) slices: ROC curve, AUROC, average
//! precision. Labels are 1 for an anomaly (the positive class), 0 for a normal
//! image; higher scores are more anomalous. Ties are handled exactly: tied
//! scores form one threshold (one ROC point), and AUROC is the Mann-Whitney
//! statistic with average ranks.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum MetricsError {
    #[error("{labels} labels but {scores} scores")]
    LengthMismatch { labels: usize, scores: usize },
    #[error(
        "the test set has only {which} images ({n}); AUROC needs both anomalies and normal images"
    )]
    OneClass { which: &'static str, n: usize },
    #[error("label {0} is neither 0 (normal) nor 1 (anomaly)")]
    BadLabel(u8),
    #[error("score {index} is not a number ({value})")]
    NotFinite { index: usize, value: f32 },
}

/// Points of the ROC curve, from (0, 0) to (1, 1), one per distinct score.
#[derive(Clone, Debug, PartialEq)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    /// The score at or above which images are called anomalous at each point
    /// (`+inf` for the first point).
    pub thresholds: Vec<f64>,
}

fn check(labels: &[u8], scores: &[f32]) -> Result<(usize, usize), MetricsError> {
    if labels.len() != scores.len() {
        return Err(MetricsError::LengthMismatch {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if let Some(&l) = labels.iter().find(|&&l| l > 1) {
        return Err(MetricsError::BadLabel(l));
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(MetricsError::NotFinite { index, value });
    }
    let pos = labels.iter().filter(|&&l| l == 1).count();
    let neg = labels.len() - pos;
    if pos == 0 {
        return Err(MetricsError::OneClass {
            which: "normal",
            n: neg,
        });
    }
    if neg == 0 {
        return Err(MetricsError::OneClass {
            which: "anomalous",
            n: pos,
        });
    }
    Ok((pos, neg))
}

/// Indices sorted by score, highest first.
fn order_desc(scores: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// (true positives, false positives, threshold) after each distinct score, highest first.
fn cumulative(labels: &[u8], scores: &[f32]) -> Vec<(usize, usize, f64)> {
    let idx = order_desc(scores);
    let mut out = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (k, &i) in idx.iter().enumerate() {
        if labels[i] == 1 {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = idx.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            out.push((tp, fp, scores[i] as f64));
        }
    }
    out
}

/// The ROC curve.
pub fn roc_curve(labels: &[u8], scores: &[f32]) -> Result<RocCurve, MetricsError> {
    let (pos, neg) = check(labels, scores)?;
    let mut c = RocCurve {
        fpr: vec![0.0],
        tpr: vec![0.0],
        thresholds: vec![f64::INFINITY],
    };
    for (tp, fp, t) in cumulative(labels, scores) {
        c.tpr.push(tp as f64 / pos as f64);
        c.fpr.push(fp as f64 / neg as f64);
        c.thresholds.push(t);
    }
    Ok(c)
}

/// Area under the ROC curve: the probability that a random anomaly scores
/// higher than a random normal image, ties counting one half.
pub fn auroc(labels: &[u8], scores: &[f32]) -> Result<f64, MetricsError> {
    let (pos, neg) = check(labels, scores)?;
    // average ranks (1-based, ascending), ties sharing the mean of their ranks
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0f64;
    let mut k = 0;
    while k < idx.len() {
        let mut e = k + 1;
        while e < idx.len() && scores[idx[e]] == scores[idx[k]] {
            e += 1;
        }
        let avg_rank = (k + 1 + e) as f64 / 2.0;
        let npos = idx[k..e].iter().filter(|&&i| labels[i] == 1).count();
        rank_sum_pos += avg_rank * npos as f64;
        k = e;
    }
    let p = pos as f64;
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * neg as f64))
}

/// Average precision (area under the precision-recall curve as a step sum,
/// scikit-learn's definition): sum over thresholds of (R_k - R_{k-1}) * P_k.
pub fn average_precision(labels: &[u8], scores: &[f32]) -> Result<f64, MetricsError> {
    let (pos, _) = check(labels, scores)?;
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (tp, fp, _) in cumulative(labels, scores) {
        let recall = tp as f64 / pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn perfect_and_reversed_rankings() {
        let labels = [0, 0, 1, 1];
        close(auroc(&labels, &[0.1, 0.2, 0.8, 0.9]).unwrap(), 1.0);
        close(auroc(&labels, &[0.9, 0.8, 0.2, 0.1]).unwrap(), 0.0);
        close(
            average_precision(&labels, &[0.1, 0.2, 0.8, 0.9]).unwrap(),
            1.0,
        );
    }

    #[test]
    fn hand_worked_case() {
        // labels 0 1 0 1 1, scores .1 .4 .35 .8 .2
        // pairs (pos, neg): (.4,.1) (.4,.35) (.8,.1) (.8,.35) (.2,.1) win; (.2,.35) loses -> 5/6
        let labels = [0, 1, 0, 1, 1];
        let scores = [0.1, 0.4, 0.35, 0.8, 0.2];
        close(auroc(&labels, &scores).unwrap(), 5.0 / 6.0);
        // descending: .8(1) .4(1) .35(0) .2(1) .1(0)
        // AP = 1/3*1 + 1/3*1 + 1/3*(3/4) = 11/12
        close(average_precision(&labels, &scores).unwrap(), 11.0 / 12.0);
        let roc = roc_curve(&labels, &scores).unwrap();
        assert_eq!(
            roc.tpr,
            vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 1.0, 1.0]
        );
        assert_eq!(roc.fpr, vec![0.0, 0.0, 0.0, 0.5, 0.5, 1.0]);
    }

    #[test]
    fn ties_count_one_half() {
        // one anomaly tied with one of two normals: wins 1, ties 1 -> 1.5/2
        close(auroc(&[1, 0, 0], &[0.5, 0.5, 0.1]).unwrap(), 0.75);
        // all equal: 0.5, and the ROC is one step from (0,0) to (1,1)
        close(auroc(&[1, 0, 1, 0], &[3.0; 4]).unwrap(), 0.5);
        let roc = roc_curve(&[1, 0, 1, 0], &[3.0; 4]).unwrap();
        assert_eq!(roc.fpr, vec![0.0, 1.0]);
        assert_eq!(roc.tpr, vec![0.0, 1.0]);
        // AP with all scores tied = prevalence
        close(average_precision(&[1, 0, 1, 0], &[3.0; 4]).unwrap(), 0.5);
    }

    #[test]
    fn auroc_equals_the_pair_count_with_many_ties() {
        let labels: Vec<u8> = (0..30).map(|i| ((i * 7) % 3 == 0) as u8).collect();
        let scores: Vec<f32> = (0..30).map(|i| ((i * 37) % 11) as f32 / 10.0).collect();
        let a = auroc(&labels, &scores).unwrap();
        let ap = average_precision(&labels, &scores).unwrap();
        // the definition itself: count (anomaly, normal) pairs, ties one half
        let mut wins = 0.0;
        for i in 0..30 {
            for j in 0..30 {
                if labels[i] == 1 && labels[j] == 0 {
                    wins += if scores[i] > scores[j] {
                        1.0
                    } else if scores[i] == scores[j] {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        close(a, wins / (10.0 * 20.0));
        assert!(ap > 0.0 && ap <= 1.0);
    }

    // Larger cases checked against scikit-learn 1.9.1. The data are integer
    // formulas (scores are exact binary fractions, so f32 and f64 agree):
    //
    // import numpy as np
    // from sklearn.metrics import roc_auc_score, average_precision_score, roc_curve
    // i = np.arange(300); y = ((i * 37 + 11) % 17 < 6).astype(int)           # case a
    // s = ((i * i * 13 + 7 * i) % 41) / 8 + y * ((i * 5) % 9) / 8
    // i = np.arange(1000); y = ((i * 7 + 3) % 11 < 4).astype(int)            # case b
    // s = ((i * 7) % 5) / 4 + y * ((i % 3) == 0) / 4
    // i = np.arange(5000); y = (i % 97 == 3).astype(int)                     # case c
    // s = ((i * 7919) % 1009) / 64 + y * 4.0
    // i = np.arange(40); y = ((i * 3 + 1) % 7 < 3).astype(int)               # case d
    // s = ((i * 5) % 9) / 2 + y
    // print(repr(roc_auc_score(y, s)), repr(average_precision_score(y, s)))
    // fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)                # case d
    type Case = (Vec<u8>, Vec<f32>);

    fn case(n: u64, label: impl Fn(u64) -> bool, score: impl Fn(u64, u64) -> f64) -> Case {
        let labels: Vec<u8> = (0..n).map(|i| u8::from(label(i))).collect();
        let scores = (0..n)
            .map(|i| score(i, u64::from(labels[i as usize])) as f32)
            .collect();
        (labels, scores)
    }

    fn sklearn_cases() -> Vec<(&'static str, Case, f64, f64)> {
        vec![
            (
                "a",
                case(
                    300,
                    |i| (i * 37 + 11) % 17 < 6,
                    |i, y| {
                        ((i * i * 13 + 7 * i) % 41) as f64 / 8.0 + (y * ((i * 5) % 9)) as f64 / 8.0
                    },
                ),
                0.5903277572456721,
                0.46853476584347503,
            ),
            (
                "b",
                case(
                    1000,
                    |i| (i * 7 + 3) % 11 < 4,
                    |i, y| ((i * 7) % 5) as f64 / 4.0 + (y * u64::from(i % 3 == 0)) as f64 / 4.0,
                ),
                0.5598197007395121,
                0.43540308580308584,
            ),
            (
                "c",
                case(
                    5000,
                    |i| i % 97 == 3,
                    |i, y| ((i * 7919) % 1009) as f64 / 64.0 + y as f64 * 4.0,
                ),
                0.7179726851563957,
                0.27564024903607237,
            ),
            (
                "d",
                case(
                    40,
                    |i| (i * 3 + 1) % 7 < 3,
                    |i, y| ((i * 5) % 9) as f64 / 2.0 + y as f64,
                ),
                0.8388746803069054,
                0.7914183855360326,
            ),
        ]
    }

    #[test]
    fn larger_cases_match_scikit_learn() {
        for (name, (labels, scores), auc, ap) in sklearn_cases() {
            let got = auroc(&labels, &scores).unwrap();
            assert!(
                (got - auc).abs() < 1e-12,
                "case {name}: AUROC {got} != {auc}"
            );
            let got = average_precision(&labels, &scores).unwrap();
            assert!((got - ap).abs() < 1e-12, "case {name}: AP {got} != {ap}");
        }
    }

    #[test]
    fn roc_curve_matches_scikit_learn() {
        let (_, (labels, scores), _, _) = sklearn_cases().pop().unwrap();
        let roc = roc_curve(&labels, &scores).unwrap();
        let fpr = [
            0.0,
            0.0,
            0.0,
            0.08695652173913043,
            0.13043478260869565,
            0.21739130434782608,
            0.30434782608695654,
            0.391304347826087,
            0.5217391304347826,
            0.6956521739130435,
            0.8695652173913043,
            1.0,
        ];
        let tpr = [
            0.0,
            0.11764705882352941,
            0.29411764705882354,
            0.47058823529411764,
            0.6470588235294118,
            0.7647058823529411,
            0.8235294117647058,
            0.8235294117647058,
            0.8823529411764706,
            1.0,
            1.0,
            1.0,
        ];
        let thr = [
            f64::INFINITY,
            5.0,
            4.5,
            4.0,
            3.5,
            3.0,
            2.5,
            2.0,
            1.5,
            1.0,
            0.5,
            0.0,
        ];
        assert_eq!(roc.thresholds, thr);
        assert_eq!(roc.fpr.len(), fpr.len());
        for k in 0..fpr.len() {
            assert!(
                (roc.fpr[k] - fpr[k]).abs() < 1e-15,
                "fpr[{k}] {} != {}",
                roc.fpr[k],
                fpr[k]
            );
            assert!(
                (roc.tpr[k] - tpr[k]).abs() < 1e-15,
                "tpr[{k}] {} != {}",
                roc.tpr[k],
                tpr[k]
            );
        }
    }

    #[test]
    fn one_label_only_is_an_error() {
        assert_eq!(
            auroc(&[0, 0], &[0.1, 0.2]).unwrap_err(),
            MetricsError::OneClass {
                which: "normal",
                n: 2
            }
        );
        assert!(
            auroc(&[1, 1], &[0.1, 0.2])
                .unwrap_err()
                .to_string()
                .contains("only anomalous")
        );
        assert!(matches!(
            auroc(&[0, 1], &[0.1]),
            Err(MetricsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            auroc(&[0, 2], &[0.1, 0.2]),
            Err(MetricsError::BadLabel(2))
        ));
        assert!(matches!(
            auroc(&[0, 1], &[0.1, f32::NAN]),
            Err(MetricsError::NotFinite { index: 1, .. })
        ));
    }
}
