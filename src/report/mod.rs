//! Reports: every result of a spec aggregated with polars into paper-style
//! tables (Markdown, CSV, LaTeX), per-job and per-image data (CSV, Parquet),
//! and plots (ROC per class, summary), under `reports/<experiment>/`.

mod aggregate;
mod export;
#[cfg(test)]
mod fixture;
mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::spec::{Protocol, Reference};
use crate::store::{JobResult, Scores};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("report {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("report: aggregating the results failed: {0}")]
    Aggregate(String),
}

impl ReportError {
    fn write(path: &Path, e: impl std::fmt::Display) -> ReportError {
        ReportError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

impl From<polars::error::PolarsError> for ReportError {
    fn from(e: polars::error::PolarsError) -> ReportError {
        ReportError::Aggregate(e.to_string())
    }
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

/// Writes every report file of `input` into `dir` (created if needed):
/// `table.md|csv|tex` (AUROC, with the reference comparison in `table.md`),
/// `table-auprc.md|csv|tex`, `results.csv|parquet` (one row per job) and
/// `scores.parquet` (one row per test image of every finished job).
pub fn write(input: &ReportInput, dir: &Path) -> Result<ReportSummary, ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::write(dir, e))?;
    let mut files = Vec::new();
    let mut put = |name: &str, text: &str| -> Result<(), ReportError> {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| ReportError::write(&path, e))?;
        files.push(path);
        Ok(())
    };

    let results = aggregate::results_frame(input)?;
    let auroc = aggregate::grid(input, &results, aggregate::Metric::Auroc)?;
    let auprc = aggregate::grid(input, &results, aggregate::Metric::Auprc)?;

    let mut table_markdown = table::markdown(input, &auroc);
    if let Some(reference) = table::reference_markdown(input, &auroc) {
        table_markdown.push('\n');
        table_markdown.push_str(&reference);
    }
    put("table.md", &table_markdown)?;
    put("table.tex", &table::latex(input, &auroc))?;
    put("table-auprc.md", &table::markdown(input, &auprc))?;
    put("table-auprc.tex", &table::latex(input, &auprc))?;

    let mut data_files = Vec::new();
    for (name, grid) in [("table.csv", &auroc), ("table-auprc.csv", &auprc)] {
        let path = dir.join(name);
        export::write_csv(&table::frame(input, grid)?, &path, Some(6))?;
        data_files.push(path);
    }
    let per_job = results.drop("row")?;
    let path = dir.join("results.csv");
    export::write_csv(&per_job, &path, None)?;
    data_files.push(path);
    let path = dir.join("results.parquet");
    export::write_parquet(&per_job, &path)?;
    data_files.push(path);
    let path = dir.join("scores.parquet");
    export::write_scores(input, &path)?;
    data_files.push(path);
    files.extend(data_files);

    let (done, failed, missing) = table::counts(input);
    Ok(ReportSummary {
        dir: dir.to_path_buf(),
        table_markdown,
        files,
        done,
        failed,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> (tempfile::TempDir, ReportSummary) {
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&fixture::input(), &tmp.path().join("demo")).unwrap();
        (tmp, summary)
    }

    fn read(summary: &ReportSummary, name: &str) -> String {
        std::fs::read_to_string(summary.dir.join(name)).unwrap()
    }

    #[test]
    fn tables_snapshot() {
        let (_tmp, summary) = written();
        assert_eq!((summary.done, summary.failed, summary.missing), (16, 1, 1));
        assert_eq!(summary.table_markdown, read(&summary, "table.md"));
        insta::assert_snapshot!("table_md", read(&summary, "table.md"));
        insta::assert_snapshot!("table_csv", read(&summary, "table.csv"));
        insta::assert_snapshot!("table_tex", read(&summary, "table.tex"));
        insta::assert_snapshot!("table_auprc_md", read(&summary, "table-auprc.md"));
    }

    #[test]
    fn results_have_one_row_per_job() {
        let (_tmp, summary) = written();
        let csv = read(&summary, "results.csv");
        let header = csv.lines().next().unwrap();
        assert_eq!(
            header,
            "method,label,key,sweep,class,class_name,seed,status,auroc,auprc,n_train,n_test,\
             train_seconds,score_seconds,trained,device,error"
        );
        let back = polars::prelude::CsvReadOptions::default()
            .try_into_reader_with_file_path(Some(summary.dir.join("results.csv")))
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(back.height(), 18);
        // the failed job's two-line message survives quoting
        let errors = back.column("error").unwrap().str().unwrap();
        assert_eq!(errors.null_count(), 17);
        assert!(csv.contains(r#""{""w_con"":""10""}""#), "{csv}");
        assert_eq!(csv.matches(",failed,").count(), 1);
        assert_eq!(csv.matches(",missing,").count(), 1);

        let file = std::fs::File::open(summary.dir.join("results.parquet")).unwrap();
        use polars::prelude::SerReader;
        let df = polars::prelude::ParquetReader::new(file).finish().unwrap();
        assert_eq!(df.height(), 18);
        let auroc = df.column("auroc").unwrap().f64().unwrap();
        assert_eq!(auroc.null_count(), 2);
    }

    #[test]
    fn scores_hold_every_image_of_every_done_job() {
        use polars::prelude::*;
        let (_tmp, summary) = written();
        let file = std::fs::File::open(summary.dir.join("scores.parquet")).unwrap();
        let df = ParquetReader::new(file).finish().unwrap();
        assert_eq!(df.height(), 16 * 40);
        let input = fixture::input();
        // the third done job's scores, in test-set order
        let (record, scores) = input
            .records
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Done { scores, .. } => Some((r, scores)),
                _ => None,
            })
            .nth(2)
            .unwrap();
        let rows = df
            .lazy()
            .filter(col("key").eq(lit(record.key.as_str())))
            .collect()
            .unwrap();
        assert_eq!(rows.height(), 40);
        let got: Vec<f32> = rows
            .column("score")
            .unwrap()
            .f32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(got, scores.scores);
        let labels: Vec<u32> = rows
            .column("anomaly")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(
            labels,
            scores.labels.iter().map(|&l| l as u32).collect::<Vec<_>>()
        );
        let image: Vec<u32> = rows
            .column("image")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(image, (0..40).collect::<Vec<u32>>());
        assert_eq!(
            rows.column("seed").unwrap().u64().unwrap().get(0),
            Some(record.seed)
        );
    }

    #[test]
    fn approximate_data_is_labelled() {
        let mut input = fixture::input();
        input.approximate = true;
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&input, tmp.path()).unwrap();
        assert!(summary.table_markdown.contains("AUROC (APPROXIMATE)"));
        assert!(summary.table_markdown.contains("lossy JPEG copy"));
        let tex = read(&summary, "table.tex");
        assert!(tex.contains("approximate: a lossy JPEG copy"), "{tex}");
    }

    #[test]
    fn one_seed_shows_the_mean_alone() {
        let mut input = fixture::input();
        input.records.retain(|r| r.seed == 0);
        input.reference = None;
        let tmp = tempfile::tempdir().unwrap();
        let summary = write(&input, tmp.path()).unwrap();
        let md = &summary.table_markdown;
        assert!(
            !md.contains('±'.to_string().as_str()) || md.contains("mean ± sample std"),
            "{md}"
        );
        let row = md.lines().find(|l| l.starts_with("| kde")).unwrap();
        assert!(!row.contains('±') && !row.contains('*'), "{row}");
        assert!(!md.contains("vs reference"));
    }
}
