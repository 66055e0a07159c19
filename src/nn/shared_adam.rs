//! One TensorFlow 1.x `AdamOptimizer` behind several `minimize` ops, as
//! ALAD's reference builds it (alad/run.py: one optimiser, five `minimize`
//! calls for G, E, D_xz, D_xx and D_zz).
//!
//! Each network keeps its own moments, but TF keeps the bias-correction
//! powers `beta1_power` and `beta2_power` once per optimiser: every
//! `minimize`'s `_finish` multiplies them by the betas after its update, so
//! the step count `t` that corrects the moments advances once per network
//! update, five times per ALAD step, instead of once per step of each network.
//! Within one `session.run` each update reads the powers as the run started
//! (the read has no dependency on the other updates of that run and is ready
//! at once, while each advance waits for its own update's gradients), so the
//! updates of a run share one `t` and the run advances it by their number.
//!
//! The update is TF's `apply_adam`: with lr_t = lr * sqrt(1 - beta2^t) /
//! (1 - beta1^t), m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g²,
//! w <- w - lr_t m / (sqrt(v) + epsilon) (epsilon outside the bias
//! correction, as TF; burn's and PyTorch's Adam scale it by sqrt(1 - beta2^t)).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::optim::{LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};

/// The optimiser's shared step count and the Adam settings; hands out one
/// [`ModuleOptimizer`] per network, all reading the same count.
#[derive(Clone, Debug)]
pub struct SharedAdam {
    adam: ClockedAdam,
}

/// TF's powers as counts: updates applied so far, and the `t` the updates
/// of the run in progress use.
#[derive(Debug, Default)]
struct Clock {
    applied: AtomicUsize,
    current: AtomicUsize,
}

impl SharedAdam {
    pub fn new(beta1: f64, beta2: f64, epsilon: f64) -> SharedAdam {
        SharedAdam {
            adam: ClockedAdam {
                beta1,
                beta2,
                epsilon,
                clock: Arc::new(Clock::default()),
            },
        }
    }

    /// An optimiser for one network (its own moments, the shared count).
    pub fn optimizer(&self) -> ModuleOptimizer {
        ModuleOptimizer::from(self.adam.clone())
    }

    /// Starts a `session.run` of `updates` network updates: each of them
    /// corrects with t = (updates applied before the run) + 1, and the run
    /// counts for `updates` afterwards.
    pub fn start_run(&self, updates: usize) {
        let clock = &self.adam.clock;
        let before = clock.applied.fetch_add(updates, Ordering::SeqCst);
        clock.current.store(before + 1, Ordering::SeqCst);
    }

    /// Updates applied so far (what a checkpoint keeps).
    pub fn applied(&self) -> usize {
        self.adam.clock.applied.load(Ordering::SeqCst)
    }

    /// Resumes the count of a checkpoint.
    pub fn set_applied(&self, applied: usize) {
        self.adam.clock.applied.store(applied, Ordering::SeqCst);
    }
}

/// The per-parameter optimiser: TF's Adam update with `t` from the clock.
#[derive(Clone, Debug)]
struct ClockedAdam {
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    clock: Arc<Clock>,
}

/// A parameter's moments (the count is the clock's, not the parameter's).
#[derive(Clone)]
pub struct Moments<const D: usize> {
    m: Tensor<D>,
    v: Tensor<D>,
}

impl<const D: usize> RecordState for Moments<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "m", self.m.clone().into_data());
        out.push_tensor(prefix, "v", self.v.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let m = Tensor::from_data(src.take_tensor(prefix, "m")?, device);
        let v = Tensor::from_data(src.take_tensor(prefix, "v")?, device);
        Some(Moments { m, v })
    }
}

impl Optimizer for ClockedAdam {
    type State<const D: usize> = Moments<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Moments<D>>,
    ) -> (Tensor<D>, Option<Moments<D>>) {
        // A step before any `start_run` counts as the first.
        let t = self.clock.current.load(Ordering::SeqCst).max(1) as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let fresh_m = grad.clone().mul_scalar(1.0 - b1);
        let fresh_v = grad.square().mul_scalar(1.0 - b2);
        let (m, v) = match state {
            Some(s) => (s.m.mul_scalar(b1) + fresh_m, s.v.mul_scalar(b2) + fresh_v),
            None => (fresh_m, fresh_v),
        };
        let lr_t = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        let delta = m
            .clone()
            .div(v.clone().sqrt().add_scalar(self.epsilon))
            .mul_scalar(lr_t);
        (tensor - delta, Some(Moments { m, v }))
    }

    fn to_device<const D: usize>(state: Moments<D>, device: &Device) -> Moments<D> {
        Moments {
            m: state.m.to_device(device),
            v: state.v.to_device(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Tensor};

    use super::*;

    /// A 1 -> 1 linear layer without bias: one weight.
    fn scalar(value: f32, device: &Device) -> Linear {
        let mut layer = LinearConfig::new(1, 1).with_bias(false).init(device);
        layer.weight = Param::from_tensor(Tensor::from_floats([[value]], device));
        layer
    }

    fn weight(layer: &Linear) -> f64 {
        layer.weight.val().into_scalar::<f32>() as f64
    }

    /// One update of `layer` on its loss: 3w for `linear`, else w².
    fn update(layer: Linear, opt: &mut ModuleOptimizer, linear: bool) -> Linear {
        let w = layer.weight.val().sum();
        let loss = if linear {
            w.mul_scalar(3.0)
        } else {
            w.square()
        };
        let mut grads = loss.backward();
        let g = GradientsParams::from_module(&mut grads, &layer);
        opt.step(0.1, layer, g)
    }

    /// Two networks on one shared count against TF's `apply_adam` by hand
    /// (beta1 0.5, beta2 0.999, epsilon 1e-8, lr 0.1; a: loss 3a from 0.5,
    /// b: loss b² from -1.5), in float64:
    /// ```python
    /// import math
    /// def tf_adam(w, m, v, g, t):
    ///     lr_t = 0.1 * math.sqrt(1 - 0.999**t) / (1 - 0.5**t)
    ///     m = 0.5 * m + 0.5 * g; v = 0.999 * v + 0.001 * g * g
    ///     return w - lr_t * m / (math.sqrt(v) + 1e-8), m, v
    /// a, ma, va = tf_adam(0.5, 0, 0, 3.0, 1); b, mb, vb = tf_adam(-1.5, 0, 0, -3.0, 1)
    /// # run 1 = {a, b}: a 0.4000000105409244, b -1.4000000105409245
    /// a, ma, va = tf_adam(a, ma, va, 3.0, 3)        # run 2 = {a}: 0.2950481299689414
    /// b, mb, vb = tf_adam(b, mb, vb, 2 * b, 4)      # run 3 = {b}: -1.2882837376195304
    /// a2 = tf_adam(*tf_adam(0.5, 0, 0, 3.0, 1), 3.0, 2)[0]  # a's own count: 0.30000001799634857
    /// ```
    #[test]
    fn a_shared_count_corrects_like_one_tf_optimizer() {
        let device = Device::flex().autodiff();
        let shared = SharedAdam::new(0.5, 0.999, 1e-8);
        let (mut opt_a, mut opt_b) = (shared.optimizer(), shared.optimizer());
        let (mut a, mut b) = (scalar(0.5, &device), scalar(-1.5, &device));

        shared.start_run(2);
        a = update(a, &mut opt_a, true);
        b = update(b, &mut opt_b, false);
        assert!(
            (weight(&a) - 0.4000000105409244).abs() < 1e-6,
            "{}",
            weight(&a)
        );
        assert!(
            (weight(&b) + 1.4000000105409245).abs() < 1e-6,
            "{}",
            weight(&b)
        );
        assert_eq!(shared.applied(), 2);

        shared.start_run(1);
        a = update(a, &mut opt_a, true);
        assert!(
            (weight(&a) - 0.2950481299689414).abs() < 1e-6,
            "{}",
            weight(&a)
        );
        shared.start_run(1);
        b = update(b, &mut opt_b, false);
        assert!(
            (weight(&b) + 1.2882837376195304).abs() < 1e-6,
            "{}",
            weight(&b)
        );
        assert_eq!(shared.applied(), 4);

        // The same two updates of `a` with a count of its own: a different
        // second step, so the test above tells the schedules apart.
        let alone = SharedAdam::new(0.5, 0.999, 1e-8);
        let mut opt = alone.optimizer();
        let mut a2 = scalar(0.5, &device);
        for _ in 0..2 {
            alone.start_run(1);
            a2 = update(a2, &mut opt, true);
        }
        assert!(
            (weight(&a2) - 0.30000001799634857).abs() < 1e-6,
            "{}",
            weight(&a2)
        );
        assert!((weight(&a2) - 0.2950481299689414).abs() > 1e-3);
    }

    /// The moments and the count survive a save and load of the optimiser:
    /// the next update is the same bits.
    #[test]
    fn moments_and_count_resume() {
        let device = Device::flex().autodiff();
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("opt.bpk");
        let shared = SharedAdam::new(0.5, 0.999, 1e-8);
        let mut opt = shared.optimizer();
        let mut a = scalar(0.5, &device);
        for _ in 0..3 {
            shared.start_run(2);
            a = update(a, &mut opt, false);
        }
        opt.save(&path).expect("save");
        let applied = shared.applied();
        shared.start_run(2);
        let straight = update(a.clone(), &mut opt, false);

        let resumed = SharedAdam::new(0.5, 0.999, 1e-8);
        resumed.set_applied(applied);
        let mut opt = resumed.optimizer().load(&path).expect("load");
        resumed.start_run(2);
        let again = update(a, &mut opt, false);
        assert_eq!(weight(&straight).to_bits(), weight(&again).to_bits());
        assert_eq!(resumed.applied(), 8);
    }
}
