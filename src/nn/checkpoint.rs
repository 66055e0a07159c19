//! Training checkpoints: the whole state of a training run at the end of an
//! epoch (weights, optimiser moments, RNG positions, counters), written into
//! the store's staging area so that a killed job resumes from its last
//! complete epoch and ends with the same bits as a run never interrupted.
//!
//! A checkpoint is a folder `epoch-NNNNNN/` under the job's checkpoint folder
//! (the runner gives one per model key): `state.json` (the values, the
//! build that wrote it, and the blake3 digest of every other file) beside
//! burn records of the modules and optimisers. It is written under a
//! `.writing-*` name, fsynced, then renamed, so a folder named `epoch-*` is
//! complete; the older ones are removed once a newer one is in place. A
//! checkpoint whose files do not match their digests, or written by another
//! build of the runner, is ignored (with a warning) and removed.
//!
//! This file holds the policy (when to write one), the plan of a job (where),
//! the loop state and the [`Checkpointer`] that a training loop calls;
//! [`state`] holds the file format and the [`State`] visitor that saves and
//! loads a training's parts.
//!
//! What makes resuming bit-identical: weights and Adam states are saved
//! as f32 bits; running statistics are synced before they are saved (burn
//! keeps a module's last update aside until then); each module's parameter
//! ids are restored, because burn's optimisers and our moving averages find
//! a parameter's state by its id; the ChaCha streams are saved as (seed,
//! stream, word position).

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;

use super::NnError;

mod state;

pub use state::{State, StateReader, StateWriter};
use state::{complete_checkpoints, read_checkpoint, write_checkpoint};

/// How often a training run saves its state, wherever it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Save after every `every_epochs` epochs; 0: never.
    pub every_epochs: usize,
    /// ... and only when at least this long has passed since the start of
    /// the run or the last checkpoint, so that short trainings (tests, the
    /// quickstart) never pay for one.
    pub min_interval: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        CheckpointPolicy {
            every_epochs: 1,
            min_interval: Duration::from_secs(60),
        }
    }
}

impl CheckpointPolicy {
    /// Never checkpoint.
    pub fn off() -> Self {
        CheckpointPolicy {
            every_epochs: 0,
            min_interval: Duration::ZERO,
        }
    }

    /// After every epoch, however short (tests).
    pub fn every_epoch() -> Self {
        CheckpointPolicy {
            every_epochs: 1,
            min_interval: Duration::ZERO,
        }
    }
}

/// Where one job's checkpoints go and how often.
#[derive(Clone, Debug)]
pub struct CheckpointPlan {
    /// The job's own folder (one per model key).
    pub dir: PathBuf,
    pub policy: CheckpointPolicy,
    /// The runner build: a checkpoint of another build is not resumed.
    pub build: String,
}

/// What a training run saves and restores (a trainer, the loop's position):
/// one method visits each part by name, the same for saving and loading, so
/// the two cannot drift apart.
pub trait Resumable {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError>;
}

/// Where a training loop is between epochs; saved with every checkpoint.
pub struct LoopState {
    /// Epochs completed.
    pub epoch: usize,
    /// Steps completed.
    pub step: usize,
    /// The stream that orders the images of each epoch.
    pub shuffle: ChaCha8Rng,
}

impl LoopState {
    /// Before the first epoch.
    pub fn new(shuffle: ChaCha8Rng) -> LoopState {
        LoopState {
            epoch: 0,
            step: 0,
            shuffle,
        }
    }
}

impl Resumable for LoopState {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        state.value("loop.epoch", &mut self.epoch)?;
        state.value("loop.step", &mut self.step)?;
        state.rng("loop.shuffle", &mut self.shuffle)
    }
}

/// The checkpoints of one training run: finds the one to resume from, and
/// writes a new one when the policy says so.
pub struct Checkpointer {
    plan: Option<CheckpointPlan>,
    last: Instant,
}

impl Checkpointer {
    pub fn new(plan: Option<&CheckpointPlan>) -> Checkpointer {
        Checkpointer {
            plan: plan.cloned(),
            last: Instant::now(),
        }
    }

    /// Restores `parts` from the newest complete checkpoint of this run and
    /// returns the epochs it had completed; `None` when there is none
    /// (or none usable: each unusable one is removed with a warning).
    pub fn resume(&self, parts: &mut [&mut dyn Resumable]) -> Result<Option<usize>, NnError> {
        let Some(plan) = &self.plan else {
            return Ok(None);
        };
        for dir in complete_checkpoints(&plan.dir).into_iter().rev() {
            match read_checkpoint(&dir, &plan.build) {
                Ok(reader) => {
                    for p in parts.iter_mut() {
                        p.visit(&mut State::Load(&reader))?;
                    }
                    tracing::info!(
                        "resuming from the checkpoint after epoch {} ({})",
                        reader.epoch(),
                        dir.display()
                    );
                    return Ok(Some(reader.epoch()));
                }
                Err(why) => {
                    tracing::warn!("ignoring checkpoint {}: {why}", dir.display());
                    let _ = fs::remove_dir_all(&dir);
                }
            }
        }
        Ok(None)
    }

    /// At the end of epoch `epoch` (1-based) of `epochs`: writes a
    /// checkpoint of `parts` when the policy asks for one. Never after the
    /// last epoch (the model itself is stored next).
    pub fn epoch_done(
        &mut self,
        epoch: usize,
        epochs: usize,
        parts: &mut [&mut dyn Resumable],
    ) -> Result<(), NnError> {
        let Some(plan) = &self.plan else {
            return Ok(());
        };
        let p = plan.policy;
        let due = p.every_epochs > 0
            && epoch.is_multiple_of(p.every_epochs)
            && epoch < epochs
            && self.last.elapsed() >= p.min_interval;
        if !due {
            return Ok(());
        }
        write_checkpoint(plan, epoch, parts)?;
        self.last = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
