//! AnoGAN parameters (Schlegl et al., IPMI 2017). Defaults: the official
//! settings of LeeDoYup/AnoGAN-tf (main.py, model.py, on carpedm20's DCGAN):
//! 25 epochs, Adam 2e-4 with beta1 0.5 (TensorFlow's beta2 0.999), batch 64,
//! a 100-d latent from U(-1, 1), the generator updated twice per step, images
//! in [-1, 1]; scoring: Adam on z with lr 1e-3 and beta1 0.5, lambda 0.1, and
//! Gamma = 500 steps as in the paper (the reference's `test_epoch` is 100).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::input::Normalization;
use super::{
    FieldProblem, MethodParams, check_adam, check_at_least, check_budget, check_dcgan_side,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AnoGanParams {
    /// Side of the square network input; images are resized to it (bilinear,
    /// as PIL) (16, 32, 64, ...).
    pub image_size: usize,
    /// How pixels become input values. `official`: [-1, 1] (the reference's
    /// `image / 127.5 - 1`, the range of the generator's tanh), for any number
    /// of channels. Or `minus_one_one`, or `{mean: [..], std: [..]}`.
    pub normalization: Normalization,
    /// Size of the latent code z, drawn from U(-1, 1) (z_dim).
    pub latent: usize,
    /// Width of the generator (channels of its last hidden layer, gf_dim).
    pub generator_width: usize,
    /// Width of the discriminator (channels of its first layer, df_dim).
    pub discriminator_width: usize,
    /// Training epochs over the normal training images.
    pub epochs: usize,
    /// Stop after this many training steps in all (for quick runs); `null` = no cap.
    pub max_steps: Option<usize>,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate (generator and discriminator).
    pub lr: f64,
    /// Adam beta1.
    pub beta1: f64,
    /// Adam beta2.
    pub beta2: f64,
    /// Generator updates per discriminator update (the reference runs
    /// `g_optim` twice "to make sure that d_loss does not go to zero").
    pub generator_steps: usize,
    /// Weight lambda of the discrimination loss in the score
    /// (1 - lambda) * residual + lambda * discrimination.
    pub lambda: f64,
    /// Optimisation steps of the latent search per image (Gamma).
    pub latent_steps: usize,
    /// Adam learning rate of the latent search.
    pub latent_lr: f64,
    /// Adam beta1 of the latent search.
    pub latent_beta1: f64,
    /// Adam beta2 of the latent search.
    pub latent_beta2: f64,
    /// Images whose latent codes are searched at once (each with its own
    /// Adam state; changes scores only by float rounding).
    pub score_batch_size: usize,
}

impl Default for AnoGanParams {
    fn default() -> Self {
        AnoGanParams {
            image_size: 32,
            normalization: Normalization::OFFICIAL,
            latent: 100,
            generator_width: 64,
            discriminator_width: 64,
            epochs: 25,
            max_steps: None,
            batch_size: 64,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            generator_steps: 2,
            lambda: 0.1,
            latent_steps: 500,
            latent_lr: 1e-3,
            latent_beta1: 0.5,
            latent_beta2: 0.999,
            score_batch_size: 128,
        }
    }
}

impl MethodParams for AnoGanParams {
    /// 2: BatchNorm scales start at 1, as AnoGAN-tf's; version 1 drew them
    /// from N(1, 0.02) (GANomaly's initialisation), and so drew every later
    /// weight from another point of the seeded stream.
    const IMPL_VERSION: u32 = 2;
    const SCORE_FIELDS: &'static [&'static str] = &[
        "lambda",
        "latent_steps",
        "latent_lr",
        "latent_beta1",
        "latent_beta2",
        "score_batch_size",
    ];

    fn check(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        check_dcgan_side("image_size", self.image_size, &mut out);
        self.normalization.check("normalization", &mut out);
        check_at_least("latent", self.latent, 1, &mut out);
        check_at_least("generator_width", self.generator_width, 1, &mut out);
        check_at_least("discriminator_width", self.discriminator_width, 1, &mut out);
        check_budget(self.epochs, self.max_steps, self.batch_size, &mut out);
        check_adam(
            ["lr", "beta1", "beta2"],
            self.lr,
            self.beta1,
            self.beta2,
            &mut out,
        );
        check_at_least("generator_steps", self.generator_steps, 1, &mut out);
        if !(0.0..=1.0).contains(&self.lambda) {
            out.push(FieldProblem::new(
                "lambda",
                format!("must be between 0 and 1, got {}", self.lambda),
            ));
        }
        check_at_least("latent_steps", self.latent_steps, 1, &mut out);
        check_adam(
            ["latent_lr", "latent_beta1", "latent_beta2"],
            self.latent_lr,
            self.latent_beta1,
            self.latent_beta2,
            &mut out,
        );
        check_at_least("score_batch_size", self.score_batch_size, 1, &mut out);
        out
    }
}

impl AnoGanParams {
    /// The reference's normalisation: [-1, 1] whatever the channels
    /// (carpedm20's `transform`: `image / 127.5 - 1`).
    pub fn official_normalization(_channels: usize) -> Normalization {
        Normalization::MINUS_ONE_ONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_name_their_field() {
        assert!(AnoGanParams::default().check().is_empty());
        let bad = AnoGanParams {
            image_size: 28,
            lambda: 1.5,
            latent_steps: 0,
            latent_lr: 0.0,
            generator_steps: 0,
            ..AnoGanParams::default()
        };
        let fields: Vec<&str> = bad.check().iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "image_size",
                "generator_steps",
                "lambda",
                "latent_steps",
                "latent_lr"
            ]
        );
    }
}
