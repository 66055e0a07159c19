//! The comparison of a grid with reference numbers (a paper's table given in
//! the spec): the reference value of each row and class, and the Markdown
//! section that puts this run's means beside them.

use std::fmt::Write as _;

use super::ReportInput;
use super::aggregate::{Grid, Metric};
use super::table::{MISSING, cell, class_header, md_escape, md_head, num};

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
