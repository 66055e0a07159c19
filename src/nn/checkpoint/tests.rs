use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::*;

fn plan(dir: &Path, policy: CheckpointPolicy) -> CheckpointPlan {
    CheckpointPlan {
        dir: dir.to_path_buf(),
        policy,
        build: "b1".into(),
    }
}

/// A linear layer, its Adam, and a random stream: the parts of a trainer.
struct Toy {
    layer: Linear,
    opt: ModuleOptimizer,
    rng: ChaCha8Rng,
    device: Device,
}

impl Toy {
    fn new() -> Toy {
        let device = Device::flex().autodiff();
        Toy {
            layer: LinearConfig::new(3, 2).init(&device),
            opt: AdamConfig::new().init(),
            rng: crate::nn::init::stream(5, 1),
            device,
        }
    }

    /// One Adam step on a random batch from the stream.
    fn step(&mut self) {
        let x: Vec<f32> = (0..12).map(|_| self.rng.random::<f32>()).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [4, 3]), &self.device);
        let loss = self.layer.forward(x).square().mean();
        let mut grads = loss.backward();
        let g = GradientsParams::from_module(&mut grads, &self.layer);
        self.layer = self.opt.step(1e-2, self.layer.clone(), g);
    }

    fn weights(&self) -> Vec<u32> {
        let w = self.layer.weight.val().into_data();
        w.as_slice::<f32>()
            .expect("f32")
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }
}

impl Resumable for Toy {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        state.module("layer", &mut self.layer)?;
        state.optimizer("opt", &mut self.opt)?;
        state.rng("rng", &mut self.rng)
    }
}

/// Three steps, a checkpoint, three more: a new toy restored from the
/// checkpoint takes the same last three steps to the same bits. Without
/// the Adam moments or the parameter ids it would not (checked: a fresh
/// Adam gives other weights).
#[test]
fn restored_state_continues_bit_for_bit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(dir.path(), CheckpointPolicy::every_epoch());
    let mut a = Toy::new();
    for _ in 0..3 {
        a.step();
    }
    let mut ck = Checkpointer::new(Some(&p));
    ck.epoch_done(1, 2, &mut [&mut a]).expect("write");
    for _ in 0..3 {
        a.step();
    }

    let mut b = Toy::new();
    assert_ne!(a.weights(), b.weights());
    let resumed = Checkpointer::new(Some(&p))
        .resume(&mut [&mut b])
        .expect("resume");
    assert_eq!(resumed, Some(1));
    for _ in 0..3 {
        b.step();
    }
    assert_eq!(a.weights(), b.weights());

    // The same restore with a fresh optimiser state diverges.
    let mut c = Toy::new();
    Checkpointer::new(Some(&p))
        .resume(&mut [&mut c])
        .expect("resume");
    c.opt = AdamConfig::new().init();
    for _ in 0..3 {
        c.step();
    }
    assert_ne!(a.weights(), c.weights());
}

#[test]
fn random_streams_continue_where_they_were() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(dir.path(), CheckpointPolicy::every_epoch());
    let mut rng = crate::nn::init::stream(9, 3);
    let _: Vec<u64> = (0..7).map(|_| rng.random()).collect();
    let mut state = LoopState {
        epoch: 4,
        step: 17,
        shuffle: rng.clone(),
    };
    Checkpointer::new(Some(&p))
        .epoch_done(4, 10, &mut [&mut state])
        .expect("write");
    let next: Vec<u64> = (0..5).map(|_| state.shuffle.random()).collect();
    let mut back = LoopState::new(crate::nn::init::stream(0, 0));
    let got = Checkpointer::new(Some(&p))
        .resume(&mut [&mut back])
        .expect("resume");
    assert_eq!(got, Some(4));
    assert_eq!((back.epoch, back.step), (4, 17));
    let again: Vec<u64> = (0..5).map(|_| back.shuffle.random()).collect();
    assert_eq!(next, again);
}

#[test]
fn moving_average_shadows_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(dir.path(), CheckpointPolicy::every_epoch());
    let toy = Toy::new();
    let mut ema = crate::nn::ema::Ema::new(&toy.layer, 0.9);
    let mut moved = Toy::new();
    moved.step();
    ema.update(&toy.layer);
    struct Avg<'a>(&'a mut crate::nn::ema::Ema, Device);
    impl Resumable for Avg<'_> {
        fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
            self.0.visit("ema", state, &self.1)
        }
    }
    Checkpointer::new(Some(&p))
        .epoch_done(1, 2, &mut [&mut Avg(&mut ema, toy.device.clone())])
        .expect("write");
    let mut other = crate::nn::ema::Ema::new(&moved.layer, 0.9);
    Checkpointer::new(Some(&p))
        .resume(&mut [&mut Avg(&mut other, toy.device.clone())])
        .expect("load");
    let a = ema.averaged(toy.layer.valid());
    let b = other.averaged(toy.layer.valid());
    assert_eq!(
        a.weight.val().into_data().as_slice::<f32>().expect("f32"),
        b.weight.val().into_data().as_slice::<f32>().expect("f32")
    );
}

/// Counts how often it was saved.
struct Counter(AtomicUsize);

impl Resumable for Counter {
    fn visit(&mut self, state: &mut State) -> Result<(), NnError> {
        if matches!(state, State::Save(_)) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        state.value("n", &mut 1usize)
    }
}

#[test]
fn the_policy_decides_when_and_only_the_newest_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Counter(AtomicUsize::new(0));
    let every_two = CheckpointPolicy {
        every_epochs: 2,
        min_interval: Duration::ZERO,
    };
    let mut ck = Checkpointer::new(Some(&plan(dir.path(), every_two)));
    for epoch in 1..=6 {
        ck.epoch_done(epoch, 6, &mut [&mut c]).expect("write");
    }
    // epochs 2 and 4; never after the last one (6)
    assert_eq!(c.0.load(Ordering::Relaxed), 2);
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("e").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["epoch-000004".to_string()]);

    let slow = CheckpointPolicy {
        every_epochs: 1,
        min_interval: Duration::from_secs(3600),
    };
    let mut c2 = Counter(AtomicUsize::new(0));
    let mut ck = Checkpointer::new(Some(&plan(&dir.path().join("slow"), slow)));
    for epoch in 1..=5 {
        ck.epoch_done(epoch, 6, &mut [&mut c2]).expect("write");
    }
    assert_eq!(c2.0.load(Ordering::Relaxed), 0, "short epochs never pay");
    let mut off = Checkpointer::new(Some(&plan(
        &dir.path().join("off"),
        CheckpointPolicy::off(),
    )));
    off.epoch_done(1, 6, &mut [&mut c2]).expect("nothing");
    let mut none = Checkpointer::new(None);
    none.epoch_done(1, 6, &mut [&mut c2]).expect("nothing");
    assert_eq!(c2.0.load(Ordering::Relaxed), 0);
    assert!(!dir.path().join("off").exists());
}

#[test]
fn corrupt_or_foreign_checkpoints_are_ignored_and_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = plan(dir.path(), CheckpointPolicy::every_epoch());
    let mut toy = Toy::new();
    Checkpointer::new(Some(&p))
        .epoch_done(2, 5, &mut [&mut toy])
        .expect("write");
    let ckpt = dir.path().join("epoch-000002");
    // another build of the runner
    let other = CheckpointPlan {
        build: "b2".into(),
        ..p.clone()
    };
    let mut t = Toy::new();
    assert_eq!(
        Checkpointer::new(Some(&other))
            .resume(&mut [&mut t])
            .expect("resume"),
        None
    );
    assert!(!ckpt.exists(), "a foreign checkpoint is removed");

    // a flipped byte in the weights
    Checkpointer::new(Some(&p))
        .epoch_done(2, 5, &mut [&mut toy])
        .expect("write");
    let file = ckpt.join("layer.module.bpk");
    let mut bytes = fs::read(&file).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    fs::write(&file, bytes).expect("write");
    let before = t.weights();
    assert_eq!(
        Checkpointer::new(Some(&p))
            .resume(&mut [&mut t])
            .expect("resume"),
        None
    );
    assert_eq!(before, t.weights(), "nothing restored from a corrupt one");
    assert!(!ckpt.exists());

    // a half-written one (as a kill during the write leaves it) is not seen
    fs::create_dir_all(dir.path().join(".writing-1-3")).expect("mkdir");
    assert_eq!(
        Checkpointer::new(Some(&p))
            .resume(&mut [&mut t])
            .expect("resume"),
        None
    );
}
