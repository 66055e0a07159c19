//! Running one job for real: locate and load the data (once per process),
//! split it, load the model from the store or train and store it, score the
//! test set, compute the metrics, store the result. Failures are recorded in
//! the store with their error, never as results; a panic inside a job (burn's
//! GPU backends panic on device errors) is that job's failure, and the other
//! jobs go on. Jobs on a GPU take one of its `--gpu-jobs` slots.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::Error;
use crate::data::{self, DataOptions, Dataset};
use crate::detector::external::{External, JobInfo};
use crate::detector::{
    self, CheckpointPlan, CheckpointPolicy, Detector, Fitted, NamedScores, Phase, Progress,
    RunContext,
};
use crate::device::DeviceChoice;
use crate::metrics;
use crate::spec::MethodConfig;
use crate::store::TrainingLog;
use crate::store::result::write_result_files;
use crate::store::{
    JobLock, JobResult, LEASE_EXPIRY, ObjectKind, ObjectState, ScoreTable, Store, StoreError,
    VariantMetrics, now_rfc3339,
};

use super::job::{model_inputs, result_inputs};
use super::slots::Slots;
use super::slurm::build_id;
use super::{Job, JobOutcome, ScheduleError};

/// What every job of a run shares: the store, where data is, the device, and
/// the datasets already decoded by this process.
pub struct JobEnv {
    pub store: Store,
    pub data: DataOptions,
    pub device: DeviceChoice,
    /// How often training saves its state (into the store's `checkpoints/`).
    pub checkpoints: CheckpointPolicy,
    datasets: Mutex<HashMap<String, Arc<Dataset>>>,
    /// Taken by jobs that use the GPU while they train and score (one by
    /// default: one GPU job at a time).
    gpu: Slots,
    /// How many jobs run at once in this process: an external program's
    /// default thread count is the cores divided among them.
    workers: usize,
}

impl JobEnv {
    pub fn new(store: Store, data: DataOptions, device: DeviceChoice) -> JobEnv {
        JobEnv {
            store,
            data,
            device,
            checkpoints: CheckpointPolicy::default(),
            datasets: Mutex::new(HashMap::new()),
            gpu: Slots::new(1),
            workers: 1,
        }
    }

    /// The same, saving training state as `policy` says.
    pub fn with_checkpoints(mut self, policy: CheckpointPolicy) -> JobEnv {
        self.checkpoints = policy;
        self
    }

    /// Says that `n` jobs run at once (`-j`, at most the pending jobs), so
    /// that external programs do not each take every core.
    pub fn with_workers(mut self, n: usize) -> JobEnv {
        self.workers = n.max(1);
        self
    }

    /// Lets `n` jobs use the GPU at once (`--gpu-jobs`; at least one).
    pub fn with_gpu_jobs(mut self, n: usize) -> JobEnv {
        self.gpu = Slots::new(n);
        self
    }

    fn dataset(&self, job: &Job) -> Result<Arc<Dataset>, Error> {
        // Hold the lock while loading: other workers wait instead of decoding it again.
        let mut cache = self.datasets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ds) = cache.get(&job.dataset_id.digest) {
            return Ok(ds.clone());
        }
        let located = data::locate(&job.dataset, &self.data)?;
        if located.id != job.dataset_id {
            return Err(ScheduleError::Other(format!(
                "dataset `{}` changed since the job was planned (digest {} now, {} planned); plan again",
                job.dataset_id.name, located.id.digest, job.dataset_id.digest
            ))
            .into());
        }
        let ds = Arc::new(data::load(&located)?);
        cache.insert(job.dataset_id.digest.clone(), ds.clone());
        Ok(ds)
    }

    /// Runs `job` and records its outcome in the store, holding the job's
    /// lock: when another runner on the same store holds it, waits, and
    /// takes that runner's result when it made one (each job runs once).
    pub fn run(&self, job: &Job, progress: &dyn Progress, cancel: &AtomicBool) -> JobOutcome {
        let _lock = match self.wait_for_lock(&job.key, progress, cancel) {
            Ok(lock) => lock,
            Err(Error::Detector(detector::DetectorError::Cancelled)) => {
                return JobOutcome::Cancelled;
            }
            Err(e) => return JobOutcome::Failed(e.to_string()),
        };
        if self.store.state(ObjectKind::Result, &job.key) == ObjectState::Intact {
            return match self.store.result(&job.key, job.method.shown_score()) {
                Ok(r) => JobOutcome::MadeElsewhere(r),
                Err(e) => JobOutcome::Failed(e.to_string()),
            };
        }
        self.run_holding_lock(job, progress, cancel)
    }

    /// Takes the lock of `key`, waiting while another live runner holds it
    /// (a dead holder's lock is taken over, see `Store::lock`).
    fn wait_for_lock(
        &self,
        key: &crate::store::Key,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<JobLock, Error> {
        let mut waiting = false;
        loop {
            match self.store.lock(key, LEASE_EXPIRY) {
                Ok(lock) => return Ok(lock),
                Err(StoreError::Locked { holder, .. }) => {
                    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(detector::DetectorError::Cancelled.into());
                    }
                    if !waiting {
                        progress.phase(Phase::Waiting {
                            holder: holder.trim().to_string(),
                        });
                        waiting = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// [`JobEnv::run`] for a caller that holds the job's lock already.
    pub fn run_holding_lock(
        &self,
        job: &Job,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> JobOutcome {
        let ran =
            crate::panics::catch(|| self.try_run(job, progress, cancel)).unwrap_or_else(|p| {
                Err(ScheduleError::Other(format!("panicked on device {}: {p}", self.device)).into())
            });
        match ran {
            Ok(r) => {
                self.store.clear_failure(&job.key);
                JobOutcome::Done(r)
            }
            Err(Error::Detector(detector::DetectorError::Cancelled)) => JobOutcome::Cancelled,
            Err(e) => {
                let mut msg = format!("{e}");
                if msg.contains("(os error 28)") {
                    // ENOSPC, whichever layer wrote the file
                    msg.push_str(
                        "; the disk is full: free space (`runner cache gc SPEC...` removes what no spec uses) or use another --store",
                    );
                }
                // an external program's output is where its job's failure says
                let logs = matches!(job.method, MethodConfig::External(_))
                    .then(|| self.store.logs_dir(&job.key))
                    .filter(|d| d.is_dir())
                    .map(|d| d.display().to_string());
                if let Err(se) = self
                    .store
                    .record_failure(&job.key, &job.title(), &msg, logs)
                {
                    tracing::warn!("could not record the failure of {}: {se}", job.title());
                }
                JobOutcome::Failed(msg)
            }
        }
    }

    /// Moves a corrupt model or result of `job` out of the way (with a
    /// warning), so that it is made again instead of being used.
    fn evict_if_corrupt(&self, kind: ObjectKind, job: &Job) -> Result<(), Error> {
        let key = match kind {
            ObjectKind::Model => &job.model_key,
            ObjectKind::Result => &job.key,
        };
        if let ObjectState::Corrupt(why) = self.store.state(kind, key) {
            let to = self.store.evict(kind, key)?;
            tracing::warn!(
                "{}: the stored {} was corrupt ({why}); moved to {} and made again",
                job.title(),
                kind.as_str(),
                to.display()
            );
        }
        Ok(())
    }

    /// Loads the data, fits the model or loads the stored one, scores the
    /// test images and stores the result.
    fn try_run(
        &self,
        job: &Job,
        progress: &dyn Progress,
        cancel: &AtomicBool,
    ) -> Result<JobResult, Error> {
        let started = now_rfc3339();
        let t0 = Instant::now();
        progress.phase(Phase::Loading);
        let ds = self.dataset(job)?;
        let split = data::split(&ds, job.protocol, job.class, job.seed, job.limits)?;
        let load_s = t0.elapsed().as_secs_f64();

        let det = detector_of(job, &ds.classes, &self.store, self.workers);
        let _gpu = if self.device.is_gpu() && det.uses_device() {
            Some(self.gpu.take())
        } else {
            None
        };
        // The device that makes this job's model and scores: the manifests and
        // the result record it (KDE runs on the CPU whatever `--device` says).
        let made_on = if det.uses_device() {
            self.device
        } else {
            DeviceChoice::Cpu
        };
        let logged = TrainingRecorder::new(progress, self.store.checkpoint_dir(&job.model_key));
        let ctx = RunContext {
            seed: job.seed,
            device: self.device,
            progress: &logged,
            cancel,
            checkpoint: Some(CheckpointPlan {
                dir: self.store.checkpoint_dir(&job.model_key),
                policy: self.checkpoints,
                build: build_id(),
            }),
        };
        self.evict_if_corrupt(ObjectKind::Model, job)?;
        self.evict_if_corrupt(ObjectKind::Result, job)?;
        let mut run = JobRun {
            job,
            made_on,
            started,
            seconds: BTreeMap::from([("load".to_string(), load_s)]),
        };
        // Jobs that differ only in scoring parameters share the model: one trains it.
        let model_lock = self.wait_for_lock(&job.model_key, progress, cancel)?;
        let (fitted, trained) = self.fit_or_load(&mut run, det.as_ref(), &split, &ctx, &logged)?;
        drop(model_lock);

        ctx.check_cancel()?;
        let t2 = Instant::now();
        progress.phase(Phase::Scoring {
            done: 0,
            total: split.test.len(),
        });
        let columns = fitted.score_variants(&split.test, &ctx)?;
        run.seconds
            .insert("score".to_string(), t2.elapsed().as_secs_f64());
        let stored = measure(&run, &split, &columns, trained)?;
        let shown = job.method.shown_score();
        let result = stored.shown(shown).ok_or_else(|| {
            ScheduleError::Other(format!(
                "{} computed no score `{}`",
                job.label,
                shown.unwrap_or_default()
            ))
        })?;
        let environment = fitted.environment();
        self.commit_result(
            run,
            &stored,
            split.test_is_anomaly.clone(),
            columns,
            environment,
        )?;
        Ok(result)
    }

    /// The stored model of `run`'s job, or a new one trained on `split` and
    /// stored (with its training log); `true` when it was trained here.
    fn fit_or_load(
        &self,
        run: &mut JobRun,
        det: &dyn Detector,
        split: &data::Split,
        ctx: &RunContext,
        logged: &TrainingRecorder,
    ) -> Result<(Box<dyn Fitted>, bool), Error> {
        let job = run.job;
        let t1 = Instant::now();
        if self.store.contains(ObjectKind::Model, &job.model_key) {
            let model_dir = self.store.object_dir(ObjectKind::Model, &job.model_key);
            run.seconds.insert("train".to_string(), 0.0);
            return Ok((det.load(&model_dir, ctx)?, false));
        }
        let fitted = det.fit(&split.train, ctx)?;
        let mut pending = self.store.begin(ObjectKind::Model, &job.model_key)?;
        fitted.save(pending.dir())?;
        pending.set_environment(fitted.environment());
        let log = logged.log();
        if !log.epochs.is_empty() {
            log.write(pending.dir())?;
        }
        let inputs = model_inputs(
            &job.method,
            &job.dataset_id,
            job.protocol,
            job.class,
            job.seed,
            job.limits,
        );
        let mut d = run.seconds.clone();
        d.insert("train".to_string(), t1.elapsed().as_secs_f64());
        pending.commit(inputs, &run.made_on.to_string(), run.started.clone(), d)?;
        if let Err(e) = self.store.remove_checkpoints(&job.model_key) {
            tracing::warn!("{}: {e}", job.title());
        }
        run.seconds
            .insert("train".to_string(), t1.elapsed().as_secs_f64());
        Ok((fitted, true))
    }

    /// Stores the result of `run`: its numbers and the per-image scores.
    fn commit_result(
        &self,
        run: JobRun,
        stored: &JobResult,
        labels: Vec<u8>,
        columns: NamedScores,
        environment: Option<crate::store::EnvironmentRecord>,
    ) -> Result<(), Error> {
        let job = run.job;
        let mut pending = self.store.begin(ObjectKind::Result, &job.key)?;
        pending.set_environment(environment);
        write_result_files(pending.dir(), stored, &ScoreTable { labels, columns })?;
        let mut inputs = result_inputs(&job.model_key, &job.method);
        inputs["job"] = serde_json::to_value(job).unwrap_or_default();
        pending.commit(inputs, &run.made_on.to_string(), run.started, run.seconds)?;
        Ok(())
    }
}

/// One job being run: where and when it started, and the seconds of its
/// steps (`load`, `train`, `score`), which the manifests record.
struct JobRun<'a> {
    job: &'a Job,
    made_on: DeviceChoice,
    started: String,
    seconds: BTreeMap<String, f64>,
}

/// Checks every score column of `run`'s job and computes its metrics.
fn measure(
    run: &JobRun,
    split: &data::Split,
    columns: &NamedScores,
    trained: bool,
) -> Result<JobResult, Error> {
    let job = run.job;
    let several = columns.len() > 1 || columns.iter().any(|(n, _)| n != detector::SCORE);
    let mut variants = BTreeMap::new();
    for (name, scores) in columns {
        let which = if several {
            format!("{} (score `{name}`)", job.label)
        } else {
            job.label.clone()
        };
        check_scores(&which, scores, split.test.len())?;
        variants.insert(
            name.clone(),
            VariantMetrics {
                auroc: metrics::auroc(&split.test_is_anomaly, scores)?,
                auprc: metrics::average_precision(&split.test_is_anomaly, scores)?,
            },
        );
    }
    let first = columns
        .first()
        .and_then(|(n, _)| variants.get(n).copied())
        .ok_or_else(|| ScheduleError::Other(format!("{} gave no scores", job.label)))?;
    let seconds = |step: &str| run.seconds.get(step).copied().unwrap_or(0.0);
    Ok(JobResult {
        auroc: first.auroc,
        auprc: first.auprc,
        n_train: split.train.len(),
        n_test: split.test.len(),
        train_seconds: seconds("train"),
        score_seconds: seconds("score"),
        device: run.made_on.to_string(),
        trained,
        variants: if several { variants } else { BTreeMap::new() },
    })
}

/// The detector of `job`; an external method also learns the job's task,
/// where its program's output is kept (the store's `logs/`), where its
/// scratch files go (the store's `tmp/`, on the store's filesystem) and the
/// threads its program gets unless its method says otherwise: this machine's
/// cores divided among the `workers` jobs running at once, at least one.
fn detector_of(
    job: &Job,
    classes: &[String],
    store: &Store,
    workers: usize,
) -> Box<dyn detector::Detector> {
    match &job.method {
        MethodConfig::External(p) => Box::new(External::new(
            p.clone(),
            JobInfo {
                dataset: job.dataset_id.name.clone(),
                protocol: job.protocol.as_str().to_string(),
                class: job.class,
                class_name: job.class_name.clone(),
                classes: classes.to_vec(),
                logs: Some(store.logs_dir(&job.key)),
                scratch: Some(store.root().join("tmp")),
                threads: Some((num_cpus::get() / workers).max(1)),
                store: Some(store.clone()),
            },
        )),
        other => detector::build(other),
    }
}

/// Passes phases on, keeping each finished epoch's numbers for the
/// model's training log. Once the training has written a checkpoint, the
/// log so far is kept beside it after every epoch, so that a run that
/// resumes from that checkpoint stores the whole log, not only its own
/// epochs.
struct TrainingRecorder<'a> {
    inner: &'a dyn Progress,
    /// The job's checkpoint folder.
    checkpoints: PathBuf,
    /// The log a killed run of the job kept beside its checkpoint.
    before: TrainingLog,
    log: Mutex<TrainingLog>,
}

impl<'a> TrainingRecorder<'a> {
    fn new(inner: &'a dyn Progress, checkpoints: PathBuf) -> TrainingRecorder<'a> {
        TrainingRecorder {
            before: TrainingLog::read(&checkpoints).unwrap_or_default(),
            inner,
            checkpoints,
            log: Mutex::new(TrainingLog::default()),
        }
    }

    /// The whole log: the epochs before a resume, then this run's.
    fn log(&self) -> TrainingLog {
        let own = self.log.lock().unwrap_or_else(|p| p.into_inner());
        self.before.resumed(&own)
    }
}

impl Progress for TrainingRecorder<'_> {
    fn phase(&self, phase: Phase) {
        if let Phase::Training { log: Some(e), .. } = &phase {
            self.log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .epochs
                .push(e.clone());
            if self.checkpoints.is_dir()
                && let Err(e) = self.log().write_partial(&self.checkpoints)
            {
                tracing::warn!("the training log beside the checkpoint: {e}");
            }
        }
        self.inner.phase(phase);
    }
}

/// Checks one column of scores: one finite score per test image.
fn check_scores(which: &str, scores: &[f32], n_test: usize) -> Result<(), Error> {
    if scores.len() != n_test {
        return Err(ScheduleError::Other(format!(
            "{which} gave {} scores for {n_test} test images",
            scores.len()
        ))
        .into());
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(ScheduleError::Other(format!(
            "{which} gave a non-finite score ({}) for test image {i}",
            scores[i]
        ))
        .into());
    }
    Ok(())
}
