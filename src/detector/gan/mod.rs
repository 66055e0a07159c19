//! One harness for the GAN detectors. A method says what its networks are,
//! how one training step goes and how a batch is scored; everything around
//! that is written once, here, for every GAN:
//!
//! - [`Gan`] (implemented by a method's params type): its network shapes
//!   ([`Net`]), its trainer ([`Training`]), the networks scoring keeps (the
//!   `Scorer` module) and `score_batch`;
//! - [`GanDetector`]: `fit`, `load`, `uses_device` for every GAN;
//! - [`device_check`]: a few training steps on a device against the CPU's;
//! - [`training`]: the training driver (budget, shuffling, resume,
//!   cancellation, finite losses, progress, checkpoints, training log);
//! - [`files`]: a stored model's files (the network description and a burn
//!   record per kept module) and the batched scoring loop.
//!
//! A new GAN is its params file, a model file (networks and a `Training`
//! impl), `impl Gan for <Params>` with its `score_batch`, and one registry
//! line; `docs/adding-a-method.md` walks through one.

pub mod device_check;
pub mod files;
pub mod training;

#[cfg(test)]
pub mod contract;

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Detector, DetectorError, Fitted, NamedScores, RunContext, SCORE};
use crate::data::ImageSet;
use crate::nn::batch::{PreparedImages, Preprocessing};
use crate::nn::burn_device::burn_device;
use crate::nn::dcgan::DcganNet;
use crate::spec::methods::MethodParams;

pub use files::ModelFiles;
pub use training::{Budget, EpochEnd, Loss, Start, Step, Training};

/// The shapes of a method's networks and their input: saved beside the
/// weights (`<method>-net.json`) and read back before them.
pub trait Net: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// How images become the networks' input (one mean and deviation per
    /// channel the networks take).
    fn preprocessing(&self) -> Preprocessing;
    /// `Err` when images of this size cannot be scored (a network without
    /// a resize, as FenceGAN's); every size can by default.
    fn check_size(&self, _images: &ImageSet) -> Result<(), DetectorError> {
        Ok(())
    }
}

/// AnoGAN's and GANomaly's DCGAN shapes.
impl Net for DcganNet {
    fn preprocessing(&self) -> Preprocessing {
        DcganNet::preprocessing(self)
    }
}

/// A GAN detector, implemented by its params type.
pub trait Gan: MethodParams + std::fmt::Debug + Send + Sync + 'static {
    /// The method's name in messages (`GANomaly`).
    const TITLE: &'static str;
    /// The names of the score columns `score_batch` gives, the default first.
    const SCORES: &'static [&'static str] = &[SCORE];
    type Net: Net;
    type Trainer: Training<Method = Self>;
    /// What scoring keeps of a training: the networks it runs, in eval mode.
    type Scorer: Module;

    /// The networks' shapes for training on `normal`.
    fn net(&self, normal: &ImageSet) -> Result<Self::Net, DetectorError>;
    /// Fresh networks and the images their steps draw batches from: all of
    /// `normal` (a method that holds some out says so here).
    fn trainer(
        &self,
        net: &Self::Net,
        normal: &ImageSet,
        seed: u64,
        device: &Device,
    ) -> Result<(Self::Trainer, PreparedImages), DetectorError> {
        let images = PreparedImages::new(normal, &net.preprocessing())?;
        let trainer = Self::Trainer::new(net, self, Start::new(seed, device))?;
        Ok((trainer, images))
    }
    /// The trained networks scoring keeps, in eval mode.
    fn scorer(trainer: &Self::Trainer) -> Self::Scorer;
    /// Networks of the right shapes to load a stored model into.
    fn blank_scorer(net: &Self::Net, rng: &mut ChaCha8Rng, device: &Device) -> Self::Scorer;
    /// The file part and description of a scorer that is one module
    /// (`<method>-<part>.bpk`; `("generator", "the generator")`).
    const SCORER_FILE: (&'static str, &'static str) = ("model", "the model");
    /// Names each module of the scorer once, for saving and loading: by
    /// default the scorer as one module, `SCORER_FILE`.
    fn scorer_files(
        scorer: &mut Self::Scorer,
        files: &mut ModelFiles,
    ) -> Result<(), DetectorError> {
        let (part, what) = Self::SCORER_FILE;
        files.module(part, what, scorer)
    }
    /// Images scored at once.
    fn score_batch_size(&self) -> usize;
    /// The score columns (as `SCORES`) of a batch, one number per image each.
    fn score_batch(model: &GanModel<Self>, batch: &Batch) -> Result<Columns, DetectorError>;
}

/// Score columns, each one number per image.
pub type Columns = Vec<Vec<f32>>;

/// A batch of test images being scored.
pub struct Batch<'a> {
    pub images: &'a PreparedImages,
    /// Indices in the test set.
    pub idx: &'a [usize],
    pub ctx: &'a RunContext<'a>,
}

impl Batch<'_> {
    /// The batch as network input on `device`.
    pub fn input(&self, device: &Device) -> burn::tensor::Tensor<4> {
        self.images.batch(self.idx, device)
    }
}

/// Every GAN's [`Detector`].
pub struct GanDetector<P: Gan>(pub P);

impl<P: Gan> GanDetector<P> {
    /// Trains on `normal` and returns the model and the epochs it ran.
    pub fn fit_model(
        &self,
        normal: &ImageSet,
        ctx: &RunContext,
    ) -> Result<(GanModel<P>, usize), DetectorError> {
        if normal.len() < 2 {
            return Err(DetectorError::TooFewImages(normal.len()));
        }
        let device = burn_device(ctx.device)?;
        let net = self.0.net(normal)?;
        let (mut trainer, images) = self.0.trainer(&net, normal, ctx.seed, &device)?;
        let epochs = training::train(&mut trainer, &images, ctx)?;
        let model = GanModel {
            params: self.0.clone(),
            net,
            scorer: P::scorer(&trainer),
            device,
        };
        Ok((model, epochs))
    }
}

impl<P: Gan> Detector for GanDetector<P> {
    fn fit(&self, normal: &ImageSet, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        Ok(Box::new(self.fit_model(normal, ctx)?.0))
    }

    fn load(&self, dir: &Path, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        Ok(Box::new(GanModel::load(self.0.clone(), dir, ctx)?))
    }

    fn uses_device(&self) -> bool {
        true
    }

    fn compare_devices(
        &self,
        normal: &ImageSet,
        device: crate::device::DeviceChoice,
        steps: usize,
        seed: u64,
    ) -> Option<Result<device_check::StepComparison, DetectorError>> {
        Some(device_check::compare_steps(
            &self.0, normal, device, steps, seed,
        ))
    }
}

/// A trained GAN: its parameters (for scoring), shapes and scoring networks.
pub struct GanModel<P: Gan> {
    pub params: P,
    pub net: P::Net,
    pub scorer: P::Scorer,
    /// Where scoring computes (without autodiff).
    pub device: Device,
}

impl<P: Gan> GanModel<P> {
    /// Reads a model that `save` wrote into `dir`; `params` gives the
    /// scoring parameters.
    pub fn load(params: P, dir: &Path, ctx: &RunContext) -> Result<Self, DetectorError> {
        let device = burn_device(ctx.device)?;
        let net: P::Net = files::read_net(dir, P::NAME, P::TITLE)?;
        // Shapes only: every value is replaced by the records.
        let mut scorer = P::blank_scorer(&net, &mut ChaCha8Rng::seed_from_u64(0), &device);
        P::scorer_files(&mut scorer, &mut ModelFiles::load(dir, P::NAME))?;
        Ok(GanModel {
            params,
            net,
            scorer: scorer.valid(),
            device,
        })
    }
}

impl<P: Gan> Fitted for GanModel<P> {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        let shown = self.params.shown_score().unwrap_or(P::SCORES[0]);
        self.score_variants(images, ctx)?
            .into_iter()
            .find(|(name, _)| name == shown)
            .map(|(_, s)| s)
            .ok_or_else(|| DetectorError::NoSuchScore {
                method: P::TITLE,
                name: shown.to_string(),
            })
    }

    fn score_variants(
        &self,
        images: &ImageSet,
        ctx: &RunContext,
    ) -> Result<NamedScores, DetectorError> {
        let input = self.net.preprocessing();
        files::check_channels(P::TITLE, input.stats.mean.len(), images.channels)?;
        self.net.check_size(images)?;
        let prepared = PreparedImages::new(images, &input)?;
        let columns = files::score_in_batches(
            prepared.len(),
            self.params.score_batch_size(),
            P::SCORES.len(),
            ctx,
            |idx| {
                let batch = Batch {
                    images: &prepared,
                    idx,
                    ctx,
                };
                P::score_batch(self, &batch)
            },
        )?;
        Ok(P::SCORES
            .iter()
            .map(|name| name.to_string())
            .zip(columns)
            .collect())
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        files::write_net(dir, P::NAME, &self.net)?;
        P::scorer_files(
            &mut self.scorer.clone(),
            &mut ModelFiles::save(dir, P::NAME),
        )
    }
}
