//! Rendering a grid as the study's table: Markdown (with the job counts and
//! the footnotes), CSV (one line per row label, numbers only, with the
//! reference numbers it is given) and LaTeX (booktabs); and the cell and
//! number formats every table of the report shares. The comparison with
//! reference numbers builds on these (`reference`), not the other way.

use std::fmt::Write as _;

use polars::prelude::*;

use super::aggregate::{Cell, Grid, Metric, method_of};
use super::{Outcome, ReportInput};
use crate::spec::{CellFormat, Protocol};

/// Shown for a cell with no result at all.
pub(super) const MISSING: &str = "—";
pub(super) const FAILED: &str = "failed";
/// Marks a cell averaged over fewer seeds than planned.
const PARTIAL: &str = "†";

/// Formats a metric value the way the tables show it.
pub(super) fn num(x: f64) -> String {
    format!("{x:.3}")
}

/// The seeds of the spec, in order of first appearance.
pub fn seeds(input: &ReportInput) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for r in &input.records {
        if !out.contains(&r.seed) {
            out.push(r.seed);
        }
    }
    out
}

fn protocol_words(p: Protocol) -> &'static str {
    match p {
        Protocol::AnomalyClass => {
            "anomaly-class protocol (the column's class is the anomaly, the others are normal)"
        }
        Protocol::OneClass => {
            "one-class protocol (the column's class is normal, the others are anomalies)"
        }
    }
}

/// Per column (classes, then Mean), the best displayed value, if any.
pub(super) fn best(grid: &Grid) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let columns = grid.classes.len() + 1;
    for j in 0..columns {
        let best = grid
            .cells
            .iter()
            .zip(&grid.means)
            .filter_map(|(row, mean)| {
                if j < row.len() {
                    row[j].mean
                } else {
                    mean.mean
                }
            })
            .fold(None, |b: Option<f64>, x| Some(b.map_or(x, |b| b.max(x))));
        out.push(best.map(num));
    }
    out
}

/// The cell at row `r`, column `j` (the last column is the Mean).
pub(super) fn cell(grid: &Grid, r: usize, j: usize) -> &Cell {
    grid.cells[r].get(j).unwrap_or(&grid.means[r])
}

/// Whether the Mean of row `r` rests on partial cells.
fn mean_partial(grid: &Grid, r: usize) -> bool {
    grid.means[r].mean.is_some() && grid.cells[r].iter().any(Cell::partial)
}

/// The parts of a cell's text: value (or status), spread (CI half-width or
/// std, as the spec asks), partial mark, bold.
pub(super) struct CellText {
    pub(super) value: String,
    pub(super) spread: Option<String>,
    pub(super) partial: bool,
    pub(super) bold: bool,
}

pub(super) fn cell_text(
    grid: &Grid,
    format: CellFormat,
    best: &[Option<String>],
    r: usize,
    j: usize,
) -> CellText {
    let c = cell(grid, r, j);
    let is_mean = j == grid.classes.len();
    match c.mean {
        None => CellText {
            value: if !is_mean && c.failed > 0 {
                FAILED
            } else {
                MISSING
            }
            .to_string(),
            spread: None,
            partial: false,
            bold: false,
        },
        Some(m) => {
            let value = num(m);
            CellText {
                bold: best[j].as_deref() == Some(value.as_str()),
                spread: match format {
                    CellFormat::MeanCi => c.ci,
                    CellFormat::MeanStd => c.std,
                }
                .map(num),
                partial: if is_mean {
                    mean_partial(grid, r)
                } else {
                    c.partial()
                },
                value,
            }
        }
    }
}

pub(super) fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The first two lines of a Markdown table: `first`, one right-aligned
/// column per class, then `Mean`.
pub(super) fn md_head(first: &str, classes: &[String]) -> String {
    let mut header = vec![first.to_string()];
    header.extend(classes.iter().map(|c| md_escape(c)));
    header.push("Mean".into());
    let mut align = vec![":--".to_string()];
    align.extend(std::iter::repeat_n("--:".to_string(), header.len() - 1));
    format!("| {} |\n|{}|\n", header.join(" | "), align.join("|"))
}

pub(super) fn class_header(grid: &Grid) -> Vec<String> {
    grid.classes.iter().map(|(_, n)| n.clone()).collect()
}

/// Counts of jobs by outcome: (done, failed, missing).
pub fn counts(input: &ReportInput) -> (usize, usize, usize) {
    let mut n = (0, 0, 0);
    for r in &input.records {
        match r.outcome {
            Outcome::Done { .. } => n.0 += 1,
            Outcome::Failed { .. } => n.1 += 1,
            Outcome::Missing => n.2 += 1,
        }
    }
    n
}

/// The title line and the description under it.
fn heading(input: &ReportInput, metric: Metric) -> String {
    let seeds = seeds(input);
    let seed_list = seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = String::new();
    let approx = if input.approximate {
        " (APPROXIMATE)"
    } else {
        ""
    };
    let _ = writeln!(
        s,
        "## {}: {}{} on {}\n",
        md_escape(&input.experiment),
        metric.title(),
        approx,
        md_escape(&input.dataset)
    );
    let _ = writeln!(
        s,
        "Dataset `{}`, {}; {} as {} over {} seed{} ({}); best per column in bold.\n",
        input.dataset,
        protocol_words(input.protocol),
        metric.title(),
        match input.cell {
            CellFormat::MeanCi => {
                "mean ± half-width of the 95% confidence interval (Student t over seeds, \
                 t(0.975, n-1) · s / √n)"
            }
            CellFormat::MeanStd => "mean (sample standard deviation)",
        },
        seeds.len(),
        if seeds.len() == 1 { "" } else { "s" },
        seed_list,
    );
    if input.approximate {
        s.push_str(
            "> **Approximate numbers**: this dataset is a lossy JPEG copy of CIFAR-10, not the \
             official pixels. Do not compare these numbers with published ones as if they were \
             measured on the official data.\n\n",
        );
    }
    s
}

/// The Markdown table of `grid` with its heading, footnotes and job counts.
pub fn markdown(input: &ReportInput, grid: &Grid) -> String {
    let mut s = heading(input, grid.metric);
    let best = best(grid);
    s.push_str(&md_head("Method", &class_header(grid)));
    let mut partial_notes = Vec::new();
    for (r, label) in grid.rows.iter().enumerate() {
        let mut line = vec![md_escape(label)];
        for j in 0..=grid.classes.len() {
            let t = cell_text(grid, input.cell, &best, r, j);
            let mut text = match (&t.spread, input.cell) {
                (Some(h), CellFormat::MeanCi) => format!("{} ± {}", t.value, h),
                (Some(sd), CellFormat::MeanStd) => format!("{} ({})", t.value, sd),
                (None, _) => t.value.clone(),
            };
            if t.bold {
                text = format!("**{text}**");
            }
            if t.partial {
                text.push_str(PARTIAL);
                if j < grid.classes.len() {
                    let c = cell(grid, r, j);
                    partial_notes.push(format!(
                        "{} / {}: {} of {} seeds",
                        label,
                        grid.classes[j].1,
                        c.done,
                        c.planned()
                    ));
                }
            }
            line.push(text);
        }
        let _ = writeln!(s, "| {} |", line.join(" | "));
    }
    s.push('\n');
    if !partial_notes.is_empty() {
        let _ = writeln!(
            s,
            "{PARTIAL} Mean of the seeds that finished, fewer than planned ({}); a Mean marked \
             {PARTIAL} includes such cells.\n",
            partial_notes.join("; ")
        );
    }
    s.push_str(&legend(input, grid));
    s
}

/// What the statuses mean and how many jobs had each.
fn legend(input: &ReportInput, grid: &Grid) -> String {
    let (done, failed, missing) = counts(input);
    let total = done + failed + missing;
    let mut s = format!(
        "Jobs: {done} of {total} done, {failed} failed, {missing} missing (not run yet). \
         `{FAILED}`: every seed failed; `{MISSING}`: no result. Mean: the mean of the class \
         means ({MISSING} when a class has no result), its spread over the seeds that finished every \
         class (per seed, the mean over classes)."
    );
    if grid.metric == Metric::Auprc {
        s.push_str(" AUPRC is average precision with the anomalies as the positive class; a random ranking scores the anomaly rate.");
    }
    s.push('\n');
    let failures: Vec<_> = input
        .records
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed { error } => Some((r, error)),
            _ => None,
        })
        .collect();
    if !failures.is_empty() {
        s.push_str("\nFailed jobs:\n");
        const SHOWN: usize = 10;
        for (r, error) in failures.iter().take(SHOWN) {
            let first = error.lines().next().unwrap_or("");
            let first: String = if first.chars().count() > 160 {
                first.chars().take(159).chain(['…']).collect()
            } else {
                first.to_string()
            };
            let _ = writeln!(
                s,
                "- {} / {} / seed {} (`{}`): {}",
                md_escape(&r.label),
                md_escape(&r.class_name),
                r.seed,
                &r.key[..r.key.len().min(12)],
                md_escape(&first)
            );
        }
        if failures.len() > SHOWN {
            let _ = writeln!(s, "- and {} more (see results.csv)", failures.len() - SHOWN);
        }
    }
    s
}

/// Reference numbers of a table's rows, as its CSV gives them: per row (None
/// when the reference does not list it) the value of each class, then the
/// mean of those; and per row the mean the source printed, if it gives one.
pub struct RefColumns<'a> {
    pub values: &'a [Option<Vec<Option<f64>>>],
    pub printed: &'a [Option<f64>],
}

/// The table as numbers: one line per row label; per class its mean, std,
/// 95% CI half-width and number of finished seeds (and the reference value
/// when there is one), then the same for the Mean (and the printed
/// reference mean, `mean_ref_printed`, when the reference gives one).
pub fn frame(input: &ReportInput, grid: &Grid, refs: &RefColumns) -> PolarsResult<DataFrame> {
    let has_ref = refs.values.iter().any(Option::is_some);
    let has_printed = refs.printed.iter().any(Option::is_some);
    let n = grid.rows.len();
    let mut columns = vec![
        Column::new("label".into(), grid.rows.clone()),
        Column::new(
            "method".into(),
            grid.rows
                .iter()
                .map(|l| method_of(input, l))
                .collect::<Vec<_>>(),
        ),
    ];
    let mut names: Vec<String> = grid.classes.iter().map(|(_, c)| c.clone()).collect();
    names.push("mean".into());
    for (j, name) in names.iter().enumerate() {
        let cells: Vec<&Cell> = (0..n).map(|r| cell(grid, r, j)).collect();
        columns.push(Column::new(
            name.as_str().into(),
            cells.iter().map(|c| c.mean).collect::<Vec<_>>(),
        ));
        columns.push(Column::new(
            format!("{name}_std").into(),
            cells.iter().map(|c| c.std).collect::<Vec<_>>(),
        ));
        columns.push(Column::new(
            format!("{name}_ci95").into(),
            cells.iter().map(|c| c.ci).collect::<Vec<_>>(),
        ));
        columns.push(Column::new(
            format!("{name}_seeds").into(),
            cells.iter().map(|c| c.done as u32).collect::<Vec<_>>(),
        ));
        if has_ref {
            columns.push(Column::new(
                format!("{name}_ref").into(),
                refs.values
                    .iter()
                    .map(|v| v.as_ref().and_then(|v| v[j]))
                    .collect::<Vec<_>>(),
            ));
        }
        if has_printed && j == names.len() - 1 {
            columns.push(Column::new(
                format!("{name}_ref_printed").into(),
                refs.printed.to_vec(),
            ));
        }
    }
    DataFrame::new(n, columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::{grid, results_frame};
    use crate::report::fixture::hand_input;
    use crate::report::latex::{latex, tex_escape};

    #[test]
    fn failed_and_missing_cells_show_as_such() {
        let input = hand_input();
        let g = grid(&input, &results_frame(&input).unwrap(), Metric::Auroc).unwrap();
        let md = markdown(&input, &g);
        insta::assert_snapshot!("hand_md", md);
        let row_b = md.lines().find(|l| l.starts_with("| b |")).unwrap();
        // 0.600 ties with row a: both are bold
        // 0.497 = t(0.975, 2) · 0.2 / √3, the 95% half-width over three seeds
        assert_eq!(row_b, "| b | **0.900**† | failed | **0.600 ± 0.497** | — |");
        let tex = latex(&input, &g);
        assert!(
            tex.contains(
                "b & \\textbf{0.900}$^*$ & failed & \\textbf{0.600 $\\pm$ 0.497} & -- \\\\"
            ),
            "{tex}"
        );
    }

    #[test]
    fn mean_std_format_shows_the_std_in_parentheses() {
        let mut input = hand_input();
        input.cell = CellFormat::MeanStd;
        let g = grid(&input, &results_frame(&input).unwrap(), Metric::Auroc).unwrap();
        let md = markdown(&input, &g);
        assert!(md.contains("mean (sample standard deviation)"), "{md}");
        let row_b = md.lines().find(|l| l.starts_with("| b |")).unwrap();
        assert_eq!(row_b, "| b | **0.900**† | failed | **0.600 (0.200)** | — |");
        assert!(latex(&input, &g).contains("\\textbf{0.600 (0.200)}"));
    }

    #[test]
    fn latex_escapes_names() {
        assert_eq!(
            tex_escape("a_b & 50% {x} #1 ~^\\"),
            "a\\_b \\& 50\\% \\{x\\} \\#1 \\textasciitilde{}\\textasciicircum{}\\textbackslash{}"
        );
        assert_eq!(md_escape("a|b"), "a\\|b");
    }
}
