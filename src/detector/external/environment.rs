//! Building an external method's declared environment into the store: a
//! virtual environment made from the method's interpreter and its pip
//! requirements file, once per key (`store::environment` has the layout).
//!
//! Once: the build holds the environment's lock in the store's `locks/`
//! (the job locks' kind: taken over when its holder is gone), and every
//! other job or runner that needs it waits for it. Atomic: the environment
//! is used only once its record is written, last; a folder without one (a
//! killed build) is removed and built again. A failed build leaves nothing
//! but its output in `envs/<key>.failed.log`, and fails the jobs of that
//! method in this process with pip's last lines without building again.
//!
//! The installer: `uv` (`uv venv`, `uv pip install`) when it is on PATH,
//! else the interpreter's `venv` and `pip`; `RUNNER_INSTALLER=pip|uv`
//! chooses.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{ExternalError, absolute};
use crate::detector::DetectorError;
use crate::spec::methods::ExternalParams;
use crate::spec::methods::external::{EnvironmentNow, on_path};
use crate::store::{EnvironmentRecord, Key, LEASE_EXPIRY, Store, StoreError};

/// How many lines of the installer's output a failure quotes.
const TAIL_LINES: usize = 20;

/// A built environment: where its virtual environment is, and its record.
#[derive(Clone, Debug)]
pub struct Ready {
    pub venv: PathBuf,
    pub record: EnvironmentRecord,
    /// Whether this call built it (else it was in the store, or another
    /// process built it while this one waited).
    pub built_here: bool,
}

impl Ready {
    /// The folder of its programs (`python3`, console scripts), put first on
    /// the program's PATH.
    pub fn bin(&self) -> PathBuf {
        self.venv.join("bin")
    }
}

/// The builds that failed in this process, by key, with their message.
static FAILED: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

fn failed_before(key: &str) -> Option<String> {
    FAILED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(key).cloned()))
}

fn remember_failure(key: &str, message: &str) {
    if let Ok(mut m) = FAILED.lock() {
        m.get_or_insert_with(HashMap::new)
            .insert(key.to_string(), message.to_string());
    }
}

/// Which installer builds environments: `RUNNER_INSTALLER`, else `uv` when
/// it is on PATH, else `pip`.
pub fn installer() -> Installer {
    match std::env::var("RUNNER_INSTALLER").as_deref() {
        Ok("pip") => Installer::Pip,
        Ok("uv") => Installer::Uv,
        _ if on_path("uv").is_some() => Installer::Uv,
        _ => Installer::Pip,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Installer {
    Pip,
    Uv,
}

impl Installer {
    pub fn name(self) -> &'static str {
        match self {
            Installer::Pip => "pip",
            Installer::Uv => "uv",
        }
    }
}

/// The environment of `params` in `store`, built first when it is missing
/// (`None`: the method declares none). `waiting` is told once when another
/// process is building it.
pub fn ensure(
    store: &Store,
    params: &ExternalParams,
    cancel: &AtomicBool,
    waiting: &dyn Fn(&str),
) -> Result<Option<Ready>, DetectorError> {
    let Some(key) = params.environment_key.clone().or_else(|| {
        // a method checked without resolving (a test): its key as it is now
        params
            .environment_now()
            .ok()
            .flatten()
            .map(|now| now.key)
    }) else {
        return Ok(None);
    };
    let ready = |record, built_here| Ready {
        venv: absolute(&store.environment_dir(&key).join("venv")),
        record,
        built_here,
    };
    if let Some(record) = store.environment(&key) {
        return Ok(Some(ready(record, false)));
    }
    if let Some(message) = failed_before(&key) {
        return Err(ExternalError::Environment(message).into());
    }
    let lock_key: Key = key
        .parse()
        .map_err(|e: String| ExternalError::Environment(e))?;
    let mut told = false;
    let _lock = loop {
        match store.lock(&lock_key, LEASE_EXPIRY) {
            Ok(lock) => break lock,
            Err(StoreError::Locked { holder, .. }) => {
                if let Some(record) = store.environment(&key) {
                    return Ok(Some(ready(record, false)));
                }
                if cancel.load(Ordering::Relaxed) {
                    return Err(DetectorError::Cancelled);
                }
                if !told {
                    waiting(&holder);
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(ExternalError::Environment(e.to_string()).into()),
        }
    };
    // built by the holder we waited for
    if let Some(record) = store.environment(&key) {
        return Ok(Some(ready(record, false)));
    }
    let now = params
        .environment_now()
        .map_err(ExternalError::Environment)?
        .ok_or_else(|| ExternalError::Environment("no environment".into()))?;
    if now.key != key {
        return Err(ExternalError::Environment(format!(
            "the environment of `{}` changed since the job was planned: run again",
            params.name
        ))
        .into());
    }
    match build(store, &now, params.requirements_file(), installer(), cancel) {
        Ok(record) => Ok(Some(ready(record, true))),
        Err(BuildError::Cancelled) => Err(DetectorError::Cancelled),
        Err(BuildError::Failed(message)) => {
            remember_failure(&key, &message);
            Err(ExternalError::Environment(message).into())
        }
    }
}

enum BuildError {
    Cancelled,
    Failed(String),
}

/// Builds environment `now` into the store (the caller holds its lock):
/// into a clean folder, its record written last.
fn build(
    store: &Store,
    now: &EnvironmentNow,
    requirements: &str,
    installer: Installer,
    cancel: &AtomicBool,
) -> Result<EnvironmentRecord, BuildError> {
    let started = Instant::now();
    // absolute: the installer runs from the requirements file's folder
    let dir = absolute(&store.environment_dir(&now.key));
    let io = |what: &str, p: &Path, e: std::io::Error| {
        BuildError::Failed(format!("{what} {}: {e}", p.display()))
    };
    if dir.exists() {
        // a build that was killed: never used, made again
        tracing::info!("removing the unfinished environment {}", dir.display());
        fs::remove_dir_all(&dir).map_err(|e| io("cannot remove", &dir, e))?;
    }
    fs::create_dir_all(&dir).map_err(|e| io("cannot make", &dir, e))?;
    let log_path = dir.join("build.log");
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let from = now
        .requirements
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let interpreter = &now.interpreter.path;
    let steps: Vec<(String, Command)> = match installer {
        Installer::Pip => {
            let mut make = Command::new(interpreter);
            make.arg("-m").arg("venv").arg(&venv);
            let mut install = Command::new(&python);
            install
                .args(["-m", "pip", "install", "--disable-pip-version-check"])
                .args(["--no-input", "--requirement"])
                .arg(&now.requirements);
            vec![("venv".into(), make), ("pip install".into(), install)]
        }
        Installer::Uv => {
            let mut make = Command::new("uv");
            make.args(["venv", "--quiet", "--python"])
                .arg(interpreter)
                .arg(&venv);
            let mut install = Command::new("uv");
            install
                .args(["pip", "install", "--compile-bytecode", "--python"])
                .arg(&python)
                .arg("--requirement")
                .arg(&now.requirements);
            vec![("uv venv".into(), make), ("uv pip install".into(), install)]
        }
    };
    let fail = |message: String| {
        let kept = store.environment_failure_log(&now.key);
        let _ = fs::copy(&log_path, &kept);
        let tail = tail(&log_path);
        let _ = fs::remove_dir_all(&dir);
        BuildError::Failed(format!(
            "the environment {requirements} (key {}) could not be built: {message}; the installer's last lines:\n    {}\n  full output: {}\n  fix the requirements file and run again; where the package registry cannot be reached (a compute node), build it first where it can: `runner env build SPEC`",
            &now.key[..12],
            tail.lines().collect::<Vec<_>>().join("\n    "),
            kept.display()
        ))
    };
    for (what, mut cmd) in steps {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| io("cannot write", &log_path, e))?;
        let mut header = log.try_clone().map_err(|e| io("cannot write", &log_path, e))?;
        let _ = writeln!(header, "$ {what}");
        let err = log.try_clone().map_err(|e| io("cannot write", &log_path, e))?;
        cmd.current_dir(&from)
            .env("PIP_NO_INPUT", "1")
            .env_remove("PYTHONPATH")
            .env_remove("VIRTUAL_ENV")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err));
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot start {what}: {e}")))?;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(fail(format!("lost {what}: {e}"))),
            }
            if cancel.load(Ordering::Relaxed) {
                let _ = child.kill();
                let _ = child.wait();
                let _ = fs::remove_dir_all(&dir);
                return Err(BuildError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if !status.success() {
            return Err(fail(format!("{what} failed ({status})")));
        }
    }
    let packages = freeze(installer, &python).map_err(fail)?;
    let record = EnvironmentRecord {
        key: now.key.clone(),
        requirements: requirements.to_string(),
        requirements_text: now.text.clone(),
        python: format!(
            "{} {}",
            now.interpreter.implementation, now.interpreter.version
        ),
        python_path: now.interpreter.path.display().to_string(),
        platform: now.interpreter.platform.clone(),
        libc: now.interpreter.libc.clone(),
        installer: installer.name().to_string(),
        packages,
        built: crate::store::now_rfc3339(),
        build_seconds: started.elapsed().as_secs_f64(),
        host: crate::store::hostname(),
    };
    store
        .complete_environment(&record)
        .map_err(|e| BuildError::Failed(e.to_string()))?;
    let _ = fs::remove_file(store.environment_failure_log(&now.key));
    Ok(record)
}

/// Every package installed in the environment and its exact version.
fn freeze(installer: Installer, python: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut cmd = match installer {
        Installer::Pip => {
            let mut c = Command::new(python);
            c.args(["-m", "pip", "freeze", "--all", "--disable-pip-version-check"]);
            c
        }
        Installer::Uv => {
            let mut c = Command::new("uv");
            c.args(["pip", "freeze", "--python"]).arg(python);
            c
        }
    };
    let out = cmd
        .stdin(Stdio::null())
        .env_remove("VIRTUAL_ENV")
        .output()
        .map_err(|e| format!("cannot list the installed packages: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "listing the installed packages failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_freeze(&String::from_utf8_lossy(&out.stdout)))
}

/// `name==1.2` lines (and `name @ URL`) as name -> version.
pub fn parse_freeze(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-'))
        .map(|l| {
            let (name, version) = l
                .split_once("==")
                .or_else(|| l.split_once(" @ "))
                .unwrap_or((l, ""));
            (name.trim().to_string(), version.trim().to_string())
        })
        .collect()
}

/// The last lines of a file (empty when it cannot be read).
fn tail(path: &Path) -> String {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_lines_become_names_and_versions() {
        let p = parse_freeze(
            "numpy==2.4.6\npyod==3.6.7\n# a comment\n-e git+https://x/y#egg=z\nlocal @ file:///tmp/local-1.0.whl\n\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p["numpy"], "2.4.6");
        assert_eq!(p["pyod"], "3.6.7");
        assert_eq!(p["local"], "file:///tmp/local-1.0.whl");
    }

    #[test]
    fn a_method_without_an_environment_needs_no_store_and_one_with_it_needs_one() {
        let plain = ExternalParams {
            name: "d".into(),
            command: vec!["sh".into()],
            ..Default::default()
        };
        let cancel = AtomicBool::new(false);
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("store");
        let none = ensure(&store, &plain, &cancel, &|_| {});
        assert!(matches!(none, Ok(None)), "{none:?}");
        // a failure remembered in this process is given again without building
        let failing = ExternalParams {
            environment_key: Some("ab".repeat(32)),
            environment: Some(crate::spec::methods::external::EnvironmentField::Requirements(
                "r.txt".into(),
            )),
            ..plain
        };
        remember_failure(&"ab".repeat(32), "pip said no");
        let again = ensure(&store, &failing, &cancel, &|_| {});
        assert!(
            again.as_ref().is_err_and(|e| e.to_string() == "pip said no"),
            "{again:?}"
        );
        assert!(!store.environment_dir(&"ab".repeat(32)).exists());
    }
}
