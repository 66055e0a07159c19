//! The `runner data ls` and `runner data verify` views: the state of every
//! known dataset on this machine, and a full check of one. Neither downloads.

use std::fmt::Write as _;

use super::format::file_name;
use super::hash::file_digest;
use super::{DataError, DataOptions, locate, registry};
use crate::spec::{DataFormat, DatasetSpec};

/// One line of `runner data ls`.
#[derive(Clone, Debug)]
pub struct DatasetStatus {
    pub name: String,
    pub format: DataFormat,
    /// Where it was found, if it was.
    pub location: Option<String>,
    /// `verified (official md5)`, `embedded`, `not found`, or the error.
    pub state: String,
    pub approximate: bool,
}

fn offline(opts: &DataOptions) -> DataOptions {
    DataOptions {
        offline: true,
        ..opts.clone()
    }
}

/// The state of every known dataset on this machine (never downloads).
pub fn status_all(opts: &DataOptions) -> Vec<DatasetStatus> {
    let opts = offline(opts);
    registry::KNOWN
        .iter()
        .map(|k| {
            let (location, state) = match locate(&DatasetSpec::named(k.name), &opts) {
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

/// Verifies every file of a dataset against its known digests and decodes it
/// fully; returns a multi-line report (never downloads).
pub fn verify(name: &str, opts: &DataOptions) -> Result<String, DataError> {
    let l = locate(&DatasetSpec::named(name), &offline(opts))?;
    let t0 = std::time::Instant::now();
    let ds = super::load(&l)?;
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
    let _ = writeln!(r, "format    {}", l.format.as_str());
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
    use std::path::Path;

    use super::super::format::{STATE_EMBEDDED, STATE_OFFICIAL};
    use super::super::testutil::*;
    use super::*;

    fn opts(search: &[&Path]) -> DataOptions {
        DataOptions {
            search: search.iter().map(|p| p.to_path_buf()).collect(),
            offline: false,
        }
    }

    #[test]
    fn the_embedded_digits_verify() {
        let r = verify("digits", &opts(&[])).unwrap();
        assert!(r.contains("(built in)") && r.contains("1352 images"), "{r}");
        assert!(r.contains("format    digits-csv"), "{r}");
    }

    #[test]
    fn every_known_dataset_is_listed_and_a_bad_copy_shows_its_error() {
        let root = tempfile::tempdir().unwrap();
        write_idx_dataset(&root.path().join("mnist"), true, 1, 1);
        let st = status_all(&opts(&[root.path()]));
        assert_eq!(st.len(), registry::KNOWN.len());
        let get = |n: &str| st.iter().find(|s| s.name == n).expect("listed").clone();
        let m = get("mnist");
        assert!(m.state.starts_with("error: "), "{}", m.state);
        assert_eq!(get("digits").state, STATE_EMBEDDED);
        assert!(get("cifar10-jpeg").approximate);
        // nothing was downloaded although the options allow it
        assert!(!root.path().join("cifar10").exists());
        let e = verify("mnist", &opts(&[root.path()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 9912422"), "{e}");
    }

    #[test]
    fn real_status_and_verify_of_mnist() {
        let Some(l) = real_data("mnist") else {
            return;
        };
        let o = real_data_options();
        let st = status_all(&o);
        let m = st.iter().find(|s| s.name == "mnist").expect("listed");
        assert_eq!(m.state, STATE_OFFICIAL);
        assert_eq!(
            m.location.as_deref(),
            l.path
                .as_deref()
                .map(|p| p.display().to_string())
                .as_deref()
        );
        let r = verify("mnist", &o).unwrap();
        assert!(r.contains("f68b3c2dcbeaaa9fbdd348bbdeb94873"), "{r}");
        assert!(r.contains("train     60000 images"), "{r}");
    }
}
