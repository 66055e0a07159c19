//! External methods: any program that reads images and writes scores, run
//! through the job-file protocol of `docs/external-methods.md` (protocol 1).
//!
//! Fit: the normal training images go into `images.npy` in a scratch
//! folder, the job file beside them; the program runs as
//! `COMMAND... fit JOB_FILE` and writes its model into the job's `model_dir`.
//! The model becomes the store object's `model/` folder (with the fit's
//! stdout and stderr beside it) only once the program exited 0; `save`
//! copies it, so nothing partial is ever stored. Score: the test images the
//! same way, `COMMAND... score JOB_FILE`, and the scores CSV read back with
//! every check ([`files::read_scores`]).
//!
//! Each call's stdout and stderr are kept in the job's log folder
//! ([`JobInfo::logs`]; the store's `logs/` when run by the scheduler), each
//! within the method's `output_limit` (head and tail), with a bad scores
//! file copied there, and error messages name it. A stored model's
//! `fit.stdout` and `fit.stderr` are the same files (hard links): stored
//! once.
//!
//! A method with an `environment` runs its program with the environment's
//! `bin/` first on PATH (and `VIRTUAL_ENV` set), built into the store first
//! when missing ([`environment`]).
//!
//! Files: [`files`] (npy, resizing, the scores CSV), [`process`] (running
//! one call: process group, time limit, stop, logs, progress lines),
//! [`output`] (a stream kept within its limit), [`environment`] (building
//! environments), `error` ([`ExternalError`], what can go wrong around a
//! program).

pub mod environment;
mod error;
pub mod files;
pub mod output;
pub mod process;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Detector, DetectorError, Fitted, MethodDetector, NamedScores, Phase, RunContext};
use crate::data::ImageSet;
use crate::spec::methods::ExternalParams;
use crate::spec::methods::external::PROTOCOL;

pub use error::ExternalError;

/// The model folder's name inside a store object.
pub const MODEL_DIR: &str = "model";

/// What a job tells the program besides the images: where it is in the
/// experiment, and where its logs and scratch files go.
#[derive(Clone, Debug, Default)]
pub struct JobInfo {
    pub dataset: String,
    /// `anomaly-class` or `one-class`.
    pub protocol: String,
    pub class: usize,
    pub class_name: String,
    /// Every class name, in label order.
    pub classes: Vec<String>,
    /// Where each call's stdout and stderr are kept (`None`: in the scratch
    /// folder, removed after the call).
    pub logs: Option<PathBuf>,
    /// Where scratch folders are made (`None`: the system's temporary folder).
    pub scratch: Option<PathBuf>,
    /// The threads a program gets when its method sets no `threads`: the
    /// scheduler gives each of the jobs running at once its share of the
    /// cores (`None`: all of this machine's cores).
    pub threads: Option<usize>,
    /// Where environments are built and kept (`None`: a method that
    /// declares one fails).
    pub store: Option<crate::store::Store>,
}

/// An external method with its parameters and its job.
pub struct External {
    params: ExternalParams,
    job: JobInfo,
}

impl External {
    pub fn new(params: ExternalParams, job: JobInfo) -> External {
        External { params, job }
    }
}

impl MethodDetector for ExternalParams {
    fn detector(&self) -> Box<dyn Detector> {
        Box::new(External::new(self.clone(), JobInfo::default()))
    }
}

/// A scratch folder for one call (removed when dropped).
fn scratch(job: &JobInfo, phase: &str) -> Result<tempfile::TempDir, DetectorError> {
    let root = job.scratch.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&root)
        .map_err(|e| ExternalError::io(&root, "cannot make a scratch folder in", e))?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("external-{phase}-"))
        .tempdir_in(&root)
        .map_err(|e| ExternalError::io(&root, "cannot make a scratch folder in", e))?;
    Ok(dir)
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

impl External {
    /// The folder the program runs from.
    fn workdir(&self) -> PathBuf {
        self.params
            .workdir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The method's `threads`, else the job's share of the cores.
    fn threads(&self) -> usize {
        self.params
            .threads
            .or(self.job.threads)
            .unwrap_or_else(num_cpus::get)
            .max(1)
    }

    /// The log folder of this job (made, and emptied of `phase`'s old logs),
    /// or `fallback` when the job keeps none.
    fn logs(&self, phase: &str, fallback: &Path) -> Result<PathBuf, DetectorError> {
        let Some(dir) = &self.job.logs else {
            return Ok(fallback.to_path_buf());
        };
        let dir = absolute(dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ExternalError::io(&dir, "cannot make the log folder", e))?;
        for old in [
            format!("{phase}.stdout"),
            format!("{phase}.stderr"),
            format!("{phase}.json"),
            "scores.bad.csv".to_string(),
        ] {
            let _ = std::fs::remove_file(dir.join(old));
        }
        Ok(dir)
    }

    /// The job file of one call: protocol 1 (see `docs/external-methods.md`).
    fn job_file(
        &self,
        phase: &str,
        images: &ImageSet,
        paths: &[(&str, &Path)],
        ctx: &RunContext,
    ) -> Value {
        let p = &self.params;
        let device = if p.uses_device {
            ctx.device.to_string()
        } else {
            "cpu".to_string()
        };
        let mut v = json!({
            "protocol": PROTOCOL,
            "phase": phase,
            "method": p.name,
            "count": images.len(),
            "channels": images.channels,
            "height": images.height,
            "width": images.width,
            "params": p.params,
            "seed": ctx.seed,
            "device": device,
            "threads": self.threads(),
            "task": {
                "dataset": self.job.dataset,
                "protocol": self.job.protocol,
                "class": self.job.class,
                "class_name": self.job.class_name,
                "classes": self.job.classes,
            },
        });
        if phase == "score" {
            v["score_params"] = Value::Object(p.score_params.clone());
        }
        for (k, path) in paths {
            v[*k] = Value::String(absolute(path).display().to_string());
        }
        v
    }

    /// The method's environment, built first when missing (`None`: it
    /// declares none).
    pub fn environment(&self, ctx: &RunContext) -> Result<Option<environment::Ready>, DetectorError> {
        let p = &self.params;
        if p.environment.is_none() {
            return Ok(None);
        }
        let Some(store) = &self.job.store else {
            return Err(ExternalError::NoStore {
                method: p.name.clone(),
            }
            .into());
        };
        let requirements = p.requirements_file();
        let ready = store.environment(p.environment_key.as_deref().unwrap_or_default());
        if ready.is_none() {
            ctx.progress.phase(Phase::Preparing {
                what: format!("building the environment {requirements}"),
            });
        }
        environment::ensure(store, p, ctx.cancel, &|holder| {
            ctx.progress.phase(Phase::Preparing {
                what: format!("waiting for {holder} to build the environment {requirements}"),
            })
        })
    }

    /// Runs one phase in `work`: writes the images and the job file, runs
    /// the program; returns the log folder and the environment it ran in.
    fn call(
        &self,
        phase: &'static str,
        images: &ImageSet,
        work: &Path,
        paths: &[(&str, &Path)],
        ctx: &RunContext,
    ) -> Result<(PathBuf, Option<environment::Ready>), DetectorError> {
        ctx.check_cancel()?;
        let p = &self.params;
        p.check_inputs_unchanged()
            .map_err(ExternalError::InputsChanged)?;
        let env_ready = self.environment(ctx)?;
        // resized into a copy only when asked to: the images can be a whole training set
        let resized = p.image_size.map(|side| files::resize(images, side));
        let images = resized.as_ref().unwrap_or(images);
        let npy = work.join("images.npy");
        files::write_npy(&npy, images)?;
        let mut all = vec![("images", npy.as_path()), ("work_dir", work)];
        all.extend_from_slice(paths);
        let job = self.job_file(phase, images, &all, ctx);
        let job_path = absolute(&work.join("job.json"));
        let text = serde_json::to_string_pretty(&job).unwrap_or_default();
        std::fs::write(&job_path, &text)
            .map_err(|e| ExternalError::io(&job_path, "cannot write the job file", e))?;
        let logs = self.logs(phase, work)?;
        let _ = std::fs::write(logs.join(format!("{phase}.json")), &text);
        let (limit, field) = match phase {
            "fit" => (&p.fit_timeout, "fit_timeout"),
            _ => (&p.score_timeout, "score_timeout"),
        };
        let seconds = limit
            .seconds()
            .map_err(|reason| ExternalError::Setting { field, reason })?;
        let threads = self.threads().to_string();
        let mut env = vec![
            ("RUNNER_JOB".to_string(), job_path.display().to_string()),
            ("RUNNER_PHASE".to_string(), phase.to_string()),
            ("RUNNER_PROTOCOL".to_string(), PROTOCOL.to_string()),
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
        ];
        // the job file's paths again, for programs that would rather not parse JSON
        for (k, path) in &all {
            env.push((
                format!("RUNNER_{}", k.to_ascii_uppercase()),
                absolute(path).display().to_string(),
            ));
        }
        for var in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"] {
            env.push((var.to_string(), threads.clone()));
        }
        let mut command = p.command.clone();
        if let Some(ready) = &env_ready {
            // the environment's programs first: `python3` is its interpreter
            let bin = ready.bin();
            let path = std::env::var_os("PATH").unwrap_or_default();
            let joined = std::env::join_paths(
                std::iter::once(bin.clone()).chain(std::env::split_paths(&path)),
            )
            .unwrap_or_else(|_| bin.clone().into_os_string());
            env.push(("PATH".into(), joined.to_string_lossy().into_owned()));
            env.push(("VIRTUAL_ENV".into(), ready.venv.display().to_string()));
            if !command[0].contains('/') && bin.join(&command[0]).is_file() {
                command[0] = bin.join(&command[0]).display().to_string();
            }
        }
        // the spec's own variables win
        env.extend(p.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let workdir = self.workdir();
        let output_limit = p
            .output_limit
            .bytes()
            .map_err(|reason| ExternalError::Setting {
                field: "output_limit",
                reason,
            })?;
        process::Call {
            phase,
            command: &command,
            workdir: &workdir,
            env,
            job_file: &job_path,
            timeout: Duration::from_secs_f64(seconds),
            timeout_field: field,
            logs: &logs,
            output_limit,
        }
        .run(ctx)?;
        Ok((logs, env_ready))
    }
}

impl Detector for External {
    fn fit(&self, normal: &ImageSet, ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        let work = scratch(&self.job, "fit")?;
        let model = work.path().join(MODEL_DIR);
        std::fs::create_dir_all(&model)
            .map_err(|e| ExternalError::io(&model, "cannot make the model folder", e))?;
        let (logs, env) = self.call("fit", normal, work.path(), &[("model_dir", &model)], ctx)?;
        let empty = std::fs::read_dir(&model)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if empty {
            return Err(ExternalError::NoModel {
                dir: absolute(&model),
                logs,
            }
            .into());
        }
        Ok(Box::new(ExternalModel {
            runner: External::new(self.params.clone(), self.job.clone()),
            model,
            fit_logs: Some(logs),
            environment: Mutex::new(env.map(|e| e.record)),
            _work: Some(work),
        }))
    }

    fn load(&self, dir: &Path, _ctx: &RunContext) -> Result<Box<dyn Fitted>, DetectorError> {
        let model = dir.join(MODEL_DIR);
        if !model.is_dir() {
            return Err(DetectorError::Model {
                path: model.display().to_string(),
                reason: "the stored model has no model folder: run `runner cache verify`".into(),
            });
        }
        Ok(Box::new(ExternalModel {
            runner: External::new(self.params.clone(), self.job.clone()),
            model,
            fit_logs: None,
            environment: Mutex::new(None),
            _work: None,
        }))
    }

    fn uses_device(&self) -> bool {
        self.params.uses_device
    }
}

/// A model an external program wrote: its folder (in a scratch folder after
/// fitting, in the store once loaded).
pub struct ExternalModel {
    runner: External,
    model: PathBuf,
    /// Where the fit's logs are (after fitting; stored with the model).
    fit_logs: Option<PathBuf>,
    /// The environment of its last call (fit, or score of a loaded model).
    environment: Mutex<Option<crate::store::EnvironmentRecord>>,
    _work: Option<tempfile::TempDir>,
}

/// Copies the folder `from` into `to` (made), file by file.
fn copy_tree(from: &Path, to: &Path) -> Result<(), DetectorError> {
    std::fs::create_dir_all(to).map_err(|e| ExternalError::io(to, "cannot make", e))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| ExternalError::io(from, "cannot read the model", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ExternalError::io(from, "cannot read the model", e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)
                .map_err(|e| ExternalError::io(&src, "cannot store the model file", e))?;
        }
    }
    Ok(())
}

impl Fitted for ExternalModel {
    fn score(&self, images: &ImageSet, ctx: &RunContext) -> Result<Vec<f32>, DetectorError> {
        let mut columns = self.score_variants(images, ctx)?;
        if columns.is_empty() {
            return Err(ExternalError::NoScores.into());
        }
        Ok(columns.swap_remove(0).1)
    }

    fn score_variants(
        &self,
        images: &ImageSet,
        ctx: &RunContext,
    ) -> Result<NamedScores, DetectorError> {
        let work = scratch(&self.runner.job, "score")?;
        let scores = work.path().join("scores.csv");
        let (logs, env) = self.runner.call(
            "score",
            images,
            work.path(),
            &[("model_dir", &self.model), ("scores", &scores)],
            ctx,
        )?;
        if let Ok(mut e) = self.environment.lock() {
            *e = env.map(|r| r.record);
        }
        let columns = files::read_scores(&scores, images.len()).map_err(|reason| {
            // keep the bad file where the user can read it
            let kept = logs.join("scores.bad.csv");
            let kept = match std::fs::copy(&scores, &kept) {
                Ok(_) => kept,
                Err(_) => scores.clone(),
            };
            ExternalError::Scores {
                kept: absolute(&kept),
                reason,
                logs: logs.clone(),
            }
        })?;
        if let Some(wanted) = &self.runner.params.score
            && !columns.iter().any(|(n, _)| n == wanted)
        {
            return Err(ExternalError::NoColumn {
                wanted: wanted.clone(),
                columns: columns
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into());
        }
        Ok(columns)
    }

    fn save(&self, dir: &Path) -> Result<(), DetectorError> {
        copy_tree(&self.model, &dir.join(MODEL_DIR))?;
        if let Some(logs) = &self.fit_logs {
            for f in ["fit.stdout", "fit.stderr"] {
                // one file in the log folder and in the model: a hard link
                // (both are in the store), a copy across filesystems
                let (from, to) = (logs.join(f), dir.join(f));
                if std::fs::hard_link(&from, &to).is_err() {
                    let _ = std::fs::copy(&from, &to);
                }
            }
        }
        Ok(())
    }

    fn environment(&self) -> Option<crate::store::EnvironmentRecord> {
        self.environment.lock().ok().and_then(|e| e.clone())
    }
}

#[cfg(test)]
mod tests;
