//! External methods end to end: the numpy example beside KDE on the
//! embedded digits (tables, statistics, the page, the cache), a program
//! that fails on one class, Ctrl-C while programs run, a spec refused at
//! plan time, and the PyTorch example where torch is importable.
//!
//! The Python tests need an interpreter with numpy (`RUNNER_PYTHON`, else
//! `python3`, else `/usr/bin/python3`; Debian: `python3-numpy`). Without
//! one they skip with a message, except with `CI=true` or
//! `RUNNER_REQUIRE_PYTHON=1`, where they fail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "common/files.rs"]
mod files;

use assert_cmd::Command;
use files::walk;
use predicates::prelude::*;

fn runner(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("runner").expect("the runner binary");
    c.current_dir(dir)
        .env_remove("RUNNER_STORE")
        .env_remove("RUNNER_DATA")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(600));
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("folder");
    }
    std::fs::write(&p, text).expect("write");
    p
}

/// Copies `examples/methods/<name>` into `dir/methods/`; returns its text.
fn copy_example(dir: &Path, name: &str) -> String {
    let script =
        std::fs::read_to_string(repo().join("examples/methods").join(name)).expect("the example");
    write(dir, &format!("methods/{name}"), &script);
    script
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1" || v == "true")
}

/// A Python interpreter that can `import module`; `None` (after saying why)
/// where there is none and none is required.
fn python_with(module: &str, required_in_ci: bool) -> Option<String> {
    let mut tried = Vec::new();
    let candidates = std::env::var("RUNNER_PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_string(), "/usr/bin/python3".to_string()]);
    for py in candidates {
        let ok = std::process::Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py);
        }
        tried.push(py);
    }
    let why = format!(
        "no Python with `{module}` (tried {}; set RUNNER_PYTHON)",
        tried.join(", ")
    );
    if required_in_ci && (required("CI") || required("RUNNER_REQUIRE_PYTHON")) {
        panic!("{why}, but CI requires it");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// `(ran, cached)` from a run's summary line.
fn counts(stderr: &str) -> (usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.contains(" jobs: ") && l.contains(" ran"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let n = |what: &str| {
        line.split([',', ':'])
            .find(|p| p.trim().ends_with(what))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX)
    };
    (n(" ran"), n(" cached"))
}

fn run(dir: &Path, spec: &str) -> String {
    let out = runner(dir)
        .args(["run", "-j", "2", spec])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{}\n{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    err
}

fn byod_spec(python: &str, components: u32) -> String {
    format!(
        "\
name: byod
dataset: digits
seeds: [0, 1]
methods:
  - kde: {{bandwidth_count: 1}}
  - external:
      name: pca_recon
      command: [{python}, methods/pca_recon.py]
      params: {{components: {components}}}
"
    )
}

/// The numpy example beside KDE, every class, two seeds: a row in every
/// table, in the statistics and on the page; a second run runs nothing;
/// a changed parameter or script re-runs that method only.
#[test]
fn the_numpy_example_runs_beside_kde_and_caches_like_a_built_in() {
    let Some(python) = python_with("numpy", true) else {
        return;
    };
    let d = tempfile::tempdir().expect("tmp");
    let script = copy_example(d.path(), "pca_recon.py");
    let spec = write(d.path(), "byod.yaml", &byod_spec(&python, 10));
    let spec = spec.to_str().expect("utf-8");

    runner(d.path())
        .args(["plan", spec])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "command  pca_recon: {python} methods/pca_recon.py fit|score JOB_FILE"
        )))
        .stdout(predicate::str::contains("40 jobs (0 cached, 40 to run)"));

    let t = Instant::now();
    let err = run(d.path(), spec);
    eprintln!(
        "first run, 40 jobs (20 external): {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(counts(&err), (40, 0), "{err}");

    // the table: a pca_recon row with a number in every class and the mean
    let report = d.path().join("reports/byod");
    let table = std::fs::read_to_string(report.join("table.csv")).expect("table");
    let row = table
        .lines()
        .find(|l| l.starts_with("pca_recon"))
        .unwrap_or_else(|| panic!("no pca_recon row:\n{table}"));
    let header: Vec<&str> = table.lines().next().expect("header").split(',').collect();
    let mean_at = header
        .iter()
        .position(|h| *h == "mean")
        .unwrap_or_else(|| panic!("no mean column: {header:?}"));
    let mean: f64 = row
        .split(',')
        .nth(mean_at)
        .expect("mean")
        .parse()
        .expect("a number");
    assert!(
        mean > 0.8,
        "PCA reconstruction on digits: mean AUROC {mean}\n{table}"
    );
    let md = std::fs::read_to_string(report.join("table.md")).expect("table.md");
    assert!(
        md.contains("| pca_recon |") || md.contains("pca_recon"),
        "{md}"
    );
    // the statistics compare it with KDE; the page shows it
    let comparisons = std::fs::read_to_string(report.join("comparisons.md")).expect("comparisons");
    assert!(
        comparisons.contains("pca_recon") && comparisons.contains("kde"),
        "{comparisons}"
    );
    assert!(comparisons.contains("Friedman"), "{comparisons}");
    let page = std::fs::read_to_string(report.join("index.html")).expect("page");
    assert!(page.contains("pca_recon"));
    let results = std::fs::read_to_string(report.join("results.csv")).expect("results");
    let done = results
        .lines()
        .filter(|l| l.starts_with("pca_recon,") && l.contains(",done,"))
        .count();
    assert_eq!(done, 20, "{results}");
    // the progress line became the model's training log
    let training = std::fs::read_to_string(report.join("training.md")).expect("training.md");
    assert!(
        training.contains("pca_recon") && training.contains("recon"),
        "{training}"
    );

    // a second run runs nothing
    assert_eq!(counts(&run(d.path(), spec)), (0, 40));

    // a changed parameter re-runs the external method only
    write(d.path(), "byod.yaml", &byod_spec(&python, 5));
    runner(d.path())
        .args(["plan", spec])
        .assert()
        .success()
        .stdout(predicate::str::contains("40 jobs (20 cached, 20 to run)"));
    assert_eq!(counts(&run(d.path(), spec)), (20, 20));

    // so does a changed script (its content keys the model)
    write(
        d.path(),
        "methods/pca_recon.py",
        &format!("{script}\n# a comment changes the content\n"),
    );
    assert_eq!(counts(&run(d.path(), spec)), (20, 20));
    runner(d.path())
        .args(["status", spec])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "40 jobs: 40 done, 0 failed, 0 missing",
        ));
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .success();
}

/// Fails the fit of class 3 (`exit 3`, after a line on stderr) while the
/// file `broken` is in the spec's folder (a file that keys nothing), and
/// scores every other class by image index.
const FAILS_ON_3: &str = r#"
if [ "$1" = fit ]; then
  if [ -f broken ] && grep -q '"class": 3,' "$2"; then echo "cannot fit class 3: out of luck" >&2; exit 3; fi
  echo fitted > "$RUNNER_MODEL_DIR/model.txt"
  exit 0
fi
n=$(sed -n 's/.*"count": \([0-9]*\).*/\1/p' "$2")
{ echo score; i=0; while [ $i -lt "$n" ]; do echo $((i % 7)); i=$((i+1)); done; } > "$RUNNER_SCORES"
"#;

/// One job's program fails: that job is a failed row (with the exit status
/// and the program's stderr), the others finish, `status` says where the
/// output is, and a corrected program re-runs only that job.
#[test]
fn a_failing_program_fails_its_job_only_and_status_says_where_its_output_is() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), "methods/fails.sh", FAILS_ON_3);
    let spec = write(
        d.path(),
        "fails.yaml",
        "\
name: fails
dataset: digits
classes: [2, 3, 4]
seeds: [0]
methods:
  - external: {name: flaky, command: [sh, methods/fails.sh]}
",
    );
    let spec = spec.to_str().expect("utf-8");
    write(d.path(), "broken", "");
    let out = runner(d.path())
        .args(["run", "-j", "2", spec])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("3 jobs: 0 cached, 2 ran, 1 failed"), "{err}");
    assert!(err.contains("fit exited with status 3"), "{err}");
    assert!(err.contains("cannot fit class 3: out of luck"), "{err}");

    let status = runner(d.path())
        .args(["status", spec])
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1));
    let logs = text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("program output: ")
                .or_else(|| l.strip_prefix("full stdout and stderr: "))
        })
        .unwrap_or_else(|| panic!("status does not say where the output is:\n{text}"));
    let stderr = std::fs::read_to_string(Path::new(logs).join("fit.stderr")).expect("kept");
    assert_eq!(stderr, "cannot fit class 3: out of luck\n");
    // with `-j 2`, each program's default share is half of the cores
    let job: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(logs).join("fit.json")).expect("job file kept"),
    )
    .expect("json");
    assert_eq!(
        job["threads"].as_u64(),
        Some((num_cpus::get() / 2).max(1) as u64),
        "{job}"
    );
    assert!(text.contains("2 done, 1 failed, 0 missing"), "{text}");

    // the report shows the failure as a row, never as a number
    let results =
        std::fs::read_to_string(d.path().join("reports/fails/results.csv")).expect("results");
    let failed: Vec<&str> = results.lines().filter(|l| l.contains(",failed,")).collect();
    assert_eq!(failed.len(), 1, "{results}");
    assert!(failed[0].contains("exited with status 3"), "{results}");
    // nothing of the failed job is stored
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .success();
    let ls = runner(d.path()).args(["cache", "ls"]).output().expect("ls");
    assert!(
        String::from_utf8_lossy(&ls.stdout).contains("4 objects"),
        "{}",
        String::from_utf8_lossy(&ls.stdout)
    );

    // every model records the protocol, the inputs' digest and the runner's version
    let manifests: Vec<serde_json::Value> = walk(&d.path().join("cache/objects"))
        .iter()
        .filter(|p| p.ends_with("manifest.json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"))
        .collect();
    assert_eq!(manifests.len(), 4);
    for m in &manifests {
        assert!(
            !m["runner_version"].as_str().unwrap_or("").is_empty(),
            "{m}"
        );
        let params = if m["kind"] == "model" {
            assert_eq!(m["inputs"]["impl_version"], 1, "{m}");
            &m["inputs"]["params"]
        } else {
            &m["inputs"]["job"]["method"]["external"]
        };
        assert_eq!(params["protocol"], 1, "{m}");
        assert_eq!(
            params["inputs_digest"].as_str().map(str::len),
            Some(64),
            "{m}"
        );
        assert_eq!(
            params["command"],
            serde_json::json!(["sh", "methods/fails.sh"])
        );
    }

    // fixed: only the failed job runs, and its failure is gone
    std::fs::remove_file(d.path().join("broken")).expect("fixed");
    assert_eq!(counts(&run(d.path(), spec)), (1, 2));
    runner(d.path())
        .args(["status", spec])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 done, 0 failed"));
}

/// A spec in a new folder whose program's fit starts a grandchild, writes
/// `<shell pid> <grandchild pid>` to `pids`, and waits for it, until the
/// file `done` exists; then it fits and scores at once.
fn slow_spec() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("tmp");
    write(
        d.path(),
        "methods/slow.sh",
        r#"
if [ "$1" = fit ] && [ ! -f "$SLOW_DONE" ]; then
  sleep 300 & echo "$$ $!" >> "$PIDS"; wait; exit 0
fi
if [ "$1" = fit ]; then echo m > "$RUNNER_MODEL_DIR/m"; exit 0; fi
n=$(sed -n 's/.*"count": \([0-9]*\).*/\1/p' "$2")
{ echo score; i=0; while [ $i -lt "$n" ]; do echo $((i % 5)); i=$((i+1)); done; } > "$RUNNER_SCORES"
"#,
    );
    let spec_text = format!(
        "\
name: slow
dataset: digits
classes: [0, 1]
seeds: [0]
methods:
  - external:
      name: slow
      command: [sh, methods/slow.sh]
      env: {{PIDS: {}, SLOW_DONE: {}}}
",
        d.path().join("pids").display(),
        d.path().join("done").display()
    );
    let spec = write(d.path(), "slow.yaml", &spec_text);
    (d, spec)
}

/// Starts `runner run` on the slow spec and waits until both programs run.
fn start_slow(dir: &Path, spec: &Path) -> std::process::Child {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"))
        .current_dir(dir)
        .env_remove("RUNNER_STORE")
        .env("NO_COLOR", "1")
        .args(["run", "-j", "2", spec.to_str().expect("utf-8")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let t = Instant::now();
    while std::fs::read_to_string(dir.join("pids")).map_or(0, |s| s.lines().count()) < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the programs did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The pids the slow programs wrote.
fn slow_pids(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("pids"))
        .expect("pids")
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// How many complete objects the store in `dir` holds.
fn stored(dir: &Path) -> usize {
    walk(&dir.join("cache/objects"))
        .iter()
        .filter(|p| p.ends_with("manifest.json"))
        .count()
}

/// Ctrl-C while the programs run: the runner stops them (their whole
/// process group), exits 130, stores nothing, and a rerun does the work.
#[test]
fn ctrl_c_stops_the_programs_and_leaves_the_store_clean() {
    let (d, spec) = slow_spec();
    let child = start_slow(d.path(), &spec);
    let sent = std::process::Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status()
        .expect("kill(1)");
    assert!(sent.success());
    let out = child.wait_with_output().expect("ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    // every process of the programs' groups is gone
    for pid in slow_pids(d.path()) {
        let t = Instant::now();
        while running(&pid) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "process {pid} survived Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // nothing was stored, nothing is left in the store's scratch space
    assert_eq!(stored(d.path()), 0, "a stopped job stored something");
    let tmp: Vec<_> = std::fs::read_dir(d.path().join("cache/tmp"))
        .expect("tmp")
        .collect();
    assert!(tmp.is_empty(), "left in tmp/: {tmp:?}");
    // the rerun does the work
    write(d.path(), "done", "");
    assert_eq!(
        counts(&run(d.path(), spec.to_str().expect("utf-8"))),
        (2, 0)
    );
}

/// A runner killed with SIGKILL cannot stop its programs, but nothing they
/// or it left is taken for a result: the rerun takes the dead runner's
/// locks over, runs both jobs, and the store verifies.
#[test]
fn a_sigkilled_runner_leaves_nothing_a_rerun_takes_for_a_result() {
    let (d, spec) = slow_spec();
    let mut child = start_slow(d.path(), &spec);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(stored(d.path()), 0);
    write(d.path(), "done", "");
    let err = run(d.path(), spec.to_str().expect("utf-8"));
    assert_eq!(counts(&err), (2, 0), "{err}");
    assert_eq!(stored(d.path()), 4);
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .success();
    // the orphaned programs: their process groups, led by the shells
    let pids = slow_pids(d.path());
    for leader in pids.iter().step_by(2) {
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{leader}")])
            .status();
    }
}

#[test]
fn a_missing_script_is_refused_at_plan_time_with_its_place() {
    let d = tempfile::tempdir().expect("tmp");
    let spec = write(
        d.path(),
        "gone.yaml",
        "name: x\ndataset: digits\nmethods:\n  - external:\n      name: gone\n      command: [sh, methods/gone.py]\n",
    );
    runner(d.path())
        .args(["plan", spec.to_str().expect("utf-8")])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("gone.yaml:6:21")
                .and(predicate::str::contains("methods[0].external.command[1]"))
                .and(predicate::str::contains("`methods/gone.py` does not exist")),
        );
}

/// The PyTorch example, two epochs on two classes: only where `import
/// torch` works (it is not in CI).
#[test]
fn the_pytorch_example_trains_and_scores_where_torch_is_installed() {
    let Some(python) = python_with("torch", false) else {
        return;
    };
    let d = tempfile::tempdir().expect("tmp");
    copy_example(d.path(), "torch_ae.py");
    let spec = write(
        d.path(),
        "torch.yaml",
        &format!(
            "\
name: torch
dataset: digits
classes: [0, 1]
seeds: [0]
methods:
  - external:
      name: torch_ae
      command: [{python}, methods/torch_ae.py]
      params: {{epochs: 2, width: 8, latent: 8}}
"
        ),
    );
    let spec = spec.to_str().expect("utf-8");
    assert_eq!(counts(&run(d.path(), spec)), (2, 0));
    let training =
        std::fs::read_to_string(d.path().join("reports/torch/training.md")).expect("training.md");
    assert!(
        training.contains("torch_ae") && training.contains("mse"),
        "{training}"
    );
    assert_eq!(counts(&run(d.path(), spec)), (0, 2));
}
