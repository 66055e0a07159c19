//! The files of a `result` object: `result.json` (metrics and timings) and
//! `scores.csv` (one `label,score` line per test image, in test-set order).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Key, ObjectKind, Store, StoreError, io_err};

pub const RESULT_FILE: &str = "result.json";
pub const SCORES_FILE: &str = "scores.csv";

/// The metrics and facts of one finished job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub auroc: f64,
    pub auprc: f64,
    pub n_train: usize,
    pub n_test: usize,
    /// Seconds spent training (0 when the model came from the store).
    pub train_seconds: f64,
    pub score_seconds: f64,
    pub device: String,
    /// Whether this run trained the model (false: loaded from the store).
    pub trained: bool,
}

/// Test labels (1 = anomaly) and scores, in test-set order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    pub labels: Vec<u8>,
    pub scores: Vec<f32>,
}

impl Scores {
    pub fn to_csv(&self) -> String {
        let mut s = String::with_capacity(self.labels.len() * 14 + 12);
        s.push_str("label,score\n");
        for (l, x) in self.labels.iter().zip(&self.scores) {
            let _ = writeln!(s, "{l},{x}");
        }
        s
    }

    pub fn from_csv(text: &str, path: &Path) -> Result<Scores, StoreError> {
        let corrupt = |line: usize, why: &str| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("line {line}: {why}"),
        };
        let mut out = Scores::default();
        for (i, line) in text.lines().enumerate().skip(1) {
            let (l, x) = line
                .split_once(',')
                .ok_or_else(|| corrupt(i + 1, "expected label,score"))?;
            out.labels
                .push(l.parse().map_err(|_| corrupt(i + 1, "bad label"))?);
            out.scores
                .push(x.parse().map_err(|_| corrupt(i + 1, "bad score"))?);
        }
        Ok(out)
    }
}

/// Writes the files of a result object into `dir`.
pub fn write_result_files(
    dir: &Path,
    result: &JobResult,
    scores: &Scores,
) -> Result<(), StoreError> {
    let p = dir.join(RESULT_FILE);
    fs::write(&p, serde_json::to_vec_pretty(result).unwrap_or_default()).map_err(io_err(&p))?;
    let p = dir.join(SCORES_FILE);
    fs::write(&p, scores.to_csv()).map_err(io_err(&p))?;
    Ok(())
}

impl Store {
    /// Reads a stored result (metrics only).
    pub fn result(&self, key: &Key) -> Result<JobResult, StoreError> {
        let p = self.object_dir(ObjectKind::Result, key).join(RESULT_FILE);
        let text = fs::read_to_string(&p).map_err(io_err(&p))?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: p.clone(),
            reason: e.to_string(),
        })
    }

    /// Reads a stored result's per-image scores.
    pub fn scores(&self, key: &Key) -> Result<Scores, StoreError> {
        let p = self.object_dir(ObjectKind::Result, key).join(SCORES_FILE);
        let text = fs::read_to_string(&p).map_err(io_err(&p))?;
        Scores::from_csv(&text, &p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_exactly() {
        let s = Scores {
            labels: vec![0, 1, 1],
            scores: vec![0.1, -3.25e-7, f32::MAX],
        };
        let back = Scores::from_csv(&s.to_csv(), Path::new("x")).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn bad_scores_file_is_corrupt() {
        let e = Scores::from_csv("label,score\n1;0.5\n", Path::new("s.csv")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
