//! The Slurm executor against a real cluster: `runner run --executor slurm`
//! gives the same results as the local executor, failed tasks are recorded
//! with their reason and log and resubmitted, cancelling leaves a consistent
//! store, and a finished spec submits nothing.
//!
//! Skipped (with a message) when `SLURM_CONF` is unset. Start a throwaway
//! cluster with `scripts/local-slurm.sh start` (as root) and export the
//! `SLURM_CONF` it prints.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

#[path = "common/checkpoints.rs"]
mod store_checkpoints;
use store_checkpoints::checkpoints;

fn cluster() -> bool {
    if std::env::var_os("SLURM_CONF").is_none() {
        eprintln!(
            "SKIPPED: SLURM_CONF is unset (no Slurm cluster): run `scripts/local-slurm.sh start` and export the SLURM_CONF it prints"
        );
        return false;
    }
    true
}

fn runner_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runner"))
}

fn runner(dir: &Path) -> Command {
    let mut c = Command::new(runner_bin());
    c.current_dir(dir)
        .env_remove("RUNNER_STORE")
        .env_remove("RUNNER_DATA")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(300));
    c
}

const SPEC: &str = "\
name: slurm-small
dataset: digits
classes: [0, 1, 2]
seeds: [0]
methods:
  - kde: {bandwidth_count: 5}
";

fn setup() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    (d, spec)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The submission folders under `<store>/slurm/`, oldest first.
fn submissions(store: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(store.join("slurm"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("keys.txt").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn submitted_keys(sub: &Path) -> Vec<String> {
    std::fs::read_to_string(sub.join("keys.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// key -> (result.json, scores.csv) of every result in a store.
fn results(store: &Path) -> std::collections::BTreeMap<String, (String, String)> {
    let mut m = std::collections::BTreeMap::new();
    let root = store.join("objects/result");
    for shard in std::fs::read_dir(&root).unwrap() {
        for obj in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let p = obj.unwrap().path();
            let key = p.file_name().unwrap().to_string_lossy().into_owned();
            let r: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(p.join("result.json")).unwrap())
                    .unwrap();
            let scores = std::fs::read_to_string(p.join("scores.csv")).unwrap();
            // timings and the `trained` flag differ between runs; metrics must not
            m.insert(key, (format!("{} {}", r["auroc"], r["auprc"]), scores));
        }
    }
    m
}

/// A runner that is another build: a copy of the binary with one byte more.
fn other_build(dir: &Path) -> PathBuf {
    let p = dir.join("runner-other-build");
    let mut bytes = std::fs::read(runner_bin()).unwrap();
    bytes.push(0);
    std::fs::write(&p, bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A wrapper that waits `secs` before running the real runner (a task that is
/// still running when it gets cancelled).
fn slow_runner(dir: &Path, secs: u32) -> PathBuf {
    let p = dir.join("slow-runner");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nsleep {secs}\nexec '{}' \"$@\"\n",
            runner_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// The array id in a `runner run --detach` output ("... Slurm array 12 ...").
fn array_id(text: &str) -> String {
    text.split("Slurm array ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no array id in {text}"))
        .to_string()
}

/// `runner run SPEC --store STORE --executor slurm` in `dir`.
fn slurm_run(dir: &Path, spec: &str, store: &str) -> Command {
    let mut c = runner(dir);
    c.args(["run", spec, "--store", store, "--executor", "slurm"]);
    c
}

/// Runs `spec` on this machine into the store `local` (no report).
fn run_locally(dir: &Path, spec: &str) {
    runner(dir)
        .args(["run", spec, "--store", "local", "--no-report", "-j", "1"])
        .assert()
        .success();
}

/// Runs `spec` locally into `local`, then as a Slurm array into `cluster`,
/// and checks that both stores hold the same `jobs` results.
fn cluster_results_equal_local_ones(dir: &Path, spec: &str, jobs: usize) {
    run_locally(dir, spec);
    let t0 = Instant::now();
    let out = slurm_run(dir, spec, "cluster")
        .arg("--no-report")
        .output()
        .unwrap();
    eprintln!(
        "slurm run of {jobs} jobs: {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Slurm array"), "{text}");
    let local = results(&dir.join("local"));
    let cluster = results(&dir.join("cluster"));
    assert_eq!(local.len(), jobs);
    assert_eq!(
        local, cluster,
        "the cluster's results differ from the local ones"
    );
}

fn squeue_states(array: &str) -> String {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-r", "-t", "all", "-o", "%i|%T", "-j", array])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn slurm_results_equal_local_results_and_a_finished_spec_submits_nothing() {
    if !cluster() {
        return;
    }
    let (d, spec) = setup();
    let spec = spec.to_str().unwrap();
    cluster_results_equal_local_ones(d.path(), spec, 3);

    // everything is cached: nothing is submitted
    let out = slurm_run(d.path(), spec, "cluster")
        .arg("--no-report")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(
        !all_output(&out).contains("Slurm array"),
        "{}",
        all_output(&out)
    );
    assert_eq!(submissions(&d.path().join("cluster")).len(), 1);
    slurm_run(d.path(), spec, "cluster")
        .arg("--detach")
        .assert()
        .success()
        .stdout(predicate::str::contains("nothing to submit"));
    runner(d.path())
        .args(["status", spec, "--store", "cluster"])
        .assert()
        .success();
}

#[test]
fn a_failed_task_is_reported_with_its_reason_and_log_and_resubmitted() {
    if !cluster() {
        return;
    }
    let (d, spec) = setup();
    let spec = spec.to_str().unwrap();
    // class 0 is done beforehand: it must never be submitted
    runner(d.path())
        .args([
            "run",
            spec,
            "--store",
            "s",
            "--no-report",
            "--set",
            "classes=[0]",
        ])
        .assert()
        .success();
    let other = other_build(d.path());
    let out = slurm_run(d.path(), spec, "s")
        .arg("--no-report")
        .arg("--runner-bin")
        .arg(&other)
        .output()
        .unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("2 failed"), "{text}");
    assert!(text.contains("same runner binary"), "{text}");
    let subs = submissions(&d.path().join("s"));
    assert_eq!(subs.len(), 1);
    assert_eq!(submitted_keys(&subs[0]).len(), 2);
    // the status names the reason and the task's log, which exists
    let status = runner(d.path())
        .args(["status", spec, "--store", "s"])
        .output()
        .unwrap();
    let st = stdout(&status);
    assert_eq!(status.status.code(), Some(1), "{st}");
    assert_eq!(st.matches("failed ").count(), 2, "{st}");
    let log = st
        .split("(log: ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .unwrap_or_else(|| panic!("no log path in {st}"));
    let log_text = std::fs::read_to_string(log).unwrap();
    assert!(log_text.contains("same runner binary"), "{log_text}");

    // the next run submits the two failed jobs only, and they succeed
    slurm_run(d.path(), spec, "s")
        .arg("--no-report")
        .assert()
        .success();
    let subs = submissions(&d.path().join("s"));
    assert_eq!(subs.len(), 2);
    assert_eq!(submitted_keys(&subs[1]), submitted_keys(&subs[0]));
    runner(d.path())
        .args(["status", spec, "--store", "s"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 done, 0 failed, 0 missing"));
}

#[test]
fn runner_cancel_stops_the_tasks_and_leaves_the_store_consistent() {
    if !cluster() {
        return;
    }
    let (d, spec) = setup();
    let spec = spec.to_str().unwrap();
    let slow = slow_runner(d.path(), 30);
    let out = slurm_run(d.path(), spec, "s")
        .arg("--detach")
        .args(["--max-parallel", "1"])
        .arg("--runner-bin")
        .arg(&slow)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", all_output(&out));
    let array = array_id(&text);
    assert!(text.contains("runner status"), "{text}");
    runner(d.path())
        .args(["status", spec, "--store", "s"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "submitted as Slurm task {array}_2"
        )));
    wait_for("a running task", Duration::from_secs(60), || {
        squeue_states(&array).contains("RUNNING")
    });
    let t0 = Instant::now();
    runner(d.path())
        .args(["cancel", spec, "--store", "s"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cancelled 3 Slurm task(s)"));
    eprintln!("runner cancel: {:.1} s", t0.elapsed().as_secs_f64());
    let states = squeue_states(&array);
    assert!(
        !states.contains("RUNNING") && !states.contains("PENDING"),
        "{states}"
    );
    runner(d.path())
        .args(["cache", "verify", "--store", "s"])
        .assert()
        .success();
    let s = d.path().join("s");
    assert_eq!(std::fs::read_dir(s.join("locks")).unwrap().count(), 0);
    runner(d.path())
        .args(["status", spec, "--store", "s"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("cancelled").and(predicate::str::contains("0 done")));
    // a second cancel finds nothing to cancel
    runner(d.path())
        .args(["cancel", spec, "--store", "s"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no Slurm task"));
    // and the next run does the whole spec
    slurm_run(d.path(), spec, "s")
        .arg("--no-report")
        .assert()
        .success();
    runner(d.path())
        .args(["status", spec, "--store", "s"])
        .assert()
        .success();
}

#[test]
fn ctrl_c_while_waiting_scancels_the_array() {
    if !cluster() {
        return;
    }
    let (d, spec) = setup();
    let slow = slow_runner(d.path(), 30);
    let mut child = std::process::Command::new(runner_bin())
        .current_dir(d.path())
        .env_remove("RUNNER_STORE")
        .args([
            "run",
            spec.to_str().unwrap(),
            "--store",
            "s",
            "--executor",
            "slurm",
            "--no-report",
        ])
        .arg("--runner-bin")
        .arg(&slow)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut array = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("Slurm array ").nth(1) {
            array = rest.split_whitespace().next().map(String::from);
            break;
        }
    }
    let array = array.expect("no submission line");
    wait_for("a running task", Duration::from_secs(60), || {
        squeue_states(&array).contains("RUNNING")
    });
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", rest.join("\n"));
    assert!(
        rest.iter().any(|l| l.contains("scancel")),
        "{}",
        rest.join("\n")
    );
    let states = squeue_states(&array);
    assert!(
        !states.contains("RUNNING") && !states.contains("PENDING"),
        "{states}"
    );
    runner(d.path())
        .args(["cache", "verify", "--store", "s"])
        .assert()
        .success();
}

/// Without a cluster: a stand-in `sbatch` on PATH keeps the script it gets.
#[test]
fn spec_options_reach_sbatch_and_the_command_line_wins() {
    let (d, _) = setup();
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        format!(
            "#!/bin/sh\necho \"$@\" > '{0}/args'\nfor a in \"$@\"; do last=$a; done\ncp \"$last\" '{0}/script'\necho 77\n",
            d.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let spec = d.path().join("with-executor.yaml");
    std::fs::write(
        &spec,
        format!(
            "{SPEC}executor:\n  slurm: {{partition: short, time: \"5\", max_parallel: 2, sbatch_args: [--account=lab]}}\n"
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // the spec's executor is used without --executor
    runner(d.path())
        .env("PATH", path)
        .args(["run", spec.to_str().unwrap(), "--store", "s", "--detach"])
        .args(["--time", "10", "--gpus-per-job", "1", "--device", "cuda"])
        .args(["--sbatch-arg=--qos=high"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 job(s) as Slurm array 77"));
    let script = std::fs::read_to_string(d.path().join("script")).unwrap();
    for want in [
        "#SBATCH --array=0-2%2\n",
        "#SBATCH --partition=short\n",
        "#SBATCH --time=10\n",
        "#SBATCH --gres=gpu:1\n",
        "--device cuda:0",
        "--expect-version 0.1.0+",
    ] {
        assert!(script.contains(want), "{want:?} not in\n{script}");
    }
    let args = std::fs::read_to_string(d.path().join("args")).unwrap();
    assert!(
        args.starts_with("--parsable --account=lab --qos=high "),
        "{args}"
    );
    // an explicit --executor local wins over the spec
    runner(d.path())
        .args(["run", spec.to_str().unwrap(), "--store", "s", "--no-report"])
        .args(["--executor", "local", "-j", "1"])
        .assert()
        .success();
}

/// A task killed by Slurm in the middle of its training (scancel: the
/// SIGTERM then SIGKILL of a time limit) resumes from its checkpoint when the
/// spec is submitted again, and ends with the scores of a local run never
/// killed.
#[test]
fn a_task_killed_while_training_resumes_when_resubmitted() {
    if !cluster() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("resume.yaml");
    std::fs::write(
        &spec,
        "name: slurm-resume\ndataset: digits\nclasses: [3]\nseeds: [0]\nmethods:\n  - ganomaly: {image_size: 16, latent: 8, generator_width: 8, discriminator_width: 8, batch_size: 16, epochs: 12}\n",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    run_locally(d.path(), spec);
    let out = slurm_run(d.path(), spec, "s")
        .arg("--detach")
        .args(["--checkpoint-min-secs", "0"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", all_output(&out));
    let array = array_id(&text);
    let store = d.path().join("s");
    wait_for("a checkpoint", Duration::from_secs(120), || {
        !checkpoints(&store).is_empty()
    });
    let cancel = std::process::Command::new("scancel")
        .arg(&array)
        .status()
        .unwrap();
    assert!(cancel.success());
    wait_for("the task to end", Duration::from_secs(60), || {
        let s = squeue_states(&array);
        !s.contains("RUNNING") && !s.contains("PENDING")
    });
    assert!(!checkpoints(&store).is_empty(), "the checkpoint survives");
    assert!(
        std::fs::read_dir(store.join("objects/model"))
            .map(|rd| rd.count() == 0)
            .unwrap_or(true),
        "killed before the model was stored"
    );

    let out = slurm_run(d.path(), spec, "s")
        .env("RUNNER_LOG", "runner=info")
        .arg("--no-report")
        .args(["--checkpoint-min-secs", "0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let subs = submissions(&store);
    assert_eq!(subs.len(), 2);
    let logs: String = std::fs::read_dir(subs[1].join("logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        logs.contains("resuming from the checkpoint after epoch"),
        "{logs}"
    );
    assert_eq!(results(&store), results(&d.path().join("local")));
    assert!(checkpoints(&store).is_empty(), "checkpoints are removed");
}

/// An external method whose fit records where it ran and whose score is
/// each image's ink (the sum of its bytes, read from the `.npy` file).
const INK: &str = r#"
job=$2
if [ "$1" = fit ]; then
  echo "slurm job ${SLURM_JOB_ID:-none} on $(hostname)" > "$RUNNER_MODEL_DIR/where.txt"
  echo '{"epoch": 1, "epochs": 1, "losses": {"ink": 1}}'
  exit 0
fi
get() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$job"; }
size=$(( $(get channels) * $(get height) * $(get width) ))
header=$(od -An -tu2 -j8 -N2 "$RUNNER_IMAGES" | tr -d ' ')
{ echo ink; od -An -v -tu1 -j $((10 + header)) -w"$size" "$RUNNER_IMAGES" |
  awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }'; } > "$RUNNER_SCORES"
"#;

/// An external method on the cluster: the program runs on the node (its
/// model says under which Slurm job), its results equal a local run's, and
/// its output is kept in the shared store.
#[test]
fn an_external_method_runs_on_the_node_and_equals_a_local_run() {
    if !cluster() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("methods")).unwrap();
    std::fs::write(d.path().join("methods/ink.sh"), INK).unwrap();
    let spec = d.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "\
name: slurm-external
dataset: digits
classes: [0, 1, 2]
seeds: [0]
methods:
  - external: {name: ink, command: [sh, methods/ink.sh]}
",
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    cluster_results_equal_local_ones(d.path(), spec, 3);
    // every model was fitted inside a Slurm job; the local ones outside
    let wheres = |store: &str| -> Vec<String> {
        let root = d.path().join(store).join("objects/model");
        let mut v = Vec::new();
        for shard in std::fs::read_dir(root).unwrap() {
            for obj in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                let p = obj.unwrap().path().join("model/where.txt");
                v.push(std::fs::read_to_string(p).unwrap());
            }
        }
        v
    };
    let on_node = wheres("cluster");
    assert_eq!(on_node.len(), 3);
    for w in &on_node {
        assert!(
            !w.starts_with("slurm job none"),
            "fitted outside Slurm: {w}"
        );
    }
    assert!(
        wheres("local")
            .iter()
            .all(|w| w.starts_with("slurm job none"))
    );
    // the program's output is in the shared store's logs/
    let logs = d.path().join("cluster/logs");
    let kept: usize = std::fs::read_dir(&logs)
        .unwrap()
        .map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(kept, 3, "one output folder per job in {}", logs.display());
}

/// An external method in a declared environment (no packages), in plain
/// Python: its fit records the interpreter's prefix, its score is each
/// image's ink.
const IN_ENV: &str = r#"
import json, os, sys
phase, job = sys.argv[1], json.load(open(sys.argv[2]))
if phase == "fit":
    open(os.path.join(job["model_dir"], "prefix.txt"), "w").write(sys.prefix)
    sys.exit(0)
data = open(job["images"], "rb").read()
start = 10 + int.from_bytes(data[8:10], "little")
size = job["channels"] * job["height"] * job["width"]
with open(job["scores"], "w") as f:
    f.write("ink\n")
    for i in range(job["count"]):
        f.write(f"{sum(data[start + i * size:start + (i + 1) * size])}\n")
"#;

/// An external method with an environment on the cluster: the submitting
/// runner builds the environment into the shared store before it submits,
/// the nodes run the program with it (and build nothing), and the results
/// equal a local run's.
#[test]
fn an_environment_is_built_before_submission_and_used_on_the_nodes() {
    if !cluster() {
        return;
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: no python3 with venv");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("methods")).unwrap();
    std::fs::write(d.path().join("methods/in_env.py"), IN_ENV).unwrap();
    std::fs::write(d.path().join("methods/requirements.txt"), "# none\n").unwrap();
    let spec = d.path().join("spec.yaml");
    std::fs::write(
        &spec,
        "\
name: slurm-environment
dataset: digits
classes: [0, 1]
seeds: [0]
methods:
  - external: {name: in_env, command: [python3, methods/in_env.py], environment: methods/requirements.txt}
",
    )
    .unwrap();
    let out = slurm_run(d.path(), spec.to_str().unwrap(), "cluster")
        .env("RUNNER_INSTALLER", "pip")
        .arg("--no-report")
        .output()
        .unwrap();
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    let built = text.find("built in").expect("built before submission");
    let submitted = text.find("Slurm array").expect("submitted");
    assert!(built < submitted, "{text}");
    let envs: Vec<PathBuf> = std::fs::read_dir(d.path().join("cluster/envs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(envs.len(), 1, "{envs:?}");
    let log = std::fs::read_to_string(envs[0].join("build.log")).unwrap();
    assert_eq!(log.matches("$ venv").count(), 1, "built again: {log}");
    let venv = std::fs::canonicalize(envs[0].join("venv")).unwrap();
    let root = d.path().join("cluster/objects/model");
    let mut prefixes = Vec::new();
    for shard in std::fs::read_dir(root).unwrap() {
        for obj in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let p = obj.unwrap().path().join("model/prefix.txt");
            prefixes.push(std::fs::read_to_string(p).unwrap());
        }
    }
    assert_eq!(prefixes.len(), 2);
    for p in &prefixes {
        assert_eq!(
            std::fs::canonicalize(p).unwrap(),
            venv,
            "not run in the environment"
        );
    }
    run_locally(d.path(), spec.to_str().unwrap());
    assert_eq!(
        results(&d.path().join("local")),
        results(&d.path().join("cluster"))
    );
}
