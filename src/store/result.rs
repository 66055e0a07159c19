//! The files of a `result` object: `result.json` (metrics and timings) and
//! `scores.csv` (one line per test image, in test-set order: the label, then
//! each score variant the method computed, `label,score` for methods with
//! one score, `label,features,l1,l2,logits` for ALAD).

use std::collections::BTreeMap;
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
    /// The metrics of every score variant, for methods with several (the
    /// top-level `auroc` / `auprc` are the first variant's); empty for
    /// methods with one score.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, VariantMetrics>,
}

/// The metrics of one score variant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantMetrics {
    pub auroc: f64,
    pub auprc: f64,
}

impl JobResult {
    /// The result as a job that reports `variant` sees it: that variant's
    /// metrics at the top level. `None` (no choice) gives the result as
    /// stored; `None` is returned when the variant was not computed.
    pub fn shown(&self, variant: Option<&str>) -> Option<JobResult> {
        let Some(v) = variant else {
            return Some(self.clone());
        };
        let m = self.variants.get(v)?;
        Some(JobResult {
            auroc: m.auroc,
            auprc: m.auprc,
            ..self.clone()
        })
    }
}

/// Test labels (1 = anomaly) and scores, in test-set order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    pub labels: Vec<u8>,
    pub scores: Vec<f32>,
}

/// Test labels and every score variant of one scoring pass (the contents of
/// `scores.csv`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreTable {
    pub labels: Vec<u8>,
    /// (variant name, one score per test image), the method's default first.
    pub columns: Vec<(String, Vec<f32>)>,
}

impl From<Scores> for ScoreTable {
    /// The one score of a method with one score, named `score`.
    fn from(s: Scores) -> ScoreTable {
        ScoreTable {
            labels: s.labels,
            columns: vec![("score".to_string(), s.scores)],
        }
    }
}

impl ScoreTable {
    /// The scores of `variant` (`None`: the first column).
    pub fn column(&self, variant: Option<&str>) -> Option<Scores> {
        let (_, scores) = match variant {
            None => self.columns.first()?,
            Some(v) => self.columns.iter().find(|(n, _)| n == v)?,
        };
        Some(Scores {
            labels: self.labels.clone(),
            scores: scores.clone(),
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    pub fn to_csv(&self) -> String {
        let mut s = String::with_capacity(self.labels.len() * (2 + 12 * self.columns.len()) + 32);
        s.push_str("label");
        for (name, _) in &self.columns {
            s.push(',');
            s.push_str(name);
        }
        s.push('\n');
        for (i, l) in self.labels.iter().enumerate() {
            let _ = write!(s, "{l}");
            for (_, col) in &self.columns {
                let _ = write!(s, ",{}", col.get(i).copied().unwrap_or(f32::NAN));
            }
            s.push('\n');
        }
        s
    }

    pub fn from_csv(text: &str, path: &Path) -> Result<ScoreTable, StoreError> {
        let corrupt = |line: usize, why: &str| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("line {line}: {why}"),
        };
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        if header.len() < 2 || header[0] != "label" || header[1..].iter().any(|n| n.is_empty()) {
            return Err(corrupt(1, "expected a header label,<score names>"));
        }
        let mut out = ScoreTable {
            labels: Vec::new(),
            columns: header[1..]
                .iter()
                .map(|n| (n.to_string(), Vec::new()))
                .collect(),
        };
        for (i, line) in lines.enumerate() {
            let mut fields = line.split(',');
            let l = fields.next().unwrap_or_default();
            out.labels
                .push(l.parse().map_err(|_| corrupt(i + 2, "bad label"))?);
            for (_, col) in out.columns.iter_mut() {
                let x = fields
                    .next()
                    .ok_or_else(|| corrupt(i + 2, "missing score"))?;
                col.push(x.parse().map_err(|_| corrupt(i + 2, "bad score"))?);
            }
            if fields.next().is_some() {
                return Err(corrupt(i + 2, "more fields than the header names"));
            }
        }
        Ok(out)
    }
}

/// Writes the files of a result object into `dir`.
pub fn write_result_files(
    dir: &Path,
    result: &JobResult,
    scores: &ScoreTable,
) -> Result<(), StoreError> {
    let p = dir.join(RESULT_FILE);
    fs::write(&p, serde_json::to_vec_pretty(result).unwrap_or_default()).map_err(io_err(&p))?;
    let p = dir.join(SCORES_FILE);
    fs::write(&p, scores.to_csv()).map_err(io_err(&p))?;
    Ok(())
}

impl Store {
    /// Reads a stored result's metrics, as a job reporting score `variant`
    /// sees them (see [`JobResult::shown`]).
    pub fn result(&self, key: &Key, variant: Option<&str>) -> Result<JobResult, StoreError> {
        let p = self.object_dir(ObjectKind::Result, key).join(RESULT_FILE);
        let text = fs::read_to_string(&p).map_err(io_err(&p))?;
        let stored: JobResult = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        stored.shown(variant).ok_or_else(|| StoreError::Corrupt {
            reason: format!(
                "no metrics for the score `{}` (it has: {})",
                variant.unwrap_or_default(),
                stored
                    .variants
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            path: p,
        })
    }

    /// Reads a stored result's per-image scores of `variant` (`None`: the
    /// method's default).
    pub fn scores(&self, key: &Key, variant: Option<&str>) -> Result<Scores, StoreError> {
        let p = self.object_dir(ObjectKind::Result, key).join(SCORES_FILE);
        let text = fs::read_to_string(&p).map_err(io_err(&p))?;
        let table = ScoreTable::from_csv(&text, &p)?;
        table.column(variant).ok_or_else(|| StoreError::Corrupt {
            reason: format!(
                "no column for the score `{}` (it has: {})",
                variant.unwrap_or_default(),
                table.names().join(", ")
            ),
            path: p,
        })
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
        let table = ScoreTable::from(s.clone());
        let csv = table.to_csv();
        assert!(csv.starts_with("label,score\n0,0.1\n"), "{csv}");
        let back = ScoreTable::from_csv(&csv, Path::new("x")).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.column(None), Some(s.clone()));
        assert_eq!(back.column(Some("score")), Some(s));
        assert_eq!(back.column(Some("l1")), None);
    }

    #[test]
    fn several_variants_round_trip_and_are_chosen_by_name() {
        let table = ScoreTable {
            labels: vec![1, 0],
            columns: vec![
                ("features".into(), vec![3.0, 1.5]),
                ("l1".into(), vec![-0.25, 7.0]),
            ],
        };
        let csv = table.to_csv();
        assert_eq!(csv, "label,features,l1\n1,3,-0.25\n0,1.5,7\n");
        let back = ScoreTable::from_csv(&csv, Path::new("x")).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.column(Some("l1")).unwrap().scores, vec![-0.25, 7.0]);
        assert_eq!(back.column(None).unwrap().scores, vec![3.0, 1.5]);
    }

    #[test]
    fn bad_scores_file_is_corrupt() {
        for (text, line) in [
            ("label,score\n1;0.5\n", "line 2"),
            ("label,a,b\n1,0.5\n", "line 2"),
            ("label,a\n1,0.5,3\n", "line 2"),
            ("lbl,score\n", "line 1"),
            ("", "line 1"),
        ] {
            let e = ScoreTable::from_csv(text, Path::new("s.csv")).unwrap_err();
            assert!(e.to_string().contains(line), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_result_shows_the_chosen_variant() {
        let mut variants = BTreeMap::new();
        for (n, a) in [("features", 0.9), ("l1", 0.6)] {
            variants.insert(
                n.to_string(),
                VariantMetrics {
                    auroc: a,
                    auprc: a / 2.0,
                },
            );
        }
        let r = JobResult {
            auroc: 0.9,
            auprc: 0.45,
            n_train: 1,
            n_test: 2,
            train_seconds: 0.0,
            score_seconds: 0.0,
            device: "cpu".into(),
            trained: true,
            variants,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<JobResult>(&json).unwrap(), r);
        assert_eq!(r.shown(None), Some(r.clone()));
        let l1 = r.shown(Some("l1")).unwrap();
        assert_eq!((l1.auroc, l1.auprc), (0.6, 0.3));
        assert_eq!(r.shown(Some("l2")), None);
        // one-score results keep their old form
        let one = JobResult {
            variants: BTreeMap::new(),
            ..r
        };
        assert!(!serde_json::to_string(&one).unwrap().contains("variants"));
    }
}
