//! Times one full GANomaly training step (generator and discriminator
//! updates) on the CPU: `cargo run --release --example ganomaly_step --
//! [channels] [steps] [side] [batch]`. Threads: `RAYON_NUM_THREADS`.
//! Prints one line: `runner channels=C ms_per_step=M (median of N)`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use runner::data::ImageSet;
use runner::detector::gan::{Start, Step, Training};
use runner::detector::ganomaly::model::shapes;
use runner::detector::ganomaly::train::Trainer;
use runner::device::DeviceChoice;
use runner::nn::batch::PreparedImages;
use runner::nn::burn_device::burn_device;
use runner::nn::dcgan::DcganNet;
use runner::nn::host::read_values;
use runner::spec::methods::GanomalyParams;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let channels = arg(1, 1);
    let steps = arg(2, 10);
    let side = arg(3, 32);
    let batch = arg(4, 64);
    let params = GanomalyParams {
        image_size: side,
        batch_size: batch,
        ..GanomalyParams::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = batch;
    let images = ImageSet {
        channels,
        height: side,
        width: side,
        pixels: (0..n * channels * side * side)
            .map(|_| rng.random::<u8>())
            .collect(),
        labels: vec![0; n],
    };
    let net = DcganNet::new(shapes(&params), channels)?;
    let prepared = PreparedImages::new(&images, &net.preprocessing())?;
    let device = burn_device(DeviceChoice::Cpu)?;
    let mut trainer = Trainer::new(&net, &params, Start::new(0, &device))?;
    let idx: Vec<usize> = (0..batch).collect();
    let batches = [idx.as_slice()];
    let step = Step {
        epoch: 0,
        index: 0,
        total: steps + 2,
        batches: &batches,
    };
    // Warm-up: allocator pools, packing buffers, thread pool start.
    // Each step as the training driver runs it: its losses read at once.
    let run_step = |trainer: &mut Trainer| {
        let losses = read_values(trainer.step(&prepared, &step));
        trainer.losses_read(&losses);
        losses
    };
    for _ in 0..2 {
        run_step(&mut trainer);
    }
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t = std::time::Instant::now();
        let l = run_step(&mut trainer);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if !l.iter().all(|v| v.is_finite()) {
            return Err("non-finite loss".into());
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    println!("runner channels={channels} ms_per_step={median:.1} (median of {steps})");
    Ok(())
}
