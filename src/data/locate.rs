//! Resolution (where a dataset is), verification (official sizes and md5s,
//! headers, layout), content digests, and decoding of a located dataset; plus
//! the `data ls` / `data verify` views.
//!
//! Order: the spec's `path`; each `RUNNER_DATA` folder as `<folder>/<name>/`,
//! then the files directly in `<folder>` (only if they verify); `./data/<name>`;
//! `/usr/share/datasets/<name>`; then, unless offline, a download into the
//! first `RUNNER_DATA` folder (`<folder>/<name>/`) or `./data/<name>`.
//! A copy found in a folder named for the dataset that fails verification is
//! an error (it is never skipped silently).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use super::hash::{ContentDigest, file_digest};
use super::registry::{self, CIFAR_ARCHIVE, IDX_NAMES, Known, KnownFile};
use super::{
    DataError, DataOptions, Dataset, DatasetId, DatasetStatus, Located, cifar, digits, download,
    folder, idx,
};
use crate::spec::{DataFormat, DatasetSpec};

/// The system-wide data folder (Debian's `dataset-*` packages install here).
pub const SYSTEM_DIR: &str = "/usr/share/datasets";

pub const STATE_OFFICIAL: &str = "verified (official md5)";
pub const STATE_EMBEDDED: &str = "embedded";

fn format_name(f: DataFormat) -> &'static str {
    match f {
        DataFormat::Idx => "idx",
        DataFormat::Cifar10Binary => "cifar10-binary",
        DataFormat::ImageFolder => "image-folder",
        DataFormat::DigitsCsv => "digits-csv",
    }
}

/// What is being looked for.
struct Want<'a> {
    name: &'a str,
    format: DataFormat,
    known: Option<&'static Known>,
    classes: Option<&'a [String]>,
}

impl Want<'_> {
    fn ds(&self) -> Option<&str> {
        Some(self.name)
    }

    fn class_names(&self, fallback: &[&str]) -> Vec<String> {
        match (self.classes, self.known) {
            (Some(c), _) => c.to_vec(),
            (None, Some(k)) => k.classes.iter().map(|s| s.to_string()).collect(),
            (None, None) => fallback.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn id(&self, digest: String) -> DatasetId {
        DatasetId {
            name: self.name.to_string(),
            digest,
            approximate: self.known.is_some_and(|k| k.approximate),
        }
    }
}

const DIGIT_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Checks `path` against a known file's size and md5 (the compressed or the
/// uncompressed variant, by its name). Returns whether an official md5 matched.
fn check_known_file(
    path: &Path,
    kf: &KnownFile,
    dataset: Option<&str>,
) -> Result<(bool, blake3::Hash), DataError> {
    let fname = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (size, md5) = if fname == kf.name {
        (kf.size, Some(kf.md5))
    } else if let Some((_, size, md5)) = kf.raw.filter(|r| r.0 == fname) {
        (size, md5)
    } else {
        return Err(DataError::bad(path, "not a file of this dataset", dataset));
    };
    let len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e, dataset))?
        .len();
    if len != size {
        return Err(DataError::bad(
            path,
            format!("{len} bytes, expected {size} (truncated or not the official file)"),
            dataset,
        ));
    }
    let d = file_digest(path, dataset)?;
    match md5 {
        Some(m) if d.md5 != m => Err(DataError::bad(
            path,
            format!(
                "md5 {} does not match the official {m} (damaged or not the official file)",
                d.md5
            ),
            dataset,
        )),
        Some(_) => Ok((true, d.blake3)),
        None => Ok((false, d.blake3)),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn try_idx(dir: &Path, w: &Want) -> Result<Option<Located>, DataError> {
    if !dir.is_dir() || !idx::any_file(dir) {
        return Ok(None);
    }
    let Some(files) = idx::find_files(dir) else {
        let missing: Vec<&str> = IDX_NAMES
            .iter()
            .copied()
            .filter(|n| !dir.join(n).is_file() && !dir.join(format!("{n}.gz")).is_file())
            .collect();
        return Err(DataError::bad(
            dir,
            format!(
                "incomplete IDX dataset: missing {} (or .gz)",
                missing.join(", ")
            ),
            w.ds(),
        ));
    };
    let classes = w.class_names(&DIGIT_CLASSES);
    let mut digest = ContentDigest::new(format_name(DataFormat::Idx), &classes);
    let mut all_official = true;
    let mut counts = [0usize; 4];
    for (i, p) in files.iter().enumerate() {
        let official = match w.known {
            Some(k) => {
                let (ok, b3) = check_known_file(p, &k.files[i], w.ds())?;
                digest.file(&file_name(p), &b3);
                ok
            }
            None => {
                digest.file(&file_name(p), &file_digest(p, w.ds())?.blake3);
                false
            }
        };
        if !official {
            all_official = false;
            counts[i] = idx::check_header(p, i % 2 == 0, w.ds())?.0;
        }
    }
    if !all_official {
        for (i, j) in [(0, 1), (2, 3)] {
            if counts[i] != counts[j] && counts[i] > 0 && counts[j] > 0 {
                return Err(DataError::bad(
                    &files[j],
                    format!(
                        "{} labels but {} has {} images",
                        counts[j],
                        files[i].display(),
                        counts[i]
                    ),
                    w.ds(),
                ));
            }
        }
    }
    Ok(Some(Located {
        format: DataFormat::Idx,
        path: Some(dir.to_path_buf()),
        id: w.id(digest.finish()),
        classes,
        state: if all_official {
            STATE_OFFICIAL.into()
        } else {
            "checked (IDX headers; no official digest)".into()
        },
    }))
}

fn try_cifar(path: &Path, w: &Want) -> Result<Option<Located>, DataError> {
    let Some(src) = cifar::find(path) else {
        return Ok(None);
    };
    let official = w.known.is_some();
    let (files, state) = match &src {
        cifar::Source::Archive(a) => {
            let kf = w
                .known
                .and_then(|k| k.files.iter().find(|f| f.name == file_name(a)));
            match kf {
                Some(kf) => {
                    let (_, b3) = check_known_file(a, kf, w.ds())?;
                    (vec![(a.clone(), b3)], STATE_OFFICIAL.to_string())
                }
                None if official => {
                    return Err(DataError::bad(
                        a,
                        format!("expected the official `{CIFAR_ARCHIVE}` or the unpacked folder"),
                        w.ds(),
                    ));
                }
                None => (
                    vec![(a.clone(), file_digest(a, w.ds())?.blake3)],
                    "found (no official digest)".to_string(),
                ),
            }
        }
        cifar::Source::Folder(d) => {
            let mut v = Vec::new();
            for p in cifar::folder_files(d, official, w.ds())? {
                let b3 = file_digest(&p, w.ds())?.blake3;
                v.push((p, b3));
            }
            (
                v,
                "checked (sizes of unpacked files; no official digest)".to_string(),
            )
        }
    };
    let classes = match (w.classes, w.known, &src) {
        (Some(c), _, _) => c.to_vec(),
        (None, Some(k), _) => k.classes.iter().map(|s| s.to_string()).collect(),
        (None, None, cifar::Source::Folder(d)) => {
            match std::fs::read_to_string(d.join(cifar::META)) {
                Ok(t) if !cifar::parse_meta(&t).is_empty() => cifar::parse_meta(&t),
                _ => registry::known("cifar10")
                    .map(|k| k.classes.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default(),
            }
        }
        (None, None, _) => registry::known("cifar10")
            .map(|k| k.classes.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    };
    let mut digest = ContentDigest::new(format_name(DataFormat::Cifar10Binary), &classes);
    for (p, b3) in &files {
        digest.file(&file_name(p), b3);
    }
    Ok(Some(Located {
        format: DataFormat::Cifar10Binary,
        path: Some(src.path().to_path_buf()),
        id: w.id(digest.finish()),
        classes,
        state,
    }))
}

type ListingMemo = Mutex<HashMap<(PathBuf, u64, Option<SystemTime>), folder::Listing>>;

/// Scans an image folder; archive listings are remembered per (path, size, mtime).
fn scan_cached(src: &folder::Source, dataset: Option<&str>) -> Result<folder::Listing, DataError> {
    static MEMO: OnceLock<ListingMemo> = OnceLock::new();
    let folder::Source::Archive(p) = src else {
        return folder::scan(src, dataset);
    };
    let meta = std::fs::metadata(p).map_err(|e| DataError::io(p, e, dataset))?;
    let key = (p.clone(), meta.len(), meta.modified().ok());
    let memo = MEMO.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(l) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(l.clone());
    }
    let l = folder::scan(src, dataset)?;
    memo.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, l.clone());
    Ok(l)
}

fn try_folder(path: &Path, w: &Want) -> Result<Option<Located>, DataError> {
    let src = match w.known {
        Some(k) => {
            let archive = if path.is_file() {
                Some(path.to_path_buf())
            } else {
                k.files
                    .first()
                    .map(|f| path.join(f.name))
                    .filter(|p| p.is_file())
            };
            match archive {
                Some(a) => folder::Source::Archive(a),
                None => match folder::find(path) {
                    Some(s) => s,
                    None => return Ok(None),
                },
            }
        }
        None => match folder::find(path) {
            Some(s) => s,
            None => {
                // `<dir>/<name>.tar.gz` and friends
                let base = path.as_os_str().to_string_lossy();
                let alt = [".tar.gz", ".tgz", ".tar"]
                    .iter()
                    .map(|e| PathBuf::from(format!("{base}{e}")))
                    .find(|p| p.is_file());
                match alt {
                    Some(a) => folder::Source::Archive(a),
                    None => return Ok(None),
                }
            }
        },
    };
    let mut official = false;
    let mut files: Vec<(String, blake3::Hash)> = Vec::new();
    match &src {
        folder::Source::Archive(a) => {
            let kf = w
                .known
                .and_then(|k| k.files.iter().find(|f| f.name == file_name(a)));
            let b3 = match kf {
                Some(kf) => {
                    official = true;
                    check_known_file(a, kf, w.ds())?.1
                }
                None => file_digest(a, w.ds())?.blake3,
            };
            files.push((file_name(a), b3));
        }
        folder::Source::Folder(_) => {}
    }
    let fixed: Option<Vec<String>> = w.classes.map(|c| c.to_vec()).or_else(|| {
        w.known
            .map(|k| k.classes.iter().map(|s| s.to_string()).collect())
    });
    // the known archive's md5 vouches for its layout: no need to list it
    let (classes, listing) = match (official, w.classes, &fixed) {
        (true, None, Some(f)) => (f.clone(), None),
        _ => {
            let listing = scan_cached(&src, w.ds())?;
            let classes = folder::classes(&listing, fixed.as_deref(), src.path(), w.ds())?;
            (classes, Some(listing))
        }
    };
    if let (folder::Source::Folder(root), Some(listing)) = (&src, &listing) {
        for (s, m) in listing.counts.iter().enumerate() {
            let split = ["train", "test"][s];
            for c in m.keys() {
                let dir = root.join(split).join(c);
                let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map_err(|e| DataError::io(&dir, e, w.ds()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                names.sort();
                for p in names {
                    let rel = format!("{split}/{c}/{}", file_name(&p));
                    files.push((rel, file_digest(&p, w.ds())?.blake3));
                }
            }
        }
    }
    let mut digest = ContentDigest::new(format_name(DataFormat::ImageFolder), &classes);
    for (n, b3) in &files {
        digest.file(n, b3);
    }
    Ok(Some(Located {
        format: DataFormat::ImageFolder,
        path: Some(src.path().to_path_buf()),
        id: w.id(digest.finish()),
        classes,
        state: if official {
            "verified (known md5)".into()
        } else {
            "checked (layout; no official digest)".into()
        },
    }))
}

fn try_digits(path: &Path, w: &Want) -> Result<Option<Located>, DataError> {
    let file = if path.is_file() {
        path.to_path_buf()
    } else {
        let c = [
            format!("{}.csv.gz", w.name),
            format!("{}.csv", w.name),
            "digits.csv.gz".into(),
            "digits.csv".into(),
        ]
        .into_iter()
        .map(|n| path.join(n))
        .find(|p| p.is_file());
        match c {
            Some(p) => p,
            None => return Ok(None),
        }
    };
    let bytes = std::fs::read(&file).map_err(|e| DataError::io(&file, e, w.ds()))?;
    digits::parse(&bytes, &file, w.ds())?;
    let classes = w.class_names(&DIGIT_CLASSES);
    let mut digest = ContentDigest::new(format_name(DataFormat::DigitsCsv), &classes);
    digest.file(&file_name(&file), &blake3::hash(&bytes));
    Ok(Some(Located {
        format: DataFormat::DigitsCsv,
        path: Some(file),
        id: w.id(digest.finish()),
        classes,
        state: "checked (CSV rows; no official digest)".into(),
    }))
}

fn try_at(path: &Path, w: &Want) -> Result<Option<Located>, DataError> {
    match w.format {
        DataFormat::Idx => try_idx(path, w),
        DataFormat::Cifar10Binary => try_cifar(path, w),
        DataFormat::ImageFolder => try_folder(path, w),
        DataFormat::DigitsCsv => try_digits(path, w),
    }
}

fn embedded_digits(w: &Want) -> Located {
    let classes = w.class_names(&DIGIT_CLASSES);
    let mut digest = ContentDigest::new(format_name(DataFormat::DigitsCsv), &classes);
    digest.file("digits.csv.gz", &digits::embedded_blake3());
    Located {
        format: DataFormat::DigitsCsv,
        path: None,
        id: w.id(digest.finish()),
        classes,
        state: STATE_EMBEDDED.into(),
    }
}

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
    let format = match (known, spec.format) {
        (Some(k), Some(f)) if f != k.format => {
            return Err(DataError::Invalid(format!(
                "dataset `{}` is a known dataset in format `{}`, but the spec says `{}`; give your own data another name",
                k.name,
                format_name(k.format),
                format_name(f)
            )));
        }
        (Some(k), _) => k.format,
        (None, Some(f)) => f,
        (None, None) => {
            return Err(DataError::UnknownDataset {
                name: spec.name.clone(),
                known: registry::known_names(),
            });
        }
    };
    let w = Want {
        name: &spec.name,
        format,
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
        return match try_at(p, &w)? {
            Some(l) => Ok(l),
            None => Err(DataError::NotFound {
                name: spec.name.clone(),
                searched: format!("  {} (the spec's path)", p.display()),
                help: format!(
                    "check the path; a `{}` dataset is {}",
                    format_name(format),
                    layout_help(format)
                ),
            }),
        };
    }
    if known.is_some() && format == DataFormat::DigitsCsv {
        return Ok(embedded_digits(&w));
    }
    // (path, strict): a folder named for the dataset must verify; the bare
    // RUNNER_DATA folders are skipped when what is there is something else
    let mut cands: Vec<(PathBuf, bool)> = Vec::new();
    for f in &opts.search {
        cands.push((f.join(&spec.name), true));
        cands.push((f.clone(), false));
    }
    cands.push((Path::new("data").join(&spec.name), true));
    cands.push((Path::new(SYSTEM_DIR).join(&spec.name), true));
    for (p, strict) in &cands {
        match try_at(p, &w) {
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
    match known {
        Some(k) if !k.urls.is_empty() && !opts.offline => {
            let dir = download_dir(k.name, opts);
            download::fetch_known(k, &dir, mirrors)?;
            match try_at(&dir, &w)? {
                Some(l) => Ok(l),
                None => Err(DataError::Other(format!(
                    "downloaded `{}` into {} but cannot find it there",
                    k.name,
                    dir.display()
                ))),
            }
        }
        Some(k) => {
            Err(DataError::NotFound {
                name: spec.name.clone(),
                searched,
                help: if !k.urls.is_empty() {
                    format!(
                    "run `runner data fetch {}` (downloads into {}), or set RUNNER_DATA to folders that hold it{}",
                    k.name,
                    download_dir(k.name, opts).display(),
                    k.system_package
                        .map(|p| format!(", or install the Debian/Ubuntu package `{p}` (into {SYSTEM_DIR}/{})", k.name))
                        .unwrap_or_default()
                )
                } else {
                    k.how_to_get.to_string()
                },
            })
        }
        None => Err(DataError::NotFound {
            name: spec.name.clone(),
            searched,
            help: format!(
                "give the spec a `path`; a `{}` dataset is {}",
                format_name(format),
                layout_help(format)
            ),
        }),
    }
}

fn layout_help(f: DataFormat) -> &'static str {
    match f {
        DataFormat::Idx => {
            "a folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may be .gz)"
        }
        DataFormat::Cifar10Binary => {
            "cifar-10-binary.tar.gz, or a folder with data_batch_1..5.bin and test_batch.bin"
        }
        DataFormat::ImageFolder => {
            "a folder (or .tar / .tar.gz) with train/<class>/*.png|jpg and test/<class>/*.png|jpg"
        }
        DataFormat::DigitsCsv => {
            "a .csv or .csv.gz file with 64 pixel values (0..16) and a label per row"
        }
    }
}

/// See [`super::load`].
pub fn load(l: &Located) -> Result<Dataset, DataError> {
    let ds = Some(l.id.name.as_str());
    let n = l.classes.len();
    let official = registry::known(&l.id.name).is_some();
    let (train, test, classes) = match (l.format, &l.path) {
        (DataFormat::DigitsCsv, None) => {
            let (a, b) = digits::load_embedded()?;
            (a, b, l.classes.clone())
        }
        (DataFormat::DigitsCsv, Some(p)) => {
            let bytes = std::fs::read(p).map_err(|e| DataError::io(p, e, ds))?;
            let all = digits::parse(&bytes, p, ds)?;
            let (a, b) = digits::split_fixed(&all);
            (a, b, l.classes.clone())
        }
        (_, None) => {
            return Err(DataError::Other(format!(
                "dataset `{}` has no location",
                l.id.name
            )));
        }
        (DataFormat::Idx, Some(dir)) => {
            let files = idx::find_files(dir)
                .ok_or_else(|| DataError::bad(dir, "the IDX files are no longer all there", ds))?;
            let (a, b) = idx::load(&files, n, ds)?;
            (a, b, l.classes.clone())
        }
        (DataFormat::Cifar10Binary, Some(p)) => {
            let src = if p.is_file() {
                cifar::Source::Archive(p.clone())
            } else {
                cifar::Source::Folder(p.clone())
            };
            let (a, b, _meta) = cifar::load(&src, n, official, ds)?;
            (a, b, l.classes.clone())
        }
        (DataFormat::ImageFolder, Some(p)) => {
            let src = if p.is_file() {
                folder::Source::Archive(p.clone())
            } else {
                folder::Source::Folder(p.clone())
            };
            let (a, b) = folder::load(&src, &l.classes, ds)?;
            (a, b, l.classes.clone())
        }
    };
    if train.is_empty() || test.is_empty() {
        return Err(DataError::bad(
            l.path.clone().unwrap_or_default(),
            "no training or no test images",
            ds,
        ));
    }
    Ok(Dataset {
        id: l.id.clone(),
        classes,
        train,
        test,
    })
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

/// See [`super::status_all`].
pub fn status_all(opts: &DataOptions) -> Vec<DatasetStatus> {
    let offline = DataOptions {
        offline: true,
        ..opts.clone()
    };
    registry::KNOWN
        .iter()
        .map(|k| {
            let (location, state) = match locate(&DatasetSpec::named(k.name), &offline) {
                Ok(l) => (
                    Some(
                        l.path
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "(built in)".into()),
                    ),
                    l.state,
                ),
                Err(DataError::NotFound { .. }) => (None, "not found".into()),
                Err(e) => {
                    let first = e.to_string();
                    let first = first.lines().next().unwrap_or_default().to_string();
                    (None, format!("error: {first}"))
                }
            };
            DatasetStatus {
                name: k.name.to_string(),
                format: k.format,
                location,
                state,
                approximate: k.approximate,
            }
        })
        .collect()
}

/// See [`super::verify`].
pub fn verify(name: &str, opts: &DataOptions) -> Result<String, DataError> {
    let offline = DataOptions {
        offline: true,
        ..opts.clone()
    };
    let l = locate(&DatasetSpec::named(name), &offline)?;
    let t0 = std::time::Instant::now();
    let ds = load(&l)?;
    let secs = t0.elapsed().as_secs_f64();
    let mut r = String::new();
    let _ = writeln!(r, "dataset   {}", l.id.name);
    let _ = writeln!(
        r,
        "location  {}",
        l.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(built in)".into())
    );
    let _ = writeln!(r, "format    {}", format_name(l.format));
    let _ = writeln!(r, "state     {}", l.state);
    if l.id.approximate {
        let _ = writeln!(
            r,
            "note      a lossy copy: results on it approximate, and are not, results on the official data"
        );
    }
    let _ = writeln!(r, "digest    {} (blake3, goes into job keys)", l.id.digest);
    if let (Some(k), Some(p)) = (registry::known(name), &l.path) {
        for f in k.files {
            for n in std::iter::once(f.name).chain(f.raw.map(|r| r.0)) {
                let cand = if p.is_file() {
                    if file_name(p) != n {
                        continue;
                    }
                    p.clone()
                } else {
                    p.join(n)
                };
                if !cand.is_file() {
                    continue;
                }
                let d = file_digest(&cand, Some(name))?;
                let _ = writeln!(
                    r,
                    "file      {n}  {} bytes  md5 {}  blake3 {}",
                    d.size,
                    d.md5,
                    d.blake3.to_hex()
                );
            }
        }
    }
    let _ = writeln!(
        r,
        "images    {}x{}x{} (channels x height x width)",
        ds.train.channels, ds.train.height, ds.train.width
    );
    let n = ds.classes.len();
    let _ = writeln!(
        r,
        "train     {} images; per class {:?}",
        ds.train.len(),
        ds.train.class_counts(n)
    );
    let _ = writeln!(
        r,
        "test      {} images; per class {:?}",
        ds.test.len(),
        ds.test.class_counts(n)
    );
    let _ = writeln!(r, "classes   {}", ds.classes.join(", "));
    if let Some(k) = registry::known(name) {
        let _ = writeln!(r, "credit    {}", k.credit);
    }
    let _ = write!(r, "decoded   every image in {secs:.2} s: OK");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::super::download::tests::{Route, serve};
    use super::super::testutil::*;
    use super::*;
    use crate::spec::{Limits, Protocol};

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

    /// The shared copies of the real datasets: a `RUNNER_DATA` folder holding
    /// `mnist/`, or `shared/data` beside the checkout (or one level up).
    pub fn shared_data() -> Option<PathBuf> {
        let from_env = std::env::var_os("RUNNER_DATA")
            .map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
            .unwrap_or_default();
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let up = manifest
            .ancestors()
            .skip(1)
            .take(2)
            .map(|a| a.join("shared").join("data"));
        from_env
            .into_iter()
            .chain(up)
            .find(|p| p.join("mnist").join("train-labels-idx1-ubyte.gz").is_file())
    }

    #[test]
    fn digits_are_embedded_and_load_offline() {
        let l = locate(&DatasetSpec::named("digits"), &opts(&[])).unwrap();
        assert_eq!(l.path, None);
        assert_eq!(l.state, STATE_EMBEDDED);
        assert_eq!(l.classes.len(), 10);
        let again = locate(&DatasetSpec::named("digits"), &opts(&[])).unwrap();
        assert_eq!(l.id, again.id);
        let ds = load(&l).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (1352, 445));
        assert_eq!(
            (ds.train.height, ds.train.width, ds.train.channels),
            (8, 8, 1)
        );
        let r = verify("digits", &opts(&[])).unwrap();
        assert!(r.contains("(built in)") && r.contains("1352 images"), "{r}");
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
        let ds = load(&lp).unwrap();
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
        assert!(e.contains("known dataset in format `idx`"), "{e}");
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
        // an incomplete set names what is missing
        std::fs::remove_file(root.path().join("mnist/t10k-labels-idx1-ubyte.gz")).unwrap();
        let e = locate(&DatasetSpec::named("mnist"), &opts(&[root.path()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing t10k-labels-idx1-ubyte"), "{e}");
        // a bad header is caught by locate for data without digests
        let d = root.path().join("own");
        write_idx_dataset(&d, false, 1, 1);
        std::fs::write(
            d.join("t10k-labels-idx1-ubyte"),
            idx_images(&[vec![1]], 1, 1),
        )
        .unwrap();
        let e = locate(&custom("own", DataFormat::Idx), &opts(&[root.path()]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t10k-labels-idx1-ubyte: not an IDX label file"),
            "{e}"
        );
        let st = status_all(&opts(&[root.path()]));
        let m = st.iter().find(|s| s.name == "mnist").unwrap();
        assert!(m.state.starts_with("error: "), "{}", m.state);
    }

    #[test]
    fn image_folders_and_cifar_binary_locate_and_load() {
        let root = tempfile::tempdir().unwrap();
        write_image_folder(&root.path().join("pics"), &["dog", "cat"], 3, 6, 5, 3);
        let l = locate(
            &custom("pics", DataFormat::ImageFolder),
            &opts(&[root.path()]),
        )
        .unwrap();
        assert_eq!(l.classes, vec!["cat", "dog"]);
        let ds = load(&l).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (6, 4));
        // the same images as an archive next to the folder name
        let other = tempfile::tempdir().unwrap();
        tar_gz_dir(
            &root.path().join("pics"),
            &other.path().join("pics.tar.gz"),
            true,
        );
        let la = locate(
            &custom("pics", DataFormat::ImageFolder),
            &opts(&[other.path()]),
        )
        .unwrap();
        assert_eq!(la.classes, l.classes);
        let dsa = load(&la).unwrap();
        assert_eq!(dsa.train, ds.train);
        // a changed image changes the digest of a folder
        write_png(&root.path().join("pics/train/cat/0.png"), 3, 6, 5, 77);
        let l2 = locate(
            &custom("pics", DataFormat::ImageFolder),
            &opts(&[root.path()]),
        )
        .unwrap();
        assert_ne!(l2.id.digest, l.id.digest);

        let cdir = root.path().join("mycifar");
        write_cifar_folder(&cdir.join("cifar-10-batches-bin"), 3);
        let lc = locate(
            &custom("mycifar", DataFormat::Cifar10Binary),
            &opts(&[root.path()]),
        )
        .unwrap();
        assert_eq!(lc.classes[0], "airplane");
        let dc = load(&lc).unwrap();
        assert_eq!((dc.train.len(), dc.test.len()), (15, 3));
        // the known cifar10 insists on official sizes
        std::fs::rename(&cdir, root.path().join("cifar10")).unwrap();
        let e = locate(&DatasetSpec::named("cifar10"), &opts(&[root.path()]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data_batch_1.bin") && e.contains("expected 30730000"),
            "{e}"
        );
    }

    fn real() -> Option<PathBuf> {
        let d = shared_data();
        if d.is_none() {
            eprintln!(
                "skipped: no shared data folder (set RUNNER_DATA to the folder holding mnist/)"
            );
        }
        d
    }

    #[test]
    fn real_mnist_verifies_and_gives_table_1_counts() {
        let Some(dir) = real() else { return };
        let t0 = std::time::Instant::now();
        let l = locate(&DatasetSpec::named("mnist"), &opts(&[&dir])).unwrap();
        let t_locate = t0.elapsed();
        assert_eq!(l.state, STATE_OFFICIAL);
        let t1 = std::time::Instant::now();
        let ds = load(&l).unwrap();
        eprintln!(
            "mnist: locate {:.3} s, load {:.3} s",
            t_locate.as_secs_f64(),
            t1.elapsed().as_secs_f64()
        );
        assert_eq!(
            ds.train.class_counts(10),
            vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
        );
        assert_eq!(
            ds.test.class_counts(10),
            vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        assert_eq!(&ds.train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        assert_eq!(&ds.test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
        assert_eq!(
            (ds.train.height, ds.train.width, ds.train.channels),
            (28, 28, 1)
        );
        let mean = ds.train.pixels.iter().map(|&p| p as u64).sum::<u64>() as f64
            / ds.train.pixels.len() as f64;
        assert!((mean - 33.318).abs() < 0.001, "{mean}");
        let s = super::super::split(&ds, Protocol::AnomalyClass, 0, 0, Limits::default()).unwrap();
        assert_eq!(s.train.len(), 54077);
        let anomalies = s.test_is_anomaly.iter().filter(|&&a| a == 1).count();
        assert_eq!(anomalies, 980);
        assert_eq!(s.test.len() - anomalies, 9020);
        let r = verify("mnist", &opts(&[&dir])).unwrap();
        assert!(r.contains("f68b3c2dcbeaaa9fbdd348bbdeb94873"), "{r}");
    }

    #[test]
    fn real_status_lists_mnist_cifar_jpeg_and_digits() {
        let Some(dir) = real() else { return };
        let st = status_all(&opts(&[&dir]));
        let get = |n: &str| st.iter().find(|s| s.name == n).unwrap().clone();
        assert_eq!(get("mnist").state, STATE_OFFICIAL);
        assert_eq!(get("digits").state, STATE_EMBEDDED);
        let cj = get("cifar10-jpeg");
        assert!(cj.approximate);
        if dir.join("cifar10-jpeg").is_dir() {
            assert_eq!(cj.state, "verified (known md5)");
            let l = locate(&DatasetSpec::named("cifar10-jpeg"), &opts(&[&dir])).unwrap();
            assert_eq!(l.classes[0], "airplane");
            assert_eq!(l.classes[9], "truck");
            assert!(l.id.approximate);
            // the archive's layout, listed without decoding
            let src = folder::Source::Archive(l.path.clone().unwrap());
            let listing = folder::scan(&src, None).unwrap();
            assert_eq!(
                folder::classes(&listing, None, src.path(), None).unwrap(),
                l.classes
            );
            assert!(listing.counts[0].values().all(|&n| n == 5000));
            assert!(listing.counts[1].values().all(|&n| n == 1000));
        }
        assert_eq!(st.len(), registry::KNOWN.len());
    }

    /// Decodes all 60000 JPEGs (several seconds).
    #[test]
    #[ignore]
    fn real_cifar10_jpeg_decodes() {
        let Some(dir) = real() else { return };
        let l = locate(&DatasetSpec::named("cifar10-jpeg"), &opts(&[&dir])).unwrap();
        let t = std::time::Instant::now();
        let ds = load(&l).unwrap();
        eprintln!("cifar10-jpeg: load {:.2} s", t.elapsed().as_secs_f64());
        assert_eq!(ds.train.class_counts(10), vec![5000; 10]);
        assert_eq!(ds.test.class_counts(10), vec![1000; 10]);
        assert_eq!(ds.train.channels, 3);
        let plane = 32 * 32;
        let mut sums = [0u64; 3];
        for i in 0..ds.train.len() {
            for (c, s) in sums.iter_mut().enumerate() {
                *s += ds.train.image(i)[c * plane..(c + 1) * plane]
                    .iter()
                    .map(|&p| p as u64)
                    .sum::<u64>();
            }
        }
        let n = (ds.train.len() * plane) as f64;
        let means: Vec<f64> = sums.iter().map(|&s| s as f64 / n).collect();
        // the shared README's means (125.27, 122.93, 113.86) come from another
        // JPEG decoder; chroma upsampling differs by a few tenths
        for (m, want) in means.iter().zip([125.27, 122.93, 113.86]) {
            assert!((m - want).abs() < 0.5, "{means:?}");
        }
    }

    #[test]
    fn fetch_downloads_verifies_and_repairs_through_mirrors() {
        let Some(dir) = real() else { return };
        let k = registry::known("mnist").unwrap();
        let mut routes = std::collections::HashMap::new();
        for f in k.files {
            let bytes = std::fs::read(dir.join("mnist").join(f.name)).unwrap();
            routes.insert(format!("/m/{}", f.name), Route::Ok(bytes));
        }
        let (base, log) = serve(routes);
        let dest = tempfile::tempdir().unwrap();
        let o = DataOptions {
            search: vec![dest.path().to_path_buf()],
            offline: true,
        };
        // offline: nothing there, no download
        assert!(matches!(
            locate_from(&DatasetSpec::named("mnist"), &o, &[format!("{base}/m/")]),
            Err(DataError::NotFound { .. })
        ));
        assert!(log.lock().unwrap().is_empty());
        // a dead mirror first, then the working one
        let mirrors = vec![format!("{base}/dead/"), format!("{base}/m/")];
        let l = fetch("mnist", &o, &mirrors).unwrap();
        assert_eq!(l.state, STATE_OFFICIAL);
        assert_eq!(l.path.as_deref(), Some(dest.path().join("mnist").as_path()));
        assert_eq!(log.lock().unwrap().len(), 8);
        // a damaged file is replaced by fetch
        let p = dest.path().join("mnist/t10k-labels-idx1-ubyte.gz");
        let mut b = std::fs::read(&p).unwrap();
        b[100] ^= 0xff;
        std::fs::write(&p, &b).unwrap();
        let e = locate_from(&DatasetSpec::named("mnist"), &o, &mirrors)
            .unwrap_err()
            .to_string();
        assert!(e.contains("t10k-labels-idx1-ubyte.gz: md5"), "{e}");
        let l2 = fetch("mnist", &o, &mirrors).unwrap();
        assert_eq!(l2.id, l.id);
        assert_eq!(log.lock().unwrap().len(), 10);
    }
}
