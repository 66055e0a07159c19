//! Shared deep-learning blocks on burn: device selection, DCGAN encoder and
//! decoder, seeded initialisation, image batching, and the training-loop
//! helpers every GAN uses. Only this module and `detector/` import burn.

pub mod batch;
pub mod dcgan;
pub mod device;
pub mod init;
pub mod train;
