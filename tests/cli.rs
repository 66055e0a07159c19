//! End-to-end tests of the `runner` binary: specs in, exit codes, plans,
//! runs, cache behaviour and reports out.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn runner(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("runner").unwrap();
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

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
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
