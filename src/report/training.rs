//! How the trainings ended (`training.md`, `training.csv`): per job with a
//! training log (the GANs), the epochs logged, the mean seconds per epoch,
//! and every logged value (losses, ALAD's validation score) at the last
//! epoch. Written only when some job has a log.

use std::fmt::Write as _;

use polars::prelude::*;

use super::table::{md_escape, num};
use super::{ReportError, ReportInput};

/// The Markdown and the numbers of the trainings of `input`; `None` when no
/// job has a training log.
pub fn render(input: &ReportInput) -> Result<Option<(String, DataFrame)>, ReportError> {
    let logged: Vec<_> = input
        .records
        .iter()
        .filter_map(|r| Some((r, r.training.as_ref().filter(|t| !t.epochs.is_empty())?)))
        .collect();
    if logged.is_empty() {
        return Ok(None);
    }
    let mut md = format!(
        "## {}: how the trainings ended\n\nPer job: the epochs it logged (a job resumed from a \
         checkpoint logs those after it), the mean seconds per epoch, and each loss's mean over \
         the last epoch.\n\n",
        md_escape(&input.experiment)
    );
    let _ = writeln!(
        md,
        "| Method | Class | Seed | Epochs | s/epoch | Last epoch |"
    );
    let _ = writeln!(md, "|:--|:--|--:|--:|--:|:--|");
    let (mut labels, mut classes, mut seeds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut epochs, mut per_epoch, mut last) = (Vec::new(), Vec::new(), Vec::new());
    for (r, log) in &logged {
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
            md,
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
    let df = DataFrame::new(
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
    Ok(Some((md, df)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::hand_input;
    use crate::store::{EpochLog, TrainingLog};

    #[test]
    fn one_line_per_logged_job_with_its_last_epoch() {
        let mut input = hand_input();
        assert!(render(&input).expect("render").is_none());
        input.records[0].training = Some(TrainingLog {
            epochs: vec![
                EpochLog {
                    epoch: 3,
                    seconds: 10.0,
                    values: vec![("g".into(), 2.0), ("d".into(), 0.5)],
                },
                EpochLog {
                    epoch: 4,
                    seconds: 12.0,
                    values: vec![("g".into(), 1.5), ("d".into(), 0.25)],
                },
            ],
        });
        let (md, df) = render(&input).expect("render").expect("a log");
        assert_eq!(df.height(), 1);
        assert!(
            md.contains("| a | zero | 0 | 3-4 | 11.000 | g 1.5000, d 0.2500 |"),
            "{md}"
        );
    }
}
