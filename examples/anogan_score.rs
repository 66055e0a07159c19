//! AnoGAN scoring throughput on the CPU: the batched latent search against
//! one image at a time, on the same trained model and the same test images.
//! `cargo run --release --example anogan_score -- [images] [latent_steps]
//! [side] [width] [latent]` (defaults 64 images, 20 steps, and the official
//! networks: side 32, width 64, latent 100). Threads: `RAYON_NUM_THREADS`.
//!
//! The model is trained for a few steps on the embedded UCI digits (digit 0
//! as the anomaly), so the numbers need no download; the search's cost does
//! not depend on how well the model is trained. The one-at-a-time run scores
//! the first `images / 8` images (at least 2) and its rate is per image.
//! Prints the two rates (images per second) and their ratio, and checks that
//! both runs give the same scores on the images they share.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use runner::data::{DataOptions, ImageSet, Split};
use runner::detector::gan::GanDetector;
use runner::detector::{Fitted, NoProgress, RunContext};
use runner::device::DeviceChoice;
use runner::spec::methods::AnoGanParams;
use runner::spec::{DatasetSpec, Limits, Protocol};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn digits() -> Result<Split, Box<dyn std::error::Error>> {
    let spec = DatasetSpec {
        name: "digits".into(),
        format: None,
        path: None,
        classes: None,
    };
    let located = runner::data::locate(&spec, &DataOptions::default())?;
    let ds = runner::data::load(&located)?;
    Ok(runner::data::split(
        &ds,
        Protocol::AnomalyClass,
        0,
        0,
        Limits::default(),
    )?)
}

/// Scores `images` and returns the scores and the images per second.
fn rate(
    model: &dyn Fitted,
    images: &ImageSet,
    ctx: &RunContext,
) -> Result<(Vec<f32>, f64), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let s = model.score(images, ctx)?;
    Ok((s, images.len() as f64 / t.elapsed().as_secs_f64()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let images = arg(1, 64);
    let steps = arg(2, 20);
    let side = arg(3, 32);
    let width = arg(4, 64);
    let latent = arg(5, 100);
    let params = AnoGanParams {
        image_size: side,
        generator_width: width,
        discriminator_width: width,
        latent,
        max_steps: Some(3),
        latent_steps: steps,
        latent_lr: 0.05,
        score_batch_size: images,
        ..AnoGanParams::default()
    };
    let split = digits()?;
    let cancel = AtomicBool::new(false);
    let ctx = RunContext {
        seed: 0,
        device: DeviceChoice::Cpu,
        progress: &NoProgress,
        cancel: &cancel,
        checkpoint: None,
    };
    let (mut model, _) = GanDetector(params).fit_model(&split.train, &ctx)?;
    let n = images.min(split.test.len());
    let test = split.test.subset(&(0..n).collect::<Vec<_>>());
    let few = split.test.subset(&(0..(n / 8).max(2)).collect::<Vec<_>>());
    // Warm-up: thread pool, allocator, packing buffers.
    model.params.score_batch_size = 2;
    model.score(&few.subset(&[0, 1]), &ctx)?;

    model.params.score_batch_size = n;
    let (batched, batched_rate) = rate(&model, &test, &ctx)?;
    model.params.score_batch_size = 1;
    let (single, single_rate) = rate(&model, &few, &ctx)?;
    let worst = single
        .iter()
        .zip(&batched)
        .map(|(a, b)| ((a - b) / a.abs().max(1e-6)).abs())
        .fold(0f32, f32::max);
    println!(
        "anogan side={side} width={width} latent={latent} steps={steps}: batched ({n} images) {batched_rate:.2} img/s, one at a time ({} images) {single_rate:.2} img/s, ratio {:.1}x (largest relative score difference {worst:.1e})",
        few.len(),
        batched_rate / single_rate
    );
    Ok(())
}
