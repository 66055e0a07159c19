//! Times the forward and backward pass of each DCGAN convolution of the
//! GANomaly networks (batch 64, 32x32, 64 base channels) on burn's flex
//! backend, through burn's layers and through `nn::conv`'s matrix-product
//! path: `cargo run --release --example conv_layers -- [channels] [reps]`.
//! Prints one line per layer with the median ms of each path and the ratio.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use runner::nn::conv::{conv_transpose2d_gemm, conv2d_gemm};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn random<const D: usize>(
    dims: [usize; D],
    rng: &mut rand_chacha::ChaCha8Rng,
    dev: &Device,
) -> Tensor<D> {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_data(TensorData::new(v, dims), dev)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let channels = arg(1, 1);
    let reps = arg(2, 5);
    let dev = Device::flex().autodiff();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let b = 64;
    // (transposed, cin, cout, stride, pad, side in)
    let layers = [
        (false, channels, 64, 2, 1, 32),
        (false, 64, 128, 2, 1, 16),
        (false, 128, 256, 2, 1, 8),
        (false, 256, 100, 1, 0, 4),
        (true, 100, 256, 1, 0, 1),
        (true, 256, 128, 2, 1, 4),
        (true, 128, 64, 2, 1, 8),
        (true, 64, channels, 2, 1, 16),
    ];
    println!(
        "{:<28} {:>9} {:>9} {:>6}",
        "layer", "burn ms", "gemm ms", "ratio"
    );
    for (t, cin, cout, s, p, side) in layers {
        let x = random([b, cin, side, side], &mut rng, &dev).require_grad();
        let wd = if t {
            [cin, cout, 4, 4]
        } else {
            [cout, cin, 4, 4]
        };
        let w = random(wd, &mut rng, &dev).require_grad();
        let mut ms = [Vec::new(), Vec::new()];
        for rep in 0..reps + 1 {
            for (k, gemm) in [false, true].into_iter().enumerate() {
                let start = std::time::Instant::now();
                let y = match (t, gemm) {
                    (false, false) => burn::tensor::module::conv2d(
                        x.clone(),
                        w.clone(),
                        None,
                        burn::tensor::ops::ConvOptions::new([s, s], [p, p], [1, 1], 1),
                    ),
                    (false, true) => {
                        conv2d_gemm(x.clone(), w.clone(), None, [s, s], [(p, p), (p, p)])
                    }
                    (true, false) => burn::tensor::module::conv_transpose2d(
                        x.clone(),
                        w.clone(),
                        None,
                        burn::tensor::ops::ConvTransposeOptions::new(
                            [s, s],
                            [p, p],
                            [0, 0],
                            [1, 1],
                            1,
                        ),
                    ),
                    (true, true) => {
                        conv_transpose2d_gemm(x.clone(), w.clone(), None, [s, s], [p, p], [0, 0])
                    }
                };
                let grads = (y * 1.0).sum().backward();
                let gx = x.grad(&grads).expect("dx");
                let gw = w.grad(&grads).expect("dw");
                let _ = (gx.into_data(), gw.into_data());
                if rep > 0 {
                    ms[k].push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        let (a, g) = (median(ms[0].clone()), median(ms[1].clone()));
        let name = format!(
            "{} {cin}->{cout} s{s} {side}x{side}",
            if t { "convT" } else { "conv" }
        );
        println!("{name:<28} {a:>9.1} {g:>9.1} {:>6.2}", g / a);
    }
}
