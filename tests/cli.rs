//! End-to-end tests of the `runner` binary: specs in, exit codes, plans,
//! runs, cache behaviour and reports out.

mod common;
#[path = "common/files.rs"]
mod files;
#[path = "common/checkpoints.rs"]
mod store_checkpoints;
use store_checkpoints::checkpoints;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use files::walk;
use predicates::prelude::*;

fn runner(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("runner").unwrap();
    c.current_dir(dir)
        .env_remove("RUNNER_STORE")
        .env_remove("RUNNER_DATA")
        .env("NO_COLOR", "1");
    c
}

/// The `runner` binary in `dir` as a plain process (to spawn and kill), with
/// the environment of [`runner`].
fn runner_process(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"));
    c.current_dir(dir)
        .env_remove("RUNNER_STORE")
        .env_remove("RUNNER_DATA")
        .env("NO_COLOR", "1");
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data` beside the checkout, when this machine has it.
/// The data folder holding the real `mnist/` (see `common::real_mnist`).
fn shared_data() -> Option<PathBuf> {
    common::real_mnist().and_then(|m| m.parent().map(PathBuf::from))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const SMALL: &str = "\
name: small
dataset: digits
classes: [0, 1]
seeds: [0, 1]
methods:
  - kde: {bandwidth_count: 5}
";

#[test]
fn help_lists_commands_with_examples() {
    let d = tempfile::tempdir().unwrap();
    runner(d.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("run").and(predicate::str::contains("Examples:")));
    for cmd in ["run", "plan", "status", "report", "cache", "data", "schema"] {
        runner(d.path()).args([cmd, "--help"]).assert().success();
    }
}

#[test]
fn schema_is_json() {
    let d = tempfile::tempdir().unwrap();
    let out = runner(d.path())
        .arg("schema")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["title"], "runner experiment spec");
}

#[test]
fn a_bad_spec_exits_2_with_file_line_and_key() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "bad.yaml",
        "name: x\ndataset: digits\nmethods:\n  - ganomaly:\n      w_cn: 10\n",
    );
    runner(d.path())
        .args(["plan", spec.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bad.yaml:5:7")
                .and(predicate::str::contains("methods[0].ganomaly.w_cn"))
                .and(predicate::str::contains("did you mean `w_con`")),
        );
}

#[test]
fn a_missing_spec_file_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    runner(d.path())
        .args(["plan", "nope.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the spec"));
}

#[test]
fn an_unknown_dataset_lists_the_known_ones() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "s.yaml",
        "name: x\ndataset: mnits\nmethods: [kde]\n",
    );
    runner(d.path())
        .args(["plan", spec.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("unknown dataset `mnits`")
                .and(predicate::str::contains("mnist")),
        );
}

#[test]
fn plan_lists_the_quickstart_grid_without_side_effects() {
    let d = tempfile::tempdir().unwrap();
    let out = runner(d.path())
        .args([
            "plan",
            repo().join("experiments/quickstart.yaml").to_str().unwrap(),
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    insta::assert_snapshot!("plan_quickstart", text);
    assert!(!d.path().join("cache").exists(), "plan created the store");
}

#[test]
fn run_trains_then_a_rerun_trains_nothing() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "small.yaml", SMALL);
    runner(d.path())
        .args(["run", "-j", "2", spec.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "4 jobs: 0 cached, 4 ran, 0 failed",
        ))
        .stdout(predicate::str::contains("report: reports/small"));
    assert!(d.path().join("reports/small/table.md").is_file());
    runner(d.path())
        .args(["run", spec.to_str().unwrap()])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "4 jobs: 4 cached, 0 ran, 0 failed",
        ));
    runner(d.path())
        .args(["status", spec.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "4 jobs: 4 done, 0 failed, 0 missing",
        ));
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .success();
    runner(d.path())
        .args(["cache", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::contains("8 objects, "))
        .stdout(predicate::str::contains(" KiB "))
        .stdout(predicate::str::contains(" s  cpu "));
    // a scoring-free change of a model parameter trains again; the old results stay
    runner(d.path())
        .args([
            "plan",
            spec.to_str().unwrap(),
            "--set",
            "methods.kde.cv_folds=3",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("0 cached, 4 to run"));
}

/// `runner report` on a partial run: the cells of jobs not run are marked,
/// never zero, and every report file is written.
#[test]
fn report_of_a_partial_run_marks_missing_cells() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "small.yaml", SMALL);
    runner(d.path())
        .args(["run", "-q", "-j", "2", spec.to_str().unwrap()])
        .assert()
        .success();
    // the same jobs plus a class and a method variant that never ran
    let more = SMALL.replace("classes: [0, 1]", "classes: [0, 1, 2]")
        + "  - kde: {bandwidth_count: 5, cv_folds: {sweep: [3]}}\n";
    let spec = write(d.path(), "small-more.yaml", &more);
    runner(d.path())
        .args(["report", spec.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "4 of 12 done, 0 failed, 8 missing",
        ));
    let dir = d.path().join("reports/small");
    for f in [
        "index.html",
        "table.md",
        "table.csv",
        "comparisons.md",
        "comparisons.csv",
        "roc/2.png",
        "summary.png",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let table = std::fs::read_to_string(dir.join("table.md")).unwrap();
    let row = table
        .lines()
        .find(|l| l.starts_with("| kde (cv_folds=3) |"))
        .expect("the variant's row");
    assert_eq!(row, "| kde (cv_folds=3) | — | — | — | — |");
    let row = table.lines().find(|l| l.starts_with("| kde |")).unwrap();
    assert!(row.ends_with("| — | — |"), "{row}");
    assert!(!row.split('|').any(|c| c.trim() == "0.000"), "{row}");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(page.contains("not run yet"));
    // one method with results: nothing to rank, no diagram, and the page says why
    assert!(!dir.join("cd.png").exists());
    assert!(
        page.contains("No critical-difference diagram: fewer than two methods have results"),
        "{page}"
    );
    let comparisons = std::fs::read_to_string(dir.join("comparisons.md")).unwrap();
    assert!(
        comparisons.contains("Not ranked (no result in any class): kde (cv_folds=3)."),
        "{comparisons}"
    );
}

#[test]
fn cache_verify_names_a_corrupt_object() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "one.yaml",
        "name: one\ndataset: digits\nclasses: [3]\nseeds: [0]\nmethods:\n  - kde: {bandwidth_count: 3}\n",
    );
    runner(d.path())
        .args(["run", "-q", spec.to_str().unwrap()])
        .assert()
        .success();
    // corrupt one stored score file
    let scores = walk(&d.path().join("cache/objects/result"))
        .into_iter()
        .find(|p| p.ends_with("scores.csv"))
        .expect("a stored result");
    std::fs::write(&scores, "label,score\n1,0.5\n").unwrap();
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("scores.csv has digest"));
}

/// Flip one byte in a byte file.
fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = at % bytes.len();
    bytes[i] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn corrupt_objects_are_never_used_and_are_made_again() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "one.yaml",
        "name: one\ndataset: digits\nclasses: [3]\nseeds: [0]\nmethods:\n  - kde: {bandwidth_count: 3}\n",
    );
    let s = spec.to_str().unwrap();
    runner(d.path()).args(["run", "-q", s]).assert().success();
    let table = std::fs::read_to_string(d.path().join("reports/one/table.md")).unwrap();
    let files = walk(&d.path().join("cache/objects"));
    let scores = files.iter().find(|p| p.ends_with("scores.csv")).unwrap();
    // one flipped byte in the scores: report marks the job, run scores again
    flip_byte(scores, 40);
    runner(d.path())
        .args(["report", s])
        .assert()
        .success()
        .stdout(predicate::str::contains("failed"));
    runner(d.path())
        .args(["status", s])
        .assert()
        .stdout(predicate::str::contains("stored result is corrupt"));
    runner(d.path())
        .args(["run", s])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "1 jobs: 0 cached, 1 ran, 0 failed",
        ));
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(d.path().join("reports/one/table.md")).unwrap(),
        table
    );
    // a flipped byte in the model and in the scores: trained again, same table
    let model = walk(&d.path().join("cache/objects/model"))
        .into_iter()
        .find(|p| !p.ends_with("manifest.json"))
        .unwrap();
    flip_byte(&model, 7);
    let scores = walk(&d.path().join("cache/objects/result"))
        .into_iter()
        .find(|p| p.ends_with("scores.csv"))
        .unwrap();
    flip_byte(&scores, 3);
    runner(d.path())
        .args(["run", s])
        .assert()
        .success()
        .stderr(predicate::str::contains("the stored model was corrupt"))
        .stderr(predicate::str::contains("1 ran, 0 failed"));
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .success();
    let result = walk(&d.path().join("cache/objects/result"))
        .into_iter()
        .find(|p| p.ends_with("result.json"))
        .unwrap();
    assert!(
        std::fs::read_to_string(result)
            .unwrap()
            .contains("\"trained\": true")
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("reports/one/table.md")).unwrap(),
        table
    );
}

#[test]
fn data_ls_shows_the_embedded_digits() {
    let d = tempfile::tempdir().unwrap();
    runner(d.path())
        .args(["data", "ls"])
        .assert()
        .success()
        .stdout(predicate::str::contains("digits").and(predicate::str::contains("embedded")));
}

#[test]
fn plan_of_the_study_mnist_grid_with_real_data() {
    let Some(data) = shared_data() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let out = runner(d.path())
        .env("RUNNER_DATA", &data)
        .args([
            "plan",
            repo().join("experiments/mnist.yaml").to_str().unwrap(),
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("jobs (0 cached"), "{text}");
    insta::assert_snapshot!("plan_mnist", text);
}

/// `(ran, made by another runner, cached)` from a run's summary line.
fn run_counts(stderr: &str) -> (usize, usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.contains(" jobs: ") && l.contains(" ran"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let count = |what: &str| {
        line.split(", ")
            .flat_map(|part| part.split(": "))
            .find(|p| p.ends_with(what))
            .and_then(|p| p.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (
        count(" ran"),
        count(" made by another runner"),
        count(" cached"),
    )
}

#[test]
fn two_runners_on_one_store_run_each_job_once() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "ten.yaml",
        "name: ten\ndataset: digits\nclasses: [0, 1, 2, 3]\nseeds: [0]\nmethods:\n  - kde: {bandwidth_count: 4}\n",
    );
    let start = |out: &str| {
        runner_process(d.path())
            .args(["run", "-j", "1", "--out", out, spec.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start("ra"), start("rb"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ea, eb) = (
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
    );
    assert!(
        a.status.success() && b.status.success(),
        "a:\n{ea}\nb:\n{eb}"
    );
    let (ran_a, other_a, cached_a) = run_counts(&ea);
    let (ran_b, other_b, cached_b) = run_counts(&eb);
    eprintln!(
        "a: ran {ran_a}, other {other_a}, cached {cached_a}; b: ran {ran_b}, other {other_b}, cached {cached_b}"
    );
    assert_eq!(ran_a + ran_b, 4, "each job ran once:\n{ea}\n{eb}");
    assert_eq!(ran_a + other_a + cached_a, 4, "{ea}");
    assert_eq!(ran_b + other_b + cached_b, 4, "{eb}");
    let table =
        |out: &str| std::fs::read_to_string(d.path().join(out).join("ten/table.md")).unwrap();
    assert_eq!(table("ra"), table("rb"));
    runner(d.path())
        .args(["cache", "verify"])
        .assert()
        .success();
}

const KILL_SPEC: &str = "\
name: kill
dataset: digits
classes: [0, 1]
seeds: [0, 1]
methods:
  - kde: {bandwidth_count: 3}
  - ganomaly: {image_size: 16, latent: 8, generator_width: 4, discriminator_width: 4, batch_size: 16, epochs: 1, max_steps: 4}
";

/// SIGKILL at 20 seeded moments of a run (data loading, training, model and
/// result writes, the report), each followed by a full run: it finishes,
/// runs only what had no result, nothing in the store is corrupt, and the
/// table equals an uninterrupted run's.
#[test]
fn killed_at_any_moment_a_rerun_finishes_and_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "kill.yaml", KILL_SPEC);
    let spec = spec.to_str().unwrap();
    let run_in = |dir: &Path| {
        runner_process(dir)
            .args(["run", "-j", "2", spec])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let table = |dir: &Path| std::fs::read_to_string(dir.join("reports/kill/table.md")).unwrap();
    let results = |dir: &Path| {
        walk(&dir.join("cache/objects/result"))
            .iter()
            .filter(|p| p.ends_with("manifest.json"))
            .count()
    };
    // the reference: an uninterrupted run, and how long it takes
    let reference = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    assert!(run_in(reference.path()).wait().unwrap().success());
    let full = t.elapsed().as_secs_f64();
    let want = table(reference.path());

    let mut state = 0x2545_f491_4f6c_dd1du64; // seeded: the same kill points every time
    let kills = 20;
    let mut killed_with = Vec::new();
    for i in 0..kills {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let at = full * 1.1 * ((state >> 11) as f64 / (1u64 << 53) as f64);
        let dir = d.path().join(format!("k{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = run_in(&dir);
        std::thread::sleep(std::time::Duration::from_secs_f64(at));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let done_before = results(&dir);
        killed_with.push(done_before);
        let out = runner(&dir)
            .args(["run", "-j", "2", spec])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kill {i} at {at:.2} s: {err}");
        let (ran, _, cached) = run_counts(&err);
        assert_eq!(
            cached, done_before,
            "kill {i}: reused every finished job\n{err}"
        );
        assert_eq!(ran + cached, 8, "kill {i}: {err}");
        runner(&dir).args(["cache", "verify"]).assert().success();
        assert_eq!(table(&dir), want, "kill {i} at {at:.2} s");
    }
    // the kills fell at different stages: none, some and all results stored
    eprintln!("{kills} kill points; results stored when killed: {killed_with:?}");
    assert!(killed_with.contains(&0), "{killed_with:?}");
    assert!(
        killed_with.iter().any(|&n| n > 0 && n < 8),
        "{killed_with:?}"
    );
}

/// Mounts a tmpfs of `size` at `dir`; `None` where this machine cannot (not
/// root, no mount): the caller skips, except in CI, where it must work.
fn small_disk(dir: &Path, size: &str) -> Option<SmallDisk> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs for this test"
        );
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return None;
    }
    Some(SmallDisk(dir.to_path_buf()))
}

struct SmallDisk(PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_job_clearly_and_leaves_no_partial_object() {
    let d = tempfile::tempdir().unwrap();
    let Some(_disk) = small_disk(&d.path().join("store"), "400k") else {
        return;
    };
    let spec = write(
        d.path(),
        "full.yaml",
        "name: full\ndataset: digits\nclasses: [3, 4]\nseeds: [0]\nmethods:\n  - kde: {bandwidth_count: 3}\n",
    );
    let out = runner(d.path())
        .args(["--store", "store", "run", "-j", "1", spec.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("1 ran, 1 failed"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("free space"), "{err}");
    runner(d.path())
        .args(["--store", "store", "cache", "verify"])
        .assert()
        .success();
    let tmp: Vec<_> = std::fs::read_dir(d.path().join("store/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "partial writes left behind: {tmp:?}");
    runner(d.path())
        .args(["--store", "store", "status", spec.to_str().unwrap()])
        .assert()
        .stdout(predicate::str::contains("1 done, 1 failed"));
}

/// Same job, 1 / 3 / 16 threads: bit-identical scores (KDE's blocked matrix
/// products and burn-flex's kernels reduce in a fixed order).
#[test]
fn scores_do_not_depend_on_the_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "threads.yaml",
        "name: threads\ndataset: digits\nclasses: [5]\nseeds: [0]\nmethods:\n  - kde: {bandwidth_count: 3}\n  - ganomaly: {image_size: 16, latent: 8, generator_width: 8, discriminator_width: 8, batch_size: 32, epochs: 1, max_steps: 3}\n",
    );
    let scores = |threads: &str| {
        let store = format!("s{threads}");
        runner(d.path())
            .env("RAYON_NUM_THREADS", threads)
            .args(["--store", &store, "run", "-q", "--no-report", "-j", "1"])
            .arg(&spec)
            .assert()
            .success();
        let mut files: Vec<PathBuf> = walk(&d.path().join(&store).join("objects/result"))
            .into_iter()
            .filter(|p| p.ends_with("scores.csv"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 2);
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<Vec<_>>()
    };
    let one = scores("1");
    assert_eq!(scores("3"), one);
    assert_eq!(scores("16"), one);
}

/// ALAD's four scores come from one scoring pass and are all stored; a sweep
/// over the shown one runs one job per class and seed and gives one row per
/// variant.
#[test]
fn a_sweep_over_alads_score_variants_scores_once() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(
        d.path(),
        "alad.yaml",
        "name: alad\ndataset: digits\nclasses: [0]\nseeds: [0]\nmethods:\n  - alad: {image_size: 8, latent: 4, encoder_width: 4, generator_width: 4, dxz_width: 4, dxx_width: 4, dzz_width: 4, batch_size: 32, early_stop: false, max_steps: 2, score: {sweep: [features, l1, logits]}}\n",
    );
    let s = spec.to_str().unwrap();
    runner(d.path())
        .args(["run", s])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "3 jobs: 0 cached, 1 ran, 0 failed, 2 shared a result",
        ));
    let scores = walk(&d.path().join("cache/objects/result"))
        .into_iter()
        .find(|p| p.ends_with("scores.csv"))
        .unwrap();
    let header = std::fs::read_to_string(scores).unwrap();
    assert!(
        header.starts_with("label,features,l1,l2,logits\n"),
        "{header:.60}"
    );
    let table = std::fs::read_to_string(d.path().join("reports/alad/table.md")).unwrap();
    let cells: Vec<&str> = ["features", "l1", "logits"]
        .iter()
        .map(|v| {
            table
                .lines()
                .find(|l| l.contains(&format!("alad (score={v})")))
                .unwrap_or_else(|| panic!("no row for {v}:\n{table}"))
        })
        .collect();
    assert_ne!(
        cells[0].split('|').nth(2),
        cells[1].split('|').nth(2),
        "{table}"
    );
    runner(d.path())
        .args(["status", s])
        .assert()
        .stdout(predicate::str::contains("3 jobs: 3 done"));
}

const RESUME_SPEC: &str = "name: resume\ndataset: digits\nclasses: [3]\nseeds: [0]\nmethods:\n  - ganomaly: {image_size: 16, latent: 8, generator_width: 8, discriminator_width: 8, batch_size: 16, epochs: 12}\n";

/// A job killed (SIGKILL) in the middle of its training resumes from its
/// last checkpoint when run again, and ends with the scores of a run never
/// killed, byte for byte; no checkpoint is left once the model is stored.
#[test]
fn a_job_killed_while_training_resumes_from_its_checkpoint_to_the_same_scores() {
    let d = tempfile::tempdir().unwrap();
    let spec = write(d.path(), "resume.yaml", RESUME_SPEC);
    let scores = |store: &str| {
        let files: Vec<PathBuf> = walk(&d.path().join(store).join("objects/result"))
            .into_iter()
            .filter(|p| p.ends_with("scores.csv"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        std::fs::read_to_string(&files[0]).unwrap()
    };
    runner(d.path())
        .env("RUNNER_CHECKPOINT_MIN_SECS", "0")
        .args(["--store", "whole", "run", "-q", "--no-report"])
        .arg(&spec)
        .assert()
        .success();
    assert!(checkpoints(&d.path().join("whole")).is_empty());

    let mut child = runner_process(d.path())
        .env("RUNNER_CHECKPOINT_MIN_SECS", "0")
        .args(["--store", "killed", "run", "-q", "--no-report"])
        .arg(&spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store = d.path().join("killed");
    let t = std::time::Instant::now();
    // a checkpoint, and the training log so far beside it
    let kept_log = || {
        checkpoints(&store)
            .first()
            .is_some_and(|c| c.with_file_name("training.csv").is_file())
    };
    while !kept_log() {
        assert!(
            t.elapsed().as_secs() < 120 && child.try_wait().unwrap().is_none(),
            "no checkpoint appeared before the run ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = checkpoints(&store);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        walk(&store.join("objects/model")).is_empty(),
        "killed before the model was stored"
    );
    runner(d.path())
        .args(["--store", "killed", "cache", "ls"])
        .assert()
        .success()
        .stdout(predicates::str::contains("training checkpoint after epoch"));

    let out = runner(d.path())
        .env("RUNNER_CHECKPOINT_MIN_SECS", "0")
        .env("RUNNER_LOG", "runner=info")
        .args(["--store", "killed", "run", "--no-report"])
        .arg(&spec)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("resuming from the checkpoint after epoch"),
        "{err}"
    );
    assert_eq!(scores("killed"), scores("whole"));
    assert!(checkpoints(&store).is_empty(), "checkpoints are removed");
    // the training log of each model: epochs 1-12, the resumed one too (the
    // epochs before the checkpoint come from the log kept beside it)
    let log = |store: &str| {
        let files: Vec<PathBuf> = walk(&d.path().join(store).join("objects/model"))
            .into_iter()
            .filter(|p| p.ends_with("training.csv"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let epochs: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect();
        assert!(text.starts_with("epoch,seconds,g,d,con\n"), "{text}");
        epochs
    };
    let whole: Vec<String> = (1..=12).map(|e| e.to_string()).collect();
    assert_eq!(log("whole"), whole);
    assert_eq!(log("killed"), whole);
    runner(d.path())
        .args(["--store", "whole", "report", "--out", "reports"])
        .arg(&spec)
        .assert()
        .success();
    let md = std::fs::read_to_string(d.path().join("reports/resume/training.md")).unwrap();
    assert!(md.contains("| ganomaly | 1 of 1 | 12 | "), "{md}");
}

/// `runner report A B`: each spec's report, and one table with both.
#[test]
fn report_puts_two_specs_side_by_side() {
    let d = tempfile::tempdir().unwrap();
    let spec = |name: &str, protocol: &str, classes: &str| {
        write(
            d.path(),
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\ndataset: digits\nprotocol: {protocol}\nclasses: {classes}\nseeds: [0]\nmethods:\n  - kde: {{bandwidth_count: 3}}\n"
            ),
        )
    };
    let a = spec("kde-ac", "anomaly-class", "[0, 1]");
    let b = spec("kde-oc", "one-class", "[0, 1]");
    for s in [&a, &b] {
        runner(d.path())
            .args(["run", "-q", "--no-report"])
            .arg(s)
            .assert()
            .success();
    }
    runner(d.path())
        .arg("report")
        .arg(&a)
        .arg(&b)
        .args(["--name", "protocols"])
        .assert()
        .success()
        .stdout(predicates::str::contains("side by side: reports/protocols"));
    let md = std::fs::read_to_string(d.path().join("reports/protocols/table.md")).unwrap();
    assert!(
        md.contains("| kde-ac: kde |") && md.contains("| kde-oc: kde |"),
        "{md}"
    );
    let csv = std::fs::read_to_string(d.path().join("reports/protocols/table.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(d.path().join("reports/protocols/table.tex").is_file());
    // each spec's own report too
    assert!(d.path().join("reports/kde-ac/table.md").is_file());
    assert!(d.path().join("reports/kde-oc/table.md").is_file());

    let c = spec("kde-three", "one-class", "[0, 1, 2]");
    runner(d.path())
        .arg("report")
        .arg(&a)
        .arg(&c)
        .assert()
        .failure()
        .stderr(predicates::str::contains("need the same classes"));
}

/// `runner devices --check cpu` compares the CPU with itself: every GAN of
/// the quickstart (embedded, no data to find) gives the very same losses and
/// weights (differences 0), KDE is said to compute on the CPU, exit 0; a
/// spec that does not exist is a spec error (exit 2); a spec without a GAN
/// is refused (exit 1).
#[test]
fn devices_check_on_the_cpu_finds_no_difference() {
    let d = tempfile::tempdir().unwrap();
    let out = runner(d.path())
        .args(["devices", "--check", "cpu", "--steps", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("Training on cpu against the CPU: 1 step(s) of each GAN of `quickstart`"),
        "{text}"
    );
    for method in ["alad", "anogan", "fence_gan", "ganomaly", "ocgan"] {
        let row = format!("{method:<10}  0.0e0      0.0e0      same");
        assert!(text.lines().any(|l| l == row), "no `{row}` in:\n{text}");
    }
    assert!(
        text.contains("kde         -          -          computes on the CPU"),
        "{text}"
    );

    runner(d.path())
        .args(["devices", "--check", "cpu", "--spec", "missing.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "missing.yaml: cannot read the spec",
        ));

    // A spec without a GAN has nothing to compare: said, not "every GAN agrees".
    std::fs::write(
        d.path().join("kde.yaml"),
        "name: kde\ndataset: digits\nclasses: [0]\nseeds: [0]\nmethods:\n  - kde: {}\n",
    )
    .unwrap();
    runner(d.path())
        .args(["devices", "--check", "cpu", "--spec", "kde.yaml"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("computes on the CPU"))
        .stdout(predicate::str::contains("trains every GAN").not())
        .stderr(predicate::str::contains(
            "no method of this spec trains on a device",
        ));
}
