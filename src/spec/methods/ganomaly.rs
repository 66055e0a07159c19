//! GANomaly parameters (defaults: the official code, samet-akcay/ganomaly
//! lib/options.py and experiments/run_*.sh: isize 32, nz 100, ngf = ndf = 64,
//! Adam 2e-4 with betas (0.5, 0.999), batch 64, 15 epochs, w_adv 1, w_con 50,
//! w_enc 1; lib/data.py: MNIST normalised with mean 0.1307 / std 0.3081,
//! CIFAR-10 with 0.5 / 0.5).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::input::Normalization;
use super::{
    FieldProblem, MethodParams, check_adam, check_at_least, check_budget, check_dcgan_side,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GanomalyParams {
    /// Side of the square network input; images are resized to it (bilinear,
    /// as PIL) (16, 32, 64, ...).
    pub image_size: usize,
    /// How pixels become input values. `official`: as the reference's
    /// lib/data.py: one-channel (MNIST-like) images with mean 0.1307 and std
    /// 0.3081 (MNIST's statistics: values from -0.42 to 2.82), three-channel
    /// (CIFAR-10) images with 0.5 / 0.5, i.e. [-1, 1]. Or `minus_one_one`, or
    /// `{mean: [..], std: [..]}` (one value, or one per channel).
    pub normalization: Normalization,
    /// Size of the latent code (nz).
    pub latent: usize,
    /// Width of the generator (channels of its first layer, ngf).
    pub generator_width: usize,
    /// Width of the discriminator (ndf).
    pub discriminator_width: usize,
    /// Training epochs over the normal training images.
    pub epochs: usize,
    /// Stop after this many optimisation steps in all (for quick runs); `null` = no cap.
    pub max_steps: Option<usize>,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate (generator and discriminator).
    pub lr: f64,
    /// Adam beta1.
    pub beta1: f64,
    /// Adam beta2.
    pub beta2: f64,
    /// Weight of the adversarial (feature-matching) loss.
    pub w_adv: f64,
    /// Weight of the contextual (L1 reconstruction) loss.
    pub w_con: f64,
    /// Weight of the encoder (latent L2) loss.
    pub w_enc: f64,
    /// The discriminator is re-initialised when its loss falls below this.
    pub d_reinit_threshold: f64,
    /// Images per batch at scoring time (does not change scores: eval mode).
    pub score_batch_size: usize,
}

impl Default for GanomalyParams {
    fn default() -> Self {
        GanomalyParams {
            image_size: 32,
            normalization: Normalization::OFFICIAL,
            latent: 100,
            generator_width: 64,
            discriminator_width: 64,
            epochs: 15,
            max_steps: None,
            batch_size: 64,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            w_adv: 1.0,
            w_con: 50.0,
            w_enc: 1.0,
            d_reinit_threshold: 1e-5,
            score_batch_size: 256,
        }
    }
}

impl MethodParams for GanomalyParams {
    // 2: per-method input normalisation (MNIST statistics by default on one channel).
    const IMPL_VERSION: u32 = 2;
    const SCORE_FIELDS: &'static [&'static str] = &["score_batch_size"];

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
        for (f, v) in [
            ("w_adv", self.w_adv),
            ("w_con", self.w_con),
            ("w_enc", self.w_enc),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                out.push(FieldProblem::new(f, format!("must be >= 0, got {v}")));
            }
        }
        check_at_least("score_batch_size", self.score_batch_size, 1, &mut out);
        out
    }
}

impl GanomalyParams {
    /// The reference's normalisation for `channels`-channel images (lib/data.py).
    pub fn official_normalization(channels: usize) -> Normalization {
        if channels == 1 {
            Normalization::mean_std(&[0.1307], &[0.3081])
        } else {
            Normalization::MINUS_ONE_ONE
        }
    }
}
