//! The UCI handwritten digits (8x8, 1797 images, classes 0-9), embedded in the
//! program so that a first run works offline with no download.
//!
//! Data: E. Alpaydin, C. Kaynak (1998), "Optical Recognition of Handwritten
//! Digits", UCI Machine Learning Repository, CC BY 4.0; this is its test part
//! as shipped in scikit-learn (`digits.csv.gz`: 64 pixel values 0..16,
//! row-major, then the label).
//!
//! Pixels 0..16 are scaled to bytes as `round(v * 255 / 16)`.
//! The set has no train/test split of its own; this module makes a fixed,
//! stratified one: within each class, in file order, every fourth image (the
//! 4th, 8th, ...) goes to the test split and the rest to training. That gives
//! 445 test and 1352 training images.
//!
//! The known `digits` is the embedded copy; a spec may also point at a copy
//! of its own (`.csv` or `.csv.gz`), checked row by row (the [`DigitsCsv`]
//! format).

use std::path::Path;

use super::format::{Format, STATE_EMBEDDED, Want, file_name};
use super::hash::ContentDigest;
use super::idx::{gunzip, is_gzip};
use super::registry::DIGIT_NAMES;
use super::{DataError, ImageSet, Located};
use crate::spec::DataFormat;

/// The embedded CSV (gzip).
pub static DIGITS_CSV_GZ: &[u8] = include_bytes!("digits.csv.gz");

/// Within each class, image `k` (0-based, in file order) is a test image when
/// `k % DIGITS_TEST_EVERY == DIGITS_TEST_EVERY - 1`.
pub const DIGITS_TEST_EVERY: usize = 4;

const SIDE: usize = 8;

/// Parses the digits CSV (plain or gzip) into all images in file order.
pub fn parse(bytes: &[u8], path: &Path, dataset: Option<&str>) -> Result<ImageSet, DataError> {
    let text = if is_gzip(bytes) {
        gunzip(bytes, path, dataset)?
    } else {
        bytes.to_vec()
    };
    let text = String::from_utf8(text)
        .map_err(|_| DataError::bad(path, "not a text (UTF-8) CSV file", dataset))?;
    let mut set = ImageSet {
        channels: 1,
        height: SIDE,
        width: SIDE,
        ..Default::default()
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: String| DataError::bad(path, format!("line {}: {what}", i + 1), dataset);
        let vals: Vec<&str> = line.split(',').map(str::trim).collect();
        if vals.len() != SIDE * SIDE + 1 {
            return Err(at(format!(
                "{} values, expected {} (64 pixels and the label)",
                vals.len(),
                SIDE * SIDE + 1
            )));
        }
        for v in &vals[..SIDE * SIDE] {
            let x: f64 = v
                .parse()
                .map_err(|_| at(format!("pixel `{v}` is not a number")))?;
            if !(0.0..=16.0).contains(&x) {
                return Err(at(format!("pixel {v} is outside 0..16")));
            }
            set.pixels.push((x * 255.0 / 16.0).round() as u8);
        }
        let label: f64 = vals[SIDE * SIDE]
            .parse()
            .map_err(|_| at(format!("label `{}` is not a number", vals[SIDE * SIDE])))?;
        if label.fract() != 0.0 || !(0.0..=9.0).contains(&label) {
            return Err(at(format!("label {label} is outside 0-9")));
        }
        set.labels.push(label as u16);
    }
    if set.is_empty() {
        return Err(DataError::bad(path, "no rows", dataset));
    }
    Ok(set)
}

/// The fixed stratified split described in the module header: returns
/// (train, test), each in file order.
pub fn split_fixed(all: &ImageSet) -> (ImageSet, ImageSet) {
    let mut seen = [0usize; 10];
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    for (i, &l) in all.labels.iter().enumerate() {
        let k = &mut seen[(l as usize).min(9)];
        if *k % DIGITS_TEST_EVERY == DIGITS_TEST_EVERY - 1 {
            te.push(i);
        } else {
            tr.push(i);
        }
        *k += 1;
    }
    (all.subset(&tr), all.subset(&te))
}

/// The embedded digits: (train, test).
pub fn load_embedded() -> Result<(ImageSet, ImageSet), DataError> {
    let all = parse(DIGITS_CSV_GZ, Path::new("<embedded digits.csv.gz>"), None)?;
    Ok(split_fixed(&all))
}

/// The embedded file's content digest.
pub fn embedded_blake3() -> blake3::Hash {
    blake3::hash(DIGITS_CSV_GZ)
}

/// The digits CSV format (see the module header).
pub struct DigitsCsv;

impl Format for DigitsCsv {
    fn layout(&self) -> &'static str {
        "a .csv or .csv.gz file with 64 pixel values (0..16) and a label per row"
    }

    fn embedded(&self, w: &Want) -> Option<Located> {
        let classes = w.class_names(DIGIT_NAMES);
        let mut digest = ContentDigest::new(DataFormat::DigitsCsv.as_str(), &classes);
        digest.file("digits.csv.gz", &embedded_blake3());
        Some(Located {
            format: DataFormat::DigitsCsv,
            path: None,
            id: w.id(digest.finish()),
            classes,
            state: STATE_EMBEDDED.into(),
        })
    }

    fn probe(&self, path: &Path, w: &Want) -> Result<Option<Located>, DataError> {
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
        parse(&bytes, &file, w.ds())?;
        let classes = w.class_names(DIGIT_NAMES);
        let mut digest = ContentDigest::new(DataFormat::DigitsCsv.as_str(), &classes);
        digest.file(&file_name(&file), &blake3::hash(&bytes));
        Ok(Some(Located {
            format: DataFormat::DigitsCsv,
            path: Some(file),
            id: w.id(digest.finish()),
            classes,
            state: "checked (CSV rows; no official digest)".into(),
        }))
    }

    fn load(&self, l: &Located) -> Result<(ImageSet, ImageSet), DataError> {
        let Some(p) = &l.path else {
            return load_embedded();
        };
        let ds = Some(l.id.name.as_str());
        let bytes = std::fs::read(p).map_err(|e| DataError::io(p, e, ds))?;
        Ok(split_fixed(&parse(&bytes, p, ds)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_digits_have_the_published_counts_and_a_fixed_split() {
        let all = parse(DIGITS_CSV_GZ, Path::new("d"), None).unwrap();
        assert_eq!(all.len(), 1797);
        assert_eq!(
            all.class_counts(10),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        // the first row: 0,0,5,13,9,1,0,0 ... label 0
        assert_eq!(&all.image(0)[..4], &[0, 0, 80, 207]);
        assert_eq!(all.labels[0], 0);
        assert_eq!(*all.pixels.iter().max().unwrap(), 255);
        let (tr, te) = load_embedded().unwrap();
        assert_eq!(te.len(), 445);
        assert_eq!(tr.len(), 1352);
        assert_eq!(
            te.class_counts(10),
            vec![44, 45, 44, 45, 45, 45, 45, 44, 43, 45]
        );
        // the 4th image of class 0 in file order is the first test image
        let zeros: Vec<usize> = (0..all.len()).filter(|&i| all.labels[i] == 0).collect();
        assert_eq!(te.image(0), all.image(zeros[3]));
    }

    #[test]
    fn bad_rows_name_the_line() {
        let p = Path::new("my.csv");
        let row = |px: &str, label: &str| {
            let mut v = vec![px; 64];
            v.push(label);
            v.join(",")
        };
        let e = parse(
            format!("{}\n{}", row("1", "2"), row("17", "2")).as_bytes(),
            p,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("my.csv: line 2: pixel 17 is outside 0..16"),
            "{e}"
        );
        let e = parse(row("1", "10").as_bytes(), p, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: label 10 is outside 0-9"), "{e}");
        let e = parse(b"1,2,3", p, None).unwrap_err().to_string();
        assert!(e.contains("3 values, expected 65"), "{e}");
        let ok = parse(row("16", "3").as_bytes(), p, None).unwrap();
        assert_eq!(ok.image(0)[0], 255);
        assert_eq!(ok.labels, vec![3]);
    }

    #[test]
    fn digits_are_embedded_and_load_offline() {
        let spec = crate::spec::DatasetSpec::named("digits");
        let opts = super::super::DataOptions {
            search: vec![],
            offline: true,
        };
        let l = super::super::locate(&spec, &opts).unwrap();
        assert_eq!(l.path, None);
        assert_eq!(l.state, STATE_EMBEDDED);
        assert_eq!(l.classes.len(), 10);
        let again = super::super::locate(&spec, &opts).unwrap();
        assert_eq!(l.id, again.id);
        let ds = super::super::load(&l).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (1352, 445));
        assert_eq!(
            (ds.train.height, ds.train.width, ds.train.channels),
            (8, 8, 1)
        );
    }

    #[test]
    fn a_csv_of_ones_own_is_probed_and_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let w = Want {
            name: "mine",
            known: None,
            classes: None,
        };
        assert!(DigitsCsv.probe(dir.path(), &w).unwrap().is_none());
        std::fs::write(dir.path().join("mine.csv.gz"), DIGITS_CSV_GZ).unwrap();
        let l = DigitsCsv.probe(dir.path(), &w).unwrap().unwrap();
        assert!(l.state.starts_with("checked"), "{}", l.state);
        let embedded = DigitsCsv.embedded(&w).unwrap();
        assert_eq!(
            DigitsCsv.load(&l).unwrap(),
            DigitsCsv.load(&embedded).unwrap()
        );
        std::fs::write(dir.path().join("mine.csv.gz"), b"1,2,3").unwrap();
        let e = DigitsCsv.probe(dir.path(), &w).unwrap_err().to_string();
        assert!(e.contains("mine.csv.gz: line 1"), "{e}");
    }

    proptest::proptest! {
        /// Any bytes as the digits CSV: images or an error, never a panic.
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&bytes, Path::new("optdigits.tra"), None);
        }

        /// Lines that look like the format (numbers and commas), any values.
        #[test]
        fn digit_like_lines_parse_or_fail_cleanly(text in "([0-9]{1,3},){0,66}[0-9]{0,3}(\n([0-9]{1,3},){0,66}[0-9]{0,3}){0,3}") {
            if let Ok(set) = parse(text.as_bytes(), Path::new("d"), None) {
                proptest::prop_assert_eq!(set.pixels.len(), set.labels.len() * 64);
            }
        }
    }
}
