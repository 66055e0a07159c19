//! ALAD training (alad/run.py): per step, one update of the three
//! discriminators on a batch, then one update of the generator and the
//! encoder on another batch (the reference's `trainx` and `trainx_copy`,
//! shuffled independently), each with fresh z ~ N(0, 1).
//!
//! With z_gen = E(x), x_gen = G(z), rec_x = G(E(x)), rec_z = E(G(z)) and
//! BCE(l, t) the mean sigmoid cross-entropy of logits l towards t:
//! - discriminators: BCE(D_xz(x, z_gen), 1) +
//!   BCE(D_xz(x_gen, z), 0); BCE(D_xx(x, x), 1) + BCE(D_xx(x, rec_x), 0);
//!   BCE(D_zz(z, z), 1) + BCE(D_zz(z, rec_z), 0); E and G are not updated.
//! - generator: BCE(D_xz(x_gen, z), 1) + cycle; encoder:
//!   BCE(D_xz(x, z_gen), 0) + cycle; with the discriminators' labels
//!   flipped, cycle = BCE(D_xx(x, x), 0) + BCE(D_xx(x, rec_x), 1) +
//!   BCE(D_zz(z, z), 0) + BCE(D_zz(z, rec_z), 1) (D_zz's terms only with
//!   `dzz`). One backward pass of gen + enc + cycle gives both: the
//!   generator's adversarial term does not depend on E nor the encoder's on
//!   G. The discriminators are frozen copies.
//! - after each update, the moving average (`ema_decay`) of the networks
//!   used at test time (E, G, D_xx) moves (the reference keeps one per
//!   network, D_xz and D_zz included, but never uses those two).
//!
//! Adam (`adam_steps`): by default the reference's one TF optimiser behind
//! the five `minimize` ops (`nn::shared_adam`): each network has its own
//! moments, one step count corrects them all. The discriminators' run reads
//! it at 5k + 1 in step k and advances it three times (D_zz's update counts
//! even without `dzz`: the reference runs `train_dis_op_zz` whether or not
//! `allow_zz` adds its loss to the others), the generator's and encoder's run
//! reads 5k + 4 and advances it twice. `per_network` gives each network an
//! Adam of its own instead.
//!
//! Every forward of a step is in training mode: BatchNorm with batch
//! statistics (and its running statistics updated, also by the forwards of
//! the other networks' update, where TF runs a network's update ops only with
//! its own optimiser), dropout with masks from the seeded dropout stream, one
//! power iteration of spectral normalisation.
//!
//! Early stopping (`early_stop`, alad/run.py): after each epoch, the mean
//! Features score of the held-out normal validation images under the averaged
//! networks in eval mode; training stops once the best value is more than
//! `patience` epochs old. As in the reference, the weights kept are the last
//! ones (its log speaks of "weights from epoch k", but it saves the best
//! checkpoint and then scores the session's current weights).

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::model::{
    DiscriminatorXx, DiscriminatorXz, DiscriminatorZz, Dropout, Encoder, EvalNets, Generator,
    NetConfig,
};
use crate::detector::DetectorError;
use crate::detector::gan::training::{DISCRIMINATOR, GENERATOR, loss};
use crate::detector::gan::{Budget, EpochEnd, Loss, Start, Step, Training};
use crate::nn::NnError;
use crate::nn::batch::PreparedImages;
use crate::nn::checkpoint::{Resumable, State};
use crate::nn::ema::Ema;
use crate::nn::init::stream;
use crate::nn::layers::normal_noise;
use crate::nn::loss::bce_with_logits;
use crate::nn::shared_adam::SharedAdam;
use crate::nn::train::{adam, check_finite};
use crate::spec::methods::AladParams;
use crate::spec::methods::alad::AdamSteps;

/// Independent random streams of one fit, all derived from the job's seed
/// (streams 0 and 1 are the harness's: initialisation and epoch order).
const STREAM_NOISE: u64 = 2;
const STREAM_DROPOUT: u64 = 3;
/// The held-out validation images (see [`super::split`]).
pub const STREAM_VALIDATION: u64 = 4;

/// Network updates per step in the reference's discriminator run (D_xz,
/// D_xx, D_zz) and in its generator and encoder run.
const DISCRIMINATOR_UPDATES: usize = 3;
const GENERATOR_UPDATES: usize = 2;

/// The networks, optimisers and moving averages of a run in progress.
pub struct Trainer {
    pub net: NetConfig,
    params: AladParams,
    pub encoder: Encoder,
    pub generator: Generator,
    pub dxz: DiscriminatorXz,
    pub dxx: DiscriminatorXx,
    pub dzz: Option<DiscriminatorZz>,
    opt_e: ModuleOptimizer,
    opt_g: ModuleOptimizer,
    opt_dxz: ModuleOptimizer,
    opt_dxx: ModuleOptimizer,
    opt_dzz: ModuleOptimizer,
    /// The step count the five optimisers share (`adam_steps: shared`).
    pub shared_adam: Option<SharedAdam>,
    ema_e: Ema,
    ema_g: Ema,
    ema_dxx: Ema,
    noise: rand_chacha::ChaCha8Rng,
    dropout: Dropout,
    device: Device,
    /// Held-out normal images for early stopping, and what it remembers.
    validation: Option<PreparedImages>,
    early: EarlyStop,
    /// The device without autodiff (validation scores).
    eval_device: Device,
}

/// `a` frozen: its parameters take no gradient (running states are shared).
fn frozen<M: Module>(a: &M) -> M {
    a.clone().no_grad()
}

impl Trainer {

    /// Early stopping watches `validation` (held-out normal images).
    pub fn hold_out(self, validation: Option<PreparedImages>) -> Trainer {
        Trainer { validation, ..self }
    }

    fn z(&mut self, n: usize) -> Tensor<2> {
        normal_noise(n, self.net.latent, &mut self.noise, &self.device)
    }

    /// One update of D_xz, D_xx (and D_zz): their losses, D_zz's 0 without it.
    pub fn discriminator_step(
        &mut self,
        images: &PreparedImages,
        idx: &[usize],
    ) -> [Tensor<1>; 3] {
        let lr = self.params.lr;
        let x = images.batch(idx, &self.device);
        let z = self.z(idx.len());
        let z_gen = self.encoder.forward(x.clone()).detach();
        let x_gen = self.generator.forward(z.clone()).detach();
        let rec_x = self.generator.forward(z_gen.clone()).detach();
        let rec_z = self.encoder.forward(x_gen.clone()).detach();
        let d = &mut self.dropout;

        let (l_enc, _) = self.dxz.forward(x.clone(), z_gen, Some(&mut *d));
        let (l_gen, _) = self.dxz.forward(x_gen, z.clone(), Some(&mut *d));
        let loss_xz = bce_with_logits(l_enc, true) + bce_with_logits(l_gen, false);
        let (real, _) = self.dxx.forward(x.clone(), x.clone(), Some(&mut *d));
        let (fake, _) = self.dxx.forward(x, rec_x, Some(&mut *d));
        let loss_xx = bce_with_logits(real, true) + bce_with_logits(fake, false);
        let loss_zz = self.dzz.as_ref().map(|dzz| {
            let real = dzz.forward(z.clone(), z.clone(), Some(&mut *d));
            let fake = dzz.forward(z, rec_z, Some(&mut *d));
            bce_with_logits(real, true) + bce_with_logits(fake, false)
        });

        let total = match &loss_zz {
            Some(zz) => loss_xz.clone() + loss_xx.clone() + zz.clone(),
            None => loss_xz.clone() + loss_xx.clone(),
        };
        let mut grads = total.backward();
        if let Some(shared) = &self.shared_adam {
            shared.start_run(DISCRIMINATOR_UPDATES);
        }
        let g_xz = GradientsParams::from_module(&mut grads, &self.dxz);
        let g_xx = GradientsParams::from_module(&mut grads, &self.dxx);
        self.dxz = self.opt_dxz.step(lr, self.dxz.clone(), g_xz);
        self.dxx = self.opt_dxx.step(lr, self.dxx.clone(), g_xx);
        if let Some(dzz) = self.dzz.take() {
            let g_zz = GradientsParams::from_module(&mut grads, &dzz);
            self.dzz = Some(self.opt_dzz.step(lr, dzz, g_zz));
        }
        self.ema_dxx.update(&self.dxx);
        let loss_zz = loss_zz.unwrap_or_else(|| Tensor::zeros([1], &self.device));
        [loss_xz, loss_xx, loss_zz]
    }

    /// One update of the generator and the encoder: their losses.
    pub fn generator_step(&mut self, images: &PreparedImages, idx: &[usize]) -> [Tensor<1>; 2] {
        let lr = self.params.lr;
        let x = images.batch(idx, &self.device);
        let z = self.z(idx.len());
        let z_gen = self.encoder.forward(x.clone());
        let x_gen = self.generator.forward(z.clone());
        let rec_x = self.generator.forward(z_gen.clone());
        let rec_z = self.encoder.forward(x_gen.clone());
        let (dxz, dxx) = (frozen(&self.dxz), frozen(&self.dxx));
        let d = &mut self.dropout;

        let (l_enc, _) = dxz.forward(x.clone(), z_gen, Some(&mut *d));
        let (l_gen, _) = dxz.forward(x_gen, z.clone(), Some(&mut *d));
        let gen_xz = bce_with_logits(l_gen, true);
        let enc_xz = bce_with_logits(l_enc, false);
        let (real, _) = dxx.forward(x.clone(), x.clone(), Some(&mut *d));
        let (fake, _) = dxx.forward(x, rec_x, Some(&mut *d));
        let mut cycle = bce_with_logits(real, false) + bce_with_logits(fake, true);
        if let Some(dzz) = self.dzz.as_ref().map(frozen) {
            let real = dzz.forward(z.clone(), z.clone(), Some(&mut *d));
            let fake = dzz.forward(z, rec_z, Some(&mut *d));
            cycle = cycle + bce_with_logits(real, false) + bce_with_logits(fake, true);
        }
        let loss_g = gen_xz.clone() + cycle.clone();
        let loss_e = enc_xz.clone() + cycle.clone();

        let mut grads = (gen_xz + enc_xz + cycle).backward();
        if let Some(shared) = &self.shared_adam {
            shared.start_run(GENERATOR_UPDATES);
        }
        let g_g = GradientsParams::from_module(&mut grads, &self.generator);
        let g_e = GradientsParams::from_module(&mut grads, &self.encoder);
        self.generator = self.opt_g.step(lr, self.generator.clone(), g_g);
        self.encoder = self.opt_e.step(lr, self.encoder.clone(), g_e);
        self.ema_g.update(&self.generator);
        self.ema_e.update(&self.encoder);
        [loss_g, loss_e]
    }

    /// The current (not averaged) networks in eval mode: to compare with
    /// the averaged ones.
    pub fn live_nets(&self) -> EvalNets {
        EvalNets {
            encoder: self.encoder.valid(),
            generator: self.generator.valid(),
            dxx: self.dxx.valid(),
        }
    }

    /// The averaged networks used at test time, in eval mode, on the
    /// device without autodiff.
    pub fn eval_nets(&self) -> EvalNets {
        EvalNets {
            encoder: self.ema_e.averaged(self.encoder.valid()),
            generator: self.ema_g.averaged(self.generator.valid()),
            dxx: self.ema_dxx.averaged(self.dxx.valid()),
        }
    }
}

impl Training for Trainer {
    type Method = AladParams;
    /// D_xz + D_xx (+ D_zz), then the generator's and the encoder's.
    const LOSSES: &'static [Loss] = &[DISCRIMINATOR, GENERATOR, loss("e", "the encoder loss")];
    /// The discriminators' batches and the generator's and encoder's.
    const SHUFFLES: usize = 2;

    /// Without early stopping (see [`Trainer::hold_out`]).
    fn new(net: &NetConfig, params: &AladParams, mut s: Start) -> Result<Self, DetectorError> {
        let (init, device) = (&mut s.init, &s.device);
        let encoder = net.encoder(init, device);
        let generator = net.generator(init, device);
        let dxz = net.dxz(init, device);
        let dxx = net.dxx(init, device);
        let dzz = params.dzz.then(|| net.dzz(init, device));
        let optimizers = Optimizers::new(params);
        let d = params.ema_decay;
        Ok(Trainer {
            ema_e: Ema::new(&encoder, d),
            ema_g: Ema::new(&generator, d),
            ema_dxx: Ema::new(&dxx, d),
            net: net.clone(),
            params: params.clone(),
            encoder,
            generator,
            dxz,
            dxx,
            dzz,
            opt_e: optimizers.one(),
            opt_g: optimizers.one(),
            opt_dxz: optimizers.one(),
            opt_dxx: optimizers.one(),
            opt_dzz: optimizers.one(),
            shared_adam: optimizers.shared,
            noise: stream(s.seed, STREAM_NOISE),
            dropout: Dropout {
                rate: params.dropout,
                rng: stream(s.seed, STREAM_DROPOUT),
            },
            eval_device: s.device.clone().inner(),
            device: s.device,
            validation: None,
            early: EarlyStop::default(),
        })
    }

    fn budget(&self) -> Budget {
        let p = &self.params;
        Budget::new(p.epochs, p.batch_size, p.max_steps)
    }

    /// One discriminator update on the first batch, then one generator and
    /// encoder update on the second; the discriminator loss is D_xz + D_xx
    /// (+ D_zz).
    fn step(&mut self, images: &PreparedImages, step: &Step) -> Vec<Tensor<1>> {
        let [dxz, dxx, dzz] = self.discriminator_step(images, step.batches[0]);
        let [generator, encoder] = self.generator_step(images, step.batches[1]);
        // Added on the device in the order the host added them before (the
        // same f32 sums).
        vec![dxz + dxx + dzz, generator, encoder]
    }

    /// Early stopping: the mean Features score of the held-out images.
    fn epoch_end(&mut self, epoch: usize, steps: usize) -> Result<EpochEnd, DetectorError> {
        let Some(valid) = &self.validation else {
            return Ok(EpochEnd::default());
        };
        let v = self
            .eval_nets()
            .mean_features(valid, self.params.score_batch_size, &self.eval_device)?;
        check_finite(v as f32, epoch, steps, "the validation score")?;
        self.early.add(v);
        Ok(EpochEnd {
            values: vec![("valid", v)],
            stop: self.early.stale > self.params.patience,
        })
    }
}

impl Resumable for Trainer {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        state.module("encoder", &mut self.encoder)?;
        state.module("generator", &mut self.generator)?;
        state.module("dxz", &mut self.dxz)?;
        state.module("dxx", &mut self.dxx)?;
        if let Some(dzz) = &mut self.dzz {
            state.module("dzz", dzz)?;
        }
        state.optimizer("opt_e", &mut self.opt_e)?;
        state.optimizer("opt_g", &mut self.opt_g)?;
        state.optimizer("opt_dxz", &mut self.opt_dxz)?;
        state.optimizer("opt_dxx", &mut self.opt_dxx)?;
        state.optimizer("opt_dzz", &mut self.opt_dzz)?;
        if let Some(shared) = &self.shared_adam {
            let mut applied = shared.applied();
            state.value("adam_updates", &mut applied)?;
            shared.set_applied(applied);
        }
        self.ema_e.visit("ema_e", state, &self.device)?;
        self.ema_g.visit("ema_g", state, &self.device)?;
        self.ema_dxx.visit("ema_dxx", state, &self.device)?;
        state.rng("noise", &mut self.noise)?;
        state.rng("dropout", &mut self.dropout.rng)?;
        state.value("early_stop.best", &mut self.early.best)?;
        state.value("early_stop.stale", &mut self.early.stale)
    }
}

/// Where the five optimisers come from: one shared step count, or burn's
/// Adam per network.
struct Optimizers {
    shared: Option<SharedAdam>,
    per_network: burn::optim::AdamConfig,
}

impl Optimizers {
    fn new(params: &AladParams) -> Optimizers {
        let shared = (params.adam_steps == AdamSteps::Shared)
            .then(|| SharedAdam::new(params.beta1, params.beta2, 1e-8));
        Optimizers {
            shared,
            per_network: adam(params.beta1, params.beta2, 1e-8),
        }
    }

    /// One network's optimiser.
    fn one(&self) -> ModuleOptimizer {
        match &self.shared {
            Some(shared) => shared.optimizer(),
            None => self.per_network.init(),
        }
    }
}

/// Early stopping's memory: the best validation score and how many epochs
/// ago it was reached.
#[derive(Default)]
struct EarlyStop {
    best: Option<f64>,
    stale: usize,
}

impl EarlyStop {
    /// Takes the validation score of an epoch.
    fn add(&mut self, v: f64) {
        if self.best.is_none_or(|b| v < b) {
            self.best = Some(v);
            self.stale = 0;
        } else {
            self.stale += 1;
        }
    }
}
