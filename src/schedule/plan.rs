//! Planning: a checked spec plus the dataset's identity and class names gives
//! the list of jobs with their keys. No training; the one side effect is a
//! download of a missing official dataset when the data options allow it
//! (`runner run` without `--offline`; `plan`, `status` and `report` never).

use crate::Result;
use crate::data::{self, DataOptions, DatasetId};
use crate::spec::ValidSpec;
use crate::spec::grid::{count_jobs, expand, resolve_classes};
use crate::store::{ObjectKind, ObjectState, Store};

use super::Job;
use super::job::KeyParams;
use crate::spec::MethodConfig;

/// The jobs of a spec.
#[derive(Clone, Debug)]
pub struct Plan {
    pub spec: ValidSpec,
    pub dataset: DatasetId,
    /// Every class name of the dataset, in label order.
    pub class_names: Vec<String>,
    /// The selected class indices, in spec order.
    pub classes: Vec<usize>,
    pub jobs: Vec<Job>,
}

/// Where a plan stands in the store (see [`Plan::standing`]).
#[derive(Debug)]
pub struct Standing<'a> {
    /// The jobs to run, one per result key, in plan order.
    pub pending: Vec<&'a Job>,
    /// Jobs whose result is in the store.
    pub cached: usize,
    /// Jobs that get the result of a pending job with the same key.
    pub shared: usize,
}

/// Where a job stands in the store.
#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    Done,
    Failed(String),
    Missing,
}

impl Plan {
    /// Plans `spec`, locating its dataset: a missing known dataset is
    /// downloaded (and verified) unless `data.offline`.
    pub fn new(spec: &ValidSpec, data: &DataOptions) -> Result<Plan> {
        let located = data::locate(&spec.dataset, data).map_err(|e| match e {
            data::DataError::UnknownDataset { .. } => {
                crate::Error::Spec(spec.error_at("dataset", e.to_string(), None))
            }
            e => e.into(),
        })?;
        Self::with_dataset(spec, located.id, located.classes)
    }

    /// Plans `spec` for a dataset of known identity and class names.
    pub fn with_dataset(
        spec: &ValidSpec,
        dataset: DatasetId,
        class_names: Vec<String>,
    ) -> Result<Plan> {
        let classes = resolve_classes(spec, &class_names)?;
        let mut jobs = Vec::with_capacity(count_jobs(spec, &classes)?);
        let mut params: Option<(MethodConfig, KeyParams)> = None;
        for j in expand(spec, &classes) {
            // jobs of one variant are consecutive: hash its parameters once
            if params.as_ref().is_none_or(|(c, _)| *c != j.config) {
                params = Some((j.config.clone(), KeyParams::of(&j.config)));
            }
            let (_, p) = params.as_ref().expect("set above");
            jobs.push(Job::with_params(
                &spec.name,
                j.label,
                j.entry,
                j.config,
                p,
                j.sweep,
                spec.dataset.clone(),
                dataset.clone(),
                spec.protocol,
                j.class,
                class_names[j.class].clone(),
                j.seed,
                spec.limits,
            ));
        }
        Ok(Plan {
            spec: spec.clone(),
            dataset,
            class_names,
            classes,
            jobs,
        })
    }

    /// Where the plan stands in the store, with one digest check per stored
    /// result. Pending are the jobs without an intact result (absent or
    /// corrupt), in plan order, one per result key: jobs that differ only in
    /// which stored score variant they report (ALAD's `score`) share one
    /// result, computed once.
    pub fn standing(&self, store: &Store) -> Standing<'_> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Standing {
            pending: Vec::new(),
            cached: 0,
            shared: 0,
        };
        for j in &self.jobs {
            if store.state(ObjectKind::Result, &j.key) == ObjectState::Intact {
                out.cached += 1;
            } else if seen.insert(j.key) {
                out.pending.push(j);
            } else {
                out.shared += 1;
            }
        }
        out
    }

    /// The state of each job in the store, in plan order.
    pub fn states(&self, store: &Store) -> Vec<JobState> {
        self.jobs
            .iter()
            .map(|j| {
                let result = store.state(ObjectKind::Result, &j.key);
                if result == ObjectState::Intact {
                    JobState::Done
                } else if let ObjectState::Corrupt(why) = result {
                    JobState::Failed(format!(
                        "its stored result is corrupt ({why}); `runner run` computes it again"
                    ))
                } else if let Some(f) = store.failure(&j.key) {
                    JobState::Failed(f.error)
                } else {
                    JobState::Missing
                }
            })
            .collect()
    }
}
