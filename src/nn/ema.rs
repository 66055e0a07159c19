//! Exponential moving average of a module's float parameters, as TF's
//! `tf.train.ExponentialMovingAverage(decay)` without `num_updates` (the
//! ALAD reference, alad/run.py, 0.999): the shadow of each parameter starts
//! at its value when the average is created (TF: the variable's initial
//! value) and, after each training step,
//!
//! ```text
//! shadow <- decay * shadow + (1 - decay) * value
//! ```
//!
//! Only trainable parameters (those of a training module, on an autodiff
//! device, that require a gradient: the trainable variables TF averages)
//! are averaged; running states (BatchNorm statistics, spectral-norm
//! vectors) are not, and [`Ema::averaged`] keeps the live ones (TF's EMA
//! getter falls back to the variable itself for anything it does not
//! average). Shadows live without autodiff and are matched to parameters by
//! `ParamId`, which burn's optimisers keep across steps.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use super::NnError;
use super::checkpoint::State;

/// The moving averages of one module's parameters.
pub struct Ema {
    decay: f64,
    /// Flattened shadow of each parameter, without autodiff.
    shadows: HashMap<ParamId, Tensor<1>>,
}

fn flat<const D: usize>(param: &Param<Tensor<D>>) -> Tensor<1> {
    let t = param.val().detach().without_autodiff();
    let n = t.shape().num_elements();
    t.reshape([n])
}

/// Whether `param` is a trainable parameter: burn's visitors also show
/// running states (BatchNorm statistics, spectral-norm vectors) as float
/// parameters, but their tensors never require a gradient.
fn trainable<const D: usize>(param: &Param<Tensor<D>>) -> bool {
    param.val().is_require_grad()
}

impl Ema {
    /// Shadows equal to the current parameters of `module`.
    pub fn new<M: Module>(module: &M, decay: f64) -> Ema {
        struct Collect(HashMap<ParamId, Tensor<1>>);
        impl ModuleVisitor for Collect {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if trainable(param) {
                    self.0.insert(param.id, flat(param));
                }
            }
        }
        let mut c = Collect(HashMap::new());
        module.visit(&mut c);
        Ema {
            decay,
            shadows: c.0,
        }
    }

    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// One update towards the current parameters of `module` (after a step).
    pub fn update<M: Module>(&mut self, module: &M) {
        struct Update<'a>(&'a mut Ema);
        impl ModuleVisitor for Update<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if !trainable(param) {
                    return;
                }
                let d = self.0.decay;
                let value = flat(param);
                let next = match self.0.shadows.remove(&param.id) {
                    Some(s) => s.mul_scalar(d) + value.mul_scalar(1.0 - d),
                    // A parameter the average has not seen starts at its value.
                    None => value,
                };
                self.0.shadows.insert(param.id, next);
            }
        }
        module.visit(&mut Update(self));
    }

    /// `module` with every averaged parameter replaced by its shadow (on the
    /// module's device); running states and unknown parameters unchanged.
    pub fn averaged<M: Module>(&self, module: M) -> M {
        struct Apply<'a>(&'a Ema);
        impl ModuleMapper for Apply<'_> {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let Some(shadow) = self.0.shadows.get(&param.id) else {
                    return param;
                };
                let shadow = shadow.clone();
                param.map(|t| {
                    let s = shadow.to_device(&t.device().without_autodiff());
                    let s = s.reshape(t.dims());
                    if t.is_autodiff() { s.autodiff() } else { s }
                })
            }
        }
        module.map(&mut Apply(self))
    }

    /// Saves the shadows into a checkpoint as `name`, or loads them back
    /// (on `device`, without autodiff).
    pub fn visit(
        &mut self,
        name: &str,
        state: &mut State,
        device: &burn::tensor::Device,
    ) -> Result<(), NnError> {
        match state {
            State::Save(w) => {
                let mut parts: Vec<(u64, Tensor<1>)> = self
                    .shadows
                    .iter()
                    .map(|(id, t)| (id.val(), t.clone()))
                    .collect();
                parts.sort_by_key(|(id, _)| *id);
                w.floats(name, &parts)
            }
            State::Load(r) => {
                let device = device.clone().without_autodiff();
                self.shadows = r
                    .floats(name, &device)?
                    .into_iter()
                    .map(|(id, t)| (ParamId::from(id), t))
                    .collect();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn set(mut l: Linear, w: f32, dev: &Device) -> Linear {
        // a trainable weight: on an autodiff device, requiring a gradient
        let v = Tensor::from_data(TensorData::new(vec![w; 2], [1, 2]), dev).require_grad();
        l.weight = l.weight.map(|_| v);
        l
    }

    fn weight(l: &Linear) -> Vec<f32> {
        l.weight
            .val()
            .into_data()
            .as_slice::<f32>()
            .expect("f32")
            .to_vec()
    }

    /// w0 = 1, then 2, then 4 with decay 0.5: 1.5 after one update, 2.75
    /// after two (0.5 * 1.5 + 0.5 * 4); the bias (0 throughout) stays 0.
    #[test]
    fn two_updates_give_the_hand_computed_average() {
        let dev = Device::flex().autodiff();
        let l = set(
            LinearConfig::new(1, 2).with_bias(true).init(&dev),
            1.0,
            &dev,
        );
        let mut bias = l.bias.clone().expect("bias");
        bias = bias.map(|b| b.zeros_like());
        let l = Linear {
            bias: Some(bias),
            ..l
        };
        let mut ema = Ema::new(&l, 0.5);
        let l = set(l, 2.0, &dev);
        ema.update(&l);
        assert_eq!(weight(&ema.averaged(l.clone())), vec![1.5, 1.5]);
        let l = set(l, 4.0, &dev);
        ema.update(&l);
        let avg = ema.averaged(l.clone());
        assert_eq!(weight(&avg), vec![2.75, 2.75]);
        let b = avg.bias.expect("bias").val().into_data();
        assert_eq!(b.as_slice::<f32>().expect("f32"), &[0.0, 0.0]);
        // The live module is untouched.
        assert_eq!(weight(&l), vec![4.0, 4.0]);
    }

    /// The default decay 0.999 moves the average by a thousandth per step,
    /// and the average of an autodiff module can be applied to its eval copy.
    #[test]
    fn decay_0999_and_eval_copies() {
        let dev = Device::flex().autodiff();
        let l = set(LinearConfig::new(1, 2).init(&dev), 0.0, &dev);
        let mut ema = Ema::new(&l, 0.999);
        let l = set(l, 1.0, &dev);
        ema.update(&l);
        let avg = ema.averaged(l.valid());
        for v in weight(&avg) {
            assert!((v - 0.001).abs() < 1e-7, "{v}");
        }
        assert!(!avg.weight.val().is_autodiff());
    }
}

#[cfg(test)]
mod running_state_tests {
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;

    fn running_mean(bn: &BatchNorm) -> Vec<f32> {
        bn.running_mean
            .value()
            .into_data()
            .as_slice::<f32>()
            .expect("f32")
            .to_vec()
    }

    /// TF's moving average covers trainable variables only: the averaged
    /// copy of a BatchNorm keeps the live running statistics.
    #[test]
    fn running_statistics_are_not_averaged() {
        let dev = Device::flex().autodiff();
        let bn: BatchNorm = BatchNormConfig::new(3).init(&dev);
        let mut ema = Ema::new(&bn, 0.5);
        for _ in 0..10 {
            let x = Tensor::<4>::random([4, 3, 2, 2], Distribution::Normal(5.0, 1.0), &dev);
            let _ = bn.forward(x);
            // synced, as the per-epoch validation of ALAD does
            let _ = bn.valid();
            ema.update(&bn);
        }
        // gamma and beta; not the running mean and variance
        assert_eq!(ema.shadows.len(), 2);
        let live = bn.valid();
        let avg = ema.averaged(live.clone());
        assert!(running_mean(&live).iter().all(|&m| m > 1.0));
        assert_eq!(running_mean(&avg), running_mean(&live));
    }
}
