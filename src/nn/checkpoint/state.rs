//! The checkpoint folder's format: `state.json` (values, the build that wrote
//! it, the blake3 digest of every other file) beside burn records of the
//! modules and optimisers, and the [`State`] visitor through which a
//! training saves and loads its parts by name.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::ModuleOptimizer;
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CheckpointPlan, Resumable};
use crate::nn::NnError;
use crate::store::{checkpoint_epoch, checkpoint_name};

/// The checkpoint format of `state.json`.
const FORMAT: u32 = 1;
const STATE: &str = "state.json";

/// One pass over a training's parts, either writing them into a checkpoint
/// or reading them back: a part is named once, in one `visit` method.
pub enum State<'a> {
    Save(&'a mut StateWriter),
    Load(&'a StateReader),
}

impl State<'_> {
    /// The weights, running statistics and parameter ids of a module.
    pub fn module<M: Module>(&mut self, name: &str, module: &mut M) -> Result<(), NnError> {
        match self {
            State::Save(w) => w.module(name, module),
            State::Load(r) => {
                *module = r.module(name, module.clone())?;
                Ok(())
            }
        }
    }

    /// The state (moments, step counts) of an optimiser.
    pub fn optimizer(
        &mut self,
        name: &str,
        optimizer: &mut ModuleOptimizer,
    ) -> Result<(), NnError> {
        match self {
            State::Save(w) => w.optimizer(name, optimizer),
            State::Load(r) => {
                *optimizer = r.optimizer(name, optimizer.clone())?;
                Ok(())
            }
        }
    }

    /// The position of a random stream.
    pub fn rng(&mut self, name: &str, rng: &mut ChaCha8Rng) -> Result<(), NnError> {
        match self {
            State::Save(w) => {
                w.rng(name, rng);
                Ok(())
            }
            State::Load(r) => {
                *rng = r.rng(name)?;
                Ok(())
            }
        }
    }

    /// A plain value (counters, the best validation score so far).
    pub fn value<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        value: &mut T,
    ) -> Result<(), NnError> {
        match self {
            State::Save(w) => w.value(name, value),
            State::Load(r) => {
                *value = r.value(name)?;
                Ok(())
            }
        }
    }
}

fn io_error(path: &Path, what: &str, e: impl std::fmt::Display) -> NnError {
    NnError::Checkpoint(format!("{}: cannot {what} ({e})", path.display()))
}

/// The ids of a module's float parameters, in visiting order.
fn param_ids<M: Module>(module: &M) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    module.visit(&mut ids);
    ids.0
}

/// `module` with its float parameters' ids set to `ids` (visiting order).
fn with_param_ids<M: Module>(module: M, ids: &[u64]) -> Result<M, NnError> {
    struct SetIds<'a> {
        ids: &'a [u64],
        at: usize,
    }
    impl ModuleMapper for SetIds<'_> {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if let Some(&id) = self.ids.get(self.at) {
                param.id = ParamId::from(id);
            }
            self.at += 1;
            param
        }
    }
    let mut set = SetIds { ids, at: 0 };
    let module = module.map(&mut set);
    if set.at == ids.len() {
        Ok(module)
    } else {
        Err(NnError::Checkpoint(format!(
            "the checkpoint has {} parameters for a module of {}",
            ids.len(),
            set.at
        )))
    }
}

#[derive(Serialize, Deserialize)]
struct RngState {
    seed: String,
    stream: u64,
    /// u128 as decimal text (JSON numbers stop at 64 bits).
    word_pos: String,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    build: String,
    epoch: usize,
    values: BTreeMap<String, Value>,
    /// File name -> blake3 hex.
    files: BTreeMap<String, String>,
}

fn digest_file(path: &Path) -> Result<String, NnError> {
    let bytes = fs::read(path).map_err(|e| io_error(path, "read it", e))?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

fn sync_file(path: &Path) -> Result<(), NnError> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(path, "write it to disk", e))
}

/// The parts of a checkpoint being written.
pub struct StateWriter {
    dir: PathBuf,
    values: BTreeMap<String, Value>,
    files: BTreeMap<String, String>,
}

impl StateWriter {
    fn file_done(&mut self, file: String) -> Result<(), NnError> {
        let path = self.dir.join(&file);
        sync_file(&path)?;
        let digest = digest_file(&path)?;
        self.files.insert(file, digest);
        Ok(())
    }

    /// The weights, running statistics and parameter ids of `module`.
    pub fn module<M: Module>(&mut self, name: &str, module: &M) -> Result<(), NnError> {
        let file = format!("{name}.module.bpk");
        let path = self.dir.join(&file);
        // `valid()` first: burn's running statistics (BatchNorm) hold their
        // last update aside until synced, and a record of the live module
        // would miss it. Syncing changes nothing for the training itself
        // (one thread: the average of one update is that update).
        module
            .valid()
            .save_file(&path)
            .map_err(|e| io_error(&path, "write the weights", e))?;
        self.value(&format!("{name}.ids"), &param_ids(module))?;
        self.file_done(file)
    }

    /// The state (moments, step counts) of an optimiser.
    pub fn optimizer(&mut self, name: &str, optimizer: &ModuleOptimizer) -> Result<(), NnError> {
        let file = format!("{name}.optim.bpk");
        let path = self.dir.join(&file);
        optimizer
            .save(&path)
            .map_err(|e| io_error(&path, "write the optimiser state", e))?;
        self.file_done(file)
    }

    /// Flat f32 tensors by id (moving averages), as little-endian bits.
    pub fn floats(&mut self, name: &str, parts: &[(u64, Tensor<1>)]) -> Result<(), NnError> {
        let file = format!("{name}.f32");
        let path = self.dir.join(&file);
        let mut bytes = Vec::new();
        let mut index = Vec::new();
        for (id, t) in parts {
            let data = t.clone().into_data();
            let values = data
                .as_slice::<f32>()
                .map_err(|e| NnError::Checkpoint(format!("{name}: {e:?}")))?;
            index.push((*id, values.len()));
            for v in values.iter() {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        fs::write(&path, bytes).map_err(|e| io_error(&path, "write it", e))?;
        self.value(&format!("{name}.index"), &index)?;
        self.file_done(file)
    }

    /// The position of a random stream.
    pub fn rng(&mut self, name: &str, rng: &ChaCha8Rng) {
        let state = RngState {
            seed: hex::encode(rng.get_seed()),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        };
        self.values.insert(
            name.to_string(),
            serde_json::to_value(state).unwrap_or(Value::Null),
        );
    }

    /// A plain value (counters, the best validation score so far).
    pub fn value<T: Serialize>(&mut self, name: &str, value: &T) -> Result<(), NnError> {
        let v = serde_json::to_value(value)
            .map_err(|e| NnError::Checkpoint(format!("{name}: cannot describe it ({e})")))?;
        self.values.insert(name.to_string(), v);
        Ok(())
    }
}

/// A complete checkpoint being read back.
pub struct StateReader {
    dir: PathBuf,
    state: StateFile,
}

impl StateReader {
    /// Epochs completed when it was written.
    pub fn epoch(&self) -> usize {
        self.state.epoch
    }

    fn file(&self, file: &str) -> Result<PathBuf, NnError> {
        if self.state.files.contains_key(file) {
            Ok(self.dir.join(file))
        } else {
            Err(NnError::Checkpoint(format!(
                "{}: no file {file}",
                self.dir.display()
            )))
        }
    }

    /// `blank` (a module of the same shapes) with the saved weights and ids.
    pub fn module<M: Module>(&self, name: &str, blank: M) -> Result<M, NnError> {
        let path = self.file(&format!("{name}.module.bpk"))?;
        let loaded = blank
            .try_load_file(&path)
            .map_err(|e| io_error(&path, "load the weights", e))?;
        let ids: Vec<u64> = self.value(&format!("{name}.ids"))?;
        with_param_ids(loaded, &ids)
    }

    /// `blank` (a new optimiser of the same kind) with the saved state.
    pub fn optimizer(
        &self,
        name: &str,
        blank: ModuleOptimizer,
    ) -> Result<ModuleOptimizer, NnError> {
        let path = self.file(&format!("{name}.optim.bpk"))?;
        blank
            .load(&path)
            .map_err(|e| io_error(&path, "load the optimiser state", e))
    }

    /// The flat tensors written by [`StateWriter::floats`], on `device`.
    pub fn floats(
        &self,
        name: &str,
        device: &burn::tensor::Device,
    ) -> Result<Vec<(u64, Tensor<1>)>, NnError> {
        let path = self.file(&format!("{name}.f32"))?;
        let bytes = fs::read(&path).map_err(|e| io_error(&path, "read it", e))?;
        let index: Vec<(u64, usize)> = self.value(&format!("{name}.index"))?;
        let total: usize = index.iter().map(|(_, n)| n).sum();
        if total * 4 != bytes.len() {
            return Err(NnError::Checkpoint(format!(
                "{}: {} bytes for {total} values",
                path.display(),
                bytes.len()
            )));
        }
        let mut values = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        Ok(index
            .into_iter()
            .map(|(id, n)| {
                let v: Vec<f32> = values.by_ref().take(n).collect();
                let t = Tensor::from_data(burn::tensor::TensorData::new(v, [n]), device);
                (id, t)
            })
            .collect())
    }

    /// The random stream saved as `name`, at its saved position.
    pub fn rng(&self, name: &str) -> Result<ChaCha8Rng, NnError> {
        let s: RngState = self.value(name)?;
        let bad = || NnError::Checkpoint(format!("{name}: not a random stream state"));
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&s.seed, &mut seed).map_err(|_| bad())?;
        let word_pos: u128 = s.word_pos.parse().map_err(|_| bad())?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(s.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }

    /// The value saved as `name`.
    pub fn value<T: DeserializeOwned>(&self, name: &str) -> Result<T, NnError> {
        let v = self
            .state
            .values
            .get(name)
            .ok_or_else(|| NnError::Checkpoint(format!("the checkpoint has no `{name}`")))?;
        serde_json::from_value(v.clone())
            .map_err(|e| NnError::Checkpoint(format!("`{name}` in the checkpoint: {e}")))
    }
}

/// The complete checkpoints in `dir`, oldest first.
pub(super) fn complete_checkpoints(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let epoch = checkpoint_epoch(&name)?;
            Some((epoch, e.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

pub(super) fn read_checkpoint(dir: &Path, build: &str) -> Result<StateReader, NnError> {
    let path = dir.join(STATE);
    let text = fs::read_to_string(&path).map_err(|e| io_error(&path, "read it", e))?;
    let state: StateFile = serde_json::from_str(&text)
        .map_err(|e| NnError::Checkpoint(format!("{}: {e}", path.display())))?;
    if state.format != FORMAT {
        return Err(NnError::Checkpoint(format!(
            "format {} (this runner writes {FORMAT})",
            state.format
        )));
    }
    if state.build != build {
        return Err(NnError::Checkpoint(format!(
            "written by runner {}, this is {build}",
            state.build
        )));
    }
    for (file, want) in &state.files {
        let got = digest_file(&dir.join(file))?;
        if &got != want {
            return Err(NnError::Checkpoint(format!(
                "{file} does not match its digest (corrupt)"
            )));
        }
    }
    Ok(StateReader {
        dir: dir.to_path_buf(),
        state,
    })
}

pub(super) fn write_checkpoint(
    plan: &CheckpointPlan,
    epoch: usize,
    parts: &mut [&mut dyn Resumable],
) -> Result<(), NnError> {
    let started = Instant::now();
    fs::create_dir_all(&plan.dir).map_err(|e| io_error(&plan.dir, "create it", e))?;
    let writing = plan
        .dir
        .join(format!(".writing-{}-{epoch}", std::process::id()));
    if writing.exists() {
        fs::remove_dir_all(&writing).map_err(|e| io_error(&writing, "remove it", e))?;
    }
    fs::create_dir(&writing).map_err(|e| io_error(&writing, "create it", e))?;
    let mut w = StateWriter {
        dir: writing.clone(),
        values: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    for p in parts.iter_mut() {
        p.visit(&mut State::Save(&mut w))?;
    }
    let state = StateFile {
        format: FORMAT,
        build: plan.build.clone(),
        epoch,
        values: w.values,
        files: w.files,
    };
    let text = serde_json::to_string_pretty(&state)
        .map_err(|e| NnError::Checkpoint(format!("cannot describe the checkpoint ({e})")))?;
    let state_path = writing.join(STATE);
    fs::write(&state_path, text).map_err(|e| io_error(&state_path, "write it", e))?;
    sync_file(&state_path)?;
    sync_file(&writing)?;
    let done = plan.dir.join(checkpoint_name(epoch));
    if done.exists() {
        fs::remove_dir_all(&done).map_err(|e| io_error(&done, "remove it", e))?;
    }
    fs::rename(&writing, &done).map_err(|e| io_error(&done, "put it in place", e))?;
    sync_file(&plan.dir)?;
    for older in complete_checkpoints(&plan.dir) {
        if older != done {
            let _ = fs::remove_dir_all(&older);
        }
    }
    tracing::debug!(
        "checkpoint after epoch {epoch}: {} files in {:.0} ms ({})",
        state.files.len(),
        started.elapsed().as_secs_f64() * 1e3,
        done.display()
    );
    // Leftovers of writers killed mid-way.
    if let Ok(entries) = fs::read_dir(&plan.dir) {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".writing-") && e.path() != writing {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}
