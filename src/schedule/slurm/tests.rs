//! Slurm executor tests with stand-in `sbatch`/`squeue`/`scancel` (small shell
//! scripts written by the test): submission files, the watch loop's reading of
//! task states, cancel, and the task side (`exec_job`). The real cluster is
//! exercised by tests/slurm.rs.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::script::sh_quote;
use super::watch::Watch;
use super::*;
use crate::data::{DataOptions, DatasetId};
use crate::device::DeviceChoice;
use crate::schedule::progress::ProgressUi;
use crate::schedule::{Control, Executor, Job, JobOutcome, Plan};
use crate::spec::{ExperimentSpec, SlurmOptions};
use crate::store::result::write_result_files;
use crate::store::{JobResult, Key, ObjectKind, Scores, Store};

const SPEC: &str = "\
name: t
dataset: digits
classes: [0, 1, 2]
seeds: [0]
methods:
  - kde: {}
";

fn jobs() -> Vec<Job> {
    let spec = ExperimentSpec::parse(SPEC, Path::new("t.yaml"), Path::new("."), &[]).unwrap();
    let id = DatasetId {
        name: "digits".into(),
        digest: "d1".into(),
        approximate: false,
    };
    let names = (0..10).map(|i| i.to_string()).collect();
    Plan::with_dataset(&spec, id, names).unwrap().jobs
}

fn store_result(store: &Store, job: &Job, auroc: f64) {
    let r = JobResult {
        auroc,
        auprc: 0.5,
        n_train: 1,
        n_test: 2,
        train_seconds: 0.0,
        score_seconds: 0.0,
        device: "cpu".into(),
        trained: true,
        variants: Default::default(),
    };
    let p = store.begin(ObjectKind::Result, &job.key).unwrap();
    write_result_files(p.dir(), &r, &Scores::default().into()).unwrap();
    p.commit(serde_json::json!({}), "cpu", String::new(), BTreeMap::new())
        .unwrap();
}

/// A folder with stand-in Slurm programs. `sbatch` prints `4242` and keeps its
/// arguments; `squeue` prints the file `states` (lines `4242_i|STATE`);
/// `scancel` keeps its arguments and turns every active task CANCELLED.
struct FakeSlurm {
    dir: tempfile::TempDir,
}

impl FakeSlurm {
    fn new() -> FakeSlurm {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let script = |name: &str, body: String| {
            let p = dir.path().join(name);
            fs::write(&p, format!("#!/bin/bash\n{body}")).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        };
        script(
            "sbatch",
            format!("echo \"$@\" > {d}/sbatch.args\necho 4242\n"),
        );
        script("squeue", format!("touch {d}/states\ncat {d}/states\n"));
        script(
            "scancel",
            format!(
                "echo \"$@\" >> {d}/scancel.args\nsed -i -e 's/|PENDING$/|CANCELLED/' -e 's/|RUNNING$/|CANCELLED/' {d}/states\n"
            ),
        );
        FakeSlurm { dir }
    }

    fn tools(&self) -> SlurmTools {
        SlurmTools {
            sbatch: self.dir.path().join("sbatch").into(),
            squeue: self.dir.path().join("squeue").into(),
            scancel: self.dir.path().join("scancel").into(),
        }
    }

    fn set_states(&self, states: &[&str]) {
        let text: String = states
            .iter()
            .enumerate()
            .map(|(i, s)| format!("4242_{i}|{s}\n"))
            .collect();
        fs::write(self.dir.path().join("states"), text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

fn config() -> SlurmConfig {
    let mut c = SlurmConfig::new(
        SlurmOptions::default(),
        DeviceChoice::Cpu,
        DataOptions::default(),
    );
    c.binary = PathBuf::from("/opt/runner/bin/runner");
    c.build_id = "0.1.0+abc".into();
    c.workdir = PathBuf::from("/home/u/exp");
    c.poll_min = Duration::from_millis(1);
    c.poll_max = Duration::from_millis(5);
    c
}

fn executor(store: &Store, fake: &FakeSlurm) -> SlurmExecutor {
    let mut e = SlurmExecutor::new(store.clone(), config());
    e.tools = fake.tools();
    e
}

fn control() -> Control {
    Control {
        cancel: Arc::new(AtomicBool::new(false)),
        fail_fast: false,
        progress: ProgressUi::hidden(),
    }
}

#[test]
fn the_script_asks_for_what_the_options_say() {
    let mut c = config();
    c.options = SlurmOptions {
        partition: Some("gpu".into()),
        time: Some("2:00:00".into()),
        gpus_per_job: Some(1),
        cpus_per_job: Some(4),
        mem: Some("16G".into()),
        max_parallel: Some(3),
        sbatch_args: vec![],
    };
    c.device = DeviceChoice::Cuda(0);
    c.data.search = vec![PathBuf::from("/data sets")];
    let s = sbatch_script(
        &c,
        Path::new("/shared/cache"),
        Path::new("/shared/cache/slurm/x"),
        "my exp",
        7,
    );
    for want in [
        "#SBATCH --array=0-6%3\n",
        "#SBATCH --job-name=runner-my-exp\n",
        "#SBATCH --output=/shared/cache/slurm/x/logs/%A_%a.log\n",
        "#SBATCH --partition=gpu\n",
        "#SBATCH --time=2:00:00\n",
        "#SBATCH --gres=gpu:1\n",
        "#SBATCH --cpus-per-task=4\n",
        "#SBATCH --mem=16G\n",
        "cd /home/u/exp\n",
        "export RUNNER_DATA='/data sets'\n",
        "sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" /shared/cache/slurm/x/keys.txt",
        "exec /opt/runner/bin/runner --store /shared/cache exec-job \"$key\" --device cuda:0 --expect-version 0.1.0+abc",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
    let plain = sbatch_script(&config(), Path::new("/c"), Path::new("/c/s"), "e", 2);
    assert!(plain.contains("#SBATCH --array=0-1\n"), "{plain}");
    for absent in ["--gres", "--partition", "--time", "RUNNER_DATA", "RAYON"] {
        assert!(!plain.contains(absent), "{absent} in\n{plain}");
    }
}

#[test]
fn shell_quoting_survives_spaces_and_quotes() {
    assert_eq!(sh_quote("/a/b-c_d.e"), "/a/b-c_d.e");
    assert_eq!(sh_quote("a b"), "'a b'");
    assert_eq!(sh_quote("it's"), r"'it'\''s'");
    assert_eq!(sh_quote(""), "''");
}

#[test]
fn the_command_line_wins_over_the_spec() {
    let spec = SlurmOptions {
        partition: Some("cpu".into()),
        time: Some("10".into()),
        mem: Some("4G".into()),
        sbatch_args: vec!["--account=a".into()],
        ..Default::default()
    };
    let cli = SlurmOptions {
        partition: Some("gpu".into()),
        gpus_per_job: Some(2),
        sbatch_args: vec!["--qos=high".into()],
        ..Default::default()
    };
    let m = merge_options(Some(&spec), &cli);
    assert_eq!(m.partition.as_deref(), Some("gpu"));
    assert_eq!(m.time.as_deref(), Some("10"));
    assert_eq!(m.mem.as_deref(), Some("4G"));
    assert_eq!(m.gpus_per_job, Some(2));
    assert_eq!(m.sbatch_args, vec!["--account=a", "--qos=high"]);
    assert_eq!(merge_options(None, &cli).time, None);
}

#[test]
fn bad_options_are_refused() {
    let bad = |o: SlurmOptions| check_options(&o).unwrap_err().to_string();
    assert!(
        bad(SlurmOptions {
            max_parallel: Some(0),
            ..Default::default()
        })
        .contains("max_parallel")
    );
    assert!(
        bad(SlurmOptions {
            time: Some("2h".into()),
            ..Default::default()
        })
        .contains("not a Slurm time")
    );
    check_options(&SlurmOptions {
        time: Some("1-02:00:00".into()),
        max_parallel: Some(4),
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn squeue_lines_parse_into_states() {
    let m = parse_squeue(
        "12_0|PENDING\n12_1|RUNNING\n12_2|COMPLETED\n12_3|TIMEOUT\n12_4|CANCELLED\n\ngarbage\n",
    );
    assert_eq!(m.len(), 5);
    assert_eq!(m["12_0"].0, TaskState::Pending);
    assert_eq!(m["12_1"].0, TaskState::Running);
    assert_eq!(m["12_2"].0, TaskState::Completed);
    assert_eq!(m["12_3"], (TaskState::Ended, "TIMEOUT".to_string()));
    assert_eq!(m["12_4"].0, TaskState::Ended);
    assert_eq!(TaskState::parse("OUT_OF_MEMORY"), TaskState::Ended);
    assert_eq!(TaskState::parse("COMPLETING"), TaskState::Running);
}

#[test]
fn submit_writes_descriptions_keys_script_and_task_records() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let fake = FakeSlurm::new();
    let jobs = jobs();
    store
        .record_failure(&jobs[1].key, "old", "old failure", None)
        .unwrap();
    let mut ex = executor(&store, &fake);
    ex.config.options.sbatch_args = vec!["--account=lab".into()];
    let sub = ex.submit(&jobs).unwrap();
    assert_eq!(sub.array, "4242");
    for (i, job) in jobs.iter().enumerate() {
        let back: Job =
            serde_json::from_str(&fs::read_to_string(store.job_path(&job.key)).unwrap()).unwrap();
        assert_eq!(&back, job);
        let rec = task_record(&store, &job.key).unwrap();
        assert_eq!((rec.array.as_str(), rec.task), ("4242", i));
        assert_eq!(rec.log, sub.dir.join("logs").join(format!("4242_{i}.log")));
    }
    assert!(store.failure(&jobs[1].key).is_none(), "old failure kept");
    let keys = fs::read_to_string(sub.dir.join("keys.txt")).unwrap();
    let want: Vec<String> = jobs.iter().map(|j| j.key.hex()).collect();
    assert_eq!(keys.lines().collect::<Vec<_>>(), want);
    let script = fs::read_to_string(&sub.script).unwrap();
    assert!(script.contains("#SBATCH --array=0-2\n"), "{script}");
    assert_eq!(
        fake.read("sbatch.args").trim(),
        format!("--parsable --account=lab {}", sub.script.display())
    );
}

#[test]
fn execute_reports_results_failures_and_killed_tasks() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let fake = FakeSlurm::new();
    let jobs = jobs();
    // As the tasks would leave it: job 0 done, job 1 failed with a record,
    // job 2 killed by its time limit (no record, a stale lock).
    fake.set_states(&["COMPLETED", "FAILED", "TIMEOUT"]);
    let ex = executor(&store, &fake);
    store_result(&store, &jobs[0], 0.75);
    let lock = store.lock(&jobs[2].key, Duration::from_secs(3600)).unwrap();
    std::mem::forget(lock);
    // The record of job 1 must be written after submission (which clears old ones).
    let tools = fake.tools();
    let sbatch_body = format!(
        "#!/bin/bash\necho \"$@\" > {0}/sbatch.args\nmkdir -p {1}/failures/{2}\nprintf '%s' '{3}' > {1}/failures/{2}/{4}.json\necho 4242\n",
        fake.dir.path().display(),
        d.path().display(),
        &jobs[1].key.hex()[..2],
        serde_json::json!({
            "key": jobs[1].key, "label": "x", "error": "detector blew up", "time": "t"
        }),
        jobs[1].key.hex(),
    );
    fs::write(tools.sbatch.clone(), sbatch_body).unwrap();
    let mut seen = Vec::new();
    ex.execute(&jobs, &control(), &mut |j, o| seen.push((j.key, o)))
        .unwrap();
    assert_eq!(seen.len(), 3);
    let by_key: HashMap<Key, JobOutcome> = seen.into_iter().collect();
    assert!(matches!(&by_key[&jobs[0].key], JobOutcome::Done(r) if r.auroc == 0.75));
    assert_eq!(
        by_key[&jobs[1].key],
        JobOutcome::Failed("detector blew up".into())
    );
    let JobOutcome::Failed(msg) = &by_key[&jobs[2].key] else {
        panic!("{:?}", by_key[&jobs[2].key])
    };
    assert!(
        msg.contains("4242_2 ended TIMEOUT") && msg.contains("4242_2.log"),
        "{msg}"
    );
    let rec = store.failure(&jobs[2].key).unwrap();
    assert!(rec.log.unwrap().ends_with("4242_2.log"));
    assert!(!store.lock_path(&jobs[2].key).exists(), "stale lock kept");
}

#[test]
fn a_completed_task_that_found_the_job_locked_waits_for_the_holder() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let jobs = jobs();
    let sub = Submission {
        array: "7".into(),
        dir: d.path().join("s"),
        script: d.path().join("s/submit.sh"),
        keys: jobs.iter().map(|j| j.key).collect(),
    };
    let mut w = Watch::new(&store, &jobs[..1], &sub);
    let states = parse_squeue("7_0|COMPLETED\n");
    let lock = store.lock(&jobs[0].key, Duration::from_secs(3600)).unwrap();
    for _ in 0..5 {
        assert!(w.step(&states, false).is_empty());
    }
    // the other worker finishes
    store_result(&store, &jobs[0], 0.5);
    drop(lock);
    let out = w.step(&states, false);
    assert!(
        matches!(out.as_slice(), [(0, JobOutcome::Done(_))]),
        "{out:?}"
    );
    assert!(w.all_reported());
}

#[test]
fn a_task_unknown_to_slurm_fails_only_after_several_looks() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let jobs = jobs();
    let sub = Submission {
        array: "7".into(),
        dir: d.path().join("s"),
        script: d.path().join("s/submit.sh"),
        keys: vec![jobs[0].key],
    };
    let mut w = Watch::new(&store, &jobs[..1], &sub);
    let none = HashMap::new();
    assert!(w.step(&none, false).is_empty());
    assert!(w.step(&none, false).is_empty());
    let out = w.step(&none, false);
    assert!(
        matches!(out.as_slice(), [(0, JobOutcome::Failed(m))] if m.contains("no longer known")),
        "{out:?}"
    );
    // while cancelling, a task that ends without a result is cancelled, not failed
    let mut w = Watch::new(&store, &jobs[1..2], &sub);
    let states = parse_squeue("7_0|CANCELLED\n");
    assert!(w.step(&states, true).is_empty());
    assert_eq!(w.step(&states, true), vec![(0, JobOutcome::Cancelled)]);
}

#[test]
fn ctrl_c_while_watching_cancels_the_array() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let fake = FakeSlurm::new();
    let jobs = jobs();
    fake.set_states(&["RUNNING", "PENDING", "COMPLETED"]);
    store_result(&store, &jobs[2], 0.6);
    let ex = executor(&store, &fake);
    let c = control();
    c.cancel.store(true, Ordering::SeqCst);
    // cancel already set before submission: nothing is submitted
    let mut n = 0;
    ex.execute(&jobs, &c, &mut |_, _| n += 1).unwrap();
    assert_eq!((n, fake.read("sbatch.args")), (0, String::new()));

    let sub = ex.submit(&jobs).unwrap();
    let mut seen = Vec::new();
    ex.watch(&jobs, &sub, &c, &mut |j, o| seen.push((j.key, o)))
        .unwrap();
    assert_eq!(fake.read("scancel.args").trim(), "4242");
    let by_key: HashMap<Key, JobOutcome> = seen.into_iter().collect();
    assert_eq!(by_key[&jobs[0].key], JobOutcome::Cancelled);
    assert_eq!(by_key[&jobs[1].key], JobOutcome::Cancelled);
    assert!(matches!(by_key[&jobs[2].key], JobOutcome::Done(_)));
    assert!(store.failure(&jobs[0].key).is_none());
}

#[test]
fn cancel_scancels_only_live_tasks_of_unfinished_jobs() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let fake = FakeSlurm::new();
    let jobs = jobs();
    let ex = executor(&store, &fake);
    ex.submit(&jobs).unwrap();
    fake.set_states(&["RUNNING", "COMPLETED", "PENDING"]);
    store_result(&store, &jobs[1], 0.9);
    let lock = store.lock(&jobs[0].key, Duration::from_secs(3600)).unwrap();
    std::mem::forget(lock);
    let s = cancel(&store, &jobs, &fake.tools(), Duration::from_secs(5)).unwrap();
    assert_eq!(s.cancelled, vec!["4242_0", "4242_2"]);
    assert_eq!(fake.read("scancel.args").trim(), "4242_0 4242_2");
    for j in [&jobs[0], &jobs[2]] {
        let f = store.failure(&j.key).unwrap();
        assert!(f.error.starts_with("cancelled"), "{}", f.error);
        assert!(f.log.is_some());
    }
    assert!(!store.lock_path(&jobs[0].key).exists());
    assert!(store.failure(&jobs[1].key).is_none());
    // nothing left to cancel
    let again = cancel(&store, &jobs, &fake.tools(), Duration::from_secs(5)).unwrap();
    assert!(again.cancelled.is_empty());
}

#[test]
fn a_resubmission_removes_locks_of_dead_tasks_only() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let fake = FakeSlurm::new();
    let jobs = jobs();
    let ex = executor(&store, &fake);
    ex.submit(&jobs).unwrap();
    fake.set_states(&["CANCELLED", "RUNNING", "PENDING"]);
    for j in &jobs[..2] {
        std::mem::forget(store.lock(&j.key, Duration::from_secs(3600)).unwrap());
    }
    ex.submit(&jobs).unwrap();
    assert!(
        !store.lock_path(&jobs[0].key).exists(),
        "dead task's lock kept"
    );
    assert!(
        store.lock_path(&jobs[1].key).exists(),
        "live task's lock removed"
    );
}

fn task_opts() -> TaskOptions {
    TaskOptions {
        device: DeviceChoice::Cpu,
        expect_version: None,
        log: Some(PathBuf::from("/logs/1_0.log")),
        checkpoints: crate::detector::CheckpointPolicy::default(),
        lock_stale: Duration::from_secs(3600),
        data: DataOptions::default(),
    }
}

#[test]
fn a_task_of_another_build_refuses_and_records_why() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let job = &jobs()[0];
    store
        .write_atomic(&store.job_path(&job.key), &serde_json::to_vec(job).unwrap())
        .unwrap();
    let opts = TaskOptions {
        expect_version: Some("0.0.1+other".into()),
        ..task_opts()
    };
    let e = exec_job(&store, &job.key, &opts).unwrap_err();
    assert!(matches!(e, SlurmError::VersionMismatch { .. }), "{e}");
    let f = store.failure(&job.key).unwrap();
    assert!(
        f.error.contains("0.0.1+other") && f.error.contains("same runner binary"),
        "{}",
        f.error
    );
    assert_eq!(f.log.as_deref(), Some("/logs/1_0.log"));
    assert_eq!(f.label, job.title());
}

#[test]
fn a_task_skips_done_jobs_and_leaves_locked_ones() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let jobs = jobs();
    for j in &jobs {
        store
            .write_atomic(&store.job_path(&j.key), &serde_json::to_vec(j).unwrap())
            .unwrap();
    }
    store_result(&store, &jobs[0], 0.8);
    let opts = TaskOptions {
        expect_version: Some(build_id()),
        ..task_opts()
    };
    assert_eq!(
        exec_job(&store, &jobs[0].key, &opts).unwrap(),
        TaskEnd::AlreadyDone
    );
    let _lock = store.lock(&jobs[1].key, Duration::from_secs(3600)).unwrap();
    let end = exec_job(&store, &jobs[1].key, &opts).unwrap();
    assert!(
        matches!(&end, TaskEnd::Busy(h) if h.contains(&std::process::id().to_string())),
        "{end:?}"
    );
    assert_eq!(end.exit_code(), 0);
    assert!(store.failure(&jobs[1].key).is_none());
}

#[test]
fn a_task_without_a_description_says_so() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let job = &jobs()[0];
    let e = exec_job(&store, &job.key, &task_opts()).unwrap_err();
    assert!(e.to_string().contains("no job description"), "{e}");
    assert!(
        store
            .failure(&job.key)
            .unwrap()
            .error
            .contains("submit the spec again")
    );
}

#[test]
fn fail_fast_cancels_the_rest_of_the_array_after_a_failure() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::open(d.path()).unwrap();
    let fake = FakeSlurm::new();
    let jobs = jobs();
    let ex = executor(&store, &fake);
    let sub = ex.submit(&jobs).unwrap();
    fake.set_states(&["OUT_OF_MEMORY", "RUNNING", "PENDING"]);
    let c = Control {
        fail_fast: true,
        ..control()
    };
    let mut seen = Vec::new();
    ex.watch(&jobs, &sub, &c, &mut |j, o| seen.push((j.key, o)))
        .unwrap();
    assert_eq!(fake.read("scancel.args").trim(), "4242");
    assert!(
        matches!(&seen[0], (k, JobOutcome::Failed(m)) if *k == jobs[0].key && m.contains("OUT_OF_MEMORY")),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 3);
    assert!(
        seen[1..].iter().all(|(_, o)| *o == JobOutcome::Cancelled),
        "{seen:?}"
    );
    assert!(
        !c.cancel.load(Ordering::SeqCst),
        "fail-fast is not an interrupt"
    );
}
