//! External methods' declared environments and program output, end to end:
//! a requirements file that cannot be built fails that method's jobs only
//! and leaves nothing half-built, a fixed file builds on the next run; a
//! build killed half-way is made again; two runners needing one environment
//! build it once; `--offline` refuses a missing environment before any job;
//! a program printing more than `output_limit` is kept within it, once; and
//! (with the package registry) PyOD's detectors through
//! `examples/methods/pyod_detector.py` give the AUROCs of the same
//! detectors called directly on the same images.
//!
//! These need `python3` with `venv` (and, for PyOD, the package registry).
//! Without them they skip with a message, except with `CI=true` or
//! `RUNNER_REQUIRE_PYTHON=1` (`RUNNER_REQUIRE_PYPI=1` for PyOD), where
//! they fail. The environments here hold no package (offline), built by
//! pip (`RUNNER_INSTALLER=pip`), except PyOD's, built by whichever
//! installer is on PATH.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "common/files.rs"]
mod files;

use assert_cmd::Command;

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1" || v == "true")
}

fn runner(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("runner").expect("the runner binary");
    c.current_dir(dir)
        .env_remove("RUNNER_STORE")
        .env_remove("RUNNER_DATA")
        .env("RUNNER_INSTALLER", "pip")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(900));
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("folder");
    }
    std::fs::write(&p, text).expect("write");
    p
}

/// Whether `python3` can make a virtual environment; skips (or, where
/// required, fails) when not.
fn venv_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let why = "no python3 with venv and ensurepip";
        if required("CI") || required("RUNNER_REQUIRE_PYTHON") {
            panic!("{why}, but CI requires it");
        }
        eprintln!("SKIPPED: {why}");
    }
    ok
}

/// A detector in plain Python (no package: it runs in an empty
/// environment): the mean pixel as the score. Fit prints the interpreter's
/// prefix (which environment runs it) and `SPAM` bytes on each stream.
const PLAIN: &str = r#"
import json, os, sys
phase, job = sys.argv[1], json.load(open(sys.argv[2]))
print("prefix", sys.prefix)
spam = int(os.environ.get("SPAM", "0"))
if spam and phase == "fit":
    for i in range(spam // 100):
        sys.stdout.write(f"{i:09d} " + "o" * 89 + "\n")
        sys.stderr.write(f"{i:09d} " + "e" * 89 + "\n")
    sys.stdout.write("THE END\n")
data = open(job["images"], "rb").read()
start = 10 + int.from_bytes(data[8:10], "little")
size = job["channels"] * job["height"] * job["width"]
if phase == "fit":
    open(os.path.join(job["model_dir"], "model.txt"), "w").write("plain")
else:
    with open(job["scores"], "w") as f:
        f.write("score\n")
        for i in range(job["count"]):
            px = data[start + i * size:start + (i + 1) * size]
            f.write(f"{sum(px) / size}\n")
"#;

/// A spec folder with KDE and the plain detector in the environment of
/// `requirements` (text), on digit 0, seed 0.
fn spec_folder(requirements: &str, extra: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), "methods/plain.py", PLAIN);
    write(d.path(), "methods/requirements.txt", requirements);
    write(
        d.path(),
        "spec.yaml",
        &format!(
            "\
name: envs
dataset: digits
classes: [0]
seeds: [0]
methods:
  - kde: {{}}
  - external:
      name: plain
      command: [python3, methods/plain.py]
      environment: methods/requirements.txt
{extra}"
        ),
    );
    d
}

/// `envs/<key>/` folders of the store in `dir`.
fn env_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("cache/envs"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_dir());
    v.sort();
    v
}

fn output(c: &mut Command) -> (bool, String, String) {
    let o = c.output().expect("runs");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_bad_requirements_file_fails_its_method_only_and_a_fixed_one_builds() {
    if !venv_available() {
        return;
    }
    let d = spec_folder("--no-index\nno-such-package-xyz==1.0\n", "");
    let (ok, _, err) = output(runner(d.path()).args(["run", "spec.yaml", "--no-report"]));
    assert!(!ok, "a failed environment must fail the run:\n{err}");
    assert!(err.contains("1 failed"), "KDE goes on, plain fails:\n{err}");
    assert!(
        err.contains("could not be built") && err.contains("no-such-package-xyz"),
        "the failure quotes pip's last lines:\n{err}"
    );
    assert!(
        err.contains("`runner env build SPEC`"),
        "what to do offline:\n{err}"
    );
    assert!(
        env_dirs(d.path()).is_empty(),
        "a failed build left a folder: {:?}",
        env_dirs(d.path())
    );
    let status = output(runner(d.path()).args(["status", "spec.yaml"]));
    assert!(
        status.1.contains("No matching distribution") || status.2.contains("No matching"),
        "status says why: {status:?}"
    );
    // fixed: an empty (but valid) requirements file builds, the job runs
    write(d.path(), "methods/requirements.txt", "# no packages\n");
    let (ok, _, err) = output(runner(d.path()).args(["run", "spec.yaml", "--no-report"]));
    assert!(ok, "{err}");
    assert!(err.contains("1 ran") && err.contains("1 cached"), "{err}");
    let envs = env_dirs(d.path());
    assert_eq!(envs.len(), 1);
    assert!(envs[0].join("environment.json").is_file());
    // the program ran with the environment's interpreter
    let fit_out = files::walk(&d.path().join("cache/objects/model"))
        .into_iter()
        .find(|p| p.ends_with("fit.stdout"))
        .expect("the stored fit output");
    let text = std::fs::read_to_string(fit_out).expect("read");
    let venv = envs[0].join("venv");
    assert!(
        text.contains(&format!("prefix {}", venv.display())),
        "not run in {}: {text}",
        venv.display()
    );
    // and the manifest names the environment's packages
    let manifest = files::walk(&d.path().join("cache/objects/model"))
        .into_iter()
        .filter(|p| p.ends_with("manifest.json"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find(|m| m.contains("plain.py"))
        .expect("the plain method's manifest");
    let m: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    assert!(
        m["environment"]["packages"]["pip"].is_string(),
        "{}",
        m["environment"]
    );
    // `plan` says it is ready; a changed pin is another environment
    let (_, plan, _) = output(runner(d.path()).args(["plan", "spec.yaml"]));
    assert!(plan.contains("ready"), "{plan}");
    write(
        d.path(),
        "methods/requirements.txt",
        "# still none, other text\n",
    );
    let (_, plan, _) = output(runner(d.path()).args(["plan", "spec.yaml"]));
    assert!(
        plan.contains("to build") && plan.contains(" train"),
        "{plan}"
    );
}

#[test]
fn offline_refuses_a_missing_environment_before_any_job() {
    if !venv_available() {
        return;
    }
    let d = spec_folder("# no packages\n", "");
    let (ok, _, err) = output(runner(d.path()).args(["run", "spec.yaml", "--offline"]));
    assert!(!ok);
    assert!(
        err.contains("runner env build spec.yaml") && err.contains("`plain` needs the environment"),
        "{err}"
    );
    let objects = files::walk(&d.path().join("cache/objects"));
    assert!(objects.is_empty(), "a job ran: {objects:?}");
    // built first, the offline run goes
    let (ok, _, err) = output(runner(d.path()).args(["env", "build", "spec.yaml"]));
    assert!(ok && err.contains("built in"), "{err}");
    let (ok, _, err) =
        output(runner(d.path()).args(["run", "spec.yaml", "--offline", "--no-report"]));
    assert!(ok, "{err}");
}

/// Waits until `cond` holds (at most `secs`).
fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn runner_process(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("runner"));
    c.current_dir(dir)
        .args(args)
        .env_remove("RUNNER_STORE")
        .env("RUNNER_INSTALLER", "pip")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

#[test]
fn a_build_killed_half_way_is_made_again() {
    if !venv_available() {
        return;
    }
    let d = spec_folder("# no packages\n", "");
    // its own process group: the kill takes the runner and its installer,
    // as a cluster's job kill does
    let mut child = runner_process(d.path(), &["env", "build", "spec.yaml"])
        .process_group(0)
        .spawn()
        .expect("start");
    let started = wait_for(60, || {
        env_dirs(d.path())
            .first()
            .is_some_and(|e| e.join("venv/bin").is_dir())
    });
    assert!(started, "the build did not start");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).expect("kill");
    let _ = child.wait();
    let envs = env_dirs(d.path());
    assert_eq!(envs.len(), 1);
    assert!(
        !envs[0].join("environment.json").exists(),
        "the killed build was completed anyway"
    );
    // a run uses no half-built environment: it builds it again
    let (ok, _, err) = output(runner(d.path()).args(["run", "spec.yaml", "--no-report"]));
    assert!(ok, "{err}");
    assert!(envs[0].join("environment.json").is_file());
    let log = std::fs::read_to_string(envs[0].join("build.log")).expect("log");
    assert_eq!(log.matches("$ venv").count(), 1, "{log}");
}

#[test]
fn two_runners_needing_one_environment_build_it_once() {
    if !venv_available() {
        return;
    }
    let d = spec_folder("# no packages\n", "");
    let a = runner_process(d.path(), &["env", "build", "spec.yaml"])
        .spawn()
        .expect("a");
    let b = runner_process(d.path(), &["env", "build", "spec.yaml"])
        .spawn()
        .expect("b");
    let outs = [a, b].map(|c| c.wait_with_output().expect("ends"));
    let errs: Vec<String> = outs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert!(outs.iter().all(|o| o.status.success()), "{errs:?}");
    let built = errs.iter().filter(|e| e.contains("built in")).count();
    assert_eq!(built, 1, "built by both or none: {errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("ready")),
        "the other one used it: {errs:?}"
    );
    let envs = env_dirs(d.path());
    assert_eq!(envs.len(), 1);
    let log = std::fs::read_to_string(envs[0].join("build.log")).expect("log");
    assert_eq!(log.matches("$ venv").count(), 1, "{log}");
}

#[test]
fn output_beyond_the_limit_is_kept_within_it_and_stored_once() {
    if !venv_available() {
        return;
    }
    let d = spec_folder("# no packages\n", "      output_limit: 100KB\n");
    // 3 MB on each stream
    let (ok, _, err) =
        output(
            runner(d.path())
                .env("SPAM", "3000000")
                .args(["run", "spec.yaml", "--no-report"]),
        );
    assert!(ok, "{err}");
    let logs = files::walk(&d.path().join("cache/logs"));
    for stream in ["fit.stdout", "fit.stderr"] {
        let kept = logs
            .iter()
            .find(|p| p.ends_with(stream))
            .unwrap_or_else(|| panic!("no {stream} in {logs:?}"));
        let text = std::fs::read_to_string(kept).expect("read");
        assert!(
            text.len() <= 100_000 + 200,
            "{stream}: {} bytes kept",
            text.len()
        );
        assert!(
            text.contains("bytes of this output left out here"),
            "{stream}: the omission is not marked"
        );
        if stream == "fit.stdout" {
            assert!(text.starts_with("prefix "), "the head is kept");
            assert!(text.ends_with("THE END\n"), "the tail is kept");
        }
        // the stored model's copy is the same file
        let in_model = files::walk(&d.path().join("cache/objects/model"))
            .into_iter()
            .find(|p| p.ends_with(stream))
            .expect("in the model");
        let (a, b) = (
            std::fs::metadata(kept).expect("meta"),
            std::fs::metadata(&in_model).expect("meta"),
        );
        assert_eq!(
            (a.dev(), a.ino()),
            (b.dev(), b.ino()),
            "{stream} is stored twice"
        );
    }
    // the store verifies with the shared files
    let (ok, out, _) = output(runner(d.path()).args(["cache", "verify"]));
    assert!(ok && out.contains("0 corrupt"), "{out}");
}

/// Copies the images each call gets into `DUMP/<phase>.npy`, then runs
/// `pyod_detector.py` as it is.
const TEE: &str = r#"
import json, os, runpy, shutil, sys
job = json.load(open(sys.argv[2]))
dump = os.path.join(os.environ["DUMP"], f"{job['method']}-{job['task']['class']}-{sys.argv[1]}.npy")
shutil.copy(job["images"], dump)
runpy.run_path(os.environ["PYOD_DETECTOR"], run_name="__main__")
"#;

/// The same detectors called directly: fit on the fit images, AUROC of
/// `decision_function` on the score images against the stored labels.
const DIRECT: &str = r#"
import json, sys
import numpy as np
from sklearn.metrics import roc_auc_score
from pyod.models.ecod import ECOD
from pyod.models.copod import COPOD
from pyod.models.knn import KNN
from pyod.models.lof import LOF
dump, labels = sys.argv[1], json.load(open(sys.argv[2]))
made = {"ecod": lambda: ECOD(n_jobs=1), "copod": lambda: COPOD(n_jobs=1),
        "knn": lambda: KNN(n_neighbors=5, n_jobs=1), "lof": lambda: LOF(n_neighbors=20, n_jobs=1)}
out = {}
for key, y in labels.items():
    name, cls = key.split("-")
    load = lambda phase: np.load(f"{dump}/{name}-{cls}-{phase}.npy").reshape(-1, 64) / 255.0
    det = made[name]()
    det.fit(load("fit"))
    # as the runner reads them: the 9 digits pyod_detector.py writes, as 32-bit floats
    s = np.array([np.float32(float("%.9g" % v)) for v in det.decision_function(load("score"))])
    out[key] = roc_auc_score(y, s)
print(json.dumps(out))
"#;

#[test]
fn pyod_detectors_give_the_aurocs_of_the_same_detectors_called_directly() {
    if !venv_available() {
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().expect("tmp");
    let dump = d.path().join("dump");
    std::fs::create_dir_all(&dump).expect("dump");
    write(d.path(), "methods/tee.py", TEE);
    std::fs::copy(
        repo.join("examples/methods/pyod-requirements.txt"),
        d.path().join("methods/pyod-requirements.txt"),
    )
    .expect("requirements");
    let detector = |name: &str, params: &str| {
        format!(
            "  - external:
      name: {name}
      command: [python3, methods/tee.py]
      inputs: [methods/tee.py, {}]
      environment: methods/pyod-requirements.txt
      params: {params}
",
            repo.join("examples/methods/pyod_detector.py").display()
        )
    };
    let spec = format!(
        "name: pyod\ndataset: digits\nclasses: [0, 3]\nseeds: [0]\nmethods:\n{}{}{}{}",
        detector("ecod", "{detector: ECOD}"),
        detector("copod", "{detector: COPOD}"),
        detector("knn", "{detector: KNN, n_neighbors: 5}"),
        detector("lof", "{detector: LOF, n_neighbors: 20}"),
    );
    write(d.path(), "spec.yaml", &spec);
    let mut build = runner(d.path());
    build
        .env_remove("RUNNER_INSTALLER")
        .args(["env", "build", "spec.yaml"]);
    let (ok, _, err) = output(&mut build);
    if !ok {
        let why = format!("the PyOD environment could not be built (no package registry?):\n{err}");
        if required("CI") || required("RUNNER_REQUIRE_PYPI") {
            panic!("{why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let (ok, _, err) = output(
        runner(d.path())
            .env("DUMP", &dump)
            .env(
                "PYOD_DETECTOR",
                repo.join("examples/methods/pyod_detector.py"),
            )
            .args(["run", "spec.yaml", "-j", "2", "--no-report"]),
    );
    assert!(ok, "{err}");
    // the runner's AUROC and the labels of every result, by `name-class`
    let mut runner_auc = serde_json::Map::new();
    let mut labels = serde_json::Map::new();
    for result in files::walk(&d.path().join("cache/objects/result"))
        .into_iter()
        .filter(|p| p.ends_with("manifest.json"))
    {
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&result).expect("read")).expect("json");
        let job = &m["inputs"]["job"];
        let name = job["method"]["external"]["name"].as_str().expect("name");
        let key = format!("{name}-{}", job["class"]);
        let folder = result.parent().expect("folder");
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(folder.join("result.json")).expect("result"),
        )
        .expect("json");
        runner_auc.insert(key.clone(), r["auroc"].clone());
        let scores = std::fs::read_to_string(folder.join("scores.csv")).expect("scores");
        let y: Vec<u8> = scores
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("label")
            })
            .collect();
        labels.insert(key, serde_json::json!(y));
        // the manifest names the packages it ran with
        assert!(
            m["environment"]["packages"]["pyod"].as_str() == Some("3.6.7"),
            "{}",
            m["environment"]
        );
    }
    assert_eq!(runner_auc.len(), 8, "{runner_auc:?}");
    let labels_file = write(
        d.path(),
        "labels.json",
        &serde_json::Value::Object(labels).to_string(),
    );
    let env = files::walk(&d.path().join("cache/envs"))
        .into_iter()
        .find(|p| p.ends_with("venv/bin/python"))
        .expect("the environment's python");
    let script = write(d.path(), "direct.py", DIRECT);
    let direct = std::process::Command::new(&env)
        .arg(&script)
        .arg(&dump)
        .arg(&labels_file)
        .output()
        .expect("direct");
    assert!(
        direct.status.success(),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );
    let direct: serde_json::Value = serde_json::from_slice(&direct.stdout).expect("json");
    for (key, auc) in &runner_auc {
        let (a, b) = (
            auc.as_f64().expect("runner AUROC"),
            direct[key].as_f64().expect("direct AUROC"),
        );
        assert!(
            (a - b).abs() < 1e-6,
            "{key}: runner {a} against PyOD directly {b}"
        );
    }
    // an unknown detector or argument fails its job with PyOD's word for it
    let adapter = |name: &str, params: &str| {
        format!(
            "  - external:
      name: {name}
      command: [python3, {}]
      environment: methods/pyod-requirements.txt
      params: {params}
",
            repo.join("examples/methods/pyod_detector.py").display()
        )
    };
    let bad = format!(
        "name: pyod-bad\ndataset: digits\nclasses: [0]\nseeds: [0]\nmethods:\n{}{}",
        adapter("nosuch", "{detector: NoSuchDetector}"),
        adapter("badarg", "{detector: KNN, n_neighbours: 5}"),
    );
    write(d.path(), "bad.yaml", &bad);
    let (ok, _, err) = output(runner(d.path()).args(["run", "bad.yaml", "--no-report"]));
    assert!(!ok && err.contains("2 failed"), "{err}");
    assert!(
        err.contains("PyOD has no detector `NoSuchDetector`"),
        "{err}"
    );
    assert!(
        err.contains("unexpected keyword argument 'n_neighbours'"),
        "{err}"
    );
}
