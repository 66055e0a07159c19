//! Shared deep-learning blocks on burn: device selection, DCGAN encoder and
//! decoder, initialisation, and the training-loop helpers every GAN uses.

pub mod device;
