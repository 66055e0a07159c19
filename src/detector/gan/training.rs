//! The training driver of every GAN. A method's trainer ([`Training`]) does
//! one step on the batches it is given and says which losses it reports;
//! the driver owns the rest, the same for every method:
//!
//! - the budget: `epochs` of `n / batch` steps (the last incomplete batch
//!   dropped), cut at `max_steps`;
//! - the batches: each epoch a seeded permutation of the images (stream 1
//!   of the job's seed), `Training::SHUFFLES` of them for a method that
//!   draws its batches from several (ALAD);
//! - resume from the newest checkpoint, a checkpoint after each epoch (as
//!   the policy says), cancellation before each step;
//! - a step's losses read to the host at once, the step's one read (each
//!   read waits for the device: see `nn::host`), every one checked finite
//!   (`Diverged`, naming it and where), averaged over the epoch for the
//!   progress line and the training log.

use std::fmt::Write;

use burn::tensor::{Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::Gan;
use crate::detector::DetectorError;
use crate::detector::{Phase, RunContext};
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Checkpointer, LoopState, Resumable};
use crate::nn::host::read_values;
use crate::nn::init::stream;
use crate::nn::train::{EpochMeter, check_finite, epoch_batches, steps_per_epoch};

/// The random stream that initialises the networks.
pub const STREAM_INIT: u64 = 0;
/// The random stream of the epochs' image orders (a method's own streams
/// are numbered from 2).
pub const STREAM_SHUFFLE: u64 = 1;

/// A loss a step reports.
#[derive(Clone, Copy, Debug)]
pub struct Loss {
    /// Short name, in the progress line and the training log (`g`).
    pub name: &'static str,
    /// What it is, in the error when it is not finite ("the generator loss").
    pub what: &'static str,
}

/// `Loss { name, what }`.
pub const fn loss(name: &'static str, what: &'static str) -> Loss {
    Loss { name, what }
}

/// The generator's loss, `g`.
pub const GENERATOR: Loss = loss("g", "the generator loss");
/// The discriminator's loss, `d`.
pub const DISCRIMINATOR: Loss = loss("d", "the discriminator loss");

/// How long a training runs.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub epochs: usize,
    pub batch_size: usize,
    /// At most this many steps in all.
    pub max_steps: Option<usize>,
}

impl Budget {
    pub fn new(epochs: usize, batch_size: usize, max_steps: Option<usize>) -> Budget {
        Budget {
            epochs,
            batch_size,
            max_steps,
        }
    }
}

/// What a new trainer starts from: the device with autodiff, the job's seed
/// (a method's own random streams are numbered from 2) and stream 0 of it,
/// which initialises the networks.
pub struct Start {
    pub device: Device,
    pub seed: u64,
    pub init: ChaCha8Rng,
}

impl Start {
    /// On `device` (made autodiff here), from `seed`.
    pub fn new(seed: u64, device: &Device) -> Start {
        Start {
            device: device.clone().autodiff(),
            seed,
            init: stream(seed, STREAM_INIT),
        }
    }
}

/// Where a step is in the training, and its batches.
pub struct Step<'a> {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Steps done before this one.
    pub index: usize,
    /// Steps the whole training takes.
    pub total: usize,
    /// One batch of image indices per shuffle (`Training::SHUFFLES`).
    pub batches: &'a [&'a [usize]],
}

impl Step<'_> {
    /// The (first) batch.
    pub fn batch(&self) -> &[usize] {
        self.batches[0]
    }
}

/// What the end of an epoch gives besides the losses.
#[derive(Debug, Default)]
pub struct EpochEnd {
    /// Values for the progress line and the training log (a validation score).
    pub values: Vec<(&'static str, f64)>,
    /// Stop training now (early stopping).
    pub stop: bool,
}

/// A method's networks, optimisers, random streams and counters during
/// training: everything a checkpoint must hold ([`Resumable`]).
pub trait Training: Resumable + Sized {
    /// The method whose networks it trains.
    type Method: Gan;
    /// The losses `step` returns, in its order.
    const LOSSES: &'static [Loss];
    /// Permutations of the images drawn per epoch; a step gets one batch of each.
    const SHUFFLES: usize = 1;

    /// Fresh networks for `net`'s shapes and `params`.
    fn new(
        net: &<Self::Method as Gan>::Net,
        params: &Self::Method,
        start: Start,
    ) -> Result<Self, DetectorError>;
    fn budget(&self) -> Budget;
    /// One training step: the losses of `LOSSES`, one-element tensors that
    /// the driver reads to the host together, after the step. A step reads
    /// nothing itself.
    fn step(&mut self, images: &PreparedImages, step: &Step) -> Vec<Tensor<1>>;
    /// The values of the step's losses, once read (before they are checked
    /// finite): for a decision on them (GANomaly's reinitialisation of D).
    fn losses_read(&mut self, _losses: &[f32]) {}
    /// Words before an epoch's progress line (FenceGAN's `pretrain`).
    fn phase(&self, _epoch: usize) -> Option<&'static str> {
        None
    }
    /// After epoch `epoch` (from 1), `steps` steps done in all.
    fn epoch_end(&mut self, _epoch: usize, _steps: usize) -> Result<EpochEnd, DetectorError> {
        Ok(EpochEnd::default())
    }
}

/// Trains `trainer` on `images` within its budget, resuming from and
/// writing checkpoints as `ctx` says; returns the epochs run.
pub fn train<T: Training>(
    trainer: &mut T,
    images: &PreparedImages,
    ctx: &RunContext,
) -> Result<usize, DetectorError> {
    let n = images.len();
    if n < 2 {
        return Err(DetectorError::TooFewImages(n));
    }
    let budget = trainer.budget();
    let per_epoch = steps_per_epoch(n, budget.batch_size);
    let planned = budget.epochs * per_epoch;
    let total = budget.max_steps.map_or(planned, |m| m.min(planned));
    let epochs = total.div_ceil(per_epoch);
    let names: Vec<&'static str> = T::LOSSES.iter().map(|l| l.name).collect();
    let mut at = LoopState::new(stream(ctx.seed, STREAM_SHUFFLE));
    let mut checkpoints = Checkpointer::new(ctx.checkpoint.as_ref());
    checkpoints.resume(&mut [&mut *trainer, &mut at])?;
    for epoch in at.epoch..epochs {
        let mut meter = EpochMeter::new(&names);
        let orders: Vec<Vec<Vec<usize>>> = (0..T::SHUFFLES)
            .map(|_| epoch_batches(n, budget.batch_size, &mut at.shuffle))
            .collect();
        for k in 0..orders[0].len() {
            let index = at.step;
            if index == total {
                break;
            }
            ctx.check_cancel()?;
            let batches: Vec<&[usize]> = orders.iter().map(|o| o[k].as_slice()).collect();
            let step = Step {
                epoch,
                index,
                total,
                batches: &batches,
            };
            let losses = read_values(trainer.step(images, &step));
            trainer.losses_read(&losses);
            for (&value, loss) in losses.iter().zip(T::LOSSES) {
                check_finite(value, epoch + 1, index + 1, loss.what)?;
            }
            meter.add(&losses, batches[0].len());
            at.step += 1;
        }
        at.epoch = epoch + 1;
        let end = trainer.epoch_end(at.epoch, at.step)?;
        // A training about to stop early needs no checkpoint.
        if !end.stop {
            checkpoints.epoch_done(at.epoch, epochs, &mut [&mut *trainer, &mut at])?;
        }
        let mut info = String::new();
        if let Some(phase) = trainer.phase(epoch) {
            let _ = write!(info, "{phase}, ");
        }
        info.push_str(&meter.line());
        for (name, value) in &end.values {
            let _ = write!(info, ", {name} {value:.4}");
        }
        ctx.progress.phase(Phase::Training {
            epoch: epoch + 1,
            epochs,
            info,
            log: Some(meter.log(epoch + 1, &end.values)),
        });
        if end.stop {
            break;
        }
    }
    Ok(at.epoch)
}
