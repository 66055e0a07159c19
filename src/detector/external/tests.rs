//! The runner's side of the protocol against small `sh` programs: a good
//! one, and one for each way a program can go wrong.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::detector::{Phase, Progress};
use crate::device::DeviceChoice;
use crate::spec::methods::external::TimeLimit;

/// Keeps every phase it is given.
#[derive(Default)]
struct Phases(Mutex<Vec<Phase>>);

impl Progress for Phases {
    fn phase(&self, phase: Phase) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(phase);
    }
}

fn ctx<'a>(progress: &'a dyn Progress, cancel: &'a AtomicBool) -> RunContext<'a> {
    RunContext {
        seed: 7,
        device: DeviceChoice::Cpu,
        progress,
        cancel,
        checkpoint: None,
    }
}

fn images(n: usize) -> ImageSet {
    ImageSet {
        channels: 1,
        height: 2,
        width: 3,
        pixels: (0..n * 6).map(|i| (i * 13 % 256) as u8).collect(),
        labels: vec![0; n],
    }
}

/// A test folder with the program `prog.sh` (body `script`), and the
/// method that runs it, keeping its logs in `logs/`.
struct Setup {
    dir: tempfile::TempDir,
    params: ExternalParams,
    /// The scheduler's default thread count for the job.
    job_threads: Option<usize>,
}

impl Setup {
    fn new(script: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("prog.sh"), script).expect("write");
        let params = ExternalParams {
            name: "prog".into(),
            command: vec!["sh".into(), "prog.sh".into(), "--flag".into()],
            params: serde_json::from_str(r#"{"k": 3, "nested": {"a": [1, 2]}}"#).expect("json"),
            workdir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        Setup {
            dir,
            params,
            job_threads: None,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn logs(&self) -> PathBuf {
        self.path().join("logs")
    }

    fn detector(&self) -> External {
        External::new(
            self.params.clone(),
            JobInfo {
                dataset: "digits".into(),
                protocol: "anomaly-class".into(),
                class: 3,
                class_name: "three".into(),
                classes: vec!["zero".into(), "three".into()],
                logs: Some(self.logs()),
                scratch: Some(self.path().join("scratch")),
                threads: self.job_threads,
                store: None,
            },
        )
    }

    fn fit(&self) -> Result<Box<dyn Fitted>, DetectorError> {
        let cancel = AtomicBool::new(false);
        self.detector().fit(&images(5), &ctx(&NoProgress, &cancel))
    }
}

use crate::detector::NoProgress;

/// Fits (copying the job file and the images into the model), prints
/// progress, and scores every image by its index, in two columns.
const GOOD: &str = r#"
phase=$2; job=$3
[ "$1" = --flag ] || { echo "bad arguments: $*" >&2; exit 9; }
[ "$job" = "$RUNNER_JOB" ] || { echo "job file not in RUNNER_JOB" >&2; exit 9; }
if [ "$phase" = fit ]; then
  echo "starting"
  echo '{"epoch": 1, "epochs": 2, "losses": {"recon": 0.5}}'
  echo '{"epoch": 2, "epochs": 2, "losses": {"recon": 0.25}, "seconds": 1.5}'
  echo "a note on stderr" >&2
  cp "$job" "$RUNNER_MODEL_DIR/fit-job.json"
  cp "$RUNNER_IMAGES" "$RUNNER_MODEL_DIR/train.npy"
  mkdir -p "$RUNNER_MODEL_DIR/sub" && echo deep > "$RUNNER_MODEL_DIR/sub/file"
  exit 0
fi
[ -f "$RUNNER_MODEL_DIR/sub/file" ] || { echo "no model in $RUNNER_MODEL_DIR" >&2; exit 8; }
n=$(sed -n 's/.*"count": \([0-9]*\).*/\1/p' "$job")
echo '{"done": 1, "total": 5}'
{ echo "recon,latent"; i=0; while [ $i -lt $n ]; do echo "$i,-$i"; i=$((i+1)); done; } > "$RUNNER_SCORES"
"#;

#[test]
fn a_good_program_fits_stores_loads_and_scores() {
    let s = Setup::new(GOOD);
    let cancel = AtomicBool::new(false);
    let phases = Phases::default();
    let det = s.detector();
    let fitted = det.fit(&images(5), &ctx(&phases, &cancel)).expect("fits");

    // progress lines became training phases with their losses
    let seen = phases.0.lock().expect("phases").clone();
    let logs: Vec<(usize, f64)> = seen
        .iter()
        .filter_map(|p| match p {
            Phase::Training { epoch, log: Some(l), .. } => Some((*epoch, l.values[0].1)),
            _ => None,
        })
        .collect();
    assert_eq!(logs, vec![(1, 0.5), (2, 0.25)]);

    // the stored model is the program's folder, with the fit's output beside it
    let store = tempfile::tempdir().expect("tmp");
    fitted.save(store.path()).expect("saves");
    assert_eq!(
        std::fs::read_to_string(store.path().join("model/sub/file")).expect("deep file"),
        "deep\n"
    );
    let stdout = std::fs::read_to_string(store.path().join("fit.stdout")).expect("stdout");
    assert!(stdout.starts_with("starting\n{\"epoch\": 1"), "{stdout}");
    let stderr = std::fs::read_to_string(s.logs().join("fit.stderr")).expect("stderr log");
    assert_eq!(stderr, "a note on stderr\n");

    // the job file: protocol 1, the phase, the shapes, params, seed, the task
    let job: Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("model/fit-job.json")).expect("job"),
    )
    .expect("json");
    assert_eq!(job["protocol"], 1);
    assert_eq!(job["phase"], "fit");
    assert_eq!(job["method"], "prog");
    assert_eq!(
        (&job["count"], &job["channels"], &job["height"], &job["width"]),
        (&json!(5), &json!(1), &json!(2), &json!(3))
    );
    assert_eq!(job["params"], json!({"k": 3, "nested": {"a": [1, 2]}}));
    assert_eq!(job["seed"], 7);
    assert_eq!(job["device"], "cpu");
    assert_eq!(job["task"]["class_name"], "three");
    assert!(job.get("score_params").is_none(), "score params leak into fit");
    for k in ["images", "model_dir", "work_dir"] {
        assert!(
            Path::new(job[k].as_str().expect(k)).is_absolute(),
            "{k} is not absolute"
        );
    }
    // the images as numpy reads them: header, then the bytes as given
    let npy = std::fs::read(store.path().join("model/train.npy")).expect("npy");
    assert!(npy.ends_with(&images(5).pixels));

    // scores from the fitted model and from the stored one are the same
    let first = fitted
        .score_variants(&images(4), &ctx(&phases, &cancel))
        .expect("scores");
    assert_eq!(first[0], ("recon".to_string(), vec![0.0, 1.0, 2.0, 3.0]));
    assert_eq!(first[1], ("latent".to_string(), vec![0.0, -1.0, -2.0, -3.0]));
    let loaded = det
        .load(store.path(), &ctx(&phases, &cancel))
        .expect("loads");
    assert_eq!(
        loaded
            .score_variants(&images(4), &ctx(&phases, &cancel))
            .expect("scores"),
        first
    );
    assert_eq!(
        loaded
            .score(&images(4), &ctx(&phases, &cancel))
            .expect("score"),
        vec![0.0, 1.0, 2.0, 3.0]
    );
    let seen = phases.0.lock().expect("phases").clone();
    assert!(seen.contains(&Phase::Scoring { done: 1, total: 5 }));
    // nothing is left in the scratch folder once the models are gone
    drop((fitted, loaded));
    let left: Vec<_> = std::fs::read_dir(s.path().join("scratch"))
        .expect("scratch")
        .collect();
    assert_eq!(left.len(), 0, "scratch folders were left behind");
}

#[test]
fn resized_images_and_score_params_reach_the_program() {
    let mut s = Setup::new(GOOD);
    s.params.image_size = Some(4);
    s.params.score_params = serde_json::from_str(r#"{"steps": 5}"#).expect("json");
    let cancel = AtomicBool::new(false);
    let fitted = s.fit().expect("fits");
    let store = tempfile::tempdir().expect("tmp");
    fitted.save(store.path()).expect("saves");
    let job: Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("model/fit-job.json")).expect("job"),
    )
    .expect("json");
    assert_eq!((&job["height"], &job["width"]), (&json!(4), &json!(4)));
    let npy = std::fs::read(store.path().join("model/train.npy")).expect("npy");
    assert!(String::from_utf8_lossy(&npy[..80]).contains("'shape': (5, 1, 4, 4)"));
    fitted
        .score(&images(2), &ctx(&NoProgress, &cancel))
        .expect("scores");
    let score_job = std::fs::read_to_string(s.logs().join("score.json")).expect("score job");
    let score_job: Value = serde_json::from_str(&score_job).expect("json");
    assert_eq!(score_job["score_params"], json!({"steps": 5}));
    assert_eq!(score_job["phase"], "score");
}

#[test]
fn a_failing_program_gives_its_status_and_stderr_and_keeps_the_logs() {
    let s = Setup::new("echo progress-out; echo 'line one' >&2; echo 'Traceback: boom' >&2; exit 3\n");
    let e = s.fit().err().expect("fails").to_string();
    assert!(e.contains("fit exited with status 3"), "{e}");
    assert!(e.contains("line one\n    Traceback: boom"), "{e}");
    assert!(e.contains(&s.logs().display().to_string()), "{e}");
    assert_eq!(
        std::fs::read_to_string(s.logs().join("fit.stdout")).expect("kept"),
        "progress-out\n"
    );
    let killed = Setup::new("kill -9 $$\n");
    let e = killed.fit().err().expect("fails").to_string();
    assert!(e.contains("was killed by signal 9 (KILL)"), "{e}");
    let silent = Setup::new("exit 1\n");
    let e = silent.fit().err().expect("fails").to_string();
    assert!(e.contains("wrote nothing on stderr"), "{e}");
}

#[test]
fn a_program_that_cannot_start_says_so() {
    let mut s = Setup::new("");
    s.params.command = vec!["./no-such-program".into()];
    let e = s.fit().err().expect("fails").to_string();
    assert!(e.contains("cannot start `./no-such-program`"), "{e}");
}

#[test]
fn no_model_written_is_an_error() {
    let s = Setup::new("echo fitted\n");
    let e = s.fit().err().expect("fails").to_string();
    assert!(e.contains("wrote nothing into its model folder"), "{e}");
}

/// `pids` gets the pid of a grandchild in the program's group: it must not
/// survive the program.
fn assert_group_gone(pids: &Path) {
    let pid = std::fs::read_to_string(pids).expect("pid written");
    let pid = pid.trim();
    // the group was killed and its members reaped by init: wait for that
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| !s.contains(") Z "))
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "process {pid} of the program's group is still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const SLEEPER: &str = "sleep 300 & echo $! > pids; wait\n";

#[test]
fn a_time_limit_stops_the_whole_process_group() {
    let mut s = Setup::new(SLEEPER);
    s.params.fit_timeout = TimeLimit::Seconds(1.0);
    let t = Instant::now();
    let e = s.fit().err().expect("times out").to_string();
    assert!(
        e.contains("fit timed out after 1s (`fit_timeout`)"),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_group_gone(&s.path().join("pids"));
}

#[test]
fn a_stop_request_stops_the_program_at_once() {
    let s = Setup::new(SLEEPER);
    let cancel = AtomicBool::new(false);
    let det = s.detector();
    let t = Instant::now();
    let got = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            cancel.store(true, Ordering::Relaxed);
        });
        det.fit(&images(3), &ctx(&NoProgress, &cancel)).err()
    });
    assert!(matches!(got, Some(DetectorError::Cancelled)), "{got:?}");
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_group_gone(&s.path().join("pids"));
}

/// Fits, then scores with a program whose score phase writes `scores`.
fn score_with(scores: &str) -> (Setup, String) {
    let script = format!(
        "if [ \"$2\" = fit ]; then echo m > \"$RUNNER_MODEL_DIR/m\"; exit 0; fi\nprintf '{scores}' > \"$RUNNER_SCORES\"\n"
    );
    let s = Setup::new(&script);
    let cancel = AtomicBool::new(false);
    let fitted = s.fit().expect("fits");
    let e = fitted
        .score(&images(3), &ctx(&NoProgress, &cancel))
        .expect_err("bad scores")
        .to_string();
    (s, e)
}

#[test]
fn bad_scores_are_job_errors_naming_the_kept_file() {
    for (scores, want) in [
        ("score\\n1\\n2\\n", "2 scores for 3 images"),
        ("score\\n1\\nnan\\n2\\n", "score of image 1 is nan"),
        ("score\\n1\\n2\\n-inf\\n", "image 2 is -inf"),
        ("\\377\\376", "unreadable"),
    ] {
        let (s, e) = score_with(scores);
        assert!(e.contains(want), "{scores}: {e}");
        let kept = s.logs().join("scores.bad.csv");
        assert!(e.contains(&kept.display().to_string()), "{e}");
        assert!(kept.is_file(), "the bad file was not kept");
    }
    let (_, e) = score_with("");
    assert!(e.contains("the file is empty"), "{e}");
}

#[test]
fn a_missing_scores_file_or_column_is_named() {
    let s = Setup::new("echo m > \"$RUNNER_MODEL_DIR/m\"\n");
    let cancel = AtomicBool::new(false);
    let fitted = s.fit().expect("fits");
    let e = fitted
        .score(&images(2), &ctx(&NoProgress, &cancel))
        .expect_err("no scores")
        .to_string();
    assert!(e.contains("wrote no scores file"), "{e}");

    let mut s = Setup::new(GOOD);
    s.params.score = Some("features".into());
    let fitted = s.fit().expect("fits");
    let e = fitted
        .score(&images(2), &ctx(&NoProgress, &cancel))
        .expect_err("no column")
        .to_string();
    assert!(
        e.contains("no score column `features` (its columns: `recon`, `latent`)"),
        "{e}"
    );
}

#[test]
fn the_spec_environment_reaches_the_program() {
    let mut s = Setup::new(
        "[ \"$MY_VAR\" = hello ] && [ \"$OMP_NUM_THREADS\" = 2 ] || { env >&2; exit 4; }\necho m > \"$RUNNER_MODEL_DIR/m\"\n",
    );
    s.params.env = [("MY_VAR".to_string(), "hello".to_string())].into();
    s.params.threads = Some(2);
    s.fit().expect("the variables are set");
}

#[test]
fn without_threads_the_program_gets_the_schedulers_share_of_the_cores() {
    let check = r#"echo "threads=$OMP_NUM_THREADS/$OPENBLAS_NUM_THREADS" >&2
[ "$OMP_NUM_THREADS" = 3 ] && [ "$OPENBLAS_NUM_THREADS" = 3 ] && grep -q '"threads": 3' "$RUNNER_JOB" || exit 4
echo m > "$RUNNER_MODEL_DIR/m"
"#;
    let mut s = Setup::new(check);
    s.job_threads = Some(3);
    s.fit().expect("the job's share: 3 threads");
    // the method's own `threads` wins over the share
    s.params.threads = Some(5);
    let e = s.fit().err().expect("5 threads, not 3").to_string();
    assert!(e.contains("threads=5/5"), "{e}");
}

#[test]
fn a_script_edited_after_planning_fails_the_job_instead_of_mislabelling_it() {
    let mut s = Setup::new(GOOD);
    s.params.inputs = Some(vec!["prog.sh".into()]);
    let folder = s.path().to_path_buf();
    assert_eq!(s.params.resolve(&folder), Vec::new());
    assert!(s.params.inputs_digest.is_some());
    let fitted = s.fit().expect("unchanged: fits");
    std::fs::write(s.path().join("prog.sh"), format!("{GOOD}\n# edited\n")).expect("edit");
    let cancel = AtomicBool::new(false);
    let e = fitted
        .score(&images(2), &ctx(&NoProgress, &cancel))
        .expect_err("changed since planned")
        .to_string();
    assert!(
        e.contains("the inputs of `prog` (prog.sh) changed since the job was planned"),
        "{e}"
    );
    std::fs::remove_file(s.path().join("prog.sh")).expect("remove");
    let e = s.fit().err().expect("gone").to_string();
    assert!(e.contains("inputs[0] of `prog`: `prog.sh`: does not exist"), "{e}");
}
