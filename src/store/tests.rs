use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::time::Duration;

use serde_json::json;

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("cache")).unwrap();
    (d, s)
}

fn write(s: &Store, kind: ObjectKind, key: &Key, body: &str) -> Manifest {
    let p = s.begin(kind, key).unwrap();
    fs::write(p.dir().join("scores.csv"), body).unwrap();
    p.commit(json!({"x": 1}), "cpu", now_rfc3339(), BTreeMap::new())
        .unwrap()
}

#[test]
fn committed_object_is_visible_with_digests() {
    let (_d, s) = store();
    let k = Key::of("result", &json!({"a": 1}));
    assert!(!s.contains(ObjectKind::Result, &k));
    let m = write(&s, ObjectKind::Result, &k, "label,score\n1,0.5\n");
    assert!(s.contains(ObjectKind::Result, &k));
    assert_eq!(s.manifest(ObjectKind::Result, &k).unwrap(), m);
    assert_eq!(
        m.files["scores.csv"],
        blake3::hash(b"label,score\n1,0.5\n").to_hex().to_string()
    );
    assert!(s.verify().unwrap().is_empty());
}

#[test]
fn manifests_record_the_cpu_features_and_old_ones_without_them_load() {
    let (_d, s) = store();
    let k = Key::of("result", &json!({"a": 1}));
    let m = write(&s, ObjectKind::Result, &k, "label,score\n1,0.5\n");
    assert_eq!(m.cpu_features, cpu_features());
    assert_eq!(m.cpu_features[0], std::env::consts::ARCH);
    // a manifest written before the field existed
    let path = s.object_dir(ObjectKind::Result, &k).join("manifest.json");
    let mut old: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("cpu_features").unwrap();
    fs::write(&path, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    let back = s.manifest(ObjectKind::Result, &k).unwrap();
    assert!(back.cpu_features.is_empty());
    assert_eq!(back.files, m.files);
    assert!(s.verify().unwrap().is_empty());
}

#[test]
fn interrupted_write_leaves_no_object() {
    let (_d, s) = store();
    let k = Key::of("model", &json!({"b": 2}));
    {
        let p = s.begin(ObjectKind::Model, &k).unwrap();
        fs::write(p.dir().join("model.bin"), b"half a model").unwrap();
        // dropped without commit: the write was interrupted
    }
    assert!(!s.contains(ObjectKind::Model, &k));
    assert!(s.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_killed_writer_leaves_only_tmp_garbage() {
    let (_d, s) = store();
    let k = Key::of("model", &json!({"c": 3}));
    let p = s.begin(ObjectKind::Model, &k).unwrap();
    fs::write(p.dir().join("model.bin"), b"x").unwrap();
    std::mem::forget(p); // as if the process died mid-write
    assert!(!s.contains(ObjectKind::Model, &k));
    assert!(s.list().unwrap().is_empty());
}

#[test]
fn verify_names_a_tampered_object() {
    let (_d, s) = store();
    let k = Key::of("result", &json!({"d": 4}));
    write(&s, ObjectKind::Result, &k, "1,0.5\n");
    fs::write(
        s.object_dir(ObjectKind::Result, &k).join("scores.csv"),
        "1,0.9\n",
    )
    .unwrap();
    let bad = s.verify().unwrap();
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].to_string().contains("scores.csv has digest"),
        "{}",
        bad[0]
    );
}

#[test]
fn gc_keeps_only_listed_keys() {
    let (_d, s) = store();
    let a = Key::of("result", &json!(1));
    let b = Key::of("result", &json!(2));
    write(&s, ObjectKind::Result, &a, "a");
    write(&s, ObjectKind::Result, &b, "b");
    let sum = s.gc(&HashSet::from([a])).unwrap();
    assert_eq!((sum.removed, sum.kept), (1, 1));
    assert!(s.contains(ObjectKind::Result, &a));
    assert!(!s.contains(ObjectKind::Result, &b));
}

/// Checkpoints of kept models stay; of others, only a training in progress
/// (its job locked) keeps its checkpoint. `checkpoints` lists them.
#[test]
fn gc_removes_checkpoints_no_spec_keeps_unless_training() {
    let (_d, s) = store();
    let [kept, orphan, running] = [4, 5, 6].map(|i| Key::of("model", &json!(i)));
    for (k, epoch) in [(&kept, 2), (&orphan, 3), (&running, 4)] {
        let dir = s.checkpoint_dir(k).join(format!("epoch-{epoch:06}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("state.json"), "{}").unwrap();
    }
    let listed: Vec<(Key, Option<usize>)> = s
        .checkpoints()
        .unwrap()
        .iter()
        .map(|c| (c.key, c.epoch))
        .collect();
    assert_eq!(listed.len(), 3);
    assert!(listed.contains(&(orphan, Some(3))), "{listed:?}");
    let _lock = s.lock(&running, Duration::from_secs(3600)).unwrap();
    let sum = s.gc(&HashSet::from([kept])).unwrap();
    assert_eq!(sum.removed, 1);
    assert!(sum.bytes_freed >= 2);
    assert!(s.checkpoint_dir(&kept).is_dir());
    assert!(!s.checkpoint_dir(&orphan).exists());
    assert!(s.checkpoint_dir(&running).is_dir());
}

#[test]
fn gc_never_removes_an_object_being_written() {
    let (_d, s) = store();
    let k = Key::of("model", &json!(3));
    let pending = s.begin(ObjectKind::Model, &k).unwrap();
    fs::write(pending.dir().join("weights.bin"), "w").unwrap();
    // nothing is kept: every stored object may go, the one being written stays
    let sum = s.gc(&HashSet::new()).unwrap();
    assert_eq!(sum.removed, 0);
    assert!(pending.dir().join("weights.bin").is_file());
    pending
        .commit(json!({}), "cpu", now_rfc3339(), BTreeMap::new())
        .unwrap();
    assert_eq!(s.state(ObjectKind::Model, &k), ObjectState::Intact);
}

#[test]
fn failures_are_recorded_and_cleared() {
    let (_d, s) = store();
    let k = Key::of("result", &json!(5));
    assert!(s.failure(&k).is_none());
    s.record_failure(&k, "kde", "diverged at epoch 2, step 7", None)
        .unwrap();
    assert_eq!(s.failure(&k).unwrap().error, "diverged at epoch 2, step 7");
    s.clear_failure(&k);
    assert!(s.failure(&k).is_none());
}

#[test]
fn lock_is_exclusive_until_dropped() {
    let (_d, s) = store();
    let k = Key::of("result", &json!(6));
    let l = s.lock(&k, Duration::from_secs(3600)).unwrap();
    assert!(matches!(
        s.lock(&k, Duration::from_secs(3600)),
        Err(StoreError::Locked { .. })
    ));
    drop(l);
    assert!(s.lock(&k, Duration::from_secs(3600)).is_ok());
}

#[test]
fn a_lock_whose_holder_is_gone_is_taken_over_at_once() {
    let (_d, s) = store();
    let k = Key::of("result", &json!(7));
    let hour = Duration::from_secs(3600);
    let path = s.lock_path(&k);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    // a process of this host that no longer runs (pids stay below 2^22)
    let dead = format!("{}:4194999 since 2026-01-01T00:00:00.000Z", hostname());
    fs::write(&path, &dead).unwrap();
    let l = s.lock(&k, hour).expect("taken over");
    assert!(
        fs::read_to_string(&path)
            .unwrap()
            .contains(&std::process::id().to_string())
    );
    drop(l);
    // a live holder of this host keeps it
    let live = format!("{}:{} since now", hostname(), std::process::id());
    fs::write(&path, &live).unwrap();
    assert!(matches!(s.lock(&k, hour), Err(StoreError::Locked { .. })));
    // another host's holder keeps it while its lease is fresh, loses it when stale
    fs::write(&path, "elsewhere:1 since now").unwrap();
    assert!(matches!(s.lock(&k, hour), Err(StoreError::Locked { .. })));
    let old = std::time::SystemTime::now() - Duration::from_secs(600);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert!(matches!(s.lock(&k, hour), Err(StoreError::Locked { .. })));
    let l = s
        .lock(&k, crate::store::LEASE_EXPIRY)
        .expect("lease expired");
    drop(l);
    assert!(!path.exists(), "dropping the lock removes it");
}

/// Runners opening a new store at the same moment all succeed (the version
/// file is never seen half-written) and agree on its version.
#[test]
fn a_new_store_opened_at_once_by_many_runners() {
    for _ in 0..100 {
        let d = tempfile::tempdir().unwrap();
        let go = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    go.wait();
                    Store::open(d.path()).expect("every opener succeeds");
                });
            }
        });
        let v = fs::read_to_string(d.path().join("STORE_VERSION")).unwrap();
        assert_eq!(v.trim(), STORE_VERSION.to_string());
    }
}

#[test]
fn store_of_another_version_is_refused() {
    let d = tempfile::tempdir().unwrap();
    Store::open(d.path()).unwrap();
    fs::write(d.path().join("STORE_VERSION"), "999\n").unwrap();
    let e = Store::open(d.path()).unwrap_err();
    assert!(e.to_string().contains("format version 999"), "{e}");
}

#[test]
fn library_versions_come_from_the_lock_file() {
    let v = super::library_versions();
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock");
    for name in ["burn", "faer", "rand_chacha"] {
        let version = v.get(name).unwrap_or_else(|| panic!("no {name} in {v:?}"));
        let entry = format!("name = \"{name}\"\nversion = \"{version}\"");
        assert!(
            lock.contains(&entry),
            "{name} {version} is not in Cargo.lock"
        );
    }
    assert_eq!(v["runner"], env!("CARGO_PKG_VERSION"));
}

/// Program output (`logs/`) of jobs no spec keeps is removed, unless the
/// job is running; the kept jobs' output stays.
#[test]
fn gc_removes_program_output_no_spec_keeps_unless_running() {
    let (_d, s) = store();
    let [kept, orphan, running] = [7, 8, 9].map(|i| Key::of("result", &json!(i)));
    for k in [&kept, &orphan, &running] {
        fs::create_dir_all(s.logs_dir(k)).unwrap();
        fs::write(s.logs_dir(k).join("fit.stderr"), "boom\n").unwrap();
    }
    assert!(s.logs_dir(&kept).starts_with(s.root().join("logs")));
    let _lock = s.lock(&running, Duration::from_secs(3600)).unwrap();
    let sum = s.gc(&HashSet::from([kept])).unwrap();
    assert!(sum.bytes_freed >= 5, "{sum:?}");
    assert!(s.logs_dir(&kept).join("fit.stderr").is_file());
    assert!(!s.logs_dir(&orphan).exists());
    assert!(s.logs_dir(&running).is_dir());
}
