//! Rendering a grid as the study's table: Markdown (with the job counts, the
//! footnotes and the comparison with reference numbers), CSV (one line per row
//! label, numbers only) and LaTeX (booktabs).

use std::fmt::Write as _;

use polars::prelude::*;

use super::aggregate::{Cell, Grid, Metric};
use super::{Outcome, ReportInput};
use crate::spec::{CellFormat, Protocol};

/// Shown for a cell with no result at all.
const MISSING: &str = "—";
const FAILED: &str = "failed";
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
fn best(grid: &Grid) -> Vec<Option<String>> {
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
fn cell(grid: &Grid, r: usize, j: usize) -> &Cell {
    grid.cells[r].get(j).unwrap_or(&grid.means[r])
}

/// Whether the Mean of row `r` rests on partial cells.
fn mean_partial(grid: &Grid, r: usize) -> bool {
    grid.means[r].mean.is_some() && grid.cells[r].iter().any(Cell::partial)
}

/// The parts of a cell's text: value (or status), spread (CI half-width or
/// std, as the spec asks), partial mark, bold.
struct CellText {
    value: String,
    spread: Option<String>,
    partial: bool,
    bold: bool,
}

fn cell_text(
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

fn class_header(grid: &Grid) -> Vec<String> {
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

/// The reference AUROC of row label `label` (method `method`) for class index
/// `class`: looked up by label, then by method name.
fn reference_for(input: &ReportInput, label: &str, method: &str) -> Option<Vec<f64>> {
    let reference = input.reference.as_ref()?;
    reference
        .auroc
        .get(label)
        .or_else(|| reference.auroc.get(method))
        .cloned()
}

/// The method of each row label (from the records).
pub(super) fn method_of(input: &ReportInput, label: &str) -> String {
    input
        .records
        .iter()
        .find(|r| r.label == label)
        .map(|r| r.method.clone())
        .unwrap_or_else(|| label.to_string())
}

/// Reference values per row (None for rows the reference does not list),
/// per class column, then the mean over the selected classes.
pub(super) fn reference_rows(input: &ReportInput, grid: &Grid) -> Vec<Option<Vec<Option<f64>>>> {
    grid.rows
        .iter()
        .map(|label| {
            let values = reference_for(input, label, &method_of(input, label))?;
            let mut out: Vec<Option<f64>> = grid
                .classes
                .iter()
                .map(|&(c, _)| values.get(c).copied())
                .collect();
            let mean = if out.iter().all(Option::is_some) && !out.is_empty() {
                Some(out.iter().flatten().sum::<f64>() / out.len() as f64)
            } else {
                None
            };
            out.push(mean);
            Some(out)
        })
        .collect()
}

/// The comparison with the reference numbers (AUROC only), when the input has them.
pub fn reference_markdown(input: &ReportInput, grid: &Grid) -> Option<String> {
    let reference = input.reference.as_ref()?;
    if grid.metric != Metric::Auroc {
        return None;
    }
    let refs = reference_rows(input, grid);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### {} vs reference: {}\n",
        grid.metric.title(),
        md_escape(&reference.source)
    );
    if !refs.iter().any(Option::is_some) {
        s.push_str("No method of this spec appears in the reference.\n");
        return Some(s);
    }
    s.push_str("Each cell: this run's mean (ref: the reference value, then this run minus the reference).\n\n");
    if reference.protocol != input.protocol {
        let _ = writeln!(
            s,
            "> The reference numbers were measured under the {} protocol; this run uses the {} \
             protocol.\n",
            reference.protocol.as_str(),
            input.protocol.as_str()
        );
    }
    s.push_str(&md_head("Method", &class_header(grid)));
    for (r, label) in grid.rows.iter().enumerate() {
        let Some(values) = &refs[r] else { continue };
        let mut line = vec![md_escape(label)];
        for (j, rv) in values.iter().enumerate() {
            let ours = cell(grid, r, j).mean;
            line.push(match (ours, rv) {
                (Some(o), Some(v)) => {
                    // the difference of the numbers as shown, so the row adds up
                    let shown = (o * 1000.0).round() / 1000.0;
                    format!("{} (ref {}, {:+.3})", num(o), num(*v), shown - v)
                }
                (None, Some(v)) => format!("{MISSING} (ref {})", num(*v)),
                (Some(o), None) => num(o),
                (None, None) => MISSING.to_string(),
            });
        }
        let _ = writeln!(s, "| {} |", line.join(" | "));
    }
    let omitted: Vec<&str> = grid
        .rows
        .iter()
        .zip(&refs)
        .filter(|(_, v)| v.is_none())
        .map(|(l, _)| l.as_str())
        .collect();
    if !omitted.is_empty() {
        let _ = writeln!(
            s,
            "\nNot in the reference: {}.",
            omitted
                .iter()
                .map(|l| md_escape(l))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Some(s)
}

/// The table as numbers: one line per row label; per class its mean, std,
/// 95% CI half-width and number of finished seeds (and the reference value when there is one), then
/// the same for the Mean.
pub fn frame(input: &ReportInput, grid: &Grid) -> PolarsResult<DataFrame> {
    let refs = reference_rows(input, grid);
    let has_ref = refs.iter().any(Option::is_some);
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
                refs.iter()
                    .map(|v| v.as_ref().and_then(|v| v[j]))
                    .collect::<Vec<_>>(),
            ));
        }
    }
    DataFrame::new(n, columns)
}

/// Escapes text for LaTeX.
pub(super) fn tex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str(r"\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => out.push_str(r"\textasciitilde{}"),
            '^' => out.push_str(r"\textasciicircum{}"),
            _ => out.push(ch),
        }
    }
    out
}

/// The table as a LaTeX `table` (booktabs).
pub fn latex(input: &ReportInput, grid: &Grid) -> String {
    let best = best(grid);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "% {}: {} on {}. Needs \\usepackage{{booktabs}}.",
        input.experiment,
        grid.metric.title(),
        input.dataset
    );
    s.push_str("\\begin{table}[t]\n\\centering\n");
    let _ = writeln!(s, "\\caption{{{}}}", latex_caption(input, grid));
    let _ = writeln!(s, "\\label{{tab:{}}}", tex_escape(&input.experiment));
    let _ = writeln!(
        s,
        "\\begin{{tabular}}{{l{}}}",
        "r".repeat(grid.classes.len() + 1)
    );
    s.push_str("\\toprule\n");
    let mut header = vec!["Method".to_string()];
    header.extend(grid.classes.iter().map(|(_, n)| tex_escape(n)));
    header.push("Mean".into());
    let _ = writeln!(s, "{} \\\\", header.join(" & "));
    s.push_str("\\midrule\n");
    for (r, label) in grid.rows.iter().enumerate() {
        let mut line = vec![tex_escape(label)];
        line.extend((0..=grid.classes.len()).map(|j| latex_cell(input, grid, &best, r, j)));
        let _ = writeln!(s, "{} \\\\", line.join(" & "));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    s
}

/// The caption: metric, dataset, protocol, what a cell shows, the seeds,
/// and the jobs that did not finish.
fn latex_caption(input: &ReportInput, grid: &Grid) -> String {
    let seeds = seeds(input).len();
    let protocol = match input.protocol {
        Protocol::AnomalyClass => "the class of each column is the anomaly",
        Protocol::OneClass => "the class of each column is normal",
    };
    let (done, failed, missing) = counts(input);
    let mut caption = format!(
        "{} on {}{} ({}): {} over {} seed{}; best per column in bold.",
        grid.metric.title(),
        tex_escape(&input.dataset),
        if input.approximate {
            " (approximate: a lossy JPEG copy, not the official pixels)"
        } else {
            ""
        },
        protocol,
        match input.cell {
            CellFormat::MeanCi => {
                "mean $\\pm$ half-width of the 95\\% confidence interval (Student $t$ over seeds)"
            }
            CellFormat::MeanStd => "mean (sample standard deviation)",
        },
        seeds,
        if seeds == 1 { "" } else { "s" },
    );
    if failed + missing > 0 {
        let _ = write!(
            caption,
            " {done} of {} jobs done, {failed} failed, {missing} missing; $^*$ fewer seeds than planned.",
            done + failed + missing
        );
    }
    caption
}

/// Cell `j` of row `r` in LaTeX: the value (or `failed`, `--`) with its
/// spread, bold when best, `$^*$` when some seeds are missing.
fn latex_cell(
    input: &ReportInput,
    grid: &Grid,
    best: &[Option<String>],
    r: usize,
    j: usize,
) -> String {
    let t = cell_text(grid, input.cell, best, r, j);
    let value = if cell(grid, r, j).mean.is_some() {
        t.value.clone()
    } else if t.value == FAILED {
        "failed".into()
    } else {
        "--".into()
    };
    let mut text = match (&t.spread, input.cell) {
        (Some(h), CellFormat::MeanCi) => format!("{value} $\\pm$ {h}"),
        (Some(sd), CellFormat::MeanStd) => format!("{value} ({sd})"),
        (None, _) => value,
    };
    if t.bold {
        text = format!("\\textbf{{{text}}}");
    }
    if t.partial {
        text.push_str("$^*$");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::{grid, results_frame};
    use crate::report::fixture::hand_input;

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
