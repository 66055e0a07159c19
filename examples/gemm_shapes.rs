//! How fast burn's flex backend multiplies the matrices of a batch-wide
//! convolution (`nn::conv`'s path): for the GANomaly encoder's second layer
//! (64 -> 128 channels, 4x4 kernel, 16x16 -> 8x8, batch 64) the forward
//! product, the weight-gradient product and the input-gradient product, each
//! 1.07 GFLOP, and the input-gradient product in eight row chunks.
//! `cargo run --release --example gemm_shapes -- [reps]`; threads:
//! `RAYON_NUM_THREADS`. Prints ms and GFLOP/s per product.

use burn::tensor::{Device, Tensor, TensorData};

fn matrix(rows: usize, cols: usize, dev: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..rows * cols).map(|i| (i % 7) as f32 * 0.1).collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), dev)
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dev = Device::flex();
    // n = output positions of the batch, k = unfolded inputs, c = out channels
    let (n, k, c) = (64 * 8 * 8, 64 * 16, 128);
    let cols = matrix(n, k, &dev);
    let weight = matrix(c, k, &dev);
    let grad = matrix(n, c, &dev);
    let gflop = 2.0 * (n * k * c) as f64 / 1e9;
    let time = |name: &str, f: &dyn Fn()| {
        f();
        let start = std::time::Instant::now();
        for _ in 0..reps {
            f();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!(
            "{name:<52} {ms:>7.1} ms {:>6.0} GFLOP/s",
            gflop / (ms / 1e3)
        );
    };
    time("forward      [n, k] x [k, c]", &|| {
        let _ = cols.clone().matmul(weight.clone().transpose()).into_data();
    });
    time("weight grad  [c, n] x [n, k]", &|| {
        let _ = grad.clone().transpose().matmul(cols.clone()).into_data();
    });
    time("input grad   [n, c] x [c, k]", &|| {
        let _ = grad.clone().matmul(weight.clone()).into_data();
    });
    time("input grad   8 x ([n/8, c] x [c, k])", &|| {
        for i in 0..8 {
            let rows = grad.clone().slice([i * n / 8..(i + 1) * n / 8, 0..c]);
            let _ = rows.matmul(weight.clone()).into_data();
        }
    });
}
