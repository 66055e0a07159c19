//! Walking an image folder or a `.tar` / `.tar.gz` archive of one: which
//! files are images of which split and class, with links that leave the
//! folder refused and a truncated archive reported as such.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::SPLITS;
use crate::data::DataError;

/// Whether a file is taken as an image: not hidden, `.png`, `.jpg` or `.jpeg`.
fn is_image_name(name: &str) -> bool {
    let n = name.to_lowercase();
    !name.starts_with('.') && (n.ends_with(".png") || n.ends_with(".jpg") || n.ends_with(".jpeg"))
}

/// (split index, class, file name) of an archive path whose last three parts
/// are `train|test / class / file`; for a folder entry, (split, class, "").
fn split_path(path: &Path, is_dir: bool) -> Option<(usize, String, String)> {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let need = if is_dir { 2 } else { 3 };
    if parts.len() < need {
        return None;
    }
    let k = parts.len() - need;
    let s = SPLITS.iter().position(|s| *s == parts[k])?;
    let class = parts[k + 1].clone();
    let file = if is_dir {
        String::new()
    } else {
        parts[k + 2].clone()
    };
    Some((s, class, file))
}

fn open_archive(
    path: &Path,
    dataset: Option<&str>,
) -> Result<tar::Archive<Box<dyn Read>>, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e, dataset))?;
    let mut head = [0u8; 2];
    let gz = f.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b];
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e, dataset))?;
    let r = std::io::BufReader::with_capacity(1 << 20, f);
    let reader: Box<dyn Read> = if gz {
        Box::new(GzDecoder::new(r))
    } else {
        Box::new(r)
    };
    Ok(tar::Archive::new(reader))
}

pub(super) fn broken(path: &Path, e: std::io::Error, dataset: Option<&str>) -> DataError {
    DataError::bad(
        path,
        format!("cannot read the archive: truncated or corrupt ({e})"),
        dataset,
    )
}

/// Walks the archive; `visit(split, class, file, entry)` for every image,
/// class folders (also empty ones) are recorded in `dirs`.
pub(super) fn walk_archive(
    path: &Path,
    dataset: Option<&str>,
    mut visit: impl FnMut(usize, &str, &str, &mut dyn Read) -> Result<(), DataError>,
) -> Result<[BTreeSet<String>; 2], DataError> {
    let mut dirs: [BTreeSet<String>; 2] = Default::default();
    let mut ar = open_archive(path, dataset)?;
    for entry in ar.entries().map_err(|e| broken(path, e, dataset))? {
        let mut entry = entry.map_err(|e| broken(path, e, dataset))?;
        let ty = entry.header().entry_type();
        let p = entry
            .path()
            .map_err(|e| broken(path, e, dataset))?
            .into_owned();
        if ty.is_dir() {
            if let Some((s, class, _)) = split_path(&p, true) {
                dirs[s].insert(class);
            }
        } else if ty.is_file()
            && let Some((s, class, file)) = split_path(&p, false)
        {
            dirs[s].insert(class.clone());
            if is_image_name(&file) {
                visit(s, &class, &file, &mut entry)?;
            }
        }
    }
    Ok(dirs)
}

/// The files of a folder dataset: `[train, test]` -> class -> sorted image paths.
#[allow(clippy::type_complexity)]
pub(super) fn walk_folder(
    root: &Path,
    dataset: Option<&str>,
) -> Result<[BTreeMap<String, Vec<PathBuf>>; 2], DataError> {
    let mut out: [BTreeMap<String, Vec<PathBuf>>; 2] = Default::default();
    let canonical_root = root
        .canonicalize()
        .map_err(|e| DataError::io(root, e, dataset))?;
    for (s, split) in SPLITS.iter().enumerate() {
        let dir = root.join(split);
        if !dir.is_dir() {
            return Err(DataError::bad(
                root,
                format!(
                    "no `{split}/` folder (an image folder needs train/<class>/ and test/<class>/)"
                ),
                dataset,
            ));
        }
        let rd = std::fs::read_dir(&dir).map_err(|e| DataError::io(&dir, e, dataset))?;
        for ent in rd {
            let ent = ent.map_err(|e| DataError::io(&dir, e, dataset))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !ent.path().is_dir() {
                continue;
            }
            check_inside(&canonical_root, &ent.path(), dataset)?;
            let mut files = Vec::new();
            let cdir = ent.path();
            for f in std::fs::read_dir(&cdir).map_err(|e| DataError::io(&cdir, e, dataset))? {
                let f = f.map_err(|e| DataError::io(&cdir, e, dataset))?;
                let fname = f.file_name().to_string_lossy().into_owned();
                if is_image_name(&fname) && f.path().is_file() {
                    check_inside(&canonical_root, &f.path(), dataset)?;
                    files.push(f.path());
                }
            }
            files.sort();
            out[s].insert(name, files);
        }
    }
    Ok(out)
}

/// An error when `path` is a symbolic link to something outside the dataset
/// folder (`root`, canonical): a dataset never makes the runner read
/// elsewhere. Links within the folder are fine.
fn check_inside(root: &Path, path: &Path, dataset: Option<&str>) -> Result<(), DataError> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(());
    }
    let target = path
        .canonicalize()
        .map_err(|e| DataError::io(path, e, dataset))?;
    if target.starts_with(root) {
        return Ok(());
    }
    Err(DataError::bad(
        path,
        format!(
            "a link to {}, outside the dataset folder {}: refused (copy the file into the folder, or point the spec at the real folder)",
            target.display(),
            root.display()
        ),
        dataset,
    ))
}
