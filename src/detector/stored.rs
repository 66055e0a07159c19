//! What the neural detectors share around their networks: the stored files
//! of a trained model (a JSON description of the networks, and burn records
//! of their weights, in a store object's folder) and the batched scoring loop
//! (cancellation between batches, progress, one score per image).

use std::path::Path;

use burn::module::Module;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{DetectorError, Phase, RunContext};

fn model_error(path: &Path, reason: String) -> DetectorError {
    DetectorError::Model {
        path: path.display().to_string(),
        reason,
    }
}

/// Writes the description `net` of the networks as `dir/file` (JSON).
pub fn write_net<T: Serialize>(dir: &Path, file: &str, net: &T) -> Result<(), DetectorError> {
    let path = dir.join(file);
    let text = serde_json::to_string_pretty(net)
        .map_err(|e| DetectorError::Other(format!("cannot describe the network: {e}")))?;
    std::fs::write(&path, text).map_err(|e| model_error(&path, format!("cannot write it ({e})")))
}

/// Reads the description of `method`'s networks from `dir/file`.
pub fn read_net<T: DeserializeOwned>(
    dir: &Path,
    file: &str,
    method: &str,
) -> Result<T, DetectorError> {
    let path = dir.join(file);
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
            format!("not the description of a {method} network ({e})"),
        )
    })
}

/// Writes the weights of `module` (`what`: "the generator") as `dir/file`.
pub fn save_module<M: Module>(
    module: &M,
    dir: &Path,
    file: &str,
    what: &str,
) -> Result<(), DetectorError> {
    let path = dir.join(file);
    module
        .clone()
        .save_file(&path)
        .map_err(|e| model_error(&path, format!("cannot write {what}'s weights ({e})")))
}

/// Reads the weights in `dir/file` into `blank` (a module of the same shapes).
pub fn load_module<M: Module>(
    blank: M,
    dir: &Path,
    file: &str,
    what: &str,
) -> Result<M, DetectorError> {
    let path = dir.join(file);
    blank
        .try_load_file(&path)
        .map_err(|e| model_error(&path, format!("cannot load {what}'s weights ({e})")))
}

/// `Err` when test images have another channel count than the training ones.
pub fn check_channels(method: &str, trained: usize, given: usize) -> Result<(), DetectorError> {
    if trained == given {
        Ok(())
    } else {
        Err(DetectorError::Other(format!(
            "the {method} model was trained on {trained}-channel images but the test images have {given} channels"
        )))
    }
}

/// Scores `total` images in batches of `batch` indices with `score`: a stop
/// request is honoured between batches, progress is reported after each, and
/// the result has exactly one score per image.
pub fn score_in_batches(
    total: usize,
    batch: usize,
    ctx: &RunContext,
    mut score: impl FnMut(&[usize]) -> Result<Vec<f32>, DetectorError>,
) -> Result<Vec<f32>, DetectorError> {
    let all: Vec<usize> = (0..total).collect();
    let mut scores = Vec::with_capacity(total);
    for idx in all.chunks(batch.max(1)) {
        ctx.check_cancel()?;
        let got = score(idx)?;
        if got.len() != idx.len() {
            return Err(DetectorError::Other(format!(
                "scoring gave {} scores for a batch of {} images",
                got.len(),
                idx.len()
            )));
        }
        scores.extend(got);
        ctx.progress.phase(Phase::Scoring {
            done: scores.len(),
            total,
        });
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::detector::NoProgress;
    use crate::device::DeviceChoice;

    #[test]
    fn batches_cover_every_image_once_in_order() {
        let cancel = AtomicBool::new(false);
        let ctx = RunContext {
            seed: 0,
            device: DeviceChoice::Cpu,
            progress: &NoProgress,
            cancel: &cancel,
            checkpoint: None,
        };
        let mut sizes = Vec::new();
        let s = score_in_batches(7, 3, &ctx, |idx| {
            sizes.push(idx.len());
            Ok(idx.iter().map(|&i| i as f32).collect())
        })
        .expect("scores");
        assert_eq!(s, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(sizes, vec![3, 3, 1]);
        let short = score_in_batches(4, 2, &ctx, |_| Ok(vec![0.0]));
        assert!(short.is_err());
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        let stopped = score_in_batches(4, 2, &ctx, |idx| Ok(vec![0.0; idx.len()]));
        assert!(matches!(stopped, Err(DetectorError::Cancelled)));
    }

    #[test]
    fn a_missing_description_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().expect("tmp");
        let e = read_net::<serde_json::Value>(dir.path(), "x-net.json", "X").expect_err("missing");
        let text = e.to_string();
        assert!(
            text.contains("x-net.json") && text.contains("cache verify"),
            "{text}"
        );
        std::fs::write(dir.path().join("x-net.json"), "[1,").expect("write");
        let e = read_net::<serde_json::Value>(dir.path(), "x-net.json", "X").expect_err("bad");
        assert!(
            e.to_string().contains("not the description of a X network"),
            "{e}"
        );
    }
}
