//! What a stored GAN model is on disk, and how it scores: in a store
//! object's folder, `<method>-net.json` (the network shapes, [`super::Net`])
//! and one burn record per module scoring keeps, `<method>-<part>.bpk`
//! (weights, BatchNorm statistics, spectral-norm vectors); the scoring loop
//! runs over the test images in batches, with cancellation between batches
//! and progress after each.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Tensor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::detector::{DetectorError, Phase, RunContext};

fn model_error(path: &Path, reason: String) -> DetectorError {
    DetectorError::Model {
        path: path.display().to_string(),
        reason,
    }
}

fn net_file(method: &str) -> String {
    format!("{method}-net.json")
}

/// Writes the shapes `net` of `method`'s networks into `dir` (JSON).
pub fn write_net<T: Serialize>(dir: &Path, method: &str, net: &T) -> Result<(), DetectorError> {
    let path = dir.join(net_file(method));
    let text = serde_json::to_string_pretty(net)
        .map_err(|e| model_error(&path, format!("cannot describe the network ({e})")))?;
    std::fs::write(&path, text).map_err(|e| model_error(&path, format!("cannot write it ({e})")))
}

/// Reads the shapes of `method`'s networks (`title` in messages) from `dir`.
pub fn read_net<T: DeserializeOwned>(
    dir: &Path,
    method: &str,
    title: &str,
) -> Result<T, DetectorError> {
    let path = dir.join(net_file(method));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        model_error(
            &path,
            format!(
                "cannot read it ({e}); the stored model is incomplete: run `runner cache verify`"
            ),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        model_error(
            &path,
            format!("not the description of a {title} network ({e})"),
        )
    })
}

/// The module records of a stored model, saved or loaded: a scorer names
/// each of its modules once ([`super::Gan::scorer_files`]) and the same
/// listing serves both ways.
pub struct ModelFiles<'a> {
    dir: &'a Path,
    method: &'static str,
    save: bool,
}

impl<'a> ModelFiles<'a> {
    /// Writes records into `dir`.
    pub fn save(dir: &'a Path, method: &'static str) -> Self {
        ModelFiles {
            dir,
            method,
            save: true,
        }
    }

    /// Reads records from `dir` into modules of the right shapes.
    pub fn load(dir: &'a Path, method: &'static str) -> Self {
        ModelFiles {
            dir,
            method,
            save: false,
        }
    }

    /// `module` as `<method>-<part>.bpk`; `what` names it in errors ("the generator").
    pub fn module<M: Module>(
        &mut self,
        part: &str,
        what: &str,
        module: &mut M,
    ) -> Result<(), DetectorError> {
        let path = self.dir.join(format!("{}-{part}.bpk", self.method));
        if self.save {
            module
                .clone()
                .save_file(&path)
                .map_err(|e| model_error(&path, format!("cannot write {what}'s weights ({e})")))
        } else {
            *module = module
                .clone()
                .try_load_file(&path)
                .map_err(|e| model_error(&path, format!("cannot load {what}'s weights ({e})")))?;
            Ok(())
        }
    }
}

/// `Err` when test images have another channel count than the training ones.
pub fn check_channels(method: &str, trained: usize, given: usize) -> Result<(), DetectorError> {
    if trained == given {
        Ok(())
    } else {
        Err(DetectorError::ChannelMismatch {
            method: method.to_string(),
            trained,
            given,
        })
    }
}

/// The numbers of a score tensor `[n]`: one host read.
pub fn column(scores: Tensor<1>) -> Result<Vec<f32>, DetectorError> {
    crate::nn::host::read(scores).map_err(DetectorError::ScoreData)
}

/// The numbers of score tensors `[n]` each: one host read for all.
pub fn columns(scores: Vec<Tensor<1>>, n: usize) -> Result<Vec<Vec<f32>>, DetectorError> {
    crate::nn::host::read_columns(scores, n).map_err(DetectorError::ScoreData)
}

/// Scores `total` images in batches of `batch` indices with `score`, which
/// gives `columns` columns per batch: a stop request is honoured between
/// batches, progress is reported after each, and every column has exactly
/// one score per image.
pub fn score_in_batches(
    total: usize,
    batch: usize,
    columns: usize,
    ctx: &RunContext,
    mut score: impl FnMut(&[usize]) -> Result<Vec<Vec<f32>>, DetectorError>,
) -> Result<Vec<Vec<f32>>, DetectorError> {
    let all: Vec<usize> = (0..total).collect();
    let mut scores = vec![Vec::with_capacity(total); columns];
    let mut done = 0;
    for idx in all.chunks(batch.max(1)) {
        ctx.check_cancel()?;
        let got = score(idx)?;
        if got.len() != columns || got.iter().any(|c| c.len() != idx.len()) {
            return Err(DetectorError::ScoreCount {
                got: got.iter().map(Vec::len).collect(),
                images: idx.len(),
                columns,
            });
        }
        for (all, part) in scores.iter_mut().zip(got) {
            all.extend(part);
        }
        done += idx.len();
        ctx.progress.phase(Phase::Scoring { done, total });
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::detector::NoProgress;
    use crate::detector::testutil::ctx;

    #[test]
    fn batches_cover_every_image_once_in_order() {
        let cancel = AtomicBool::new(false);
        let c = ctx(0, &cancel, &NoProgress);
        let mut sizes = Vec::new();
        let s = score_in_batches(7, 3, 2, &c, |idx| {
            sizes.push(idx.len());
            let v: Vec<f32> = idx.iter().map(|&i| i as f32).collect();
            Ok(vec![v.clone(), v.iter().map(|x| -x).collect()])
        })
        .expect("scores");
        assert_eq!(s[0], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(s[1][6], -6.0);
        assert_eq!(sizes, vec![3, 3, 1]);
        let short = score_in_batches(4, 2, 1, &c, |_| Ok(vec![vec![0.0]]));
        assert!(
            matches!(short, Err(DetectorError::ScoreCount { images: 2, .. })),
            "{short:?}"
        );
        let one_column = score_in_batches(4, 2, 2, &c, |idx| Ok(vec![vec![0.0; idx.len()]]));
        assert!(one_column.is_err());
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        let stopped = score_in_batches(4, 2, 1, &c, |idx| Ok(vec![vec![0.0; idx.len()]]));
        assert!(matches!(stopped, Err(DetectorError::Cancelled)));
    }

    #[test]
    fn a_missing_description_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = read_net::<serde_json::Value>(dir.path(), "x", "X").expect_err("missing");
        let text = e.to_string();
        assert!(
            text.contains("x-net.json") && text.contains("cache verify"),
            "{text}"
        );
        std::fs::write(dir.path().join("x-net.json"), "[1,").expect("write");
        let e = read_net::<serde_json::Value>(dir.path(), "x", "X").expect_err("bad");
        assert!(
            e.to_string().contains("not the description of a X network"),
            "{e}"
        );
    }

    #[test]
    fn a_channel_mismatch_says_both_counts() {
        assert!(check_channels("X", 3, 3).is_ok());
        let e = check_channels("X", 1, 3).expect_err("mismatch").to_string();
        assert!(e.contains("1-channel") && e.contains("3 channels"), "{e}");
    }
}
