//! Losses the GANs share, computed from logits (softplus forms, finite for
//! any logit).

use burn::tensor::Tensor;
use burn::tensor::activation::softplus;

/// mean(BCE(sigmoid(logit), target)) for a constant target of 1 (`real`) or
/// 0: mean(softplus(-logit)) or mean(softplus(logit)).
pub fn bce_with_logits(logit: Tensor<1>, real: bool) -> Tensor<1> {
    let x = if real { logit.neg() } else { logit };
    softplus(x, 1.0).mean()
}

/// mean(BCE(sigmoid(logit), target)) = mean(softplus(l) - target * l) for a
/// constant, possibly soft, target (Keras's `binary_crossentropy`).
pub fn bce_with_logits_soft(logit: Tensor<1>, target: f64) -> Tensor<1> {
    (softplus(logit.clone(), 1.0) - logit.mul_scalar(target)).mean()
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn logits() -> Tensor<1> {
        Tensor::from_data(
            TensorData::new(vec![-2.0f32, 0.0, 3.0], [3]),
            &Device::flex(),
        )
    }

    fn value(t: Tensor<1>) -> f32 {
        t.into_data().as_slice::<f32>().expect("f32")[0]
    }

    #[test]
    fn match_the_definition() {
        // numpy: l = [-2, 0, 3]; p = 1 / (1 + exp(-l))
        // -mean(log(p))     = 0.9562208   (target 1)
        // -mean(log(1 - p)) = 1.2895542   (target 0)
        // -mean(.3 log(p) + .7 log(1 - p)) = 1.1895542
        assert!((value(bce_with_logits(logits(), true)) - 0.956_220_8).abs() < 1e-5);
        assert!((value(bce_with_logits(logits(), false)) - 1.289_554_2).abs() < 1e-5);
        assert!((value(bce_with_logits_soft(logits(), 0.3)) - 1.189_554_2).abs() < 1e-5);
        assert!((value(bce_with_logits_soft(logits(), 1.0)) - 0.956_220_8).abs() < 1e-5);
    }
}
