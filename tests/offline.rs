//! `--offline` end to end: `runner run` downloads a missing official dataset
//! (through `RUNNER_DATA_MIRRORS`, md5-checked) before planning, and with
//! `--offline` it fails, downloading nothing, with a message saying how to
//! get the data.
//!
//! Official datasets are checked against their published md5s, so a made-up
//! MNIST cannot pass: a tiny HTTP server on 127.0.0.1 serves the real MNIST
//! files of this machine (`RUNNER_DATA`, `shared/data` beside the checkout,
//! or `/usr/share/datasets`). Without them the tests are skipped, unless
//! `RUNNER_REQUIRE_DATA=1` (then they fail).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use assert_cmd::Command;
use common::{MNIST_FILES, real_mnist};
use predicates::prelude::*;

const SPEC: &str = "\
name: offline-mnist
dataset: mnist
classes: [0]
seeds: [0]
train_limit: 200
test_limit: 200
methods:
  - kde: {bandwidth_count: 3}
";

/// Serves `files` (name -> bytes) under `/m/` on 127.0.0.1; any other path
/// gets 404. Returns the base URL of the files and the log of requested paths.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(read_half) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(read_half);
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            log2.lock().unwrap().push(path.clone());
            let body = path.strip_prefix("/m/").and_then(|n| files.get(n));
            let _ = match body {
                Some(b) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(b)),
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
                ),
            };
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    (format!("http://{addr}/m/"), log)
}

/// A working folder with the spec, an empty `RUNNER_DATA` folder, and a
/// server of the real MNIST files; `None` when they are not here.
struct Setup {
    dir: tempfile::TempDir,
    spec: PathBuf,
    data: PathBuf,
    mirror: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn setup() -> Option<Setup> {
    let real = real_mnist()?;
    if Path::new("/usr/share/datasets/mnist").exists() {
        eprintln!("skipped: /usr/share/datasets/mnist exists, so MNIST is never missing here");
        return None;
    }
    let files = MNIST_FILES
        .iter()
        .map(|n| (n.to_string(), std::fs::read(real.join(n)).unwrap()))
        .collect();
    let (mirror, log) = serve(files);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let data = dir.path().join("datasets");
    std::fs::create_dir(&data).unwrap();
    Some(Setup {
        dir,
        spec,
        data,
        mirror,
        log,
    })
}

impl Setup {
    fn runner(&self) -> Command {
        let mut c = Command::cargo_bin("runner").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("RUNNER_STORE")
            .env("RUNNER_DATA", &self.data)
            .env("RUNNER_DATA_MIRRORS", &self.mirror)
            .env("NO_COLOR", "1")
            .timeout(Duration::from_secs(300));
        for v in [
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "all_proxy",
        ] {
            c.env_remove(v);
        }
        c
    }

    fn run(&self, offline: bool) -> Command {
        let mut c = self.runner();
        c.args(["run", "-j", "1", "--no-report"]);
        if offline {
            c.arg("--offline");
        }
        c.arg(&self.spec);
        c
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn downloaded(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.data.join("mnist"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[test]
fn offline_run_fails_saying_how_to_get_the_data_and_downloads_nothing() {
    let Some(s) = setup() else { return };
    s.run(true).assert().failure().stderr(
        predicate::str::contains("dataset `mnist` not found")
            .and(predicate::str::contains("runner data fetch mnist"))
            .and(predicate::str::contains("RUNNER_DATA")),
    );
    assert!(s.requests().is_empty(), "{:?}", s.requests());
    assert!(s.downloaded().is_empty(), "{:?}", s.downloaded());
    assert!(!s.dir.path().join("data").exists());
}

#[test]
fn run_without_offline_downloads_verifies_then_runs() {
    let Some(s) = setup() else { return };
    s.run(false)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 cached, 1 ran, 0 failed"));
    let mut want: Vec<String> = MNIST_FILES.iter().map(|n| format!("/m/{n}")).collect();
    let mut got = s.requests();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let mut files: Vec<String> = MNIST_FILES.iter().map(|n| n.to_string()).collect();
    files.sort();
    assert_eq!(s.downloaded(), files);
    // now it is here: --offline finds it, the result is cached, nothing is fetched again
    s.run(true)
        .assert()
        .success()
        .stderr(predicate::str::contains("1 cached, 0 ran, 0 failed"));
    s.runner()
        .args(["data", "verify", "mnist"])
        .assert()
        .success()
        .stdout(predicate::str::contains("verified (official md5)"));
    assert_eq!(s.requests().len(), 4);
}
