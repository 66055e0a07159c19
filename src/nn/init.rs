//! Seeded weight initialisation: every parameter value comes from our own
//! ChaCha RNG (not burn's backend RNG), so the same seed gives bit-identical
//! initial weights on every backend and thread count.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream `stream` of the job's seed: each use of randomness in a method
/// (initialisation, shuffling, noise, ...) draws from its own stream, so
/// that adding draws to one never shifts another.
pub fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// `n` samples of N(mean, std) (Box-Muller on two uniform draws).
pub fn normal_values(n: usize, mean: f64, std: f64, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        // u1 in (0, 1] so that ln(u1) is finite.
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((mean + std * r * t.cos()) as f32);
        if out.len() < n {
            out.push((mean + std * r * t.sin()) as f32);
        }
    }
    out
}

/// A parameter of `shape` drawn from N(mean, std).
pub fn normal_param<const D: usize>(
    shape: [usize; D],
    mean: f64,
    std: f64,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Param<Tensor<D>> {
    let n = shape.iter().product();
    let values = normal_values(n, mean, std, rng);
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A parameter of `shape` filled with `value`.
pub fn constant_param<const D: usize>(
    shape: [usize; D],
    value: f32,
    device: &Device,
) -> Param<Tensor<D>> {
    let n = shape.iter().product();
    Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![value; n], shape),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn normal_values_have_the_asked_moments_and_repeat_with_the_seed() {
        let a = normal_values(20_001, 1.0, 0.02, &mut ChaCha8Rng::seed_from_u64(3));
        let b = normal_values(20_001, 1.0, 0.02, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a, b);
        let n = a.len() as f64;
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!((mean - 1.0).abs() < 1e-3, "mean {mean}");
        assert!((var.sqrt() - 0.02).abs() < 1e-3, "std {}", var.sqrt());
    }
}
