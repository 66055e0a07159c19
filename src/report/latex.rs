//! A grid as a LaTeX `table` (booktabs): the caption says the metric, the
//! dataset, the protocol, what a cell shows and which jobs did not finish.

use std::fmt::Write as _;

use super::ReportInput;
use super::aggregate::Grid;
use super::table::{FAILED, best, cell, cell_text, counts, seeds};
use crate::spec::{CellFormat, Protocol};

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
