//! Shared deep-learning blocks on burn: device selection (Vulkan adapters in
//! `vulkan`), convolutions and matrix products on every backend (`conv`,
//! `dense`, `reduce`), DCGAN encoder and decoder, seeded initialisation,
//! spectral normalisation, moving averages of weights, TF's Adam shared by
//! several networks (`shared_adam`), image batching,
//! training checkpoints, and the training-loop helpers every GAN uses. Only
//! this module and `detector/` import burn.

pub mod batch;
pub mod burn_device;
pub mod checkpoint;
pub mod conv;
pub mod dcgan;
pub mod dense;
pub mod ema;
pub mod host;
pub mod init;
pub mod layers;
pub mod loss;
pub mod reduce;
pub mod shared_adam;
pub mod spectral_norm;
#[cfg(test)]
mod testutil;
pub mod train;
pub mod vulkan;

use thiserror::Error;

/// What the shared training blocks can report; `DetectorError` wraps it.
#[derive(Debug, Error)]
pub enum NnError {
    #[error(
        "diverged at epoch {epoch}, step {step}: {what} is not finite; lower the learning rate or check the data"
    )]
    Diverged {
        epoch: usize,
        step: usize,
        what: String,
    },
    #[error(transparent)]
    Device(#[from] crate::device::DeviceUnavailable),
    /// A Vulkan device that this machine cannot give (no driver, no such adapter).
    #[error(transparent)]
    Adapter(#[from] vulkan::AdapterError),
    /// Images that do not fit the method's declared input.
    #[error("{0}")]
    Input(String),
    /// A training checkpoint that cannot be written or read.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}
