//! Tensors for the tests of `nn`: seeded random values and the largest
//! difference between two tensors.

use burn::tensor::{Device, Tensor, TensorData};

/// Values uniform in [-1, 1), seeded through the data (not burn's global RNG).
pub fn random<const D: usize>(dims: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    Tensor::from_data(TensorData::new(v, dims), device)
}

/// The largest absolute element-wise difference of two tensors of one shape.
pub fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let a = a.into_data().as_slice::<f32>().expect("f32").to_vec();
    let b = b.into_data().as_slice::<f32>().expect("f32").to_vec();
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
