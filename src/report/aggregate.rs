//! The per-job results frame (one row per job of the spec) and its
//! aggregation with polars into a grid: one cell per row label and class
//! (mean, sample standard deviation and counts over seeds) plus a Mean column.

use std::collections::HashMap;

use polars::prelude::*;

use super::{Outcome, Record, ReportInput, stats};

/// The metric a grid is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Auroc,
    Auprc,
}

impl Metric {
    /// The column of the results frame.
    pub fn column(self) -> &'static str {
        match self {
            Metric::Auroc => "auroc",
            Metric::Auprc => "auprc",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Metric::Auroc => "AUROC",
            Metric::Auprc => "AUPRC",
        }
    }
}

/// One cell of a grid: a metric over the seeds of one row label and class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// Mean over the finished seeds (None: no seed finished).
    pub mean: Option<f64>,
    /// Sample standard deviation (ddof = 1); None with fewer than two seeds.
    pub std: Option<f64>,
    /// Half-width of the 95% Student t confidence interval of the mean,
    /// t(0.975, n-1) · std / √n over the n finished seeds; None with fewer
    /// than two.
    pub ci: Option<f64>,
    pub done: usize,
    pub failed: usize,
    pub missing: usize,
}

impl Cell {
    /// Some seeds finished, others failed or are missing.
    pub fn partial(&self) -> bool {
        self.done > 0 && self.failed + self.missing > 0
    }
    pub fn planned(&self) -> usize {
        self.done + self.failed + self.missing
    }
}

/// A metric aggregated per row label (in spec order) and class (in column order).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub metric: Metric,
    pub rows: Vec<String>,
    /// (class index, class name), in column order.
    pub classes: Vec<(usize, String)>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<Cell>>,
    /// The Mean column: the mean of the class means (None when a class has no
    /// result); its std is over the seeds that finished every class, and its
    /// `done` counts those seeds.
    pub means: Vec<Cell>,
}

/// The method of each row label (from the records).
pub fn method_of(input: &ReportInput, label: &str) -> String {
    input
        .records
        .iter()
        .find(|r| r.label == label)
        .map(|r| r.method.clone())
        .unwrap_or_else(|| label.to_string())
}

/// The row labels of `input`: its `rows`, then any label only the records name.
pub fn row_labels(input: &ReportInput) -> Vec<String> {
    let mut rows = input.rows.clone();
    for r in &input.records {
        if !rows.contains(&r.label) {
            rows.push(r.label.clone());
        }
    }
    rows
}

/// One row per job: the table `results.csv` / `results.parquet` hold, and the
/// input of every aggregation.
pub fn results_frame(input: &ReportInput) -> PolarsResult<DataFrame> {
    let rows = row_labels(input);
    let row_of: HashMap<&str, u32> = rows
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    let mut columns = Columns::default();
    for r in &input.records {
        columns.push(row_of.get(r.label.as_str()).copied().unwrap_or(0), r);
    }
    columns.frame(input.records.len())
}

/// The columns of the results frame, filled one job at a time.
#[derive(Default)]
struct Columns<'a> {
    row: Vec<u32>,
    method: Vec<&'a str>,
    label: Vec<&'a str>,
    key: Vec<&'a str>,
    sweep: Vec<String>,
    class: Vec<u32>,
    class_name: Vec<&'a str>,
    seed: Vec<u64>,
    status: Vec<&'static str>,
    auroc: Vec<Option<f64>>,
    auprc: Vec<Option<f64>>,
    n_train: Vec<Option<u64>>,
    n_test: Vec<Option<u64>>,
    train_s: Vec<Option<f64>>,
    score_s: Vec<Option<f64>>,
    trained: Vec<Option<bool>>,
    device: Vec<Option<&'a str>>,
    error: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    /// Adds job `r`, whose row label is row number `row`.
    fn push(&mut self, row: u32, r: &'a Record) {
        self.row.push(row);
        self.method.push(r.method.as_str());
        self.label.push(r.label.as_str());
        self.key.push(r.key.as_str());
        self.sweep
            .push(serde_json::to_string(&r.sweep).unwrap_or_default());
        self.class.push(r.class as u32);
        self.class_name.push(r.class_name.as_str());
        self.seed.push(r.seed);
        let result = match &r.outcome {
            Outcome::Done { result, .. } => Some(result),
            _ => None,
        };
        self.status.push(match &r.outcome {
            Outcome::Done { .. } => "done",
            Outcome::Failed { .. } => "failed",
            Outcome::Missing => "missing",
        });
        self.auroc.push(result.map(|x| x.auroc));
        self.auprc.push(result.map(|x| x.auprc));
        self.n_train.push(result.map(|x| x.n_train as u64));
        self.n_test.push(result.map(|x| x.n_test as u64));
        self.train_s.push(result.map(|x| x.train_seconds));
        self.score_s.push(result.map(|x| x.score_seconds));
        self.trained.push(result.map(|x| x.trained));
        self.device.push(result.map(|x| x.device.as_str()));
        self.error.push(match &r.outcome {
            Outcome::Failed { error } => Some(error.as_str()),
            _ => None,
        });
    }

    /// The frame of the `n` jobs pushed, in the order of `results.csv`.
    fn frame(self, n: usize) -> PolarsResult<DataFrame> {
        DataFrame::new(
            n,
            vec![
                Column::new("row".into(), self.row),
                Column::new("method".into(), self.method),
                Column::new("label".into(), self.label),
                Column::new("key".into(), self.key),
                Column::new("sweep".into(), self.sweep),
                Column::new("class".into(), self.class),
                Column::new("class_name".into(), self.class_name),
                Column::new("seed".into(), self.seed),
                Column::new("status".into(), self.status),
                Column::new("auroc".into(), self.auroc),
                Column::new("auprc".into(), self.auprc),
                Column::new("n_train".into(), self.n_train),
                Column::new("n_test".into(), self.n_test),
                Column::new("train_seconds".into(), self.train_s),
                Column::new("score_seconds".into(), self.score_s),
                Column::new("trained".into(), self.trained),
                Column::new("device".into(), self.device),
                Column::new("error".into(), self.error),
            ],
        )
    }
}

fn count_status(s: &str) -> Expr {
    col("status")
        .eq(lit(s))
        .cast(DataType::UInt32)
        .sum()
        .cast(DataType::UInt32)
        .alias(s)
}

/// Aggregates `metric` of `results` (from [`results_frame`]) into a grid.
pub fn grid(input: &ReportInput, results: &DataFrame, metric: Metric) -> PolarsResult<Grid> {
    let rows = row_labels(input);
    let classes = input.classes.clone();
    let cells = class_cells(results, metric, rows.len(), &classes)?;
    let spread = mean_spread(results, metric, &classes)?;
    let means = cells
        .iter()
        .enumerate()
        .map(|(r, row)| mean_cell(row, spread.get(&(r as u32)).cloned()))
        .collect();
    Ok(Grid {
        metric,
        rows,
        classes,
        cells,
        means,
    })
}

/// `cells[row][column]`: mean, std and counts over the seeds of each row
/// label and selected class.
fn class_cells(
    results: &DataFrame,
    metric: Metric,
    n_rows: usize,
    classes: &[(usize, String)],
) -> PolarsResult<Vec<Vec<Cell>>> {
    let m = metric.column();
    let per_cell = results
        .clone()
        .lazy()
        .group_by([col("row"), col("class")])
        .agg([
            col(m).mean().alias("mean"),
            col(m).std(1).alias("std"),
            col(m).count().cast(DataType::UInt32).alias("done"),
            count_status("failed"),
            count_status("missing"),
        ])
        .collect()?;

    let col_of: HashMap<usize, usize> = classes
        .iter()
        .enumerate()
        .map(|(j, &(c, _))| (c, j))
        .collect();
    let mut cells = vec![vec![Cell::default(); classes.len()]; n_rows];
    let row = per_cell.column("row")?.u32()?;
    let class = per_cell.column("class")?.u32()?;
    let mean = per_cell.column("mean")?.f64()?;
    let std = per_cell.column("std")?.f64()?;
    let done = per_cell.column("done")?.u32()?;
    let failed = per_cell.column("failed")?.u32()?;
    let missing = per_cell.column("missing")?.u32()?;
    for i in 0..per_cell.height() {
        let (Some(r), Some(c)) = (row.get(i), class.get(i)) else {
            continue;
        };
        let Some(&j) = col_of.get(&(c as usize)) else {
            continue; // a class outside the selection
        };
        let done = done.get(i).unwrap_or(0) as usize;
        let std = std.get(i).filter(|_| done > 1);
        cells[r as usize][j] = Cell {
            mean: mean.get(i).filter(|_| done > 0),
            std,
            ci: std.map(|s| stats::ci95_half_width(s, done)),
            done,
            failed: failed.get(i).unwrap_or(0) as usize,
            missing: missing.get(i).unwrap_or(0) as usize,
        };
    }
    Ok(cells)
}

/// The Mean column's spread per row: per seed, the mean over classes, for
/// the seeds that finished every selected class; their std and count.
fn mean_spread(
    results: &DataFrame,
    metric: Metric,
    classes: &[(usize, String)],
) -> PolarsResult<HashMap<u32, (Option<f64>, usize)>> {
    let m = metric.column();
    let selected: Vec<u32> = classes.iter().map(|&(c, _)| c as u32).collect();
    let n_classes = selected.len() as u32;
    let in_selection: BooleanChunked = results
        .column("class")?
        .u32()?
        .iter()
        .map(|c| c.map(|c| selected.contains(&c)))
        .collect();
    let mut flagged = results.clone();
    flagged.with_column(
        in_selection
            .into_series()
            .with_name("selected".into())
            .into(),
    )?;
    let per_seed = flagged
        .lazy()
        .filter(col(m).is_not_null().and(col("selected")))
        .group_by([col("row"), col("seed")])
        .agg([
            col(m).mean().alias("seed_mean"),
            col(m).count().cast(DataType::UInt32).alias("n"),
        ])
        .filter(col("n").eq(lit(n_classes)))
        .group_by([col("row")])
        .agg([
            col("seed_mean").std(1).alias("std"),
            col("seed_mean")
                .count()
                .cast(DataType::UInt32)
                .alias("seeds"),
        ])
        .collect()?;
    let mut spread = HashMap::new();
    let row = per_seed.column("row")?.u32()?;
    let std = per_seed.column("std")?.f64()?;
    let seeds = per_seed.column("seeds")?.u32()?;
    for i in 0..per_seed.height() {
        if let Some(r) = row.get(i) {
            spread.insert(r, (std.get(i), seeds.get(i).unwrap_or(0) as usize));
        }
    }
    Ok(spread)
}

/// The Mean cell of a row: the mean of its class means (None when a class
/// has no result), with the spread from [`mean_spread`].
fn mean_cell(row: &[Cell], spread: Option<(Option<f64>, usize)>) -> Cell {
    let complete = !row.is_empty() && row.iter().all(|c| c.mean.is_some());
    let (std, seeds) = spread.unwrap_or((None, 0));
    let mean = complete.then(|| row.iter().filter_map(|c| c.mean).sum::<f64>() / row.len() as f64);
    let std = std.filter(|_| complete && seeds > 1);
    Cell {
        mean,
        std,
        ci: std.map(|s| stats::ci95_half_width(s, seeds)),
        done: seeds,
        failed: row.iter().map(|c| c.failed).sum(),
        missing: row.iter().map(|c| c.missing).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{hand_input, record, with};
    use crate::spec::Protocol;

    #[test]
    fn numbers_checked_by_hand() {
        // row a: zero 0.7, 0.8, 0.9 | one 0.6, failed, missing | seven 0.5, 0.5, 0.8
        // row b: zero 0.9 only (seeds 1, 2 missing) | one: all failed | seven 0.4, 0.6, 0.8
        let input = hand_input();
        let results = results_frame(&input).unwrap();
        let g = grid(&input, &results, Metric::Auroc).unwrap();
        let close = |x: Option<f64>, y: f64| {
            assert!((x.unwrap() - y).abs() < 1e-12, "{x:?} != {y}");
        };
        // a/zero: mean 0.8, std sqrt(((-.1)^2 + 0 + .1^2) / 2) = 0.1
        close(g.cells[0][0].mean, 0.8);
        close(g.cells[0][0].std, 0.1);
        // 95% half-width t(0.975, 2) · 0.1 / √3 (scipy: t.ppf(0.975, 2) = 4.302652729749464)
        close(g.cells[0][0].ci, 4.302_652_729_749_464 * 0.1 / 3f64.sqrt());
        assert_eq!((g.cells[0][0].done, g.cells[0][0].failed), (3, 0));
        // a/one: one seed: mean 0.6, no std, 1 failed 1 missing
        close(g.cells[0][1].mean, 0.6);
        assert_eq!(g.cells[0][1].std, None);
        assert_eq!(g.cells[0][1].ci, None);
        assert_eq!(
            (
                g.cells[0][1].done,
                g.cells[0][1].failed,
                g.cells[0][1].missing
            ),
            (1, 1, 1)
        );
        assert!(g.cells[0][1].partial());
        // a/seven: mean 0.6, deviations -.1 -.1 .2 -> var (.01+.01+.04)/2 = .03
        close(g.cells[0][2].mean, 0.6);
        close(g.cells[0][2].std, 0.03f64.sqrt());
        // a/Mean: (0.8 + 0.6 + 0.6) / 3; only seed 0 finished every class -> no std
        close(g.means[0].mean, 2.0 / 3.0);
        assert_eq!(g.means[0].std, None);
        assert_eq!(g.means[0].done, 1);
        // b/one: every seed failed -> no value; b/Mean: a class has no result
        assert_eq!(g.cells[1][1].mean, None);
        assert_eq!(g.cells[1][1].failed, 3);
        assert_eq!(g.means[1].mean, None);
        close(g.cells[1][0].mean, 0.9);
        assert_eq!(g.cells[1][0].missing, 2);
        close(g.cells[1][2].std, 0.2);
        // AUPRC: 1 - AUROC in this set
        let p = grid(&input, &results, Metric::Auprc).unwrap();
        close(p.cells[0][0].mean, 0.2);
    }

    #[test]
    fn mean_column_spread_is_over_seeds() {
        // two classes, two seeds: per-seed means (0.6+0.8)/2 = 0.7 and (0.8+1.0)/2 = 0.9
        let c = [(0, "x"), (1, "y")];
        let records = vec![
            record("a", "a", c[0], 0, with(0.6)),
            record("a", "a", c[1], 0, with(0.8)),
            record("a", "a", c[0], 1, with(0.8)),
            record("a", "a", c[1], 1, with(1.0)),
            // a class outside the selection is ignored
            record("a", "a", (5, "z"), 0, with(0.1)),
        ];
        let input = ReportInput {
            experiment: "t".into(),
            dataset: "d".into(),
            approximate: false,
            protocol: Protocol::OneClass,
            classes: c.iter().map(|&(i, n)| (i, n.to_string())).collect(),
            rows: vec!["a".into()],
            records,
            reference: None,
            cell: Default::default(),
            provenance: Default::default(),
        };
        let g = grid(&input, &results_frame(&input).unwrap(), Metric::Auroc).unwrap();
        assert!((g.means[0].mean.unwrap() - 0.8).abs() < 1e-12);
        // std of (0.7, 0.9) with ddof 1 = sqrt(0.02)
        assert!((g.means[0].std.unwrap() - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!(g.means[0].done, 2);
    }
}
