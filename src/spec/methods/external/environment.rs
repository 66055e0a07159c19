//! An external method's declared environment as the spec gives it (a pip
//! requirements file and an interpreter), what the interpreter says of
//! itself, and the environment's key; building it is
//! `detector::external::environment`'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::on_path;

/// A method's declared environment: a pip requirements file (pinned
/// versions), or that file and the interpreter to build it with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvironmentField {
    /// The requirements file, relative to the spec's folder (built with `python3`).
    Requirements(String),
    Detailed(EnvironmentDetails),
}

/// `environment: {requirements: FILE, python: python3.11}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDetails {
    /// A pip requirements file, relative to the spec's folder.
    pub requirements: String,
    /// The interpreter the environment is made from: a program on PATH or a path (default `python3`).
    #[serde(default = "default_python")]
    pub python: String,
}

fn default_python() -> String {
    "python3".into()
}

impl EnvironmentField {
    /// The requirements file as written (relative to the spec's folder).
    pub fn requirements(&self) -> &str {
        match self {
            EnvironmentField::Requirements(r) => r,
            EnvironmentField::Detailed(d) => &d.requirements,
        }
    }

    /// The interpreter the environment is made from.
    pub fn python(&self) -> &str {
        match self {
            EnvironmentField::Requirements(_) => "python3",
            EnvironmentField::Detailed(d) => &d.python,
        }
    }
}

/// What an interpreter says of itself: what an environment built from it
/// depends on besides its requirements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interpreter {
    /// Where it was found.
    pub path: PathBuf,
    /// `3.11.7`.
    pub version: String,
    /// `cpython`.
    pub implementation: String,
    /// `linux-x86_64` (sysconfig's platform).
    pub platform: String,
    /// `glibc 2.36`.
    pub libc: String,
}

/// The interpreters asked already in this process, by the name given.
static INTERPRETERS: Mutex<Option<HashMap<(PathBuf, String), Interpreter>>> = Mutex::new(None);

/// Asks `python` (a program on PATH, or a path relative to `workdir`) for
/// its version and platform; answers are kept for the process.
pub fn probe_interpreter(workdir: &Path, python: &str) -> Result<Interpreter, String> {
    let memo_key = (workdir.to_path_buf(), python.to_string());
    if let Some(i) = INTERPRETERS
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&memo_key).cloned()))
    {
        return Ok(i);
    }
    let path = if python.contains('/') {
        workdir.join(python)
    } else {
        on_path(python).ok_or_else(|| {
            format!("the interpreter `{python}` is not found on PATH: install it, or name another one (`environment: {{requirements: FILE, python: python3.11}}`)")
        })?
    };
    const PROBE: &str = "import json, platform, sys, sysconfig\n\
print(json.dumps({'version': platform.python_version(), 'implementation': sys.implementation.name, \
'platform': sysconfig.get_platform(), 'libc': ' '.join(platform.libc_ver()).strip()}))";
    let out = std::process::Command::new(&path)
        .args(["-I", "-c", PROBE])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the interpreter {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "the interpreter {} failed to say its version: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    #[derive(Deserialize)]
    struct Said {
        version: String,
        implementation: String,
        platform: String,
        libc: String,
    }
    let said: Said = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "the interpreter {} is not a Python 3 that this runner understands: {e}",
            path.display()
        )
    })?;
    let found = Interpreter {
        path,
        version: said.version,
        implementation: said.implementation,
        platform: said.platform,
        libc: said.libc,
    };
    if let Ok(mut m) = INTERPRETERS.lock() {
        m.get_or_insert_with(HashMap::new)
            .insert(memo_key, found.clone());
    }
    Ok(found)
}

/// The key of an environment: blake3 of the requirements file's content and
/// of what the interpreter says of itself (not its path).
pub fn environment_key(requirements: &[u8], interpreter: &Interpreter) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"runner-environment-v1\0");
    h.update(blake3::hash(requirements).as_bytes());
    for part in [
        &interpreter.implementation,
        &interpreter.version,
        &interpreter.platform,
        &interpreter.libc,
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    h.finalize().to_hex().to_string()
}

/// An environment as its files are now: where its requirements file is,
/// its content, the interpreter and the key.
#[derive(Clone, Debug)]
pub struct EnvironmentNow {
    /// The requirements file (absolute).
    pub requirements: PathBuf,
    pub text: String,
    pub interpreter: Interpreter,
    pub key: String,
}

/// Reads an environment's requirements file and asks its interpreter.
pub(super) fn describe_environment(workdir: &Path, env: &EnvironmentField) -> Result<EnvironmentNow, String> {
    let requirements = workdir.join(env.requirements());
    let bytes = std::fs::read(&requirements).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "the requirements file `{}` does not exist (looked for {})",
            env.requirements(),
            requirements.display()
        ),
        _ => format!("cannot read {}: {e}", requirements.display()),
    })?;
    let interpreter = probe_interpreter(workdir, env.python())?;
    let key = environment_key(&bytes, &interpreter);
    Ok(EnvironmentNow {
        requirements,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        interpreter,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter(version: &str, path: &str) -> Interpreter {
        Interpreter {
            path: path.into(),
            version: version.into(),
            implementation: "cpython".into(),
            platform: "linux-x86_64".into(),
            libc: "glibc 2.36".into(),
        }
    }

    #[test]
    fn environment_keys_hash_content_and_interpreter_facts_not_paths() {
        let k = |req: &[u8], i: &Interpreter| environment_key(req, i);
        let base = interpreter("3.11.7", "/usr/bin/python3");
        assert_eq!(
            k(b"a==1\n", &base),
            k(b"a==1\n", &interpreter("3.11.7", "/opt/py/bin/python3")),
            "the interpreter's path keys the environment"
        );
        assert_ne!(k(b"a==1\n", &base), k(b"a==2\n", &base));
        assert_ne!(
            k(b"a==1\n", &base),
            k(b"a==1\n", &interpreter("3.12.1", "/usr/bin/python3"))
        );
        let other_platform = Interpreter {
            platform: "linux-aarch64".into(),
            ..base.clone()
        };
        assert_ne!(k(b"a==1\n", &base), k(b"a==1\n", &other_platform));
    }
}
