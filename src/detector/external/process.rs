//! Running one phase of an external program: in its own process group, with
//! its stdout and stderr kept in the job's log folder (each within the
//! method's `output_limit`: [`super::output`]), progress lines on stdout
//! turned into the job's progress (and the model's training log), and the
//! whole group stopped (TERM, then KILL after a grace period, sent with
//! `killpg`) on a time limit or a stop request.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use super::ExternalError;
use super::output::{self, BoundedLog};
use crate::detector::{DetectorError, Phase, RunContext};
use crate::store::EpochLog;

/// How long a stopped program gets between TERM and KILL.
const GRACE: Duration = Duration::from_secs(5);
/// How often the runner looks at the program, the clock and the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// How many of the last stderr lines an error message quotes.
const TAIL_LINES: usize = 20;

/// One call of the program.
pub struct Call<'a> {
    /// `fit` or `score`.
    pub phase: &'static str,
    /// The program and its arguments as the spec gives them.
    pub command: &'a [String],
    /// Where it runs (the spec's folder).
    pub workdir: &'a Path,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// The job file, appended to the command after the phase.
    pub job_file: &'a Path,
    pub timeout: Duration,
    /// The spec field of the limit (`fit_timeout`), for the message.
    pub timeout_field: &'static str,
    /// Where `<phase>.stdout` and `<phase>.stderr` are written.
    pub logs: &'a Path,
    /// The most bytes kept of each stream (plus the line saying how many
    /// were left out).
    pub output_limit: u64,
}

impl Call<'_> {
    pub fn stdout_path(&self) -> PathBuf {
        self.logs.join(format!("{}.stdout", self.phase))
    }

    pub fn stderr_path(&self) -> PathBuf {
        self.logs.join(format!("{}.stderr", self.phase))
    }

    /// The program, resolved against the working folder when it is a path.
    fn program(&self) -> PathBuf {
        let p = &self.command[0];
        if p.contains('/') {
            self.workdir.join(p)
        } else {
            PathBuf::from(p)
        }
    }

    /// Runs the program to its end; `Ok` when it exited with status 0.
    pub fn run(&self, ctx: &RunContext) -> Result<(), DetectorError> {
        let (out_path, err_path) = (self.stdout_path(), self.stderr_path());
        let create = |p: &Path| {
            std::fs::File::create(p).map_err(|e| ExternalError::io(p, "cannot write the log", e))
        };
        let out_file = create(&out_path)?;
        let err_file = create(&err_path)?;
        let mut cmd = Command::new(self.program());
        cmd.args(&self.command[1..])
            .arg(self.phase)
            .arg(self.job_file)
            .current_dir(self.workdir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| ExternalError::Spawn {
            program: self.command[0].clone(),
            workdir: self.workdir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let started = Instant::now();
        let limit = self.output_limit;
        let ended = std::thread::scope(|s| {
            let out = stdout.map(|o| s.spawn(move || follow_stdout(o, out_file, limit, ctx)));
            let err = stderr.map(|e| {
                s.spawn(move || {
                    let mut log = BoundedLog::new(err_file, limit);
                    output::follow(e, &mut log, |_| {});
                    log.finish();
                })
            });
            let ended = self.wait(&mut child, started, ctx);
            // leftovers of the group (a worker the program started) would
            // keep its streams open: none may outlive the call
            signal_group(&child, Signal::SIGKILL);
            for reader in [out, err].into_iter().flatten() {
                let _ = reader.join();
            }
            ended
        });
        let tail = || tail(&err_path);
        match ended {
            Ended::Exited(status) if status.success() => Ok(()),
            Ended::Exited(status) => Err(ExternalError::Failed {
                phase: self.phase,
                how: describe(status),
                tail: tail(),
                logs: self.logs.to_path_buf(),
            }
            .into()),
            Ended::TimedOut => Err(ExternalError::Failed {
                phase: self.phase,
                how: format!(
                    "timed out after {} (`{}`) and was stopped",
                    show_duration(self.timeout),
                    self.timeout_field
                ),
                tail: tail(),
                logs: self.logs.to_path_buf(),
            }
            .into()),
            Ended::Cancelled => Err(DetectorError::Cancelled),
            Ended::Lost(e) => Err(ExternalError::io(self.logs, "lost the program", e).into()),
        }
    }

    /// Waits for the program's end, stopping its group on the time limit or
    /// a stop request.
    fn wait(&self, child: &mut Child, started: Instant, ctx: &RunContext) -> Ended {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ended::Exited(status),
                Ok(None) => {}
                Err(e) => return Ended::Lost(e),
            }
            let why = if ctx.cancelled() {
                Ended::Cancelled
            } else if started.elapsed() > self.timeout {
                Ended::TimedOut
            } else {
                std::thread::sleep(POLL);
                continue;
            };
            stop(child);
            return why;
        }
    }
}

/// How a call ended.
enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Cancelled,
    Lost(std::io::Error),
}

/// Sends `signal` to the child's process group (its own, see
/// `process_group(0)`; the group's id is the child's pid). A group that is
/// gone already is no error.
fn signal_group(child: &Child, signal: Signal) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    let _ = killpg(Pid::from_raw(pid), signal);
}

/// Stops the child's group: TERM, then KILL when it is still there after
/// the grace period; reaps the child.
fn stop(child: &mut Child) {
    signal_group(child, Signal::SIGTERM);
    let asked = Instant::now();
    while asked.elapsed() < GRACE {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(POLL);
    }
    signal_group(child, Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Copies the program's stdout into its log file (within `limit`) and
/// turns progress lines into phases.
fn follow_stdout(out: impl std::io::Read, file: std::fs::File, limit: u64, ctx: &RunContext) {
    let mut log = BoundedLog::new(file, limit);
    let mut last_epoch = Instant::now();
    output::follow(out, &mut log, |line| {
        if let Some(phase) = progress_line(line.trim(), last_epoch.elapsed().as_secs_f64()) {
            if matches!(phase, Phase::Training { .. }) {
                last_epoch = Instant::now();
            }
            ctx.progress.phase(phase);
        }
    });
    log.finish();
}

/// The phase a progress line reports: `{"epoch": 3, "epochs": 10,
/// "losses": {"g": 1.2}}` (optionally `"seconds"`: the epoch's duration,
/// else the time since the last epoch line) or `{"done": 100, "total":
/// 1000}`; `None` for any other line.
pub fn progress_line(line: &str, since_last: f64) -> Option<Phase> {
    if !line.starts_with('{') {
        return None;
    }
    let v: Value = serde_json::from_str(line).ok()?;
    let count = |k: &str| v.get(k).and_then(Value::as_u64).map(|n| n as usize);
    if let Some(epoch) = count("epoch") {
        let epochs = count("epochs").unwrap_or(epoch);
        let values: Vec<(String, f64)> = v
            .get("losses")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, x)| Some((k.clone(), x.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let info = values
            .iter()
            .map(|(k, x)| format!("{k} {x:.4}"))
            .collect::<Vec<_>>()
            .join(" ");
        let seconds = v
            .get("seconds")
            .and_then(Value::as_f64)
            .unwrap_or(since_last);
        return Some(Phase::Training {
            epoch,
            epochs,
            info,
            log: Some(EpochLog {
                epoch,
                seconds,
                values,
            }),
        });
    }
    let done = count("done")?;
    Some(Phase::Scoring {
        done,
        total: count("total").unwrap_or(done),
    })
}

/// `exited with status 3`, `was killed by signal 9 (KILL)`.
fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => {
            let name = match s {
                2 => " (INT)",
                6 => " (ABRT)",
                9 => " (KILL)",
                11 => " (SEGV)",
                15 => " (TERM)",
                _ => "",
            };
            format!("was killed by signal {s}{name}")
        }
        _ => format!("ended ({status})"),
    }
}

/// `90s`, `30m`, `2h 5m`.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s}s")
    } else if s < 7200.0 {
        format!("{}m", (s / 60.0).round())
    } else {
        format!("{}h {}m", (s / 3600.0).floor(), ((s % 3600.0) / 60.0).round())
    }
}

/// The last lines of a log file (empty when it cannot be read).
fn tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_become_phases_and_others_do_not() {
        let p = progress_line(
            r#"{"epoch": 3, "epochs": 10, "losses": {"g": 1.5, "d": 0.25}}"#,
            2.0,
        );
        let Some(Phase::Training {
            epoch: 3,
            epochs: 10,
            info,
            log: Some(log),
        }) = p
        else {
            panic!("not a training phase: {p:?}");
        };
        assert_eq!(info, "d 0.2500 g 1.5000");
        assert_eq!(log.seconds, 2.0);
        assert_eq!(
            log.values,
            vec![("d".to_string(), 0.25), ("g".to_string(), 1.5)]
        );
        let timed = progress_line(r#"{"epoch": 1, "seconds": 7.5}"#, 2.0);
        assert!(
            matches!(timed, Some(Phase::Training { epochs: 1, log: Some(ref l), .. }) if l.seconds == 7.5),
            "{timed:?}"
        );
        assert_eq!(
            progress_line(r#"{"done": 5, "total": 9}"#, 0.0),
            Some(Phase::Scoring { done: 5, total: 9 })
        );
        for other in ["loss 1.2", "{not json", r#"{"step": 4}"#, r#"{"epoch": -1}"#, ""] {
            assert_eq!(progress_line(other, 0.0), None, "{other}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(show_duration(Duration::from_secs(2)), "2s");
        assert_eq!(show_duration(Duration::from_millis(500)), "0.5s");
        assert_eq!(show_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(show_duration(Duration::from_secs(86400)), "24h 0m");
    }
}
