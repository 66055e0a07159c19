//! The trained ALAD model: the four scores of alad/run.py, computed in one
//! pass, and persistence.
//!
//! With x_rec = G(E(x)) and f_xx D_xx's features, per image:
//! - `features` = ||f_xx(x, x) - f_xx(x, x_rec)||_1 (`score_fm`, `--d 1`);
//! - `l1` = sum |x - x_rec|, `l2` = sqrt(sum (x - x_rec)^2);
//! - `logits` = BCE(D_xx(x, x_rec), 1) = softplus(-logit) (`score_ch`).
//!
//! All from the moving averages of E, G and D_xx in eval mode (BatchNorm
//! running statistics, no dropout, spectral normalisation from the stored
//! u), on a device without autodiff, in batches of `score_batch_size`
//! (which therefore cannot change a score).
//!
//! On disk (a store object's folder): `alad-net.json` (the shapes, see
//! [`NetConfig`]) and the burnpack records of the averaged encoder,
//! generator and D_xx (`alad-encoder.bpk`, `alad-generator.bpk`,
//! `alad-dxx.bpk`, with BatchNorm statistics and spectral-norm vectors).
//! D_xz and D_zz are not kept: no score uses them.

use std::path::Path;

use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::model::{DiscriminatorXx, Encoder, Generator, NetConfig};
use crate::data::ImageSet;
use crate::detector::stored::{
    check_channels, load_module, read_net, save_module, score_in_batches, write_net,
};
use crate::detector::{DetectorError, Fitted, NamedScores, RunContext};
use crate::nn::batch::PreparedImages;
use crate::spec::methods::alad::AladScore;

const NET_FILE: &str = "alad-net.json";
const ENCODER_FILE: &str = "alad-encoder.bpk";
const GENERATOR_FILE: &str = "alad-generator.bpk";
const DXX_FILE: &str = "alad-dxx.bpk";

/// The networks the scores use, in eval mode.
#[derive(Clone)]
pub struct EvalNets {
    pub encoder: Encoder,
    pub generator: Generator,
    pub dxx: DiscriminatorXx,
}

fn column(t: Tensor<1>) -> Vec<f32> {
    let d = t.into_data();
    d.as_slice::<f32>().map(|v| v.to_vec()).unwrap_or_default()
}

impl EvalNets {
    /// The four scores of a batch, in the order of [`AladScore::ALL`].
    pub fn variants(&self, x: Tensor<4>) -> [Vec<f32>; 4] {
        let [n, ..] = x.dims();
        let rec = self.generator.forward(self.encoder.forward(x.clone()));
        let (_, f_real) = self.dxx.forward(x.clone(), x.clone(), None);
        let (logit, f_rec) = self.dxx.forward(x.clone(), rec.clone(), None);
        let features = (f_real - f_rec).abs().sum_dim(1).reshape([n]);
        let diff: Tensor<2> = (x - rec).flatten(1, 3);
        let l1 = diff.clone().abs().sum_dim(1).reshape([n]);
        let l2 = diff.square().sum_dim(1).sqrt().reshape([n]);
        let logits = softplus(logit.neg(), 1.0);
        [column(features), column(l1), column(l2), column(logits)]
    }

    /// The mean Features score of `images` (the early-stopping criterion).
    pub fn mean_features(&self, images: &PreparedImages, batch: usize, device: &Device) -> f64 {
        let all: Vec<usize> = (0..images.len()).collect();
        let mut sum = 0.0;
        for idx in all.chunks(batch.max(1)) {
            let [f, ..] = self.variants(images.batch(idx, device));
            sum += f.iter().map(|&v| v as f64).sum::<f64>();
        }
        sum / images.len().max(1) as f64
    }
}

/// A trained ALAD model (averaged weights, eval mode).
pub struct AladModel {
    pub(super) net: NetConfig,
    pub(super) nets: EvalNets,
    pub(super) device: Device,
    pub(super) score_batch_size: usize,
    /// The variant `score` reports.
    pub(super) shown: AladScore,
}

impl AladModel {
    /// Wraps the averaged networks (already in eval mode, see
    /// `Trainer::eval_nets`).
    pub fn new(
        net: NetConfig,
        nets: EvalNets,
        device: Device,
        score_batch_size: usize,
        shown: AladScore,
    ) -> Self {
        AladModel {
            net,
            nets,
            device,
            score_batch_size,
            shown,
        }
    }

    /// Reads a model that `save` wrote into `dir`.
    pub fn load(
        dir: &Path,
        device: Device,
        score_batch_size: usize,
        shown: AladScore,
    ) -> Result<Self, DetectorError> {
        let net: NetConfig = read_net(dir, NET_FILE, "ALAD")?;
        // Shapes only: every value is replaced by the records.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let encoder = net.encoder(&mut rng, &device);
        let generator = net.generator(&mut rng, &device);
        let dxx = net.dxx(&mut rng, &device);
        let nets = EvalNets {
            encoder: load_module(encoder, dir, ENCODER_FILE, "the encoder")?,
            generator: load_module(generator, dir, GENERATOR_FILE, "the generator")?,
            dxx: load_module(dxx, dir, DXX_FILE, "D_xx")?,
        };
        Ok(AladModel::new(net, nets, device, score_batch_size, shown))
    }
}

impl Fitted for AladModel {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        let name = self.shown.name();
        self.score_variants(images, ctx)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
            .ok_or_else(|| DetectorError::Other(format!("no ALAD score named {name}")))
    }

    fn score_variants(
        &self,
        images: &ImageSet,
        ctx: &RunContext,
    ) -> Result<NamedScores, DetectorError> {
        check_channels("ALAD", self.net.channels, images.channels)?;
        let prepared = PreparedImages::new(images, &self.net.preprocessing())?;
        let mut rest: [Vec<f32>; 3] = Default::default();
        let first = score_in_batches(prepared.len(), self.score_batch_size, ctx, |idx| {
            let [f, l1, l2, logits] = self.nets.variants(prepared.batch(idx, &self.device));
            rest[0].extend(l1);
            rest[1].extend(l2);
            rest[2].extend(logits);
            Ok(f)
        })?;
        let [l1, l2, logits] = rest;
        Ok(AladScore::ALL
            .iter()
            .map(|s| s.name().to_string())
            .zip([first, l1, l2, logits])
            .collect())
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        write_net(dir, NET_FILE, &self.net)?;
        save_module(&self.nets.encoder, dir, ENCODER_FILE, "the encoder")?;
        save_module(&self.nets.generator, dir, GENERATOR_FILE, "the generator")?;
        save_module(&self.nets.dxx, dir, DXX_FILE, "D_xx")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::methods::AladParams;

    /// The scores against their definitions, on a tiny random model.
    #[test]
    fn variants_match_their_definitions() {
        let dev = Device::flex();
        let p = AladParams {
            image_size: 16,
            latent: 3,
            encoder_width: 2,
            generator_width: 2,
            dxx_width: 2,
            ..AladParams::default()
        };
        let net = NetConfig::new(&p, 1).expect("net");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let nets = EvalNets {
            encoder: net.encoder(&mut rng, &dev),
            generator: net.generator(&mut rng, &dev),
            dxx: net.dxx(&mut rng, &dev),
        };
        let x = Tensor::<4>::random(
            [2, 1, 16, 16],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &dev,
        );
        let [f, l1, l2, logits] = nets.variants(x.clone());
        let rec = nets.generator.forward(nets.encoder.forward(x.clone()));
        let xs = x.clone().into_data();
        let xs = xs.as_slice::<f32>().expect("f32");
        let rs = rec.clone().into_data();
        let rs = rs.as_slice::<f32>().expect("f32");
        let (_, fa) = nets.dxx.forward(x.clone(), x.clone(), None);
        let (logit, fb) = nets.dxx.forward(x, rec, None);
        let fa = fa.into_data();
        let fb = fb.into_data();
        let (fa, fb) = (
            fa.as_slice::<f32>().expect("a"),
            fb.as_slice::<f32>().expect("b"),
        );
        let m = fa.len() / 2;
        let lg = logit.into_data();
        let lg = lg.as_slice::<f32>().expect("logit");
        for i in 0..2 {
            let d = &xs[i * 256..(i + 1) * 256];
            let r = &rs[i * 256..(i + 1) * 256];
            let want_l1: f32 = d.iter().zip(r).map(|(a, b)| (a - b).abs()).sum();
            let want_l2: f32 = d
                .iter()
                .zip(r)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f32>()
                .sqrt();
            let want_f: f32 = fa[i * m..(i + 1) * m]
                .iter()
                .zip(&fb[i * m..(i + 1) * m])
                .map(|(a, b)| (a - b).abs())
                .sum();
            // BCE towards 1 of a logit: -ln(sigmoid(l)) = ln(1 + e^-l).
            let want_ch = (1.0 + (-lg[i]).exp()).ln();
            for (got, want) in [
                (l1[i], want_l1),
                (l2[i], want_l2),
                (f[i], want_f),
                (logits[i], want_ch),
            ] {
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "{got} vs {want}"
                );
            }
        }
        assert!(
            l1.iter()
                .chain(&l2)
                .chain(&f)
                .chain(&logits)
                .all(|v| *v > 0.0)
        );
    }
}
