//! An external method: any program that reads images and writes scores
//! (the protocol is `docs/external-methods.md`; the runner's side of it is
//! `detector::external`).
//!
//! What keys its model: the protocol version, `version`, the command line as
//! written, the content digest of every `inputs` file (a folder: every file
//! in it), `params`, `image_size`, `env` and the key of its `environment`
//! (the requirements file's content, the interpreter's version and the
//! platform); `score_params` keys the result only. The name, the timeouts,
//! the thread count, the output limit, `uses_device`, the folder the program
//! runs from and where the requirements file is key nothing. The folder and
//! the digests are filled in when the spec is checked
//! ([`ExternalParams::resolve`]), so a job carries them to wherever it runs
//! (a Slurm node).
//!
//! The declared environment and its key are [`environment`]'s; the time
//! and size fields' parsing is [`limits`]'.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FieldProblem, METHOD_NAMES, MethodParams};

mod environment;
mod limits;

use environment::describe_environment;
pub use environment::{
    EnvironmentDetails, EnvironmentField, EnvironmentNow, Interpreter, environment_key,
    probe_interpreter,
};
pub use limits::{ByteSize, DEFAULT_OUTPUT_LIMIT, TimeLimit, parse_size};

/// The protocol versions this runner speaks (`docs/external-methods.md`).
pub const PROTOCOLS: &[u32] = &[1];
/// The newest protocol version: the default of `protocol`.
pub const PROTOCOL: u32 = 1;

/// An external program as a method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalParams {
    /// The method's row label in every table: `[a-z0-9_-]+`, not the name of a built-in method.
    pub name: String,
    /// The program and its arguments, run from the spec's folder; the runner appends `fit JOB_FILE` or `score JOB_FILE`.
    pub command: Vec<String>,
    /// Files or folders whose content keys the model (a folder: every file in it, but `__pycache__`, `*.pyc` and hidden ones); default: the words of `command` that name files.
    pub inputs: Option<Vec<String>>,
    /// Any mapping, passed to the program as JSON (both phases); keys the model. Sweeps work on its values.
    pub params: Map<String, Value>,
    /// Passed to the score phase only; keys the result, not the model (changing one re-scores without refitting).
    pub score_params: Map<String, Value>,
    /// Bump it to make every model and result of this method again (e.g. after changing code the `inputs` do not cover).
    pub version: u32,
    /// The protocol version the program was written for (the runner speaks those in `PROTOCOLS`).
    pub protocol: u32,
    /// Resize the images to this side (bilinear) before passing them; default: the dataset's size.
    pub image_size: Option<usize>,
    /// `true`: the program computes on the run's `--device` (it gets the device's name and takes a `--gpu-jobs` slot).
    pub uses_device: bool,
    /// Environment variables set for the program (they key the model); names starting with `RUNNER_` are the runner's.
    pub env: BTreeMap<String, String>,
    /// Time limit of the fit phase (seconds, or `90s`, `30m`, `12h`, `2d`).
    pub fit_timeout: TimeLimit,
    /// Time limit of the score phase.
    pub score_timeout: TimeLimit,
    /// Threads the program may use (`threads` in the job file, `OMP_NUM_THREADS` and friends);
    /// default: the machine's cores divided among the jobs running at once.
    pub threads: Option<usize>,
    /// The score column the tables show when the program writes several
    /// (default: the first); `MethodConfig::shown_score` reads it.
    pub score: Option<String>,
    /// A pip requirements file (pinned versions), relative to the spec's folder, or
    /// `{requirements: FILE, python: INTERPRETER}`: the runner builds it once into the
    /// store and runs the program with it first on PATH; its key joins the model's key.
    pub environment: Option<EnvironmentField>,
    /// The most bytes kept of each of the program's streams per call (its head and
    /// its tail, with a line saying how much was left out): bytes, or `500KB`, `1MiB`.
    pub output_limit: ByteSize,
    /// The absolute folder the program runs from (the spec's folder): set by the runner.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub workdir: Option<PathBuf>,
    /// blake3 of the `inputs` (names and contents): set by the runner.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub inputs_digest: Option<String>,
    /// The key of the `environment` ([`environment_key`]): set by the runner.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub environment_key: Option<String>,
}

impl Default for ExternalParams {
    fn default() -> Self {
        ExternalParams {
            name: String::new(),
            command: Vec::new(),
            inputs: None,
            params: Map::new(),
            score_params: Map::new(),
            version: 1,
            protocol: PROTOCOL,
            image_size: None,
            uses_device: false,
            env: BTreeMap::new(),
            fit_timeout: TimeLimit::Text("24h".into()),
            score_timeout: TimeLimit::Text("4h".into()),
            threads: None,
            score: None,
            environment: None,
            output_limit: ByteSize::Bytes(DEFAULT_OUTPUT_LIMIT),
            workdir: None,
            inputs_digest: None,
            environment_key: None,
        }
    }
}

/// Whether `name` is a valid method or column name: `[a-z0-9_-]+` (with
/// upper case too when `upper`).
fn is_plain_name(name: &str, upper: bool) -> bool {
    !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '_'
                || c == '-'
                || (upper && c.is_ascii_uppercase())
        })
}

impl MethodParams for ExternalParams {
    /// The protocol version: a new protocol changes what programs are given.
    const IMPL_VERSION: u32 = PROTOCOL;
    const SCORE_FIELDS: &'static [&'static str] = &["score_params"];
    const SHOWN_SCORE_FIELD: Option<&'static str> = Some("score");
    const UNHASHED_FIELDS: &'static [&'static str] = &[
        "name",
        "uses_device",
        "fit_timeout",
        "score_timeout",
        "threads",
        "workdir",
        "environment",
        "output_limit",
    ];

    fn check(&self) -> Vec<FieldProblem> {
        let mut out: Vec<FieldProblem> = name_problem(&self.name).into_iter().collect();
        if self.command.first().is_none_or(|c| c.trim().is_empty()) {
            out.push(FieldProblem::new(
                "command",
                "the command is empty: give the program and its arguments, e.g. `[python3, methods/my_detector.py]`",
            ));
        }
        if !PROTOCOLS.contains(&self.protocol) {
            out.push(FieldProblem::new(
                "protocol",
                format!(
                    "this runner speaks protocol {} (docs/external-methods.md); a program written for protocol {} needs a runner that speaks it",
                    PROTOCOLS
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.protocol
                ),
            ));
        }
        if self.image_size == Some(0) {
            out.push(FieldProblem::new("image_size", "must be at least 1"));
        }
        if self.threads == Some(0) {
            out.push(FieldProblem::new("threads", "must be at least 1"));
        }
        for (field, limit) in [
            ("fit_timeout", &self.fit_timeout),
            ("score_timeout", &self.score_timeout),
        ] {
            if let Err(e) = limit.seconds() {
                out.push(FieldProblem::new(field, e));
            }
        }
        for k in self.env.keys() {
            if k.starts_with("RUNNER_") {
                out.push(FieldProblem::new(
                    "env",
                    format!("`{k}`: names starting with RUNNER_ are set by the runner"),
                ));
            } else if !is_plain_name(k, true) || k.contains('-') {
                out.push(FieldProblem::new(
                    "env",
                    format!("`{k}` is not an environment variable name (letters, digits, `_`)"),
                ));
            }
        }
        if let Err(e) = self.output_limit.bytes() {
            out.push(FieldProblem::new("output_limit", e));
        }
        if let Some(s) = &self.score
            && !is_plain_name(s, true)
        {
            out.push(FieldProblem::new(
                "score",
                format!("`{s}` is not a score column name (letters, digits, `_`, `-`)"),
            ));
        }
        out
    }
}

/// What is wrong with an external method's `name`, if anything: empty, not
/// a plain lower-case name, or a built-in method's name.
fn name_problem(name: &str) -> Option<FieldProblem> {
    let message = if name.is_empty() {
        "an external method needs a `name` (its row label, e.g. `name: pca_recon`)".to_string()
    } else if !is_plain_name(name, false) {
        format!("`{name}` is not a method name: use lower-case letters, digits, `_` and `-`")
    } else if METHOD_NAMES.contains(&name) {
        format!("`{name}` is the name of a built-in method: choose another one (e.g. `my_{name}`)")
    } else {
        return None;
    };
    Some(FieldProblem::new("name", message))
}

/// A problem found while resolving an external method against the files:
/// the key path below the method (`command[1]`, `inputs[0]`), what is
/// wrong and what to do.
#[derive(Clone, Debug, PartialEq)]
pub struct PathProblem {
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

/// Whether a command word names a file relative to the spec's folder: it has
/// a `/`, is no option (`-x`, `--x=y`) and no URL.
fn names_file(word: &str) -> bool {
    word.contains('/') && !word.starts_with('-') && !word.contains("://")
}

/// Where `program` is found on `PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

impl ExternalParams {
    /// Checks the command and the inputs against the files in `base` (the
    /// spec's folder), and fills in `workdir`, `inputs` (when left out) and
    /// `inputs_digest`.
    pub fn resolve(&mut self, base: &Path) -> Vec<PathProblem> {
        let mut out = Vec::new();
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        let workdir = match std::path::absolute(base) {
            Ok(p) => p,
            Err(e) => {
                out.push(PathProblem {
                    path: "command".into(),
                    message: format!("cannot resolve the spec's folder {}: {e}", base.display()),
                    help: None,
                });
                return out;
            }
        };
        let mut files = Vec::new();
        for (i, word) in self.command.iter().enumerate() {
            let at = format!("command[{i}]");
            if names_file(word) {
                if !workdir.join(word).exists() {
                    out.push(PathProblem {
                        path: at,
                        message: format!(
                            "`{word}` does not exist (looked for {})",
                            workdir.join(word).display()
                        ),
                        help: Some(
                            "paths in `command` are relative to the spec's folder".into(),
                        ),
                    });
                } else {
                    files.push(word.clone());
                }
            } else if i == 0 && self.environment.is_none() && on_path(word).is_none() {
                out.push(PathProblem {
                    path: at,
                    message: format!("program `{word}` is not found on PATH"),
                    help: Some(
                        "install it, or give its path (relative to the spec's folder)".into(),
                    ),
                });
            }
        }
        let inputs = self.inputs.clone().unwrap_or(files);
        let (digest, problems) = digest_inputs(&workdir, &inputs);
        out.extend(problems);
        self.inputs = Some(inputs);
        self.inputs_digest = Some(digest);
        if let Some(env) = &self.environment {
            match describe_environment(&workdir, env) {
                Ok(d) => self.environment_key = Some(d.key),
                Err(message) => out.push(PathProblem {
                    path: "environment".into(),
                    message,
                    help: Some(
                        "`environment` is a pip requirements file relative to the spec's folder, or `{requirements: FILE, python: INTERPRETER}`".into(),
                    ),
                }),
            }
        }
        self.workdir = Some(workdir);
        out
    }

    /// The method's environment as its files and interpreter are now
    /// (`None`: it declares none); `Err` when the requirements file or the
    /// interpreter cannot be read, or when the key differs from the one the
    /// job was planned with (the file was edited, or the interpreter changed).
    pub fn environment_now(&self) -> Result<Option<EnvironmentNow>, String> {
        let Some(env) = &self.environment else {
            return Ok(None);
        };
        let workdir = self.workdir.clone().unwrap_or_else(|| PathBuf::from("."));
        let now = describe_environment(&workdir, env)?;
        if let Some(planned) = &self.environment_key
            && planned != &now.key
        {
            return Err(format!(
                "the environment of `{}` ({} with {} {}) is not the one the job was planned with: the requirements file or the interpreter changed; run again to plan with them",
                self.name,
                env.requirements(),
                now.interpreter.implementation,
                now.interpreter.version
            ));
        }
        Ok(Some(now))
    }

    /// `Err` when the `inputs` no longer have the digest they had when the
    /// spec was checked (a script edited while its jobs wait or run): a
    /// result would be stored under a key that does not describe it.
    pub fn check_inputs_unchanged(&self) -> Result<(), String> {
        let (Some(workdir), Some(inputs), Some(planned)) =
            (&self.workdir, &self.inputs, &self.inputs_digest)
        else {
            return Ok(());
        };
        let (now, problems) = digest_inputs(workdir, inputs);
        if let Some(p) = problems.first() {
            return Err(format!("{} of `{}`: {}", p.path, self.name, p.message));
        }
        if &now != planned {
            return Err(format!(
                "the inputs of `{}` ({}) changed since the job was planned: run again to plan with the new content",
                self.name,
                inputs.join(", ")
            ));
        }
        Ok(())
    }

    /// The requirements file of the method's environment as written (empty:
    /// it declares none).
    pub fn requirements_file(&self) -> &str {
        self.environment
            .as_ref()
            .map(|e| e.requirements())
            .unwrap_or_default()
    }

    /// The command line as one shell-like line (for `runner plan`).
    pub fn command_line(&self) -> String {
        self.command
            .iter()
            .map(|w| {
                if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "'\"$\\".contains(c))
                {
                    format!("'{}'", w.replace('\'', r"'\''"))
                } else {
                    w.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The digest of `inputs` (names and contents) in `workdir`, with a
/// problem for each one that cannot be read.
fn digest_inputs(workdir: &Path, inputs: &[String]) -> (String, Vec<PathProblem>) {
    let mut h = blake3::Hasher::new();
    let mut problems = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        h.update(format!("input\0{input}\0").as_bytes());
        if let Err(e) = digest_path(&workdir.join(input), Path::new(""), &mut h) {
            problems.push(PathProblem {
                path: format!("inputs[{i}]"),
                message: format!("`{input}`: {e}"),
                help: Some("`inputs` are files or folders relative to the spec's folder".into()),
            });
        }
    }
    (h.finalize().to_hex().to_string(), problems)
}

/// Whether a folder entry is left out of an input's digest: Python's
/// bytecode caches (written by running the program) and hidden files.
fn skipped(name: &str) -> bool {
    name == "__pycache__" || name.ends_with(".pyc") || name.starts_with('.')
}

/// Hashes the file at `path` (its content), or every file under the folder
/// at `path` (relative name and content, in name order).
fn digest_path(path: &Path, rel: &Path, h: &mut blake3::Hasher) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("does not exist (looked for {})", path.display()),
        _ => format!("cannot read {}: {e}", path.display()),
    })?;
    if meta.is_dir() {
        let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot list {}: {e}", path.display()))?
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(n, _)| !skipped(n))
            .collect();
        entries.sort();
        for (name, p) in entries {
            digest_path(&p, &rel.join(&name), h)?;
        }
    } else {
        let mut file =
            std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut fh = blake3::Hasher::new();
        std::io::copy(&mut file, &mut fh)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        h.update(format!("file\0{}\0", rel.display()).as_bytes());
        h.update(fh.finalize().as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(name: &str, command: &[&str]) -> ExternalParams {
        ExternalParams {
            name: name.into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names_must_be_plain_and_not_built_in() {
        assert!(params("pca_recon-2", &["sh"]).check().is_empty());
        for bad in ["", "PCA", "a b", "kde", "ganomaly", "x/y"] {
            let p = params(bad, &["sh"]).check();
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert_eq!(p[0].field, "name");
        }
        let e = params("kde", &["sh"]).check();
        assert!(e[0].message.contains("built-in"), "{e:?}");
    }

    #[test]
    fn checks_name_each_bad_field() {
        let p = ExternalParams {
            protocol: 9,
            image_size: Some(0),
            threads: Some(0),
            fit_timeout: TimeLimit::Text("3 weeks".into()),
            score_timeout: TimeLimit::Seconds(-1.0),
            env: [("RUNNER_X".to_string(), "1".to_string())].into(),
            score: Some("a b".into()),
            ..params("ok", &[])
        };
        let fields: Vec<&str> = p.check().iter().map(|f| f.field).collect();
        assert_eq!(
            fields,
            [
                "command",
                "protocol",
                "image_size",
                "threads",
                "fit_timeout",
                "score_timeout",
                "env",
                "score"
            ]
        );
        let protocol = p.check().into_iter().find(|f| f.field == "protocol");
        assert!(
            protocol.is_some_and(|f| f.message.contains("speaks protocol 1")),
            "the refusal says which protocols this runner speaks"
        );
    }

    #[test]
    fn resolve_finds_files_digests_them_and_names_what_is_missing() {
        let dir = tempfile::tempdir().expect("tmp");
        let base = dir.path();
        std::fs::create_dir_all(base.join("m/lib/__pycache__")).expect("dirs");
        std::fs::write(base.join("m/det.py"), "print(1)\n").expect("write");
        std::fs::write(base.join("m/lib/util.py"), "x = 1\n").expect("write");
        let mut p = params("d", &["sh", "m/det.py", "--out=a/b", "http://x/y"]);
        assert_eq!(p.resolve(base), Vec::new());
        assert_eq!(p.inputs, Some(vec!["m/det.py".to_string()]));
        assert_eq!(p.workdir.as_deref(), Some(base));
        let first = p.inputs_digest.clone().expect("digest");

        // same content: same digest; changed content: another one
        let mut again = params("d", &["sh", "m/det.py"]);
        again.resolve(base);
        assert_eq!(again.inputs_digest.as_ref(), Some(&first));
        std::fs::write(base.join("m/det.py"), "print(2)\n").expect("write");
        again.resolve(base);
        assert_ne!(again.inputs_digest.as_ref(), Some(&first));

        // a folder: every file but bytecode caches and hidden files
        let mut folder = ExternalParams {
            inputs: Some(vec!["m".into()]),
            ..params("d", &["sh"])
        };
        folder.resolve(base);
        let d1 = folder.inputs_digest.clone();
        std::fs::write(base.join("m/lib/__pycache__/util.pyc"), "junk").expect("write");
        std::fs::write(base.join("m/.hidden"), "junk").expect("write");
        folder.resolve(base);
        assert_eq!(folder.inputs_digest, d1, "caches and hidden files count");
        std::fs::write(base.join("m/lib/util.py"), "x = 2\n").expect("write");
        folder.resolve(base);
        assert_ne!(folder.inputs_digest, d1, "a file deep in the folder did not count");

        // missing command file, missing input, unknown program
        let mut bad = ExternalParams {
            inputs: Some(vec!["m/det.py".into(), "nope".into()]),
            ..params("d", &["no-such-program-xyz", "m/gone.py"])
        };
        let problems = bad.resolve(base);
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["command[0]", "command[1]", "inputs[1]"]);
        assert!(problems[1].message.contains("m/gone.py"), "{problems:?}");
        assert!(problems[2].message.contains("does not exist"), "{problems:?}");
    }

    #[test]
    fn sizes_take_units_and_output_limits_are_checked() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("500KB"), Ok(500_000));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0.5k"), Ok(500));
        assert!(parse_size("3 parsecs").is_err_and(|e| e.contains("unit")));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(ByteSize::Bytes(10).bytes(), Ok(10));
        assert!(ByteSize::Bytes(0).bytes().is_err());
        let bad = ExternalParams {
            output_limit: ByteSize::Text("huge".into()),
            ..params("d", &["sh"])
        };
        let fields: Vec<&str> = bad.check().iter().map(|f| f.field).collect();
        assert_eq!(fields, ["output_limit"]);
    }

    #[test]
    fn resolve_keys_the_environment_and_names_what_is_wrong_with_it() {
        if on_path("python3").is_none() {
            eprintln!("SKIPPED: no python3 on PATH");
            return;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let base = dir.path();
        std::fs::create_dir_all(base.join("a")).expect("dir");
        std::fs::write(base.join("a/req.txt"), "numpy==2.4.6\n").expect("write");
        std::fs::write(base.join("same.txt"), "numpy==2.4.6\n").expect("write");
        let with = |env: EnvironmentField| ExternalParams {
            environment: Some(env),
            ..params("d", &["python3"])
        };
        let mut a = with(EnvironmentField::Requirements("a/req.txt".into()));
        assert_eq!(a.resolve(base), Vec::new());
        let key = a.environment_key.clone().expect("keyed");
        // another path, the same content: the same environment
        let mut same = with(EnvironmentField::Detailed(EnvironmentDetails {
            requirements: "same.txt".into(),
            python: "python3".into(),
        }));
        assert_eq!(same.resolve(base), Vec::new());
        assert_eq!(same.environment_key.as_ref(), Some(&key));
        // the key is hashed into the model, the path is not
        let model = serde_json::to_value(&a).expect("json");
        assert_eq!(model["environment_key"], key.as_str());
        assert!(ExternalParams::UNHASHED_FIELDS.contains(&"environment"));
        // edited after planning: the job refuses to run under the old key
        std::fs::write(base.join("a/req.txt"), "numpy==2.4.5\n").expect("write");
        let now = a.environment_now();
        assert!(
            now.as_ref().is_err_and(|e| e.contains("not the one the job was planned with")),
            "{now:?}"
        );
        // a missing file, a missing interpreter
        let mut missing = with(EnvironmentField::Requirements("gone.txt".into()));
        let p = missing.resolve(base);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "environment");
        assert!(p[0].message.contains("does not exist"), "{p:?}");
        let mut no_python = with(EnvironmentField::Detailed(EnvironmentDetails {
            requirements: "same.txt".into(),
            python: "no-such-python-xyz".into(),
        }));
        let p = no_python.resolve(base);
        assert!(
            p.iter().any(|p| p.path == "environment" && p.message.contains("not found on PATH")),
            "{p:?}"
        );
        // a program that only the environment has is no error at plan time
        let mut own = ExternalParams {
            environment: Some(EnvironmentField::Requirements("same.txt".into())),
            ..params("d", &["only-in-the-environment-xyz"])
        };
        assert_eq!(own.resolve(base), Vec::new());
    }

    #[test]
    fn command_line_quotes_what_a_shell_would_split() {
        let p = params("d", &["python3", "my det.py", "--x=1"]);
        assert_eq!(p.command_line(), "python3 'my det.py' --x=1");
    }
}
