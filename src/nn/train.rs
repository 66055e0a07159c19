//! Training-loop helpers shared by the GANs: seeded epoch orders, mini-batch
//! slicing, Adam from a method's parameters, a generator and discriminator
//! pair with their optimisers, non-finite loss detection and the per-epoch
//! progress line.

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::NnError;
use super::checkpoint::{Resumable, State};

/// The mini-batches of one epoch: a seeded shuffle of `0..n`, cut into
/// batches of `batch` images. The last incomplete batch is dropped (as the
/// reference loaders do with `drop_last`), unless `n < batch`, where the one
/// batch holds every image.
pub fn epoch_batches(n: usize, batch: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    if n < batch {
        return vec![order];
    }
    order.chunks_exact(batch).map(|c| c.to_vec()).collect()
}

/// Steps in one epoch of `n` images (see [`epoch_batches`]).
pub fn steps_per_epoch(n: usize, batch: usize) -> usize {
    if n < batch { 1 } else { n / batch }
}

/// Adam with the moments' decay rates of a method's parameters and its
/// `epsilon` (1e-8 in PyTorch and TensorFlow, 1e-7 in Keras).
pub fn adam(beta1: f64, beta2: f64, epsilon: f32) -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(beta1 as f32)
        .with_beta_2(beta2 as f32)
        .with_epsilon(epsilon)
}

/// A generator and a discriminator with an Adam state each: the part of
/// AnoGAN's, FenceGAN's and GANomaly's trainers they share, saved in
/// checkpoints as `generator`, `discriminator`, `opt_g` and `opt_d`.
pub struct Adversaries<G: Module, D: Module> {
    pub generator: G,
    pub discriminator: D,
    pub opt_g: ModuleOptimizer,
    pub opt_d: ModuleOptimizer,
}

impl<G: Module, D: Module> Adversaries<G, D> {
    /// The two networks with fresh `adam` states.
    pub fn new(generator: G, discriminator: D, adam: &AdamConfig) -> Self {
        Adversaries {
            generator,
            discriminator,
            opt_g: adam.init(),
            opt_d: adam.init(),
        }
    }
}

impl<G: Module, D: Module> Resumable for Adversaries<G, D> {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        state.module("generator", &mut self.generator)?;
        state.module("discriminator", &mut self.discriminator)?;
        state.optimizer("opt_g", &mut self.opt_g)?;
        state.optimizer("opt_d", &mut self.opt_d)
    }
}

/// `Err(Diverged)` when a loss value is NaN or infinite.
pub fn check_finite(value: f32, epoch: usize, step: usize, what: &str) -> Result<f32, NnError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NnError::Diverged {
            epoch,
            step,
            what: what.to_string(),
        })
    }
}

/// Running means of named losses over an epoch, and its speed.
pub struct EpochMeter {
    names: Vec<&'static str>,
    sums: Vec<f64>,
    steps: usize,
    images: usize,
    start: std::time::Instant,
}

impl EpochMeter {
    pub fn new(names: &[&'static str]) -> EpochMeter {
        EpochMeter {
            names: names.to_vec(),
            sums: vec![0.0; names.len()],
            steps: 0,
            images: 0,
            start: std::time::Instant::now(),
        }
    }

    /// Adds one step's losses (in the order of the names) over `images` images.
    pub fn add(&mut self, losses: &[f32], images: usize) {
        for (s, &l) in self.sums.iter_mut().zip(losses) {
            *s += l as f64;
        }
        self.steps += 1;
        self.images += images;
    }

    /// Epoch `epoch`'s mean losses by name and its seconds so far, with
    /// `extra` values (a validation score) after them.
    pub fn log(&self, epoch: usize, extra: &[(&str, f64)]) -> crate::store::EpochLog {
        let n = self.steps.max(1) as f64;
        let mut values: Vec<(String, f64)> = self
            .names
            .iter()
            .zip(&self.sums)
            .map(|(name, s)| (name.to_string(), s / n))
            .collect();
        values.extend(extra.iter().map(|(k, v)| (k.to_string(), *v)));
        crate::store::EpochLog {
            epoch,
            seconds: self.start.elapsed().as_secs_f64(),
            values,
        }
    }

    /// `g 1.234 d 0.456, 812 img/s`.
    pub fn line(&self) -> String {
        let n = self.steps.max(1) as f64;
        let losses: Vec<String> = self
            .names
            .iter()
            .zip(&self.sums)
            .map(|(name, s)| format!("{name} {:.4}", s / n))
            .collect();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        format!(
            "{}, {:.0} img/s",
            losses.join(" "),
            self.images as f64 / secs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn epochs_are_seeded_permutations_without_the_short_tail() {
        let a = epoch_batches(10, 3, &mut ChaCha8Rng::seed_from_u64(1));
        let b = epoch_batches(10, 3, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert_eq!(steps_per_epoch(10, 3), 3);
        let mut seen: Vec<usize> = a.concat();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 9);
        let small = epoch_batches(2, 64, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(small.len(), 1);
        assert_eq!(small[0].len(), 2);
    }

    #[test]
    fn non_finite_losses_name_where() {
        assert_eq!(check_finite(1.5, 0, 0, "x").ok(), Some(1.5));
        let e = check_finite(f32::NAN, 3, 17, "generator loss").expect_err("nan");
        assert!(e.to_string().contains("epoch 3, step 17"), "{e}");
        assert!(e.to_string().contains("generator loss"));
        assert!(check_finite(f32::INFINITY, 0, 0, "d").is_err());
    }

    #[test]
    fn meter_averages() {
        let mut m = EpochMeter::new(&["g", "d"]);
        m.add(&[1.0, 2.0], 4);
        m.add(&[3.0, 4.0], 4);
        assert!(m.line().starts_with("g 2.0000 d 3.0000, "), "{}", m.line());
    }
}
