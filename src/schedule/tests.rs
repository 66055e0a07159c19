//! Scheduler tests with a mock job runner: grid order, skip on hit, continue
//! after failure (or stop with fail_fast), exit codes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::data::DatasetId;
use crate::detector::Progress;
use crate::spec::ExperimentSpec;
use crate::store::result::write_result_files;
use crate::store::{ObjectKind, Scores, Store};

const SPEC: &str = "\
name: t
dataset: digits
classes: [0, 2]
seeds: [0, 1]
methods:
  - kde: {}
  - kde: {bandwidth_count: {sweep: [3, 5]}}
";

fn plan() -> Plan {
    let spec = ExperimentSpec::parse(SPEC, Path::new("t.yaml"), Path::new("."), &[]).unwrap();
    let id = DatasetId {
        name: "digits".into(),
        digest: "d1".into(),
        approximate: false,
    };
    let names = (0..10).map(|i| i.to_string()).collect();
    Plan::with_dataset(&spec, id, names).unwrap()
}

fn result(auroc: f64) -> JobResult {
    JobResult {
        auroc,
        auprc: 0.5,
        n_train: 1,
        n_test: 2,
        train_seconds: 0.0,
        score_seconds: 0.0,
        device: "cpu".into(),
        trained: true,
        variants: Default::default(),
    }
}

/// Records the jobs it is asked to run; fails the ones whose title matches `fail`.
struct Mock {
    ran: Mutex<Vec<String>>,
    fail: Option<&'static str>,
}

impl JobRunner for Mock {
    fn run(&self, job: &Job, _: &dyn Progress, _: &AtomicBool) -> JobOutcome {
        self.ran.lock().unwrap().push(job.title());
        match self.fail {
            Some(f) if job.title().contains(f) => JobOutcome::Failed("boom".into()),
            _ => JobOutcome::Done(result(0.9)),
        }
    }
}

/// Panics on the jobs whose title contains `panic_on`; the rest succeed.
struct Panicky {
    panic_on: &'static str,
    done: Mutex<usize>,
}

impl JobRunner for Panicky {
    fn run(&self, job: &Job, _: &dyn Progress, _: &AtomicBool) -> JobOutcome {
        if job.title().contains(self.panic_on) {
            panic!("wgpu device lost");
        }
        *self.done.lock().unwrap() += 1;
        JobOutcome::Done(result(0.9))
    }
}

fn control(fail_fast: bool) -> Control {
    Control {
        cancel: Arc::new(AtomicBool::new(false)),
        fail_fast,
        progress: progress::ProgressUi::hidden(),
    }
}

fn store_result(store: &Store, job: &Job) {
    let p = store.begin(ObjectKind::Result, &job.key).unwrap();
    write_result_files(p.dir(), &result(0.7), &Scores::default().into()).unwrap();
    p.commit(serde_json::json!({}), "cpu", String::new(), BTreeMap::new())
        .unwrap();
}

#[test]
fn grid_is_methods_then_sweeps_then_classes_then_seeds() {
    let titles: Vec<String> = plan().jobs.iter().map(|j| j.title()).collect();
    insta::assert_snapshot!(titles.join("\n"), @r"
    kde | class 0 (0) | seed 0
    kde | class 0 (0) | seed 1
    kde | class 2 (2) | seed 0
    kde | class 2 (2) | seed 1
    kde (bandwidth_count=3) | class 0 (0) | seed 0
    kde (bandwidth_count=3) | class 0 (0) | seed 1
    kde (bandwidth_count=3) | class 2 (2) | seed 0
    kde (bandwidth_count=3) | class 2 (2) | seed 1
    kde (bandwidth_count=5) | class 0 (0) | seed 0
    kde (bandwidth_count=5) | class 0 (0) | seed 1
    kde (bandwidth_count=5) | class 2 (2) | seed 0
    kde (bandwidth_count=5) | class 2 (2) | seed 1
    ");
}

#[test]
fn runs_only_what_the_store_lacks_in_grid_order() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let plan = plan();
    store_result(&store, &plan.jobs[0]);
    store_result(&store, &plan.jobs[5]);
    let ex = LocalExecutor {
        workers: 1,
        runner: Mock {
            ran: Mutex::new(vec![]),
            fail: None,
        },
    };
    let s = run(&plan, &store, &ex, &control(false)).unwrap();
    let ran = ex.runner.ran.lock().unwrap().clone();
    let want: Vec<String> = plan
        .jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 0 && *i != 5)
        .map(|(_, j)| j.title())
        .collect();
    assert_eq!(ran, want);
    assert_eq!((s.total, s.cached, s.succeeded), (12, 2, 10));
    assert_eq!(s.exit_code(), 0);
}

/// Jobs that share a result key (they differ only in the stored score
/// variant they report) are run once; the others count as sharing it.
#[test]
fn jobs_sharing_a_result_run_once() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let mut plan = plan();
    let mut twin = plan.jobs[1].clone();
    twin.label = "kde (score=other)".into();
    plan.jobs.insert(2, twin);
    store_result(&store, &plan.jobs[0]);
    let standing = plan.standing(&store);
    assert_eq!(
        (standing.pending.len(), standing.cached, standing.shared),
        (11, 1, 1)
    );
    let ex = LocalExecutor {
        workers: 1,
        runner: Mock {
            ran: Mutex::new(vec![]),
            fail: None,
        },
    };
    let s = run(&plan, &store, &ex, &control(false)).unwrap();
    let ran = ex.runner.ran.lock().unwrap().clone();
    assert_eq!(ran.len(), 11);
    assert!(!ran.iter().any(|t| t.contains("score=other")), "{ran:?}");
    assert_eq!(
        (s.total, s.cached, s.succeeded, s.shared, s.not_run),
        (13, 1, 11, 1, 0)
    );
    assert!(s.line().contains("1 shared a result"), "{}", s.line());
    assert_eq!(s.exit_code(), 0);
}

#[test]
fn a_finished_spec_runs_nothing() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let plan = plan();
    for j in &plan.jobs {
        store_result(&store, j);
    }
    let ex = LocalExecutor {
        workers: 2,
        runner: Mock {
            ran: Mutex::new(vec![]),
            fail: None,
        },
    };
    let s = run(&plan, &store, &ex, &control(false)).unwrap();
    assert!(ex.runner.ran.lock().unwrap().is_empty());
    assert_eq!((s.cached, s.succeeded, s.exit_code()), (12, 0, 0));
}

#[test]
fn continues_after_a_failure_and_exits_non_zero() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let ex = LocalExecutor {
        workers: 2,
        runner: Mock {
            ran: Mutex::new(vec![]),
            fail: Some("kde | class 2 (2) | seed 0"),
        },
    };
    let s = run(&plan(), &store, &ex, &control(false)).unwrap();
    assert_eq!(ex.runner.ran.lock().unwrap().len(), 12);
    assert_eq!(
        s.failed,
        vec![("kde | class 2 (2) | seed 0".to_string(), "boom".to_string())]
    );
    assert_eq!(s.succeeded, 11);
    assert_eq!(s.exit_code(), 1);
}

#[test]
fn a_panicking_job_fails_alone_with_its_message_and_the_others_go_on() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let ex = LocalExecutor {
        workers: 2,
        runner: Panicky {
            panic_on: "kde | class 2 (2) | seed 0",
            done: Mutex::new(0),
        },
    };
    let s = run(&plan(), &store, &ex, &control(false)).unwrap();
    assert_eq!(*ex.runner.done.lock().unwrap(), 11);
    assert_eq!(
        s.failed,
        vec![(
            "kde | class 2 (2) | seed 0".to_string(),
            "panicked: wgpu device lost".to_string()
        )]
    );
    assert_eq!(s.exit_code(), 1);
}

#[test]
fn fail_fast_stops_launching_after_the_first_failure() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let ex = LocalExecutor {
        workers: 1,
        runner: Mock {
            ran: Mutex::new(vec![]),
            fail: Some("kde | class 0 (0) | seed 1"),
        },
    };
    let s = run(&plan(), &store, &ex, &control(true)).unwrap();
    // one worker: job 0 succeeds, job 1 fails, nothing else starts
    let ran = ex.runner.ran.lock().unwrap().len();
    assert_eq!(ran, 2);
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.not_run, 12 - ran);
    assert_eq!(s.exit_code(), 1);
}

#[test]
fn cancel_starts_nothing_new() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let ex = LocalExecutor {
        workers: 2,
        runner: Mock {
            ran: Mutex::new(vec![]),
            fail: None,
        },
    };
    let c = control(false);
    c.cancel.store(true, Ordering::SeqCst);
    let s = run(&plan(), &store, &ex, &c).unwrap();
    assert!(ex.runner.ran.lock().unwrap().is_empty());
    assert!(s.cancelled);
    assert_eq!(s.exit_code(), 130);
}

#[test]
fn keys_are_stable_and_differ_across_jobs() {
    let p = plan();
    let mut keys: Vec<_> = p.jobs.iter().map(|j| j.key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), p.jobs.len());
    assert_eq!(plan().jobs[3].key, p.jobs[3].key);
}
