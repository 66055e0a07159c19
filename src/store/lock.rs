//! Job locks: a job being run holds `locks/<key>.lock` (host, pid, start),
//! its lease renewed by a thread until the lock is dropped; a lock whose
//! holder is gone (its process on this host, or its lease not renewed for
//! a while on any host) is taken over.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::{Key, Store, StoreError, hostname, io_err, now_rfc3339};

/// How often a held lock's lease is renewed (its file's modification time
/// set to now), by a thread of the holder.
pub const LEASE_RENEW: Duration = Duration::from_secs(15);
/// A lock whose lease was not renewed for this long is taken over: its
/// holder (on any host) is gone. On the holder's own host a lock is taken
/// over as soon as its process is gone.
pub const LEASE_EXPIRY: Duration = Duration::from_secs(90);

/// A job lock, held (and its lease renewed) until dropped.
#[derive(Debug)]
pub struct JobLock {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl JobLock {
    fn new(path: PathBuf) -> JobLock {
        let stop = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::Builder::new()
                .name("lock-lease".into())
                .spawn(move || {
                    let tick = Duration::from_millis(100);
                    let mut since = Duration::ZERO;
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        since += tick;
                        if since >= LEASE_RENEW {
                            since = Duration::ZERO;
                            let _ = fs::File::options()
                                .write(true)
                                .open(&path)
                                .and_then(|f| f.set_modified(SystemTime::now()));
                        }
                    }
                })
                .ok()
        };
        JobLock {
            path,
            stop,
            renewer,
        }
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether the holder written in a lock file (`host:pid since time`) is a
/// process of this host that is gone. `false` when unsure (another host, an
/// unreadable holder, a system without `/proc`).
fn holder_is_gone(holder: &str) -> bool {
    let Some((host, pid)) = holder
        .split(" since ")
        .next()
        .and_then(|h| h.rsplit_once(':'))
    else {
        return false;
    };
    let Ok(pid) = pid.trim().parse::<u32>() else {
        return false;
    };
    host == hostname()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

impl Store {
    /// Where the lock of job `key` is while a worker runs it.
    pub fn lock_path(&self, key: &Key) -> PathBuf {
        self.root.join("locks").join(format!("{}.lock", key.hex()))
    }

    /// Takes the lock of job `key`, so that two workers never run it at once.
    /// A lock is taken over when its holder's process on this host is gone,
    /// or when its lease was not renewed for `stale_after` (see
    /// [`LEASE_EXPIRY`]).
    pub fn lock(&self, key: &Key, stale_after: Duration) -> Result<JobLock, StoreError> {
        let path = self.lock_path(key);
        let holder = format!(
            "{}:{} since {}",
            hostname(),
            std::process::id(),
            now_rfc3339()
        );
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = f.write_all(holder.as_bytes());
                    let _ = f.sync_all();
                    return Ok(JobLock::new(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .unwrap_or_default();
                    let held_by = fs::read_to_string(&path).unwrap_or_default();
                    if age > stale_after || holder_is_gone(&held_by) {
                        // only if it is still the lock judged stale (narrows the
                        // race with another taker to the gap between two syscalls)
                        if fs::read_to_string(&path).unwrap_or_default() == held_by {
                            tracing::info!(
                                "taking over the lock of job {} from {held_by}",
                                key.short()
                            );
                            let _ = fs::remove_file(&path);
                        }
                        continue;
                    }
                    return Err(StoreError::Locked {
                        key: key.hex(),
                        holder: held_by,
                        path,
                    });
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        Err(StoreError::Locked {
            key: key.hex(),
            holder: "another worker".into(),
            path,
        })
    }
}
