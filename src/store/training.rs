//! The training log stored with a model (`training.csv`): one line per
//! epoch with its duration and the mean of each loss (and, for ALAD, the
//! validation score), so that a report can show how a training ended and
//! how long its epochs took.
//!
//! A training that writes checkpoints also keeps its log so far beside
//! them ([`TrainingLog::write_partial`]), so that a job resumed from a
//! checkpoint stores one continuous log: the epochs up to the checkpoint
//! from the killed run, the rest from the run that finished
//! ([`TrainingLog::resumed`]). A log kept by an older runner may lack the
//! first part: the log then starts after the checkpoint's epoch.

use std::fmt::Write as _;
use std::path::Path;

/// The file's name in a model object.
pub const TRAINING_LOG: &str = "training.csv";

/// One epoch: its number (1-based), seconds, and named values in order.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub seconds: f64,
    pub values: Vec<(String, f64)>,
}

/// Every logged epoch of one training.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingLog {
    pub epochs: Vec<EpochLog>,
}

impl TrainingLog {
    /// The names of the values, from the first epoch.
    pub fn names(&self) -> Vec<String> {
        self.epochs
            .first()
            .map(|e| e.values.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }

    /// Mean seconds per logged epoch.
    pub fn seconds_per_epoch(&self) -> Option<f64> {
        if self.epochs.is_empty() {
            return None;
        }
        Some(self.epochs.iter().map(|e| e.seconds).sum::<f64>() / self.epochs.len() as f64)
    }

    /// `epoch,seconds,<names...>` then one line per epoch.
    pub fn to_csv(&self) -> String {
        let names = self.names();
        let mut s = String::from("epoch,seconds");
        for n in &names {
            s.push(',');
            s.push_str(n);
        }
        s.push('\n');
        for e in &self.epochs {
            let _ = write!(s, "{},{:.3}", e.epoch, e.seconds);
            for n in &names {
                let v = e.values.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
                match v {
                    Some(v) => {
                        let _ = write!(s, ",{v:.6}");
                    }
                    None => s.push(','),
                }
            }
            s.push('\n');
        }
        s
    }

    /// Parses [`TrainingLog::to_csv`]'s text; `None` when it is not one.
    pub fn parse(text: &str) -> Option<TrainingLog> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next()?.split(',').collect();
        if header.len() < 2 || header[0] != "epoch" || header[1] != "seconds" {
            return None;
        }
        let mut epochs = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return None;
            }
            let values = header[2..]
                .iter()
                .zip(&fields[2..])
                .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
                .collect();
            epochs.push(EpochLog {
                epoch: fields[0].parse().ok()?,
                seconds: fields[1].parse().ok()?,
                values,
            });
        }
        Some(TrainingLog { epochs })
    }

    /// The log of a training resumed after `self`'s epochs were logged:
    /// `self`'s epochs before the first epoch of `after`, then `after`'s.
    /// A training that started again from epoch 1 keeps nothing of `self`.
    pub fn resumed(&self, after: &TrainingLog) -> TrainingLog {
        let first = after.epochs.first().map_or(usize::MAX, |e| e.epoch);
        let mut epochs: Vec<EpochLog> = self
            .epochs
            .iter()
            .filter(|e| e.epoch < first)
            .cloned()
            .collect();
        epochs.extend(after.epochs.iter().cloned());
        TrainingLog { epochs }
    }

    /// Writes the log so far beside a training's checkpoints (folder `dir`,
    /// which exists once a checkpoint was written), whole or not at all:
    /// under a temporary name, then renamed.
    pub fn write_partial(&self, dir: &Path) -> Result<(), super::StoreError> {
        let path = dir.join(TRAINING_LOG);
        let writing = dir.join(format!(".{TRAINING_LOG}.{}", std::process::id()));
        std::fs::write(&writing, self.to_csv()).map_err(super::io_err(&writing))?;
        std::fs::rename(&writing, &path).map_err(super::io_err(&path))
    }

    /// Writes the log into a model object's folder (being written).
    pub fn write(&self, dir: &Path) -> Result<(), super::StoreError> {
        let path = dir.join(TRAINING_LOG);
        std::fs::write(&path, self.to_csv()).map_err(super::io_err(&path))
    }

    /// The log of a model object's folder, if it has one.
    pub fn read(dir: &Path) -> Option<TrainingLog> {
        TrainingLog::parse(&std::fs::read_to_string(dir.join(TRAINING_LOG)).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_means() {
        let log = TrainingLog {
            epochs: vec![
                EpochLog {
                    epoch: 3,
                    seconds: 2.0,
                    values: vec![("g".into(), 1.5), ("d".into(), 0.25)],
                },
                EpochLog {
                    epoch: 4,
                    seconds: 4.0,
                    values: vec![("g".into(), 1.25), ("d".into(), 0.5)],
                },
            ],
        };
        let text = log.to_csv();
        assert_eq!(
            text,
            "epoch,seconds,g,d\n3,2.000,1.500000,0.250000\n4,4.000,1.250000,0.500000\n"
        );
        assert_eq!(TrainingLog::parse(&text), Some(log.clone()));
        assert_eq!(log.seconds_per_epoch(), Some(3.0));
        assert_eq!(TrainingLog::parse("a,b\n"), None);
        assert_eq!(TrainingLog::parse("epoch,seconds,g\n1,2\n"), None);
    }

    fn epochs(numbers: &[usize]) -> TrainingLog {
        TrainingLog {
            epochs: numbers
                .iter()
                .map(|&epoch| EpochLog {
                    epoch,
                    seconds: epoch as f64,
                    values: vec![("g".into(), 10.0 * epoch as f64)],
                })
                .collect(),
        }
    }

    #[test]
    fn a_resumed_log_is_continuous() {
        // killed after epoch 4 was logged, resumed from the checkpoint after epoch 3
        let before = epochs(&[1, 2, 3, 4]);
        let after = epochs(&[4, 5]);
        assert_eq!(before.resumed(&after), epochs(&[1, 2, 3, 4, 5]));
        // started again from the first epoch (no usable checkpoint)
        assert_eq!(before.resumed(&epochs(&[1, 2])), epochs(&[1, 2]));
        assert_eq!(TrainingLog::default().resumed(&after), after);

        let dir = tempfile::tempdir().unwrap();
        before.write_partial(dir.path()).unwrap();
        assert_eq!(TrainingLog::read(dir.path()), Some(before));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [TRAINING_LOG]);
    }
}
