//! Reports: every result of a spec aggregated with polars into paper-style
//! tables (Markdown, CSV, LaTeX), per-job and per-image data (CSV, Parquet),
//! and plots (ROC per class, summary), under `reports/<experiment>/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use thiserror::Error;

use crate::spec::{Protocol, Reference};
use crate::store::{JobResult, Scores};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("report {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// What became of one job of the spec.
#[derive(Clone, Debug)]
pub enum Outcome {
    Done { result: JobResult, scores: Scores },
    Failed { error: String },
    Missing,
}

/// One job of the spec, in grid order.
#[derive(Clone, Debug)]
pub struct Record {
    /// Row label: `ganomaly` or `ganomaly (w_con=10)`.
    pub label: String,
    pub method: String,
    pub key: String,
    pub sweep: BTreeMap<String, String>,
    pub class: usize,
    pub class_name: String,
    pub seed: u64,
    pub outcome: Outcome,
}

/// Everything a report is made from.
#[derive(Clone, Debug)]
pub struct ReportInput {
    pub experiment: String,
    pub dataset: String,
    /// The data is a lossy copy: label every table as approximate.
    pub approximate: bool,
    pub protocol: Protocol,
    /// Selected classes (index, name), in column order.
    pub classes: Vec<(usize, String)>,
    /// Row labels in spec order.
    pub rows: Vec<String>,
    pub records: Vec<Record>,
    pub reference: Option<Reference>,
}

/// What `write` produced.
#[derive(Clone, Debug)]
pub struct ReportSummary {
    pub dir: PathBuf,
    /// The Markdown table, to print at the end of a run.
    pub table_markdown: String,
    pub files: Vec<PathBuf>,
    pub done: usize,
    pub failed: usize,
    pub missing: usize,
}

/// Writes every report file of `input` into `dir`.
pub fn write(input: &ReportInput, dir: &std::path::Path) -> Result<ReportSummary, ReportError> {
    let _ = input;
    Err(ReportError::Write {
        path: dir.to_path_buf(),
        reason: "reports are not written yet".into(),
    })
}
