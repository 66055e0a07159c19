//! ALAD parameters (defaults: the official code,
//! houssamzenati/Adversarially-Learned-Anomaly-Detection
//! alad/cifar10_utilities.py: lr 2e-4, batch 32, latent 100, kernels
//! N(0, 0.01); alad/run.py: Adam beta1 0.5, EMA decay 0.999, early stopping
//! with PATIENCE 10 on the mean Features score of normal validation images,
//! one `AdamOptimizer` for the five networks;
//! README: `--sn --enable_early_stop --enable_dzz`; main.py: `--d 1`).
//!
//! The score variant (`score`) picks which of the four stored scores a job
//! reports: every fit computes all four in one pass, so it keys neither the
//! model nor the result.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::input::Normalization;
use super::{
    FieldProblem, MethodParams, check_adam, check_at_least, check_budget, check_unit_open,
};

/// Whose step count corrects ALAD's Adam moments (the bias correction).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdamSteps {
    /// One count for the five networks, advanced by every network's update
    /// (the reference's one TF `AdamOptimizer` behind five `minimize` ops):
    /// the default.
    Shared,
    /// A count per network, advanced by its own updates (an Adam per
    /// network, as a PyTorch port would write it; not the reference's).
    PerNetwork,
}

/// ALAD's anomaly scores (alad/run.py `score_*`); higher = more anomalous.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AladScore {
    /// `||f_xx(x, x) - f_xx(x, G(E(x)))||_1`, f_xx = D_xx's features (the
    /// paper's "Features", the default).
    Features,
    /// `sum |x - G(E(x))|`.
    L1,
    /// `sqrt(sum (x - G(E(x)))^2)`.
    L2,
    /// `BCE(D_xx(x, G(E(x))), 1)` = softplus(-logit) (the reference's `ch`).
    Logits,
}

impl AladScore {
    /// Every variant, in the order `score_variants` stores them.
    pub const ALL: [AladScore; 4] = [
        AladScore::Features,
        AladScore::L1,
        AladScore::L2,
        AladScore::Logits,
    ];

    /// The variant's name, as stored and as written in specs.
    pub fn name(self) -> &'static str {
        match self {
            AladScore::Features => "features",
            AladScore::L1 => "l1",
            AladScore::L2 => "l2",
            AladScore::Logits => "logits",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AladParams {
    /// Side of the square network input; images are resized to it
    /// (bilinear, as PIL; MNIST 28 -> 32) (8, 16, 32, ...). The reference's
    /// CIFAR-10 networks are for 32.
    pub image_size: usize,
    /// How pixels become input values. `official`: [-1, 1] (the reference's
    /// CIFAR-10 loader; the generator ends in tanh); or `minus_one_one`, or
    /// `{mean: [..], std: [..]}`.
    pub normalization: Normalization,
    /// Size of the latent code z (z ~ N(0, 1)).
    pub latent: usize,
    /// Encoder width: its stride-2 convolutions have w, 2w, 4w, ... channels
    /// (official 128: 128, 256, 512 at side 32).
    pub encoder_width: usize,
    /// Generator width: channels of its last hidden layer, doubled towards
    /// the first (official 128: 512, 256, 128 at side 32).
    pub generator_width: usize,
    /// D_xz width: its x path has w, 2w, 4w, ... channels, its z path two
    /// layers of 4w and the joint layer 8w (official 128: x 128-256-512, z
    /// 512-512, joint 1024).
    pub dxz_width: usize,
    /// D_xx width: its two 5x5 convolutions have w and 2w channels
    /// (official 64: 64, 128).
    pub dxx_width: usize,
    /// D_zz width: its dense layers have w and w/2 units (official 64: 64, 32).
    pub dzz_width: usize,
    /// Spectral normalisation of the encoder's stride-2 convolutions and of
    /// every discriminator layer but the last (`--sn`, the README's run).
    pub spectral_norm: bool,
    /// Decay of the exponential moving average of every weight; the
    /// averaged networks are the ones scored and saved (official 0.999).
    pub ema_decay: f64,
    /// Dropout rate in the discriminators (official 0.2).
    pub dropout: f64,
    /// Train with the D_zz discriminator and its cycle term (`--enable_dzz`,
    /// the README's run).
    pub dzz: bool,
    /// Training epochs at most (the reference takes `--nb_epochs` on the
    /// command line, no default value: 100 here, usually cut by early stopping).
    pub epochs: usize,
    /// Stop after this many optimisation steps in all (for quick runs); `null` = no cap.
    pub max_steps: Option<usize>,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate (every network).
    pub lr: f64,
    /// Adam beta1.
    pub beta1: f64,
    /// Adam beta2.
    pub beta2: f64,
    /// Adam's step count for the bias correction: `shared` (the reference's
    /// one optimiser for all networks: each step advances it five times,
    /// D_xz, D_xx and D_zz at one count, G and E at the count three
    /// later; TF's epsilon outside the correction) or `per_network` (an
    /// Adam per network, burn's form, not the reference's).
    pub adam_steps: AdamSteps,
    /// Early stopping (`--enable_early_stop`, the README's run): after each
    /// epoch, the mean Features score of held-out NORMAL training images;
    /// training stops once it has not improved for more than `patience` epochs.
    pub early_stop: bool,
    /// Share of the normal training images held out for early stopping
    /// (seeded; the reference's train/valid split is 0.25). Only with `early_stop`.
    pub validation_fraction: f64,
    /// Epochs without improvement tolerated before stopping (official 10).
    pub patience: usize,
    /// The score variant the job reports: `features` (default, as the
    /// study), `l1`, `l2` or `logits`. All four are stored.
    pub score: AladScore,
    /// Images per batch at scoring time (does not change scores: eval mode).
    pub score_batch_size: usize,
}

impl Default for AladParams {
    fn default() -> Self {
        AladParams {
            image_size: 32,
            normalization: Normalization::OFFICIAL,
            latent: 100,
            encoder_width: 128,
            generator_width: 128,
            dxz_width: 128,
            dxx_width: 64,
            dzz_width: 64,
            spectral_norm: true,
            ema_decay: 0.999,
            dropout: 0.2,
            dzz: true,
            epochs: 100,
            max_steps: None,
            batch_size: 32,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            adam_steps: AdamSteps::Shared,
            early_stop: true,
            validation_fraction: 0.25,
            patience: 10,
            score: AladScore::Features,
            score_batch_size: 256,
        }
    }
}

impl AladParams {
    /// The official normalisation: [-1, 1] for any number of channels.
    pub fn official_normalization(_channels: usize) -> Normalization {
        Normalization::MINUS_ONE_ONE
    }
}

impl MethodParams for AladParams {
    /// 3: Adam's bias correction follows the reference's one shared
    /// optimiser by default (`adam_steps`); version 2 gave each network its
    /// own Adam.
    /// 2: the moving average no longer covers running states (BatchNorm
    /// statistics, spectral-norm vectors), as TF's averages only trainable
    /// variables; version 1 averaged them too.
    const IMPL_VERSION: u32 = 3;
    const SCORE_FIELDS: &'static [&'static str] = &["score_batch_size"];
    const SHOWN_SCORE_FIELD: Option<&'static str> = Some("score");

    fn check(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if self.image_size < 8 || !self.image_size.is_power_of_two() {
            out.push(FieldProblem::new(
                "image_size",
                format!(
                    "must be a power of two of at least 8 (8, 16, 32, ...), got {}",
                    self.image_size
                ),
            ));
        }
        self.normalization.check("normalization", &mut out);
        for (f, v) in [
            ("latent", self.latent),
            ("encoder_width", self.encoder_width),
            ("generator_width", self.generator_width),
            ("dxz_width", self.dxz_width),
            ("dxx_width", self.dxx_width),
        ] {
            check_at_least(f, v, 1, &mut out);
        }
        check_at_least("dzz_width", self.dzz_width, 2, &mut out);
        if !(0.0..1.0).contains(&self.ema_decay) {
            out.push(FieldProblem::new(
                "ema_decay",
                format!("must be in [0, 1), got {}", self.ema_decay),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            out.push(FieldProblem::new(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        check_budget(self.epochs, self.max_steps, self.batch_size, &mut out);
        check_adam(
            ["lr", "beta1", "beta2"],
            self.lr,
            self.beta1,
            self.beta2,
            &mut out,
        );
        check_unit_open("validation_fraction", self.validation_fraction, &mut out);
        check_at_least("score_batch_size", self.score_batch_size, 1, &mut out);
        out
    }

    fn shown_score(&self) -> Option<&'static str> {
        Some(self.score.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_official_and_checks_name_the_field() {
        let p = AladParams::default();
        assert!(p.check().is_empty());
        assert_eq!((p.lr, p.batch_size, p.latent), (2e-4, 32, 100));
        assert_eq!(p.shown_score(), Some("features"));
        let bad = AladParams {
            image_size: 28,
            ema_decay: 1.0,
            dropout: -0.1,
            validation_fraction: 0.0,
            ..p
        };
        let fields: Vec<&str> = bad.check().iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec!["image_size", "ema_decay", "dropout", "validation_fraction"]
        );
    }

    #[test]
    fn score_variants_parse_by_name_and_stay_out_of_the_keys() {
        for s in AladScore::ALL {
            let p: AladParams =
                serde_yaml_ng::from_str(&format!("{{score: {}}}", s.name())).expect("parses");
            assert_eq!(p.score, s);
            assert_eq!(p.shown_score(), Some(s.name()));
            let cfg = crate::spec::methods::MethodConfig::Alad(p.clone());
            let default = crate::spec::methods::MethodConfig::Alad(AladParams::default());
            assert_eq!(cfg.model_params(), default.model_params());
            assert_eq!(cfg.score_params(), default.score_params());
        }
        assert!(serde_yaml_ng::from_str::<AladParams>("{score: ch}").is_err());
    }
}
