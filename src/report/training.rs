//! How the trainings went, as text: `training.md` (one row per row label:
//! its jobs, epochs, median seconds per epoch and median last-epoch losses)
//! and `training.csv` (one row per job with a training log: the epochs
//! logged, the mean seconds per epoch and every logged value at the last
//! epoch), and the per-job table the page folds away. Written only when some
//! job has a log (the GANs and external programs that log epochs). The
//! curves are drawn by `plot::training`.

use std::fmt::Write as _;

use polars::prelude::*;

use super::table::{md_escape, num};
use super::{Outcome, Record, ReportError, ReportInput};
use crate::store::TrainingLog;

/// What the report shows of the trainings.
pub struct Trainings {
    /// `training.md`: one row per row label.
    pub markdown: String,
    /// The per-job table (Markdown), folded on the page.
    pub per_job: String,
    /// `training.csv`: one row per job with a log.
    pub numbers: DataFrame,
}

/// The median of `xs` (NaN-free); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The jobs of `input` with a non-empty training log.
pub fn logged(input: &ReportInput) -> Vec<(&Record, &TrainingLog)> {
    input
        .records
        .iter()
        .filter_map(|r| Some((r, r.training.as_ref().filter(|t| !t.epochs.is_empty())?)))
        .collect()
}

/// `12` or, when the jobs ended at different epochs, `8-12`.
fn epoch_range(lo: usize, hi: usize) -> String {
    if lo == hi {
        hi.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// The value names of `logs`, in order of first appearance.
pub fn value_names<'a>(logs: impl IntoIterator<Item = &'a TrainingLog>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for log in logs {
        for e in &log.epochs {
            for (n, _) in &e.values {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
    }
    names
}

/// The summary row of row label `label`, or `None` when none of its jobs logged.
fn summary_row(
    input: &ReportInput,
    label: &str,
    logs: &[(&Record, &TrainingLog)],
) -> Option<String> {
    let mine: Vec<&TrainingLog> = logs
        .iter()
        .filter(|(r, _)| r.label == label)
        .map(|(_, l)| *l)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let jobs: Vec<&Record> = input.records.iter().filter(|r| r.label == label).collect();
    let failed = jobs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .count();
    let missing = jobs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Missing))
        .count();
    let mut count = format!("{} of {}", mine.len(), jobs.len());
    if failed > 0 {
        let _ = write!(count, ", {failed} failed");
    }
    if missing > 0 {
        let _ = write!(count, ", {missing} not run");
    }
    let last: Vec<usize> = mine
        .iter()
        .filter_map(|l| l.epochs.last().map(|e| e.epoch))
        .collect();
    let epochs = epoch_range(
        last.iter().copied().min().unwrap_or(0),
        last.iter().copied().max().unwrap_or(0),
    );
    let per_epoch: Vec<f64> = mine.iter().filter_map(|l| l.seconds_per_epoch()).collect();
    let losses: Vec<String> = value_names(mine.iter().copied())
        .iter()
        .map(|name| {
            let ends: Vec<f64> = mine
                .iter()
                .filter_map(|l| {
                    let end = l.epochs.last()?;
                    end.values.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
                })
                .collect();
            let finite: Vec<f64> = ends.iter().copied().filter(|v| v.is_finite()).collect();
            let bad = ends.len() - finite.len();
            let mut text = match median(&finite) {
                Some(m) => format!("{name} {m:.4}"),
                None => format!("{name} —"),
            };
            if bad > 0 {
                let _ = write!(text, " (**non-finite in {bad}**)");
            }
            text
        })
        .collect();
    Some(format!(
        "| {} | {count} | {epochs} | {} | {} |",
        md_escape(label),
        median(&per_epoch).map_or_else(|| "—".to_string(), num),
        losses.join(", ")
    ))
}

/// The trainings of `input`; `None` when no job has a training log.
pub fn render(input: &ReportInput) -> Result<Option<Trainings>, ReportError> {
    let logs = logged(input);
    if logs.is_empty() {
        return Ok(None);
    }
    let mut md = format!(
        "## {}: how the trainings went\n\nPer method: the jobs that logged a training (of all \
         its jobs), the epochs they ran, the median over those jobs of their mean seconds per \
         epoch, and the median over jobs of each logged value at the last epoch. Per job: \
         `training.csv`; the curves: `training/`.\n\n",
        md_escape(&input.experiment)
    );
    let _ = writeln!(md, "| Method | Jobs | Epochs | s/epoch | Last epoch |");
    let _ = writeln!(md, "|:--|--:|--:|--:|:--|");
    for label in &input.rows {
        if let Some(row) = summary_row(input, label, &logs) {
            let _ = writeln!(md, "{row}");
        }
    }

    let mut per_job = String::from(
        "| Method | Class | Seed | Epochs | s/epoch | Last epoch |\n|:--|:--|--:|--:|--:|:--|\n",
    );
    let (mut labels, mut classes, mut seeds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut epochs, mut per_epoch, mut last) = (Vec::new(), Vec::new(), Vec::new());
    for (r, log) in &logs {
        let end = log
            .epochs
            .last()
            .map(|e| e.values.clone())
            .unwrap_or_default();
        let end_text = end
            .iter()
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect::<Vec<_>>()
            .join(", ");
        let first = log.epochs.first().map_or(0, |e| e.epoch);
        let last_epoch = log.epochs.last().map_or(0, |e| e.epoch);
        let range = if first == 1 {
            last_epoch.to_string()
        } else {
            format!("{first}-{last_epoch}")
        };
        let spe = log.seconds_per_epoch().unwrap_or(0.0);
        let _ = writeln!(
            per_job,
            "| {} | {} | {} | {range} | {} | {} |",
            md_escape(&r.label),
            md_escape(&r.class_name),
            r.seed,
            num(spe),
            end_text
        );
        labels.push(r.label.clone());
        classes.push(r.class_name.clone());
        seeds.push(r.seed);
        epochs.push(last_epoch as u32);
        per_epoch.push(spe);
        last.push(end_text);
    }
    let n = labels.len();
    let numbers = DataFrame::new(
        n,
        vec![
            Column::new("label".into(), labels),
            Column::new("class".into(), classes),
            Column::new("seed".into(), seeds),
            Column::new("last_epoch".into(), epochs),
            Column::new("seconds_per_epoch".into(), per_epoch),
            Column::new("last_epoch_losses".into(), last),
        ],
    )?;
    Ok(Some(Trainings {
        markdown: md,
        per_job,
        numbers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::hand_input;
    use crate::store::EpochLog;

    fn log(first: usize, seconds: &[f64], g: &[f64]) -> TrainingLog {
        TrainingLog {
            epochs: seconds
                .iter()
                .zip(g)
                .enumerate()
                .map(|(i, (&s, &g))| EpochLog {
                    epoch: first + i,
                    seconds: s,
                    values: vec![("g".into(), g), ("d".into(), 0.25 * (i + 1) as f64)],
                })
                .collect(),
        }
    }

    #[test]
    fn one_row_per_method_and_one_line_per_logged_job() {
        let mut input = hand_input();
        assert!(render(&input).expect("render").is_none());
        // row a: three logged jobs (seconds per epoch 11, 2, 5; last g 1.5, 3, NaN)
        input.records[0].training = Some(log(3, &[10.0, 12.0], &[2.0, 1.5]));
        input.records[1].training = Some(log(1, &[2.0, 2.0], &[4.0, 3.0]));
        input.records[2].training = Some(log(1, &[5.0], &[f64::NAN]));
        let t = render(&input).expect("render").expect("a log");
        assert_eq!(t.numbers.height(), 3);
        assert!(
            t.per_job
                .contains("| a | zero | 0 | 3-4 | 11.000 | g 1.5000, d 0.5000 |"),
            "{}",
            t.per_job
        );
        // 9 jobs of a: 3 logged, 1 failed, 1 not run; last epochs 4, 2, 1;
        // median s/epoch 5; median last g over the finite 1.5 and 3; d 0.5, 0.5, 0.25
        let row = t
            .markdown
            .lines()
            .find(|l| l.starts_with("| a |"))
            .expect("row a");
        assert_eq!(
            row,
            "| a | 3 of 9, 1 failed, 1 not run | 1-4 | 5.000 | g 2.2500 (**non-finite in 1**), \
             d 0.5000 |"
        );
        assert!(!t.markdown.contains("| b |"), "b logged nothing");
        let header: Vec<_> = t
            .numbers
            .get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            header,
            [
                "label",
                "class",
                "seed",
                "last_epoch",
                "seconds_per_epoch",
                "last_epoch_losses"
            ]
        );
    }

    #[test]
    fn medians_by_hand() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
