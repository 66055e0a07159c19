//! Several specs in one table (`runner report A.yaml B.yaml`): each row of
//! each spec's AUROC grid, prefixed with the spec's name, beside the
//! reference rows of those specs (once each), then each row minus its own
//! spec's reference. For what differs between specs over the same classes:
//! one method under two protocols, at two budgets, on two copies of a
//! dataset. Written as `table.md`, `table.csv` and `table.tex`.

use std::fmt::Write as _;

use polars::prelude::*;

use super::aggregate::{self, Cell, Grid, Metric};
use super::latex::tex_escape;
use super::reference;
use super::table::{self, md_escape, num};
use super::{ReportError, ReportInput};
use crate::spec::CellFormat;

/// One spec's part of the table.
struct Part<'a> {
    input: &'a ReportInput,
    grid: Grid,
    /// Per row: the reference values (classes, then the mean), if listed.
    refs: Vec<Option<Vec<Option<f64>>>>,
    /// Per row: the mean the reference printed, if it gives one.
    printed: Vec<Option<f64>>,
}

/// One line of the table.
struct Line {
    label: String,
    spec: String,
    method: String,
    /// `result`, `reference` or `difference`.
    kind: &'static str,
    /// Per class, then the mean.
    values: Vec<Option<f64>>,
    /// Shown after the value (`± 0.012`), results only.
    spreads: Vec<Option<String>>,
    /// Result cells with no value because every seed failed.
    failed: Vec<bool>,
    /// Difference rows: (mean |difference|, Pearson r) over the classes
    /// where both the result and the reference have a value.
    agreement: Option<(f64, f64)>,
    /// Reference rows: the mean the source printed, if it gives one.
    printed: Option<f64>,
}

/// Mean absolute difference and Pearson correlation of paired values
/// (None with fewer than two pairs or no spread).
fn agreement(pairs: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = pairs.len() as f64;
    if pairs.len() < 2 {
        return None;
    }
    let mad = pairs.iter().map(|(a, b)| (a - b).abs()).sum::<f64>() / n;
    let (ma, mb) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = pairs.iter().map(|(a, b)| (a - ma) * (b - mb)).sum();
    let va: f64 = pairs.iter().map(|(a, _)| (a - ma).powi(2)).sum();
    let vb: f64 = pairs.iter().map(|(_, b)| (b - mb).powi(2)).sum();
    let r = cov / (va * vb).sqrt();
    r.is_finite().then_some((mad, r))
}

/// The side-by-side table of `inputs` (at least one): Markdown, the numbers
/// (one line per row: spec, method, kind, one column per class, the mean)
/// and LaTeX.
pub fn render(
    inputs: &[ReportInput],
    name: &str,
) -> Result<(String, DataFrame, String), ReportError> {
    let Some(first) = inputs.first() else {
        return Err(ReportError::Aggregate("no spec to report".into()));
    };
    let names = |i: &ReportInput| i.classes.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>();
    for other in &inputs[1..] {
        if names(other) != names(first) {
            return Err(ReportError::Aggregate(format!(
                "specs side by side need the same classes: `{}` has [{}], `{}` has [{}]",
                first.experiment,
                names(first).join(", "),
                other.experiment,
                names(other).join(", ")
            )));
        }
    }
    let mut parts = Vec::new();
    for input in inputs {
        let results = aggregate::results_frame(input)?;
        let grid = aggregate::grid(input, &results, Metric::Auroc)?;
        let (refs, printed) = reference::columns(input, &grid);
        parts.push(Part {
            input,
            grid,
            refs,
            printed,
        });
    }
    let lines = lines(&parts);
    let classes = names(first);
    Ok((
        markdown(&parts, &lines, &classes, name),
        frame(&lines, &classes)?,
        latex(&lines, &classes, name),
    ))
}

fn cell(grid: &Grid, r: usize, j: usize) -> &Cell {
    grid.cells[r].get(j).unwrap_or(&grid.means[r])
}

fn lines(parts: &[Part]) -> Vec<Line> {
    let mut results = Vec::new();
    let mut references: Vec<Line> = Vec::new();
    let mut differences = Vec::new();
    for p in parts {
        let columns = p.grid.classes.len() + 1;
        for (r, label) in p.grid.rows.iter().enumerate() {
            let method = aggregate::method_of(p.input, label);
            let values: Vec<Option<f64>> = (0..columns).map(|j| cell(&p.grid, r, j).mean).collect();
            let spreads = (0..columns)
                .map(|j| {
                    let c = cell(&p.grid, r, j);
                    match p.input.cell {
                        CellFormat::MeanCi => c.ci.map(|h| format!("± {}", num(h))),
                        CellFormat::MeanStd => c.std.map(|s| format!("({})", num(s))),
                    }
                })
                .collect();
            if let (Some(reference), Some(rv)) = (&p.input.reference, &p.refs[r]) {
                let ref_label = format!("{} [{}]", method, reference.source);
                if !references
                    .iter()
                    .any(|l| l.label == ref_label && &l.values == rv)
                {
                    let printed = p.printed[r];
                    let mut spreads = vec![None; columns];
                    spreads[columns - 1] = printed
                        .map(|m| format!("({})", reference::printed_text(m, rv[columns - 1])));
                    references.push(Line {
                        label: ref_label,
                        spec: String::new(),
                        method: method.clone(),
                        kind: "reference",
                        values: rv.clone(),
                        spreads,
                        failed: vec![false; columns],
                        agreement: None,
                        printed,
                    });
                }
                let classes = columns - 1;
                let pairs: Vec<(f64, f64)> = values[..classes]
                    .iter()
                    .zip(&rv[..classes])
                    .filter_map(|(o, v)| Some(((*o)?, (*v)?)))
                    .collect();
                differences.push(Line {
                    label: format!("{}: {} − reference", p.input.experiment, label),
                    spec: p.input.experiment.clone(),
                    method: method.clone(),
                    kind: "difference",
                    values: values
                        .iter()
                        .zip(rv)
                        .map(|(o, v)| match (o, v) {
                            // the difference of the numbers as shown
                            (Some(o), Some(v)) => Some((o * 1000.0).round() / 1000.0 - v),
                            _ => None,
                        })
                        .collect(),
                    spreads: vec![None; columns],
                    failed: vec![false; columns],
                    agreement: agreement(&pairs),
                    printed: None,
                });
            }
            results.push(Line {
                label: format!("{}: {}", p.input.experiment, label),
                spec: p.input.experiment.clone(),
                method,
                kind: "result",
                failed: (0..columns)
                    .map(|j| j < columns - 1 && cell(&p.grid, r, j).failed > 0)
                    .collect(),
                values,
                spreads,
                agreement: None,
                printed: None,
            });
        }
    }
    results.extend(references);
    results.extend(differences);
    results
}

fn shown(l: &Line, j: usize) -> String {
    match (l.values[j], l.kind) {
        (None, _) if l.failed[j] => "failed".to_string(),
        (None, _) => "—".to_string(),
        (Some(v), "difference") => format!("{v:+.3}"),
        (Some(v), _) => match &l.spreads[j] {
            Some(s) => format!("{} {s}", num(v)),
            None => num(v),
        },
    }
}

fn markdown(parts: &[Part], lines: &[Line], classes: &[String], name: &str) -> String {
    let mut s = format!("## {}: AUROC side by side\n\n", md_escape(name));
    for p in parts {
        let i = p.input;
        let seeds = table::seeds(i);
        let (done, failed, missing) = table::counts(i);
        let _ = writeln!(
            s,
            "- `{}`: dataset `{}`{}, {} protocol, {} seed{}; jobs {done} done, {failed} failed, {missing} missing{}",
            i.experiment,
            i.dataset,
            if i.approximate {
                " (APPROXIMATE: lossy JPEG copy)"
            } else {
                ""
            },
            i.protocol.as_str(),
            seeds.len(),
            if seeds.len() == 1 { "" } else { "s" },
            match &i.reference {
                Some(r) => format!(
                    "; reference: {} ({} protocol)",
                    r.source,
                    r.protocol.as_str()
                ),
                None => String::new(),
            }
        );
    }
    s.push_str(
        "\nResult rows: mean over seeds with the spread the spec asks for (± half-width of the \
         95% confidence interval, or (standard deviation)); reference rows: the published \
         numbers, once each; difference rows: the result as shown minus its spec's reference.\n\n",
    );
    let printed: Vec<&Line> = lines.iter().filter(|l| l.printed.is_some()).collect();
    if !printed.is_empty() {
        let any = printed.iter().any(|l| {
            let mean = l.values.last().copied().flatten();
            l.printed
                .zip(mean)
                .is_some_and(|(p, m)| reference::mismatch(p, m))
        });
        let _ = writeln!(s, "{}\n", reference::printed_note(any));
    }
    s.push_str(&table::md_head("Row", classes));
    for l in lines {
        let mut row = vec![md_escape(&l.label)];
        row.extend((0..l.values.len()).map(|j| shown(l, j)));
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    let agreements: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let (mad, r) = l.agreement?;
            Some(format!(
                "- {}: mean absolute difference {}, Pearson r {:.2} over the classes",
                md_escape(&l.label),
                num(mad),
                r
            ))
        })
        .collect();
    if !agreements.is_empty() {
        let _ = writeln!(
            s,
            "\nHow closely each row follows its reference, class by class:\n\n{}",
            agreements.join("\n")
        );
    }
    s
}

fn frame(lines: &[Line], classes: &[String]) -> Result<DataFrame, ReportError> {
    let n = lines.len();
    let mut columns = vec![
        Column::new(
            "row".into(),
            lines.iter().map(|l| l.label.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "spec".into(),
            lines.iter().map(|l| l.spec.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "method".into(),
            lines.iter().map(|l| l.method.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "kind".into(),
            lines.iter().map(|l| l.kind).collect::<Vec<_>>(),
        ),
    ];
    let mut names = classes.to_vec();
    names.push("mean".into());
    for (j, c) in names.iter().enumerate() {
        columns.push(Column::new(
            c.as_str().into(),
            lines.iter().map(|l| l.values[j]).collect::<Vec<_>>(),
        ));
    }
    if lines.iter().any(|l| l.printed.is_some()) {
        columns.push(Column::new(
            "mean_printed".into(),
            lines.iter().map(|l| l.printed).collect::<Vec<_>>(),
        ));
    }
    Ok(DataFrame::new(n, columns)?)
}

fn latex(lines: &[Line], classes: &[String], name: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "% {}: AUROC side by side (runner report)", name);
    let _ = writeln!(
        s,
        "\\begin{{tabular}}{{l{}}}",
        "r".repeat(classes.len() + 1)
    );
    s.push_str("\\toprule\n");
    let mut header = vec!["Row".to_string()];
    header.extend(classes.iter().map(|c| tex_escape(c)));
    header.push("Mean".into());
    let _ = writeln!(s, "{} \\\\", header.join(" & "));
    s.push_str("\\midrule\n");
    let mut last_kind = "result";
    for l in lines {
        if l.kind != last_kind {
            s.push_str("\\midrule\n");
            last_kind = l.kind;
        }
        let mut row = vec![tex_escape(&l.label).replace('−', "$-$")];
        row.extend((0..l.values.len()).map(|j| {
            tex_escape(&shown(l, j))
                .replace('±', "$\\pm$")
                .replace('−', "$-$")
                .replace('≠', "$\\neq$")
        }));
        let _ = writeln!(s, "{} \\\\", row.join(" & "));
    }
    s.push_str("\\bottomrule\n\\end{tabular}\n");
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::fixture::{hand_input, record, with};
    use crate::spec::{Protocol, Reference};

    /// A second spec over the same classes: one row `a`, AUROC 0.6 / 0.7 /
    /// 0.8 on the three classes (one seed), with a reference.
    fn other() -> ReportInput {
        let mut i = hand_input();
        i.experiment = "u".into();
        i.protocol = Protocol::OneClass;
        i.rows = vec!["a".into()];
        let classes = i.classes.clone();
        i.records = classes
            .iter()
            .zip([0.6, 0.7, 0.8])
            .map(|((c, n), v)| record("a", "a", (*c, n.as_str()), 0, with(v)))
            .collect();
        let mut auroc = BTreeMap::new();
        // class indices of the fixture: the reference lists every index
        let mut values = vec![0.0; 10];
        for ((c, _), v) in classes.iter().zip([0.5, 0.9, 0.7]) {
            values[*c] = v;
        }
        auroc.insert("a".to_string(), values);
        i.reference = Some(Reference {
            source: "paper".into(),
            protocol: Protocol::OneClass,
            auroc,
            printed_mean: Default::default(),
        });
        i
    }

    #[test]
    fn rows_of_both_specs_their_reference_and_the_differences() {
        let (md, df, tex) = render(&[hand_input(), other()], "both").expect("render");
        let kind = df.column("kind").expect("kind").str().expect("str");
        let kinds: Vec<&str> = (0..df.height())
            .map(|i| kind.get(i).unwrap_or_default())
            .collect();
        assert_eq!(
            kinds,
            ["result", "result", "result", "reference", "difference"]
        );
        let row = |i: usize| -> Vec<Option<f64>> {
            ["zero", "one", "seven", "mean"]
                .iter()
                .map(|c| df.column(c).expect("column").f64().expect("f64").get(i))
                .collect()
        };
        // t: a = means 0.8, 0.6, 0.6; u: a = 0.6, 0.7, 0.8, mean 0.7
        let u = row(2);
        assert_eq!(u.len(), 4);
        for (got, want) in u.iter().zip([0.6, 0.7, 0.8, 0.7]) {
            assert!((got.expect("value") - want).abs() < 1e-9, "{u:?}");
        }
        // reference 0.5, 0.9, 0.7 (mean 0.7); difference 0.1, -0.2, 0.1, 0.0
        let d = row(4);
        for (got, want) in d.iter().zip([0.1, -0.2, 0.1, 0.0]) {
            assert!((got.expect("value") - want).abs() < 1e-9, "{d:?}");
        }
        assert!(
            md.contains("| u: a − reference | +0.100 | -0.200 | +0.100 | +0.000 |"),
            "{md}"
        );
        // |d| = 0.1, 0.2, 0.1: mean 0.133; r of (0.6, 0.7, 0.8) and (0.5, 0.9, 0.7) = 0.5
        assert!(
            md.contains("mean absolute difference 0.133, Pearson r 0.50"),
            "{md}"
        );
        assert!(
            md.contains("`t`: dataset `d`, anomaly-class protocol"),
            "{md}"
        );
        assert!(tex.contains("u: a $-$ reference"), "{tex}");
        insta::assert_snapshot!(md);
    }

    #[test]
    fn specs_over_other_classes_are_refused_with_both_lists() {
        let mut u = other();
        u.classes.truncate(2);
        let e = render(&[hand_input(), u], "x").expect_err("other classes");
        let msg = e.to_string();
        assert!(
            msg.contains("same classes") && msg.contains("`u` has"),
            "{msg}"
        );
    }
}
