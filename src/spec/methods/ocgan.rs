//! OCGAN parameters. Defaults: the official code (PramuPerera/OCGAN,
//! options.py, models.py, andgan.py `trainadnov`, load_image.py): batch 512,
//! Adam 2e-4 with beta1 0.5, ngf 64, latent 16, depth 3 (61x61 input), 200
//! epochs (`range(1, 201)`), informative-negative mining in the last quarter
//! (`epoch > 150`), one step of size 2 on the latent.
//!
//! Three values differ between the repository's two official settings; their
//! `null` default means "the official value for the images' channels",
//! resolved at fit time by [`OcGanParams::resolve`]:
//!
//! | | one channel (README MNIST command) | otherwise (options.py) |
//! |---|---|---|
//! | `discriminator_width` (ndf) | 12 | 8 |
//! | `reconstruction_weight` (lambda1) | 10 | 500 |
//! | `noise_std` (noisevar) | 0.2 | 0.02 |
//!
//! (testallclasses.py, the all-classes script, passes `--lambda1 500` for
//! every dataset; set `reconstruction_weight: 500` to follow it on MNIST.)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::input::Normalization;
use super::{FieldProblem, MethodParams, check_adam, check_at_least, check_budget};

/// The encoder's last activation, which bounds the latent code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatentActivation {
    /// tanh: codes in (-1, 1), the support of the U(-1, 1) prior (the paper).
    Tanh,
    /// LeakyReLU(0.2): what the official code runs (models.py `Encoder` has
    /// `usetanh=False` and no caller sets it); the code is then unbounded.
    LeakyRelu,
}

/// What the latent discriminator's 16 outputs are before the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LatentDiscriminatorOutput {
    /// As the official code: a sigmoid ends the network and the loss applies
    /// another one (`SigmoidBinaryCrossEntropyLoss` on probabilities), so
    /// D's belief stays within (0.5, 0.73).
    Sigmoid,
    /// Logits: the loss's sigmoid is the only one.
    Logit,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OcGanParams {
    /// Core layers of the encoder, decoder and discriminators (official 3).
    /// Fixes the input side 2^(depth + 3) - 3 (5x5 stride-2 unpadded
    /// convolutions down to 1x1): depth 1 -> 13, 2 -> 29, 3 -> 61 (the
    /// official 61x61; MNIST 28 and CIFAR-10 32 are resized to it, as the
    /// reference's `imresize` does).
    pub depth: usize,
    /// How pixels become input values. `official`: [-1, 1] for every dataset
    /// (load_image.py `/127.5 - 1`); or `minus_one_one`, or `{mean: [..], std: [..]}`.
    pub normalization: Normalization,
    /// Size of the latent code.
    pub latent: usize,
    /// The encoder's last activation: `tanh` (the paper; the default) or
    /// `leaky_relu` (what the official code runs).
    pub latent_activation: LatentActivation,
    /// Width of the encoder and decoder (ngf: 64, 128, 256 channels at depth 3).
    pub generator_width: usize,
    /// Width of the visual discriminator (ndf); `null` = official: 12 for
    /// one-channel images (README MNIST command), 8 otherwise (options.py).
    pub discriminator_width: Option<usize>,
    /// Width of the classifier; `null` = `generator_width` (the reference
    /// builds it with ndf = ngf).
    pub classifier_width: Option<usize>,
    /// The latent discriminator's outputs: `sigmoid` (official: a sigmoid
    /// before the loss's own) or `logit`.
    pub latent_discriminator_output: LatentDiscriminatorOutput,
    /// Dropout rate in the decoder's third block (official 0.5; depth >= 3).
    pub dropout: f64,
    /// Standard deviation of the Gaussian noise added to training inputs
    /// (the reference's `noisevar` is passed as the scale); `null` =
    /// official: 0.2 for one-channel images, 0.02 otherwise.
    pub noise_std: Option<f64>,
    /// Weight of the reconstruction loss (lambda1, on gluon's L2Loss =
    /// mean(x - x_hat)^2 / 2); `null` = official: 10 for one-channel images,
    /// 500 otherwise.
    pub reconstruction_weight: Option<f64>,
    /// Weight of the generator's latent adversarial loss (10 in andgan.py).
    pub latent_adversarial_weight: f64,
    /// Informative-negative mining runs from this fraction of the training
    /// steps on (official 0.75: epochs 151-200 of 200); 1 = never.
    pub mining_from: f64,
    /// Gradient steps on the random latents per training step (official 1).
    pub mining_steps: usize,
    /// Size of each mining step on the per-image loss gradient (official
    /// 2.0: `lr = 2 * batch_size`, divided by the batch size).
    pub mining_step_size: f64,
    /// Training epochs over the normal training images.
    pub epochs: usize,
    /// Stop after this many optimisation steps in all (for quick runs); `null` = no cap.
    pub max_steps: Option<usize>,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam learning rate (every network).
    pub lr: f64,
    /// Adam beta1.
    pub beta1: f64,
    /// Adam beta2 (gluon's default 0.999).
    pub beta2: f64,
    /// Images per batch at scoring time (does not change scores: eval mode).
    pub score_batch_size: usize,
}

impl Default for OcGanParams {
    fn default() -> Self {
        OcGanParams {
            depth: 3,
            normalization: Normalization::OFFICIAL,
            latent: 16,
            latent_activation: LatentActivation::Tanh,
            generator_width: 64,
            discriminator_width: None,
            classifier_width: None,
            latent_discriminator_output: LatentDiscriminatorOutput::Sigmoid,
            dropout: 0.5,
            noise_std: None,
            reconstruction_weight: None,
            latent_adversarial_weight: 10.0,
            mining_from: 0.75,
            mining_steps: 1,
            mining_step_size: 2.0,
            epochs: 200,
            max_steps: None,
            batch_size: 512,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            score_batch_size: 256,
        }
    }
}

/// The channel-dependent settings with the official values filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedOcGan {
    pub discriminator_width: usize,
    pub classifier_width: usize,
    pub noise_std: f64,
    pub reconstruction_weight: f64,
}

impl OcGanParams {
    /// The official normalisation: [-1, 1] for every dataset.
    pub fn official_normalization(_channels: usize) -> Normalization {
        Normalization::MINUS_ONE_ONE
    }

    /// The input side that `depth` implies: 2^(depth + 3) - 3.
    pub fn image_size(&self) -> usize {
        (1usize << (self.depth + 3)) - 3
    }

    /// Fills every `null` with the official value for `channels`-channel
    /// images (one channel: the README's MNIST command; otherwise options.py).
    pub fn resolve(&self, channels: usize) -> ResolvedOcGan {
        let mnist = channels == 1;
        ResolvedOcGan {
            discriminator_width: self
                .discriminator_width
                .unwrap_or(if mnist { 12 } else { 8 }),
            classifier_width: self.classifier_width.unwrap_or(self.generator_width),
            noise_std: self.noise_std.unwrap_or(if mnist { 0.2 } else { 0.02 }),
            reconstruction_weight: self.reconstruction_weight.unwrap_or(if mnist {
                10.0
            } else {
                500.0
            }),
        }
    }
}

/// Deepest network accepted (depth 6 is a 509x509 input already).
const MAX_DEPTH: usize = 6;

impl MethodParams for OcGanParams {
    const IMPL_VERSION: u32 = 1;
    const SCORE_FIELDS: &'static [&'static str] = &["score_batch_size"];

    fn check(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            out.push(FieldProblem::new(
                "depth",
                format!(
                    "must be between 1 and {MAX_DEPTH} (input sides 13, 29, 61, ...), got {}",
                    self.depth
                ),
            ));
        }
        self.normalization.check("normalization", &mut out);
        check_at_least("latent", self.latent, 1, &mut out);
        check_at_least("generator_width", self.generator_width, 1, &mut out);
        for (f, v) in [
            ("discriminator_width", self.discriminator_width),
            ("classifier_width", self.classifier_width),
        ] {
            if let Some(v) = v {
                check_at_least(f, v, 1, &mut out);
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            out.push(FieldProblem::new(
                "dropout",
                format!("must be at least 0 and below 1, got {}", self.dropout),
            ));
        }
        for (f, v) in [
            ("noise_std", self.noise_std),
            ("reconstruction_weight", self.reconstruction_weight),
            (
                "latent_adversarial_weight",
                Some(self.latent_adversarial_weight),
            ),
            ("mining_step_size", Some(self.mining_step_size)),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                out.push(FieldProblem::new(f, format!("must be >= 0, got {v}")));
            }
        }
        if !(0.0..=1.0).contains(&self.mining_from) {
            out.push(FieldProblem::new(
                "mining_from",
                format!(
                    "must be a fraction of the training between 0 and 1, got {}",
                    self.mining_from
                ),
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
        check_at_least("score_batch_size", self.score_batch_size, 1, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_values_follow_the_channels_and_overrides_win() {
        let p = OcGanParams::default();
        assert_eq!(p.image_size(), 61);
        let m = p.resolve(1);
        assert_eq!(
            (m.discriminator_width, m.classifier_width),
            (12, 64),
            "{m:?}"
        );
        assert_eq!((m.noise_std, m.reconstruction_weight), (0.2, 10.0));
        let c = p.resolve(3);
        assert_eq!((c.discriminator_width, c.classifier_width), (8, 64));
        assert_eq!((c.noise_std, c.reconstruction_weight), (0.02, 500.0));
        let own = OcGanParams {
            reconstruction_weight: Some(500.0),
            classifier_width: Some(4),
            depth: 1,
            ..p
        };
        let r = own.resolve(1);
        assert_eq!((r.reconstruction_weight, r.classifier_width), (500.0, 4));
        assert_eq!(own.image_size(), 13);
    }

    #[test]
    fn checks_name_the_field() {
        assert!(OcGanParams::default().check().is_empty());
        let bad = OcGanParams {
            depth: 0,
            dropout: 1.0,
            noise_std: Some(-0.1),
            mining_from: 1.5,
            batch_size: 1,
            ..OcGanParams::default()
        };
        let fields: Vec<&str> = bad.check().iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec!["depth", "dropout", "noise_std", "mining_from", "batch_size"]
        );
    }

    #[test]
    fn yaml_spellings() {
        let p: OcGanParams = serde_yaml_ng::from_str(
            "{latent_activation: leaky_relu, latent_discriminator_output: logit, noise_std: 0.1}",
        )
        .expect("parses");
        assert_eq!(p.latent_activation, LatentActivation::LeakyRelu);
        assert_eq!(
            p.latent_discriminator_output,
            LatentDiscriminatorOutput::Logit
        );
        assert_eq!(p.noise_std, Some(0.1));
        assert!(serde_yaml_ng::from_str::<OcGanParams>("{latent_activation: relu}").is_err());
        assert!(serde_yaml_ng::from_str::<OcGanParams>("{lambda1: 3}").is_err());
    }
}
