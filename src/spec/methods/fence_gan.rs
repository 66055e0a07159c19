//! FenceGAN parameters. The official code (phuccuongngo99/Fence_GAN) has two
//! configurations, MNIST and CIFAR-10 (README commands, main.py, utils/model.py):
//!
//! | | MNIST | CIFAR-10 |
//! |---|---|---|
//! | network | dense + 4x4 convs, latent 200 | 5x5 convs, latent 256 |
//! | epochs / pretrain | 100 / 15 | 150 / 15 |
//! | alpha / beta / gamma | 0.1 / 30 / 0.1 | 0.5 / 10 / 0.5 |
//! | batch | 200 | 128 |
//! | d_lr / g_lr | 1e-5 / 2e-5 | 1e-4 / 1e-3 |
//! | D's Adam `decay` | 0 | 1e-5 |
//!
//! Every value that differs is a parameter whose default `null` (or
//! `official`) means "the official value of the network's dataset", resolved
//! at fit time by [`FenceGanParams::resolve`] from the images' channels.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::input::Normalization;
use super::{FieldProblem, MethodParams, check_at_least, check_positive, check_unit_open};

/// The network family (utils/model.py `get_mnist_model` / `get_cifar10_model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// By the images' channels: one -> `mnist`, three -> `cifar10`.
    Official,
    /// Dense + 4x4 (transposed) convolutions, images of a side divisible by 4.
    Mnist,
    /// 5x5 (transposed) convolutions, images of a side divisible by 16.
    Cifar10,
}

/// The generator's encirclement loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encirclement {
    /// The official code: binary cross-entropy of D(G(z)) towards the target alpha.
    Bce,
    /// The paper: mean log|alpha - D(G(z))|.
    Log,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FenceGanParams {
    /// Network family: `official` (one-channel images -> `mnist`, three ->
    /// `cifar10`), `mnist` or `cifar10`. The `null` defaults below take the
    /// official value of this network's dataset.
    pub network: Network,
    /// Side to resize images to (bilinear); `null` = their own size, as the
    /// reference (MNIST 28, CIFAR-10 32). The `mnist` network needs a side
    /// divisible by 4 (28 -> 7x7 start), `cifar10` one divisible by 16.
    pub image_size: Option<usize>,
    /// How pixels become input values. `official`: [-1, 1] for every dataset
    /// (utils/data.py); or `minus_one_one`, or `{mean: [..], std: [..]}`.
    pub normalization: Normalization,
    /// Size of the Gaussian noise z; `null` = official: mnist 200, cifar10 256.
    pub latent: Option<usize>,
    /// Width of the generator; `null` = official: mnist 64 (dense 16w = 1024,
    /// 2w = 128 maps, ConvT w), cifar10 32 (8w, 4w, 2w, w channels).
    pub generator_width: Option<usize>,
    /// Width of the discriminator; `null` = official: mnist 64 (convs w, w,
    /// dense 16w = 1024), cifar10 32 (convs w, 2w, 4w, 8w).
    pub discriminator_width: Option<usize>,
    /// Adversarial training epochs (after pre-training); `null` = official:
    /// mnist 100, cifar10 150.
    pub epochs: Option<usize>,
    /// Epochs of discriminator-only pre-training (`--pretrain`, 15 for both).
    pub pretrain: usize,
    /// Stop after this many steps in all, pre-training included (for quick
    /// runs); `null` = no cap.
    pub max_steps: Option<usize>,
    /// Mini-batch size; `null` = official: mnist 200, cifar10 128.
    pub batch_size: Option<usize>,
    /// Encirclement target alpha for D(G(z)); `null` = official: mnist 0.1, cifar10 0.5.
    pub alpha: Option<f64>,
    /// Weight beta of the dispersion loss; `null` = official: mnist 30, cifar10 10.
    pub beta: Option<f64>,
    /// Weight gamma of the generated images in D's loss; `null` = official:
    /// mnist 0.1, cifar10 0.5.
    pub gamma: Option<f64>,
    /// Discriminator Adam learning rate; `null` = official: mnist 1e-5, cifar10 1e-4.
    pub d_lr: Option<f64>,
    /// Generator Adam learning rate; `null` = official: mnist 2e-5, cifar10 1e-3.
    pub g_lr: Option<f64>,
    /// Keras `decay` of D's Adam: lr / (1 + decay * updates); `null` =
    /// official: mnist 0, cifar10 1e-5.
    pub d_lr_decay: Option<f64>,
    /// L2 penalty d_l2 * sum(w^2) on D's convolution kernels (Keras `l2`,
    /// cifar10 network only; official `--d_l2` default 0).
    pub d_l2: f64,
    /// Adam beta1 (both networks, official 0.5).
    pub beta1: f64,
    /// Adam beta2 (both networks, official 0.999).
    pub beta2: f64,
    /// Encirclement loss: `bce` (official code) or `log` (paper).
    pub encirclement: Encirclement,
    /// Images per batch at scoring time (does not change scores: eval mode).
    pub score_batch_size: usize,
}

impl Default for FenceGanParams {
    fn default() -> Self {
        FenceGanParams {
            network: Network::Official,
            image_size: None,
            normalization: Normalization::OFFICIAL,
            latent: None,
            generator_width: None,
            discriminator_width: None,
            epochs: None,
            pretrain: 15,
            max_steps: None,
            batch_size: None,
            alpha: None,
            beta: None,
            gamma: None,
            d_lr: None,
            g_lr: None,
            d_lr_decay: None,
            d_l2: 0.0,
            beta1: 0.5,
            beta2: 0.999,
            encirclement: Encirclement::Bce,
            score_batch_size: 256,
        }
    }
}

/// Every FenceGAN setting with the official values filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedFenceGan {
    /// `Mnist` or `Cifar10`, never `Official`.
    pub network: Network,
    pub latent: usize,
    pub generator_width: usize,
    pub discriminator_width: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub d_lr: f64,
    pub g_lr: f64,
    pub d_lr_decay: f64,
}

impl FenceGanParams {
    /// The official normalisation: [-1, 1] for MNIST and CIFAR-10 alike.
    pub fn official_normalization(_channels: usize) -> Normalization {
        Normalization::MINUS_ONE_ONE
    }

    /// The network for `channels`-channel images; an error when `official`
    /// has no answer for that many channels.
    pub fn network_for(&self, channels: usize) -> Result<Network, String> {
        match (self.network, channels) {
            (Network::Official, 1) => Ok(Network::Mnist),
            (Network::Official, 3) => Ok(Network::Cifar10),
            (Network::Official, c) => Err(format!(
                "FenceGAN has no official network for {c}-channel images: set `network: mnist` or `network: cifar10`"
            )),
            (n, _) => Ok(n),
        }
    }

    /// Fills every `null` with the official value of the network's dataset.
    pub fn resolve(&self, channels: usize) -> Result<ResolvedFenceGan, String> {
        let network = self.network_for(channels)?;
        let mnist = network == Network::Mnist;
        let pick = |v: Option<f64>, m: f64, c: f64| v.unwrap_or(if mnist { m } else { c });
        let pick_n = |v: Option<usize>, m: usize, c: usize| v.unwrap_or(if mnist { m } else { c });
        Ok(ResolvedFenceGan {
            network,
            latent: pick_n(self.latent, 200, 256),
            generator_width: pick_n(self.generator_width, 64, 32),
            discriminator_width: pick_n(self.discriminator_width, 64, 32),
            epochs: pick_n(self.epochs, 100, 150),
            batch_size: pick_n(self.batch_size, 200, 128),
            alpha: pick(self.alpha, 0.1, 0.5),
            beta: pick(self.beta, 30.0, 10.0),
            gamma: pick(self.gamma, 0.1, 0.5),
            d_lr: pick(self.d_lr, 1e-5, 1e-4),
            g_lr: pick(self.g_lr, 2e-5, 1e-3),
            d_lr_decay: pick(self.d_lr_decay, 0.0, 1e-5),
        })
    }
}

/// The side granularity each network needs (`official`: at least `mnist`'s).
pub fn side_multiple(network: Network) -> usize {
    if network == Network::Cifar10 { 16 } else { 4 }
}

impl MethodParams for FenceGanParams {
    const IMPL_VERSION: u32 = 1;
    const SCORE_FIELDS: &'static [&'static str] = &["score_batch_size"];

    fn check(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if let Some(s) = self.image_size {
            let m = side_multiple(self.network);
            if s == 0 || s % m != 0 {
                out.push(FieldProblem::new(
                    "image_size",
                    format!(
                        "must be a positive multiple of {m} for the {} network, got {s}",
                        if m == 16 { "cifar10" } else { "mnist" }
                    ),
                ));
            }
        }
        self.normalization.check("normalization", &mut out);
        for (f, v) in [
            ("latent", self.latent),
            ("generator_width", self.generator_width),
            ("discriminator_width", self.discriminator_width),
            ("epochs", self.epochs),
            ("max_steps", self.max_steps),
        ] {
            if let Some(v) = v {
                check_at_least(f, v, 1, &mut out);
            }
        }
        if let Some(b) = self.batch_size {
            check_at_least("batch_size", b, 2, &mut out);
        }
        if let Some(a) = self.alpha
            && !(0.0..=1.0).contains(&a)
        {
            out.push(FieldProblem::new(
                "alpha",
                format!("must be between 0 and 1, got {a}"),
            ));
        }
        for (f, v) in [
            ("beta", self.beta),
            ("gamma", self.gamma),
            ("d_lr_decay", self.d_lr_decay),
            ("d_l2", Some(self.d_l2)),
        ] {
            if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                out.push(FieldProblem::new(f, format!("must be >= 0, got {v}")));
            }
        }
        for (f, v) in [("d_lr", self.d_lr), ("g_lr", self.g_lr)] {
            if let Some(v) = v {
                check_positive(f, v, &mut out);
            }
        }
        check_unit_open("beta1", self.beta1, &mut out);
        check_unit_open("beta2", self.beta2, &mut out);
        check_at_least("score_batch_size", self.score_batch_size, 1, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_values_follow_the_channels_and_overrides_win() {
        let p = FenceGanParams::default();
        let m = p.resolve(1).expect("mnist");
        assert_eq!(m.network, Network::Mnist);
        assert_eq!((m.latent, m.epochs, m.batch_size), (200, 100, 200));
        assert_eq!((m.alpha, m.beta, m.gamma), (0.1, 30.0, 0.1));
        assert_eq!((m.d_lr, m.g_lr, m.d_lr_decay), (1e-5, 2e-5, 0.0));
        let c = p.resolve(3).expect("cifar");
        assert_eq!(c.network, Network::Cifar10);
        assert_eq!((c.latent, c.epochs, c.batch_size), (256, 150, 128));
        assert_eq!((c.alpha, c.beta, c.gamma), (0.5, 10.0, 0.5));
        assert_eq!((c.d_lr, c.g_lr, c.d_lr_decay), (1e-4, 1e-3, 1e-5));
        let e = p.resolve(2).expect_err("2 channels");
        assert!(e.contains("network: mnist"), "{e}");
        let own = FenceGanParams {
            network: Network::Mnist,
            alpha: Some(0.3),
            ..p
        };
        let r = own.resolve(3).expect("forced mnist");
        assert_eq!((r.network, r.alpha, r.latent), (Network::Mnist, 0.3, 200));
    }

    #[test]
    fn checks_name_the_field() {
        let bad = FenceGanParams {
            image_size: Some(30),
            alpha: Some(1.5),
            g_lr: Some(0.0),
            ..FenceGanParams::default()
        };
        let fields: Vec<&str> = bad.check().iter().map(|p| p.field).collect();
        assert_eq!(fields, vec!["image_size", "alpha", "g_lr"]);
        assert!(FenceGanParams::default().check().is_empty());
        let cifar = FenceGanParams {
            network: Network::Cifar10,
            image_size: Some(28),
            ..FenceGanParams::default()
        };
        assert_eq!(cifar.check()[0].field, "image_size");
    }

    #[test]
    fn yaml_spellings() {
        let p: FenceGanParams =
            serde_yaml_ng::from_str("{network: cifar10, encirclement: log, alpha: 0.2}")
                .expect("parses");
        assert_eq!(p.network, Network::Cifar10);
        assert_eq!(p.encirclement, Encirclement::Log);
        assert!(serde_yaml_ng::from_str::<FenceGanParams>("{encirclement: l2}").is_err());
    }
}
