//! ALAD along its training (an exploration, not a check): the AUROC of each
//! score variant every `every` steps, for the moving averages and the live
//! networks, beside two baselines ("ink", the sum of the pixels, and the L1
//! distance to the mean training image), then where the Features score comes
//! from (per group, the means of its parts). The numbers in the ALAD module
//! docs ("What the study's 0.491 on MNIST shows") were measured with it.
//!
//! `ALAD_EXPLORE="steps every width ema sn dzz anomaly lr side latent"`
//! (default `600 100 16 0.9 1 1 0 0.0002 16 16`), `ALAD_DATA=digits|mnist`
//! (mnist: from `RUNNER_DATA`, `ALAD_LIMITS="train test"`, default `3000
//! 2000`): `cargo run --release --example alad_explore`.

use burn::tensor::Tensor;
use runner::data::Split;
use runner::detector::alad::model::{EvalNets, NetConfig};
use runner::detector::alad::train::Trainer;
use runner::detector::gan::{Start, Training};
use runner::device::DeviceChoice;
use runner::nn::batch::PreparedImages;
use runner::nn::burn_device::burn_device;
use runner::nn::host::read_values;
use runner::spec::methods::AladParams;

/// Exploration (not a check): the AUROC of every variant along training,
/// with the baselines "ink" (sum of pixels) and "distance to the mean
/// training image" (L1), printed every `every` steps.
fn explore(split: &Split, p: &AladParams, steps: usize, every: usize) {
    let net = NetConfig::new(p, split.train.channels).expect("net");
    let device = burn_device(DeviceChoice::Cpu).expect("cpu");
    let images = PreparedImages::new(&split.train, &net.preprocessing()).expect("prep");
    let test = PreparedImages::new(&split.test, &net.preprocessing()).expect("prep");
    let auc = |s: &[f32]| runner::metrics::auroc(&split.test_is_anomaly, s).expect("auc");
    {
        let all: Vec<usize> = (0..images.len()).collect();
        let mean = images.batch(&all, &device).mean_dim(0); // [1, c, s, s]
        let t: Vec<usize> = (0..test.len()).collect();
        let x = test.batch(&t, &device);
        let n = t.len();
        let ink: Tensor<1> = x.clone().flatten::<2>(1, 3).sum_dim(1).reshape([n]);
        let dist: Tensor<1> = (x - mean).abs().flatten::<2>(1, 3).sum_dim(1).reshape([n]);
        let col = |t: Tensor<1>| t.into_data().as_slice::<f32>().expect("f32").to_vec();
        println!(
            "baselines: ink {:.3} l1-to-mean {:.3} (train {}, test {})",
            auc(&col(ink)),
            auc(&col(dist)),
            images.len(),
            test.len()
        );
    }
    let mut t = Trainer::new(&net, p, Start::new(0, &device)).expect("trainer");
    let mut shuffle = runner::nn::init::stream(0, 1);
    let mut step = 0;
    let start = std::time::Instant::now();
    let mut sums = [0f32; 5];
    while step < steps {
        let a = runner::nn::train::epoch_batches(images.len(), p.batch_size, &mut shuffle);
        let b = runner::nn::train::epoch_batches(images.len(), p.batch_size, &mut shuffle);
        for (d, g) in a.iter().zip(&b) {
            let [dxz, dxx, dzz] = t.discriminator_step(&images, d);
            let [generator, encoder] = t.generator_step(&images, g);
            let values = read_values(vec![dxz, dxx, dzz, generator, encoder]);
            for (s, v) in sums.iter_mut().zip(values) {
                *s += v;
            }
            step += 1;
            if step % every == 0 || step == steps {
                let aucs = |nets: &EvalNets| {
                    let all: Vec<usize> = (0..test.len()).collect();
                    let mut cols: [Vec<f32>; 4] = Default::default();
                    for idx in all.chunks(256) {
                        let v = nets.variants(test.batch(idx, &device)).expect("scores");
                        for (c, v) in cols.iter_mut().zip(v) {
                            c.extend(v);
                        }
                    }
                    let a: Vec<String> = cols.iter().map(|c| format!("{:.3}", auc(c))).collect();
                    a.join(" ")
                };
                let k = every as f32;
                println!(
                    "step {step} ({:.0}s) dxz {:.3} dxx {:.3} dzz {:.3} g {:.3} e {:.3} | auroc features/l1/l2/logits: averaged {} | live {}",
                    start.elapsed().as_secs_f64(),
                    sums[0] / k,
                    sums[1] / k,
                    sums[2] / k,
                    sums[3] / k,
                    sums[4] / k,
                    aucs(&t.eval_nets()),
                    aucs(&t.live_nets()),
                );
                sums = [0.0; 5];
            }
            if step == steps {
                break;
            }
        }
    }
    // Where the Features score comes from: per group (normal / anomalous),
    // the means of the pixel L1 |x - rec|, of |f(x, x)|, |f(x, rec)| and of
    // the score |f(x, x) - f(x, rec)|, with the averaged networks.
    let nets = t.eval_nets();
    let all: Vec<usize> = (0..test.len()).collect();
    let x = test.batch(&all, &device);
    let n = all.len();
    let rec = nets.generator.forward(nets.encoder.forward(x.clone()));
    let (_, fa) = nets.dxx.forward(x.clone(), x.clone(), None);
    let (_, fb) = nets.dxx.forward(x.clone(), rec.clone(), None);
    let col = |t: Tensor<2>| -> Vec<f32> {
        t.abs()
            .sum_dim(1)
            .reshape([n])
            .into_data()
            .as_slice::<f32>()
            .expect("f32")
            .to_vec()
    };
    let rows = [
        ("pixel l1", col((x - rec).flatten::<2>(1, 3))),
        ("|f(x,x)|", col(fa.clone())),
        ("|f(x,rec)|", col(fb.clone())),
        ("features", col(fa - fb)),
    ];
    for (name, v) in rows {
        let mean = |a: u8| {
            let (s, c) = v
                .iter()
                .zip(&split.test_is_anomaly)
                .filter(|(_, l)| **l == a)
                .fold((0.0, 0), |(s, c), (x, _)| (s + *x as f64, c + 1));
            s / c.max(1) as f64
        };
        println!("{name}: normal {:.3} anomalous {:.3}", mean(0), mean(1));
    }
}

fn main() {
    let args: Vec<f64> = std::env::var("ALAD_EXPLORE")
        .unwrap_or_else(|_| "600 100 16 0.9 1 1 0 0.0002 16 16".into())
        .split_whitespace()
        .map(|a| a.parse().expect("number"))
        .collect();
    let (steps, every, width) = (args[0] as usize, args[1] as usize, args[2] as usize);
    let anomaly = args[6] as usize;
    let split = match std::env::var("ALAD_DATA").as_deref() {
        Ok("mnist") => {
            let lim: Vec<usize> = std::env::var("ALAD_LIMITS")
                .unwrap_or_else(|_| "3000 2000".into())
                .split_whitespace()
                .map(|a| a.parse().expect("number"))
                .collect();
            let opts = runner::data::DataOptions {
                search: std::env::var("RUNNER_DATA")
                    .map(|d| vec![d.into()])
                    .unwrap_or_default(),
                offline: true,
            };
            let located = runner::data::locate(&runner::spec::DatasetSpec::named("mnist"), &opts)
                .expect("mnist");
            let ds = runner::data::load(&located).expect("load");
            let limits = runner::spec::Limits {
                train: Some(lim[0]),
                test: Some(lim[1]),
            };
            runner::data::split(
                &ds,
                runner::spec::Protocol::AnomalyClass,
                anomaly,
                0,
                limits,
            )
            .expect("split")
        }
        _ => {
            let located = runner::data::locate(
                &runner::spec::DatasetSpec::named("digits"),
                &runner::data::DataOptions::default(),
            )
            .expect("the digits are embedded");
            let ds = runner::data::load(&located).expect("load");
            let limits = runner::spec::Limits::default();
            runner::data::split(
                &ds,
                runner::spec::Protocol::AnomalyClass,
                anomaly,
                0,
                limits,
            )
            .expect("split")
        }
    };
    let p = AladParams {
        image_size: args[8] as usize,
        latent: args[9] as usize,
        encoder_width: width,
        generator_width: width,
        dxz_width: width,
        dxx_width: width / 2,
        dzz_width: 64.min(4 * width),
        early_stop: false,
        ema_decay: args[3],
        spectral_norm: args[4] > 0.5,
        dzz: args[5] > 0.5,
        lr: args[7],
        ..AladParams::default()
    };
    println!("{p:?}");
    explore(&split, &p, steps, every);
}
