//! Writing data files with polars: frames as CSV or Parquet, and every test
//! image's label and score of every finished job (`scores.parquet`), one row
//! group per job so memory stays bounded.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use polars_io::SerWriter;
use polars_io::prelude::{CsvWriter, ParquetCompression, ParquetWriter};

use super::{Outcome, ReportError, ReportInput};

fn create(path: &Path) -> Result<File, ReportError> {
    File::create(path).map_err(|e| ReportError::write(path, e))
}

/// Writes `df` as CSV (floats with up to 6 decimals, empty fields for nulls).
pub fn write_csv(
    df: &DataFrame,
    path: &Path,
    float_precision: Option<usize>,
) -> Result<(), ReportError> {
    let mut df = df.clone();
    CsvWriter::new(create(path)?)
        .include_header(true)
        .with_float_precision(float_precision)
        .finish(&mut df)
        .map_err(|e| ReportError::write(path, e))
}

/// Writes `df` as Parquet (zstd).
pub fn write_parquet(df: &DataFrame, path: &Path) -> Result<(), ReportError> {
    let mut df = df.clone();
    ParquetWriter::new(create(path)?)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(&mut df)
        .map(|_| ())
        .map_err(|e| ReportError::write(path, e))
}

fn scores_schema() -> Schema {
    Schema::from_iter([
        Field::new("method".into(), DataType::String),
        Field::new("label".into(), DataType::String),
        Field::new("key".into(), DataType::String),
        Field::new("class".into(), DataType::UInt32),
        Field::new("class_name".into(), DataType::String),
        Field::new("seed".into(), DataType::UInt64),
        Field::new("image".into(), DataType::UInt32),
        Field::new("anomaly".into(), DataType::UInt32),
        Field::new("score".into(), DataType::Float32),
    ])
}

/// Writes `scores.parquet`: per finished job, one row per test image (its
/// index in the test set, `anomaly` 1/0 and the score), tagged with the job.
/// Returns the number of rows written.
pub fn write_scores(input: &ReportInput, path: &Path) -> Result<usize, ReportError> {
    let err = |e: PolarsError| ReportError::write(path, e);
    let schema = scores_schema();
    let mut writer = ParquetWriter::new(create(path)?)
        .with_compression(ParquetCompression::Zstd(None))
        .batched(&schema)
        .map_err(err)?;
    let mut rows = 0;
    let mut wrote = false;
    for r in &input.records {
        let Outcome::Done { scores, .. } = &r.outcome else {
            continue;
        };
        let n = scores.labels.len().min(scores.scores.len());
        let text = |name: &str, v: &str| {
            let v = AnyValue::StringOwned(PlSmallStr::from_str(v));
            Column::new_scalar(name.into(), Scalar::new(DataType::String, v), n)
        };
        let df = DataFrame::new(
            n,
            vec![
                text("method", &r.method),
                text("label", &r.label),
                text("key", &r.key),
                Column::new_scalar(
                    "class".into(),
                    Scalar::new(DataType::UInt32, (r.class as u32).into()),
                    n,
                ),
                text("class_name", &r.class_name),
                Column::new_scalar(
                    "seed".into(),
                    Scalar::new(DataType::UInt64, r.seed.into()),
                    n,
                ),
                Column::new("image".into(), (0..n as u32).collect::<Vec<u32>>()),
                Column::new(
                    "anomaly".into(),
                    scores.labels[..n]
                        .iter()
                        .map(|&l| l as u32)
                        .collect::<Vec<u32>>(),
                ),
                Column::new("score".into(), &scores.scores[..n]),
            ],
        )
        .map_err(err)?;
        if n > 0 {
            writer.write_batch(&df).map_err(err)?;
            wrote = true;
        }
        rows += n;
    }
    if !wrote {
        // an empty file still carries the schema
        writer
            .write_batch(&DataFrame::empty_with_schema(&schema))
            .map_err(err)?;
    }
    writer.finish().map_err(err)?;
    Ok(rows)
}
