//! Image folders: `train/<class>/*.{png,jpg,jpeg}` and `test/<class>/*`, in a
//! folder or straight from a `.tar` / `.tar.gz` archive (any leading folder in
//! the archive is allowed). Class names are the folder names, sorted, unless a
//! list fixes their order. All images must have one size and channel count;
//! grayscale images stay one channel, colour images are RGB (alpha dropped).
//! Hidden files (`.name`) and files of other types are ignored.
//!
//! A known archive (the CIFAR-10 JPEG copy) is verified by its md5; other
//! copies by their layout, and their content digest covers every image file
//! (the [`ImageFolder`] format).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use rayon::prelude::*;

use super::format::{Format, Source, Want, check_known_file, file_name, path_of};
use super::hash::{ContentDigest, file_digest};
use super::{DataError, ImageSet, Located};
use crate::spec::DataFormat;
use walk::{broken, walk_archive, walk_folder};

/// The two split folders, in this order everywhere (`[train, test]`).
const SPLITS: [&str; 2] = ["train", "test"];

/// Whether a file name looks like a tar archive.
pub fn is_archive_name(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

/// An image folder at `path`: an archive file, or a folder with `train/`.
pub fn find(path: &Path) -> Option<Source> {
    if path.is_file() && is_archive_name(path) {
        return Some(Source::Archive(path.to_path_buf()));
    }
    if path.join("train").is_dir() {
        return Some(Source::Folder(path.to_path_buf()));
    }
    None
}

/// The images of a dataset without their content: class folder -> file names.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// `[train, test]`: class folder -> image file count.
    pub counts: [BTreeMap<String, usize>; 2],
}

/// Lists the classes and image counts without decoding anything.
pub fn scan(src: &Source, dataset: Option<&str>) -> Result<Listing, DataError> {
    let mut l = Listing::default();
    match src {
        Source::Folder(root) => {
            let w = walk_folder(root, dataset)?;
            for (s, m) in w.iter().enumerate() {
                for (c, files) in m {
                    l.counts[s].insert(c.clone(), files.len());
                }
            }
        }
        Source::Archive(p) => {
            let mut counts: [BTreeMap<String, usize>; 2] = Default::default();
            let dirs = walk_archive(p, dataset, |s, class, _, _| {
                *counts[s].entry(class.to_string()).or_default() += 1;
                Ok(())
            })?;
            for (count, ds) in counts.iter_mut().zip(&dirs) {
                for d in ds {
                    count.entry(d.clone()).or_default();
                }
            }
            l.counts = counts;
        }
    }
    Ok(l)
}

/// The class names in label order: `fixed` (a spec's or a known dataset's
/// list) or the sorted folder names. Every class needs images in both
/// `train/` and `test/`, and every folder must be one of the classes.
pub fn classes(
    listing: &Listing,
    fixed: Option<&[String]>,
    path: &Path,
    dataset: Option<&str>,
) -> Result<Vec<String>, DataError> {
    let found: BTreeSet<&String> = listing.counts.iter().flat_map(|m| m.keys()).collect();
    let names: Vec<String> = match fixed {
        Some(list) => {
            if let Some(extra) = found.iter().find(|f| !list.contains(f)) {
                return Err(DataError::bad(
                    path,
                    format!(
                        "class folder `{extra}` is not in the class list ({})",
                        list.join(", ")
                    ),
                    dataset,
                ));
            }
            list.to_vec()
        }
        None => found.into_iter().cloned().collect(),
    };
    if names.is_empty() {
        return Err(DataError::bad(
            path,
            "no class folders under train/ and test/ (expected train/<class>/*.png|jpg)",
            dataset,
        ));
    }
    for (s, split) in SPLITS.iter().enumerate() {
        for c in &names {
            if listing.counts[s].get(c).copied().unwrap_or(0) == 0 {
                return Err(DataError::bad(
                    path,
                    format!(
                        "class folder `{split}/{c}` is empty or missing (no .png/.jpg/.jpeg images)"
                    ),
                    dataset,
                ));
            }
        }
    }
    if names.len() > u16::MAX as usize {
        return Err(DataError::bad(path, "too many classes", dataset));
    }
    Ok(names)
}

/// One decoded image: channels, height, width, `[c][h][w]` bytes.
type Decoded = (usize, usize, usize, Vec<u8>);

fn decode(bytes: &[u8], name: &str, dataset: Option<&str>) -> Result<Decoded, DataError> {
    use image::ColorType::*;
    let img = image::load_from_memory(bytes)
        .map_err(|e| DataError::bad(name, format!("cannot decode the image ({e})"), dataset))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    match img.color() {
        L8 | La8 | L16 | La16 => Ok((1, h, w, img.into_luma8().into_raw())),
        _ => {
            let hwc = img.into_rgb8().into_raw();
            let plane = h * w;
            let mut chw = vec![0u8; 3 * plane];
            for (i, px) in hwc.chunks_exact(3).enumerate() {
                chw[i] = px[0];
                chw[plane + i] = px[1];
                chw[2 * plane + i] = px[2];
            }
            Ok((3, h, w, chw))
        }
    }
}

/// One image to decode: split, label, display name, encoded bytes.
struct Item {
    split: usize,
    label: u16,
    name: String,
    bytes: Vec<u8>,
}

/// Every image of the dataset, read but not decoded, labelled by `classes`.
fn read_items(
    src: &Source,
    classes: &[String],
    dataset: Option<&str>,
) -> Result<Vec<Item>, DataError> {
    let label_of = |c: &str| classes.iter().position(|x| x == c).map(|i| i as u16);
    Ok(match src {
        Source::Folder(root) => {
            let w = walk_folder(root, dataset)?;
            let mut paths = Vec::new();
            for (s, m) in w.iter().enumerate() {
                for (c, files) in m {
                    let Some(label) = label_of(c) else {
                        return Err(DataError::bad(
                            root.join(SPLITS[s]).join(c),
                            "this class folder is not in the class list",
                            dataset,
                        ));
                    };
                    for f in files {
                        paths.push((s, label, f.clone()));
                    }
                }
            }
            paths
                .into_par_iter()
                .map(|(split, label, p)| {
                    let bytes = std::fs::read(&p).map_err(|e| DataError::io(&p, e, dataset))?;
                    Ok(Item {
                        split,
                        label,
                        name: p.display().to_string(),
                        bytes,
                    })
                })
                .collect::<Result<_, DataError>>()?
        }
        Source::Archive(p) => {
            let mut items = Vec::new();
            walk_archive(p, dataset, |s, class, file, r| {
                let Some(label) = label_of(class) else {
                    return Err(DataError::bad(
                        p,
                        format!(
                            "class folder `{}/{class}` is not in the class list",
                            SPLITS[s]
                        ),
                        dataset,
                    ));
                };
                let mut bytes = Vec::new();
                r.read_to_end(&mut bytes)
                    .map_err(|e| broken(p, e, dataset))?;
                items.push(Item {
                    split: s,
                    label,
                    name: format!("{}:{}/{class}/{file}", p.display(), SPLITS[s]),
                    bytes,
                });
                Ok(())
            })?;
            items
        }
    })
}

/// Decodes the training and test sets with `classes` as the label order.
pub fn load(
    src: &Source,
    classes: &[String],
    dataset: Option<&str>,
) -> Result<(ImageSet, ImageSet), DataError> {
    let mut items = read_items(src, classes, dataset)?;
    items.sort_by(|a, b| (a.split, a.label, &a.name).cmp(&(b.split, b.label, &b.name)));
    let decoded: Vec<Decoded> = items
        .par_iter()
        .map(|it| decode(&it.bytes, &it.name, dataset))
        .collect::<Result<_, _>>()?;
    let Some(first) = decoded.first() else {
        return Err(DataError::bad(src.path(), "no images", dataset));
    };
    let (c, h, w) = (first.0, first.1, first.2);
    let mut sets = [(); 2].map(|_| ImageSet {
        channels: c,
        height: h,
        width: w,
        ..Default::default()
    });
    for (it, d) in items.iter().zip(decoded) {
        if (d.0, d.1, d.2) != (c, h, w) {
            return Err(DataError::bad(
                &it.name,
                format!(
                    "image is {}x{} with {} channel(s) but {} is {w}x{h} with {c}; all images must have one size and channel count",
                    d.2, d.1, d.0, items[0].name
                ),
                dataset,
            ));
        }
        let set = &mut sets[it.split];
        set.pixels.extend_from_slice(&d.3);
        set.labels.push(it.label);
    }
    let [train, test] = sets;
    Ok((train, test))
}

type ListingMemo = Mutex<HashMap<(PathBuf, u64, Option<SystemTime>), Listing>>;

/// [`scan`], with archive listings remembered per (path, size, mtime).
fn scan_cached(src: &Source, dataset: Option<&str>) -> Result<Listing, DataError> {
    static MEMO: OnceLock<ListingMemo> = OnceLock::new();
    let Source::Archive(p) = src else {
        return scan(src, dataset);
    };
    let meta = std::fs::metadata(p).map_err(|e| DataError::io(p, e, dataset))?;
    let key = (p.clone(), meta.len(), meta.modified().ok());
    let memo = MEMO.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(l) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(l.clone());
    }
    let l = scan(src, dataset)?;
    memo.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, l.clone());
    Ok(l)
}

/// Where an image folder is at `path`: for a known dataset its archive (the
/// file itself, or its official file name in the folder); else a folder with
/// `train/`, an archive, or `<path>.tar.gz` / `.tgz` / `.tar` beside it.
fn find_for(path: &Path, w: &Want) -> Option<Source> {
    if let Some(k) = w.known {
        let archive = if path.is_file() {
            Some(path.to_path_buf())
        } else {
            k.files
                .first()
                .map(|f| path.join(f.name))
                .filter(|p| p.is_file())
        };
        return archive.map(Source::Archive).or_else(|| find(path));
    }
    find(path).or_else(|| {
        let base = path.as_os_str().to_string_lossy();
        [".tar.gz", ".tgz", ".tar"]
            .iter()
            .map(|e| PathBuf::from(format!("{base}{e}")))
            .find(|p| p.is_file())
            .map(Source::Archive)
    })
}

/// The image-folder format (see the module header).
pub struct ImageFolder;

impl Format for ImageFolder {
    fn layout(&self) -> &'static str {
        "a folder (or .tar / .tar.gz) with train/<class>/*.png|jpg and test/<class>/*.png|jpg"
    }

    fn probe(&self, path: &Path, w: &Want) -> Result<Option<Located>, DataError> {
        let Some(src) = find_for(path, w) else {
            return Ok(None);
        };
        let mut official = false;
        let mut files: Vec<(String, blake3::Hash)> = Vec::new();
        if let Source::Archive(a) = &src {
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
        let fixed = w.fixed_classes();
        // the known archive's md5 vouches for its layout: no need to list it
        let (classes, listing) = match (official, w.classes, &fixed) {
            (true, None, Some(f)) => (f.clone(), None),
            _ => {
                let listing = scan_cached(&src, w.ds())?;
                let classes = classes(&listing, fixed.as_deref(), src.path(), w.ds())?;
                (classes, Some(listing))
            }
        };
        if let (Source::Folder(root), Some(listing)) = (&src, &listing) {
            for (s, m) in listing.counts.iter().enumerate() {
                let split = SPLITS[s];
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
        let mut digest = ContentDigest::new(DataFormat::ImageFolder.as_str(), &classes);
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

    fn load(&self, l: &Located) -> Result<(ImageSet, ImageSet), DataError> {
        load(&Source::at(path_of(l)?), &l.classes, Some(&l.id.name))
    }
}

#[cfg(test)]
mod tests;
mod walk;
