//! Downloads: each file is fetched from a list of URLs (official first, then
//! mirrors) into a hidden temporary file beside its destination, checked
//! (size, md5), and only then renamed into place; a failed or interrupted
//! download never leaves a file that looks complete. Progress is shown on
//! stderr when it is a terminal.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use md5::{Digest, Md5};

use super::DataError;
use super::registry::Known;

/// Base URLs from `RUNNER_DATA_MIRRORS` (separated by spaces or commas), tried
/// before the built-in ones: e.g. an institute's own copy.
pub fn env_mirrors() -> Vec<String> {
    std::env::var("RUNNER_DATA_MIRRORS")
        .map(|v| {
            v.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn join_url(base: &str, file: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{file}")
    } else {
        format!("{base}/{file}")
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(60 * 60)))
        .user_agent(concat!("runner/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A progress bar on stderr for a download of `total` bytes (when known).
fn download_bar(total: Option<u64>, label: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(total, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_string());
    bar
}

/// One attempt: download `url` into a temporary file in `dir`, check it, and
/// return it (not yet renamed). The message says what went wrong.
fn attempt(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    label: &str,
    size: Option<u64>,
    md5: Option<&str>,
) -> Result<tempfile::NamedTempFile, String> {
    let mut resp = agent
        .get(url)
        .header("Accept-Encoding", "identity")
        .call()
        .map_err(|e| match e {
            ureq::Error::StatusCode(c) => format!("HTTP status {c}"),
            e => e.to_string(),
        })?;
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if let (Some(l), Some(s)) = (len, size)
        && l != s
    {
        return Err(format!("the server offers {l} bytes, expected {s}"));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{label}.part-"))
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    let bar = download_bar(len.or(size), label);
    let mut reader = resp.body_mut().as_reader();
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 18];
    let mut got = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                bar.abandon();
                return Err(format!("interrupted after {got} bytes ({e})"));
            }
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| format!("cannot write the temporary file: {e}"))?;
        got += n as u64;
        bar.set_position(got);
        if size.is_some_and(|s| got > s) {
            bar.abandon();
            return Err(format!(
                "more than the expected {} bytes",
                size.unwrap_or(0)
            ));
        }
    }
    bar.finish_and_clear();
    if let Some(s) = size
        && got != s
    {
        return Err(format!("got {got} bytes, expected {s} (truncated)"));
    }
    let digest = hex::encode(hasher.finalize());
    if let Some(m) = md5
        && digest != m
    {
        return Err(format!("md5 {digest} does not match the expected {m}"));
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| format!("cannot write the temporary file: {e}"))?;
    Ok(tmp)
}

/// Downloads to `dest` from the first of `urls` that delivers the expected
/// bytes (size and md5 when given). On failure nothing is left at `dest`
/// (an existing file there is kept only if every attempt fails).
pub fn download_file(
    urls: &[String],
    dest: &Path,
    size: Option<u64>,
    md5: Option<&str>,
) -> Result<(), DataError> {
    let label = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e, None))?;
    let agent = agent();
    let mut attempts = Vec::new();
    for url in urls {
        tracing::info!("downloading {url}");
        match attempt(&agent, url, &dir, &label, size, md5) {
            Ok(tmp) => {
                tmp.persist(dest)
                    .map_err(|e| DataError::io(dest, e.error, None))?;
                super::hash::forget(dest);
                return Ok(());
            }
            Err(why) => {
                tracing::warn!("{url}: {why}");
                attempts.push(format!("  {url}: {why}"));
            }
        }
    }
    if attempts.is_empty() {
        attempts.push("  (no URL to try)".into());
    }
    Err(DataError::Download {
        file: label,
        attempts: attempts.join("\n"),
    })
}

/// Downloads every file of a known dataset that is missing or wrong in `dir`,
/// trying `mirrors` first and then the dataset's own URLs.
pub fn fetch_known(k: &Known, dir: &Path, mirrors: &[String]) -> Result<(), DataError> {
    for f in k.files {
        let dest = dir.join(f.name);
        let good = std::fs::metadata(&dest).is_ok_and(|m| m.len() == f.size)
            && super::hash::file_digest(&dest, Some(k.name)).is_ok_and(|d| d.md5 == f.md5);
        if good {
            continue;
        }
        let urls: Vec<String> = mirrors
            .iter()
            .map(String::as_str)
            .chain(k.urls.iter().copied())
            .map(|b| join_url(b, f.name))
            .collect();
        download_file(&urls, &dest, Some(f.size), Some(f.md5))?;
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// What the test server answers for a path.
    #[derive(Clone)]
    pub enum Route {
        Ok(Vec<u8>),
        /// Announces the full length, sends half, closes.
        Truncated(Vec<u8>),
    }

    /// A tiny HTTP/1.1 server on 127.0.0.1; unknown paths get 404. Returns
    /// the base URL and the log of requested paths.
    pub fn serve(routes: HashMap<String, Route>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
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
                let _ = match routes.get(&path) {
                    Some(Route::Ok(b)) => {
                        let h = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        );
                        stream
                            .write_all(h.as_bytes())
                            .and_then(|_| stream.write_all(b))
                    }
                    Some(Route::Truncated(b)) => {
                        let h = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        );
                        stream
                            .write_all(h.as_bytes())
                            .and_then(|_| stream.write_all(&b[..b.len() / 2]))
                    }
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
                    ),
                };
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        (format!("http://{addr}"), log)
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn falls_back_through_404_corrupt_and_truncated_to_a_good_mirror() {
        let good: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut bad = good.clone();
        bad[500] ^= 1;
        let md5 = super::super::hash::md5_hex(&good);
        let routes = HashMap::from([
            ("/bad/f.bin".to_string(), Route::Ok(bad)),
            ("/trunc/f.bin".to_string(), Route::Truncated(good.clone())),
            ("/good/f.bin".to_string(), Route::Ok(good.clone())),
        ]);
        let (base, log) = serve(routes);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub").join("f.bin");
        let urls: Vec<String> = ["missing", "bad", "trunc", "good"]
            .iter()
            .map(|m| format!("{base}/{m}/f.bin"))
            .collect();
        download_file(&urls, &dest, Some(good.len() as u64), Some(&md5)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), good);
        assert_eq!(
            *log.lock().unwrap(),
            vec![
                "/missing/f.bin",
                "/bad/f.bin",
                "/trunc/f.bin",
                "/good/f.bin"
            ]
        );
        // no temporary file is left beside it
        assert_eq!(files_in(&dir.path().join("sub")), vec!["f.bin"]);
    }

    #[test]
    fn a_failed_download_leaves_nothing_and_says_why_per_url() {
        let good: Vec<u8> = vec![3; 10_000];
        let md5 = super::super::hash::md5_hex(&good);
        let mut bad = good.clone();
        bad[0] = 4;
        let routes = HashMap::from([
            ("/bad/f.bin".to_string(), Route::Ok(bad)),
            ("/trunc/f.bin".to_string(), Route::Truncated(good.clone())),
        ]);
        let (base, _) = serve(routes);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f.bin");
        let urls: Vec<String> = ["missing", "bad", "trunc"]
            .iter()
            .map(|m| format!("{base}/{m}/f.bin"))
            .collect();
        let e = download_file(&urls, &dest, Some(good.len() as u64), Some(&md5))
            .unwrap_err()
            .to_string();
        assert!(e.contains("could not download `f.bin`"), "{e}");
        assert!(e.contains("/missing/f.bin: HTTP status 404"), "{e}");
        assert!(
            e.contains("/bad/f.bin: md5") && e.contains("does not match"),
            "{e}"
        );
        assert!(e.contains("/trunc/f.bin: "), "{e}");
        assert!(
            files_in(dir.path()).is_empty(),
            "{:?}",
            files_in(dir.path())
        );
        // without a known size, a truncated body is still caught (Content-Length)
        let e = download_file(&urls[2..], &dest, None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/trunc/f.bin"), "{e}");
        assert!(files_in(dir.path()).is_empty());
    }
}
