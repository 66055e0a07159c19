//! Resolution: where a dataset is. Each candidate place is handed to the
//! dataset's [`Format`](super::format::Format), which recognises and verifies
//! a copy there; this module only decides the order and what to do when
//! nothing is found.
//!
//! Order: the spec's `path` (alone); a known dataset's built-in copy; each
//! `RUNNER_DATA` folder as `<folder>/<name>/`, then the files directly in
//! `<folder>` (only if they verify); `./data/<name>`;
//! `/usr/share/datasets/<name>`; then, unless offline, a download into the
//! first `RUNNER_DATA` folder (`<folder>/<name>/`) or `./data/<name>`.
//! A copy found in a folder named for the dataset that fails verification is
//! an error (it is never skipped silently).

use std::path::{Path, PathBuf};

use super::format::{Want, format};
use super::registry;
use super::{DataError, DataOptions, Located, download};
use crate::spec::{DataFormat, DatasetSpec};

/// The system-wide data folder (Debian's `dataset-*` packages install here).
pub const SYSTEM_DIR: &str = "/usr/share/datasets";

/// Where a download goes: `<first RUNNER_DATA folder>/<name>` or `./data/<name>`.
pub fn download_dir(name: &str, opts: &DataOptions) -> PathBuf {
    opts.search
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("data"))
        .join(name)
}

/// See [`super::locate`]; mirrors come from `RUNNER_DATA_MIRRORS`.
pub fn locate(spec: &DatasetSpec, opts: &DataOptions) -> Result<Located, DataError> {
    locate_from(spec, opts, &download::env_mirrors())
}

/// [`locate`] with download mirrors (base URLs) tried before the built-in URLs.
pub fn locate_from(
    spec: &DatasetSpec,
    opts: &DataOptions,
    mirrors: &[String],
) -> Result<Located, DataError> {
    let known = registry::known(&spec.name);
    let data_format = format_of(spec, known)?;
    let fmt = format(data_format);
    let w = Want {
        name: &spec.name,
        known,
        classes: spec.classes.as_deref(),
    };
    if w.classes.is_some_and(|c| c.is_empty()) {
        return Err(DataError::Invalid(format!(
            "dataset `{}`: the class list is empty",
            spec.name
        )));
    }
    if let Some(p) = &spec.path {
        return match fmt.probe(p, &w)? {
            Some(l) => Ok(l),
            None => Err(DataError::NotFound {
                name: spec.name.clone(),
                searched: format!("  {} (the spec's path)", p.display()),
                help: format!(
                    "check the path; a `{}` dataset is {}",
                    data_format.as_str(),
                    fmt.layout()
                ),
            }),
        };
    }
    if let Some(l) = known.and_then(|_| fmt.embedded(&w)) {
        return Ok(l);
    }
    let cands = candidates(&spec.name, opts);
    for (p, strict) in &cands {
        match fmt.probe(p, &w) {
            Ok(Some(l)) => return Ok(l),
            Ok(None) => {}
            Err(e) if *strict => return Err(e),
            Err(e) => tracing::debug!("skipping {}: {e}", p.display()),
        }
    }
    let searched: String = cands
        .iter()
        .map(|(p, _)| format!("  {}", p.display()))
        .collect::<Vec<_>>()
        .join("\n");
    let help = match known {
        Some(k) if !k.urls.is_empty() && !opts.offline => {
            let dir = download_dir(k.name, opts);
            download::fetch_known(k, &dir, mirrors)?;
            return fmt.probe(&dir, &w)?.ok_or_else(|| {
                DataError::Other(format!(
                    "downloaded `{}` into {} but cannot find it there",
                    k.name,
                    dir.display()
                ))
            });
        }
        Some(k) => how_to_get(k, opts),
        None => format!(
            "give the spec a `path`; a `{}` dataset is {}",
            data_format.as_str(),
            fmt.layout()
        ),
    };
    Err(DataError::NotFound {
        name: spec.name.clone(),
        searched,
        help,
    })
}

/// The format of the spec's dataset: a known dataset's own (the spec may
/// repeat it but not contradict it), else the spec's `format`.
fn format_of(spec: &DatasetSpec, known: Option<&registry::Known>) -> Result<DataFormat, DataError> {
    match (known, spec.format) {
        (Some(k), Some(f)) if f != k.format => Err(DataError::Invalid(format!(
            "dataset `{}` is a known dataset in format `{}`, but the spec says `{}`; give your own data another name",
            k.name,
            k.format.as_str(),
            f.as_str()
        ))),
        (Some(k), _) => Ok(k.format),
        (None, Some(f)) => Ok(f),
        (None, None) => Err(DataError::UnknownDataset {
            name: spec.name.clone(),
            known: registry::known_names(),
        }),
    }
}

/// Where a dataset named `name` is looked for, in order: (path, strict). A
/// folder named for the dataset must verify; the bare RUNNER_DATA folders
/// are skipped when what is there is something else.
fn candidates(name: &str, opts: &DataOptions) -> Vec<(PathBuf, bool)> {
    let mut cands: Vec<(PathBuf, bool)> = Vec::new();
    for f in &opts.search {
        cands.push((f.join(name), true));
        cands.push((f.clone(), false));
    }
    cands.push((Path::new("data").join(name), true));
    cands.push((Path::new(SYSTEM_DIR).join(name), true));
    cands
}

/// What to do about a known dataset that is not on this machine (and is not
/// downloaded now: offline, or no download exists).
fn how_to_get(k: &registry::Known, opts: &DataOptions) -> String {
    if k.urls.is_empty() {
        return k.how_to_get.to_string();
    }
    format!(
        "run `runner data fetch {}` (downloads into {}), or set RUNNER_DATA to folders that hold it{}",
        k.name,
        download_dir(k.name, opts).display(),
        k.system_package
            .map(|p| format!(
                ", or install the Debian/Ubuntu package `{p}` (into {SYSTEM_DIR}/{})",
                k.name
            ))
            .unwrap_or_default()
    )
}

/// See [`super::fetch`]: downloads a known dataset if it is missing, and
/// replaces damaged files in its download folder.
pub fn fetch(name: &str, opts: &DataOptions, mirrors: &[String]) -> Result<Located, DataError> {
    let online = DataOptions {
        offline: false,
        ..opts.clone()
    };
    let spec = DatasetSpec::named(name);
    match locate_from(&spec, &online, mirrors) {
        Err(DataError::Bad { path, .. }) | Err(DataError::Io { path, .. }) => {
            let k = registry::known(name).filter(|k| !k.urls.is_empty());
            let dir = download_dir(name, opts);
            match k {
                Some(k) if path.starts_with(&dir) => {
                    download::fetch_known(k, &dir, mirrors)?;
                    locate_from(&spec, &online, mirrors)
                }
                _ => locate_from(&spec, &online, mirrors),
            }
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::super::download::tests::{Route, serve};
    use super::super::format::STATE_OFFICIAL;
    use super::super::testutil::*;
    use super::*;
    use crate::spec::DataFormat;

    fn custom(name: &str, format: DataFormat) -> DatasetSpec {
        DatasetSpec {
            format: Some(format),
            ..DatasetSpec::named(name)
        }
    }

    fn opts(search: &[&Path]) -> DataOptions {
        DataOptions {
            search: search.iter().map(|p| p.to_path_buf()).collect(),
            offline: true,
        }
    }

    #[test]
    fn search_order_and_content_digest() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_idx_dataset(&b.path().join("toy"), true, 2, 1);
        let spec = custom("toy", DataFormat::Idx);
        let lb = locate(&spec, &opts(&[a.path(), b.path()])).unwrap();
        assert_eq!(lb.path.as_deref(), Some(b.path().join("toy").as_path()));
        assert!(lb.state.starts_with("checked"), "{}", lb.state);
        // an identical copy earlier in the search path wins, with the same digest
        write_idx_dataset(&a.path().join("toy"), true, 2, 1);
        let la = locate(&spec, &opts(&[a.path(), b.path()])).unwrap();
        assert_eq!(la.path.as_deref(), Some(a.path().join("toy").as_path()));
        assert_eq!(la.id, lb.id);
        // different content (here: uncompressed): a different digest
        std::fs::remove_dir_all(a.path().join("toy")).unwrap();
        write_idx_dataset(&a.path().join("toy"), false, 2, 1);
        let la2 = locate(&spec, &opts(&[a.path(), b.path()])).unwrap();
        assert_ne!(la2.id.digest, lb.id.digest);
        // the spec's path is used alone
        let lp = locate(
            &DatasetSpec {
                path: Some(b.path().join("toy")),
                ..spec.clone()
            },
            &opts(&[a.path()]),
        )
        .unwrap();
        assert_eq!(lp.id, lb.id);
        let ds = super::super::load(&lp).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (20, 10));
        // class names from the spec
        let named = DatasetSpec {
            classes: Some((0..10).map(|i| format!("c{i}")).collect()),
            ..spec.clone()
        };
        let ln = locate(&named, &opts(&[b.path()])).unwrap();
        assert_eq!(ln.classes[3], "c3");
        assert_ne!(ln.id.digest, lb.id.digest);
    }

    #[test]
    fn not_found_unknown_and_format_errors_say_what_to_do() {
        let e = locate(&DatasetSpec::named("mnits"), &opts(&[])).unwrap_err();
        assert!(matches!(e, DataError::UnknownDataset { .. }));
        assert!(e.to_string().contains("mnist, fashion-mnist"), "{e}");
        let e = locate(&custom("mnist", DataFormat::ImageFolder), &opts(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("known dataset in format `idx`, but the spec says `image-folder`"),
            "{e}"
        );
        let empty = tempfile::tempdir().unwrap();
        let e = locate(&DatasetSpec::named("cifar10"), &opts(&[empty.path()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("dataset `cifar10` not found"), "{e}");
        assert!(
            e.contains(&empty.path().join("cifar10").display().to_string()),
            "{e}"
        );
        assert!(e.contains("runner data fetch cifar10"), "{e}");
        assert!(e.contains("set RUNNER_DATA"), "{e}");
        let e = locate(
            &DatasetSpec {
                path: Some(empty.path().join("nope")),
                ..custom("mine", DataFormat::ImageFolder)
            },
            &opts(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("(the spec's path)") && e.contains("train/<class>"),
            "{e}"
        );
        let e = locate(
            &DatasetSpec {
                classes: Some(vec![]),
                ..custom("mine", DataFormat::Idx)
            },
            &opts(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("the class list is empty"), "{e}");
    }

    #[test]
    fn a_bad_copy_of_a_known_dataset_is_an_error_or_skipped_when_not_its_folder() {
        let root = tempfile::tempdir().unwrap();
        // tiny IDX files directly in the RUNNER_DATA folder are not MNIST: skipped
        write_idx_dataset(root.path(), true, 1, 1);
        let e = locate(&DatasetSpec::named("mnist"), &opts(&[root.path()])).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }), "{e}");
        // in <folder>/mnist/ they are an error naming the file and the fix
        write_idx_dataset(&root.path().join("mnist"), true, 1, 1);
        let e = locate(&DatasetSpec::named("mnist"), &opts(&[root.path()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
        assert!(e.contains("expected 9912422"), "{e}");
        assert!(e.contains("runner data fetch mnist"), "{e}");
    }

    /// Offline: nothing is downloaded and the error says how to get the data;
    /// online: the files come through the mirrors (a dead one first), are
    /// verified, and a damaged file is replaced by `fetch`.
    #[test]
    fn downloads_only_online_verify_and_fetch_repairs_through_mirrors() {
        let Some(real) = real_data("mnist") else {
            return;
        };
        let Some(dir) = real.path.as_deref() else {
            panic!("the real MNIST has no path")
        };
        let k = registry::known("mnist").expect("mnist is known");
        let mut routes = std::collections::HashMap::new();
        for f in k.files {
            let Ok(bytes) = std::fs::read(dir.join(f.name)) else {
                missing_data::<()>(&format!("{} in {}", f.name, dir.display()));
                return;
            };
            routes.insert(format!("/m/{}", f.name), Route::Ok(bytes));
        }
        let (base, log) = serve(routes);
        let dest = tempfile::tempdir().unwrap();
        let offline = opts(&[dest.path()]);
        let online = DataOptions {
            offline: false,
            ..offline.clone()
        };
        let mirrors = vec![format!("{base}/dead/"), format!("{base}/m/")];
        let spec = DatasetSpec::named("mnist");
        // offline: nothing there, no download, and how to get it
        let e = locate_from(&spec, &offline, &mirrors).unwrap_err();
        assert!(matches!(e, DataError::NotFound { .. }), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("runner data fetch mnist") && e.contains("RUNNER_DATA"),
            "{e}"
        );
        assert!(log.lock().unwrap().is_empty());
        assert!(!dest.path().join("mnist").exists());
        // online: a dead mirror first, then the working one
        let l = locate_from(&spec, &online, &mirrors).unwrap();
        assert_eq!(l.state, STATE_OFFICIAL);
        assert_eq!(l.path.as_deref(), Some(dest.path().join("mnist").as_path()));
        assert_eq!(l.id, real.id);
        assert_eq!(log.lock().unwrap().len(), 8);
        // present: found offline, nothing more downloaded
        assert_eq!(locate_from(&spec, &offline, &mirrors).unwrap().id, l.id);
        assert_eq!(fetch("mnist", &offline, &mirrors).unwrap().id, l.id);
        assert_eq!(log.lock().unwrap().len(), 8);
        // a damaged file is an error, and fetch replaces it
        let p = dest.path().join("mnist/t10k-labels-idx1-ubyte.gz");
        let mut b = std::fs::read(&p).unwrap();
        b[100] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        let e = locate_from(&spec, &online, &mirrors)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t10k-labels-idx1-ubyte.gz: md5"), "{e}");
        let l2 = fetch("mnist", &offline, &mirrors).unwrap();
        assert_eq!(l2.id, l.id);
        assert_eq!(log.lock().unwrap().len(), 10);
    }
}
