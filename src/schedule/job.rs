//! A job: one method variant on one class with one seed, with its keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::DatasetId;
use crate::spec::{DatasetSpec, Limits, MethodConfig, Protocol};
use crate::store::{Key, STORE_VERSION};

/// Everything needed to run one job anywhere that sees the store and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub experiment: String,
    /// `ganomaly` or `ganomaly (w_con=10)`.
    pub label: String,
    /// Index of the method entry in the spec.
    pub entry: usize,
    pub method: MethodConfig,
    pub sweep: BTreeMap<String, String>,
    /// How to find the data (never hashed).
    pub dataset: DatasetSpec,
    /// What the data is (hashed).
    pub dataset_id: DatasetId,
    pub protocol: Protocol,
    pub class: usize,
    pub class_name: String,
    pub seed: u64,
    pub limits: Limits,
    /// Key of the trained model.
    pub model_key: Key,
    /// Key of the result (scores and metrics): the job's key.
    pub key: Key,
}

/// The inputs of the model key (see `store::key` for the table).
pub fn model_inputs(
    method: &MethodConfig,
    dataset: &DatasetId,
    protocol: Protocol,
    class: usize,
    seed: u64,
    limits: Limits,
) -> Value {
    model_inputs_with(
        method,
        &method.model_params(),
        dataset,
        protocol,
        class,
        seed,
        limits,
    )
}

/// `model_inputs` with the model parameters already turned into JSON.
fn model_inputs_with(
    method: &MethodConfig,
    model_params: &Value,
    dataset: &DatasetId,
    protocol: Protocol,
    class: usize,
    seed: u64,
    limits: Limits,
) -> Value {
    json!({
        "store_version": STORE_VERSION,
        "method": method.name(),
        "impl_version": method.impl_version(),
        "params": model_params,
        "dataset": {"name": dataset.name, "digest": dataset.digest},
        "protocol": protocol.as_str(),
        "class": class,
        "seed": seed,
        "limits": {"train": limits.train, "test": limits.test},
    })
}

/// The inputs of the result key.
pub fn result_inputs(model_key: &Key, method: &MethodConfig) -> Value {
    result_inputs_with(model_key, &method.score_params())
}

fn result_inputs_with(model_key: &Key, score_params: &Value) -> Value {
    json!({
        "store_version": STORE_VERSION,
        "model": model_key.hex(),
        "score_params": score_params,
    })
}

/// A method's parameters as hashed, computed once for all jobs of a variant.
pub struct KeyParams {
    model: Value,
    score: Value,
}

impl KeyParams {
    pub fn of(method: &MethodConfig) -> KeyParams {
        KeyParams {
            model: method.model_params(),
            score: method.score_params(),
        }
    }
}

impl Job {
    /// Builds a job and computes its keys from `params`, the method's hashed
    /// parameters (computed once per variant when planning many jobs).
    #[allow(clippy::too_many_arguments)]
    pub fn with_params(
        experiment: &str,
        label: String,
        entry: usize,
        method: MethodConfig,
        params: &KeyParams,
        sweep: BTreeMap<String, String>,
        dataset: DatasetSpec,
        dataset_id: DatasetId,
        protocol: Protocol,
        class: usize,
        class_name: String,
        seed: u64,
        limits: Limits,
    ) -> Job {
        let model_key = Key::of(
            "model",
            &model_inputs_with(
                &method,
                &params.model,
                &dataset_id,
                protocol,
                class,
                seed,
                limits,
            ),
        );
        let key = Key::of("result", &result_inputs_with(&model_key, &params.score));
        Job {
            experiment: experiment.to_string(),
            label,
            entry,
            method,
            sweep,
            dataset,
            dataset_id,
            protocol,
            class,
            class_name,
            seed,
            limits,
            model_key,
            key,
        }
    }

    /// `ganomaly class 3 (three) seed 1`.
    pub fn title(&self) -> String {
        format!(
            "{} | class {} ({}) | seed {}",
            self.label, self.class, self.class_name, self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::spec::ExperimentSpec;
    use crate::spec::methods::{AnoGanParams, GanomalyParams, KdeParams};

    fn id(digest: &str) -> DatasetId {
        DatasetId {
            name: "mnist".into(),
            digest: digest.into(),
            approximate: false,
        }
    }

    fn job_with(f: impl FnOnce(&mut JobArgs)) -> Job {
        let mut a = JobArgs {
            method: MethodConfig::Ganomaly(GanomalyParams::default()),
            dataset: DatasetSpec::named("mnist"),
            id: id("abc"),
            protocol: Protocol::AnomalyClass,
            class: 3,
            seed: 1,
            limits: Limits::default(),
        };
        f(&mut a);
        let params = KeyParams::of(&a.method);
        Job::with_params(
            "e",
            "label".into(),
            0,
            a.method,
            &params,
            BTreeMap::new(),
            a.dataset,
            a.id,
            a.protocol,
            a.class,
            "three".into(),
            a.seed,
            a.limits,
        )
    }

    struct JobArgs {
        method: MethodConfig,
        dataset: DatasetSpec,
        id: DatasetId,
        protocol: Protocol,
        class: usize,
        seed: u64,
        limits: Limits,
    }

    #[test]
    fn keys_are_stable() {
        let base = job_with(|_| {});
        let kde = job_with(|a| a.method = MethodConfig::Kde(KdeParams::default()));
        insta::assert_snapshot!(
            "keys",
            format!(
                "ganomaly model {}\nganomaly result {}\nkde model {}\nkde result {}",
                base.model_key, base.key, kde.model_key, kde.key
            )
        );
    }

    #[test]
    fn every_input_changes_the_key() {
        let base = job_with(|_| {});
        let changed: Vec<(&str, Job)> = vec![
            (
                "method",
                job_with(|a| a.method = MethodConfig::Kde(KdeParams::default())),
            ),
            (
                "model parameter",
                job_with(|a| {
                    a.method = MethodConfig::Ganomaly(GanomalyParams {
                        w_con: 10.0,
                        ..Default::default()
                    })
                }),
            ),
            ("dataset digest", job_with(|a| a.id = id("abd"))),
            (
                "dataset name",
                job_with(|a| {
                    a.id = DatasetId {
                        name: "fashion-mnist".into(),
                        ..id("abc")
                    }
                }),
            ),
            ("protocol", job_with(|a| a.protocol = Protocol::OneClass)),
            ("class", job_with(|a| a.class = 4)),
            ("seed", job_with(|a| a.seed = 2)),
            ("train limit", job_with(|a| a.limits.train = Some(100))),
            ("test limit", job_with(|a| a.limits.test = Some(100))),
        ];
        for (what, j) in changed {
            assert_ne!(
                j.model_key, base.model_key,
                "{what} did not change the model key"
            );
            assert_ne!(j.key, base.key, "{what} did not change the result key");
        }
    }

    #[test]
    fn a_scoring_parameter_changes_the_result_key_only() {
        let base = job_with(|_| {});
        let j = job_with(|a| {
            a.method = MethodConfig::Ganomaly(GanomalyParams {
                score_batch_size: 7,
                ..Default::default()
            })
        });
        assert_eq!(j.model_key, base.model_key);
        assert_ne!(j.key, base.key);
    }

    /// AnoGAN's latent search (Gamma's steps and rate, lambda) only
    /// re-scores a stored model; its epochs retrain it.
    #[test]
    fn anogan_search_parameters_change_the_result_key_only() {
        let anogan = |p: AnoGanParams| job_with(|a| a.method = MethodConfig::AnoGan(p));
        let base = anogan(AnoGanParams::default());
        for p in [
            AnoGanParams {
                latent_steps: 100,
                ..Default::default()
            },
            AnoGanParams {
                latent_lr: 0.05,
                ..Default::default()
            },
            AnoGanParams {
                lambda: 0.5,
                ..Default::default()
            },
        ] {
            let j = anogan(p);
            assert_eq!(j.model_key, base.model_key, "the model key changed");
            assert_ne!(j.key, base.key, "the result key did not change");
        }
        let j = anogan(AnoGanParams {
            epochs: 3,
            ..Default::default()
        });
        assert_ne!(j.model_key, base.model_key);
        assert_ne!(j.key, base.key);
    }

    #[test]
    fn paths_do_not_change_the_key() {
        let base = job_with(|_| {});
        let j = job_with(|a| {
            a.dataset.path = Some(PathBuf::from("/somewhere/else/mnist"));
        });
        assert_eq!((j.model_key, j.key), (base.model_key, base.key));
    }

    #[test]
    fn key_order_number_spelling_and_explicit_defaults_do_not_change_the_key() {
        let parse = |methods: &str| {
            let text = format!("name: x\ndataset: mnist\nmethods:\n{methods}");
            let s = ExperimentSpec::parse(&text, Path::new("x.yaml"), Path::new("."), &[]).unwrap();
            s.methods[0].variants[0].config.clone()
        };
        let a = parse("  - ganomaly: {w_con: 10, lr: 0.0001}\n");
        let b = parse("  - ganomaly: {lr: 1e-4, w_con: 10.0, epochs: 15, w_adv: 1}\n");
        assert_eq!(a, b);
        let ja = job_with(|x| x.method = a);
        let jb = job_with(|x| x.method = b);
        assert_eq!(ja.key, jb.key);
    }

    #[test]
    fn model_inputs_name_every_hashed_input() {
        let v = model_inputs(
            &MethodConfig::Kde(KdeParams::default()),
            &id("abc"),
            Protocol::AnomalyClass,
            0,
            0,
            Limits::default(),
        );
        for k in [
            "store_version",
            "method",
            "impl_version",
            "params",
            "dataset",
            "protocol",
            "class",
            "seed",
            "limits",
        ] {
            assert!(v.get(k).is_some(), "{k} is not hashed");
        }
    }
}
