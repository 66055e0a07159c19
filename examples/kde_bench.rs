//! The KDE baseline on MNIST, timed, for `bench/kde/run.sh` (which runs the
//! same pipeline in scikit-learn and compares).
//!
//! `cargo run --release --example kde_bench -- MNIST_DIR OUT_DIR CLASS...`
//!
//! For each class, with the anomaly-class protocol (the class is the anomaly:
//! train on the other nine classes' training images, test on all 10,000 test
//! images), it fits the KDE with its default parameters and seed 0, scores the
//! test set and writes into OUT_DIR:
//! - `<class>.json`: sizes, chosen bandwidth, PCA dimension, cross-validated
//!   log-likelihoods, AUROC, fit and score seconds, and the bandwidth-search
//!   folds (indices into the training normals, so the reference uses the same
//!   sub-sample and folds);
//! - `<class>.scores`: the test scores (negative log-density) as little-endian f64.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};
use runner::data::ImageSet;
use runner::detector::kde::{Kde, cv_folds};
use runner::detector::{NoProgress, RunContext};
use runner::device::DeviceChoice;
use runner::spec::methods::KdeParams;

/// An IDX file (gzip-compressed): its dimensions and bytes.
fn read_idx(path: &Path) -> anyhow::Result<(Vec<usize>, Vec<u8>)> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("decompressing {}", path.display()))?;
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 8 {
        bail!("{}: not an IDX file of bytes", path.display());
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let len: usize = dims.iter().product();
    if bytes.len() != header + len {
        bail!(
            "{}: {} bytes, expected {}",
            path.display(),
            bytes.len(),
            header + len
        );
    }
    Ok((dims, bytes[header..].to_vec()))
}

fn read_set(dir: &Path, prefix: &str) -> anyhow::Result<ImageSet> {
    let (d, pixels) = read_idx(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")))?;
    let (_, labels) = read_idx(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")))?;
    Ok(ImageSet {
        channels: 1,
        height: d[1],
        width: d[2],
        pixels,
        labels: labels.into_iter().map(u16::from).collect(),
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        bail!("usage: kde_bench MNIST_DIR OUT_DIR CLASS...");
    }
    let (data, out) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    fs::create_dir_all(&out)?;
    let train = read_set(&data, "train")?;
    let test = read_set(&data, "t10k")?;
    let params = KdeParams::default();
    let seed = 0;
    let cancel = AtomicBool::new(false);
    let ctx = RunContext {
        seed,
        device: DeviceChoice::Cpu,
        progress: &NoProgress,
        cancel: &cancel,
        checkpoint: None,
    };
    for class in &args[2..] {
        let c: u16 = class.parse().with_context(|| format!("class `{class}`"))?;
        let normal_idx: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] != c).collect();
        let normal = train.subset(&normal_idx);
        let is_anomaly: Vec<u8> = test.labels.iter().map(|&l| u8::from(l == c)).collect();

        let t0 = Instant::now();
        let model = Kde::new(params.clone()).fit_model(&normal, &ctx)?;
        let fit_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let log_density = model.log_density(&test, &ctx)?;
        let score_s = t1.elapsed().as_secs_f64();

        let scores: Vec<f32> = log_density.iter().map(|&l| -l as f32).collect();
        let auroc = runner::metrics::auroc(&is_anomaly, &scores)?;
        let folds = cv_folds(normal.len(), params.cv_folds, params.cv_max_samples, seed);
        let (grid, cv) = model.cv_scores();
        let info = serde_json::json!({
            "class": c,
            "n_train": normal.len(),
            "n_test": test.len(),
            "dim": model.dim(),
            "bandwidth": model.bandwidth(),
            "bandwidths": grid,
            "cv_scores": cv,
            "auroc": auroc,
            "fit_s": fit_s,
            "score_s": score_s,
            "threads": rayon::current_num_threads(),
            "folds": folds,
        });
        fs::write(out.join(format!("{c}.json")), serde_json::to_string(&info)?)?;
        let bytes: Vec<u8> = log_density
            .iter()
            .flat_map(|l| (-l).to_le_bytes())
            .collect();
        fs::write(out.join(format!("{c}.scores")), bytes)?;
        println!(
            "runner  class {c}: n_train {} dim {} bandwidth {:.4} AUROC {auroc:.4} fit {fit_s:.1}s score {score_s:.1}s",
            normal.len(),
            model.dim(),
            model.bandwidth()
        );
    }
    Ok(())
}
