//! The files the runner and an external program exchange: images as a
//! `.npy` array (uint8, N x C x H x W, what `numpy.load` reads), optionally
//! resized, and the scores CSV the program writes (a header naming the
//! columns, then one row per image), read back with every check.

use std::io::Write;
use std::path::Path;

use super::ExternalError;
use crate::data::ImageSet;
use crate::detector::NamedScores;

/// Writes `images` as a version 1.0 `.npy` file of `uint8`, shape
/// `(N, C, H, W)`, C order.
pub fn write_npy(path: &Path, images: &ImageSet) -> Result<(), ExternalError> {
    let io = |e| ExternalError::io(path, "cannot write the images", e);
    let dict = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({}, {}, {}, {}), }}",
        images.len(),
        images.channels,
        images.height,
        images.width
    );
    // magic (6) + version (2) + header length (2) + header, padded with
    // spaces and ended by a newline to a multiple of 64 bytes
    let unpadded = 10 + dict.len() + 1;
    let header = format!("{dict}{}\n", " ".repeat(unpadded.next_multiple_of(64) - unpadded));
    let len = u16::try_from(header.len()).map_err(|_| {
        ExternalError::io(
            path,
            "cannot write the images",
            std::io::Error::other("npy header too long"),
        )
    })?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    f.write_all(b"\x93NUMPY\x01\x00").map_err(io)?;
    f.write_all(&len.to_le_bytes()).map_err(io)?;
    f.write_all(header.as_bytes()).map_err(io)?;
    f.write_all(&images.pixels).map_err(io)?;
    f.flush().map_err(io)
}

/// `images` resized to `side x side`, bilinearly (pixel centres aligned, as
/// PyTorch's `interpolate(..., align_corners=False)` without antialiasing);
/// unchanged when they have that size already.
pub fn resize(images: &ImageSet, side: usize) -> ImageSet {
    let (h, w) = (images.height, images.width);
    if (h, w) == (side, side) {
        return images.clone();
    }
    // for each output coordinate: the two source indices and the weight of the second
    let axis = |from: usize| -> Vec<(usize, usize, f32)> {
        let scale = from as f32 / side as f32;
        (0..side)
            .map(|o| {
                let x = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (x.floor() as usize).min(from - 1);
                let i1 = (i0 + 1).min(from - 1);
                (i0, i1, x - i0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(h), axis(w));
    let mut pixels = Vec::with_capacity(images.len() * images.channels * side * side);
    for plane in images.pixels.chunks_exact(h * w) {
        for &(y0, y1, fy) in &ys {
            for &(x0, x1, fx) in &xs {
                let p = |y: usize, x: usize| plane[y * w + x] as f32;
                let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                let bottom = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                pixels.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    ImageSet {
        channels: images.channels,
        height: side,
        width: side,
        pixels,
        labels: images.labels.clone(),
    }
}

/// Reads the scores CSV at `path`: a header of column names, then exactly
/// `n` rows of finite numbers, one per image in the order given.
pub fn read_scores(path: &Path, n: usize) -> Result<NamedScores, String> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "the program wrote no scores file".to_string(),
        _ => format!("cannot read it ({e})"),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| "not text (UTF-8): unreadable".to_string())?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(format!(
            "the file is empty: write a header line (e.g. `score`), then one score per image ({n} lines)"
        ));
    };
    let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    for name in &names {
        if name.parse::<f64>().is_ok() {
            return Err(format!(
                "line 1 must name the columns (e.g. `score`), but `{name}` is a number"
            ));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "line 1: `{name}` is not a column name (letters, digits, `_`, `-`)"
            ));
        }
        if names.iter().filter(|m| *m == name).count() > 1 {
            return Err(format!("line 1: column `{name}` is named twice"));
        }
    }
    let mut columns: Vec<Vec<f32>> = vec![Vec::with_capacity(n); names.len()];
    let mut rows = 0;
    for (line, row) in lines {
        rows += 1;
        if rows > n {
            continue; // counted for the message below
        }
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(format!(
                "line {line} has {} values where the header names {} columns",
                cells.len(),
                names.len()
            ));
        }
        for ((cell, name), col) in cells.iter().zip(&names).zip(columns.iter_mut()) {
            let v: f64 = cell
                .parse()
                .map_err(|_| format!("line {line}, column `{name}`: `{cell}` is not a number"))?;
            let v32 = v as f32;
            if !v32.is_finite() {
                return Err(format!(
                    "line {line}, column `{name}`: score of image {} is {cell}: every score must be a finite number (as a 32-bit float)",
                    rows - 1
                ));
            }
            col.push(v32);
        }
    }
    if rows != n {
        return Err(format!(
            "{rows} scores for {n} images: write exactly one row per image, in the images' order"
        ));
    }
    Ok(names.into_iter().zip(columns).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize, c: usize, h: usize, w: usize) -> ImageSet {
        ImageSet {
            channels: c,
            height: h,
            width: w,
            pixels: (0..n * c * h * w).map(|i| (i * 7 % 256) as u8).collect(),
            labels: vec![0; n],
        }
    }

    #[test]
    fn npy_header_is_what_numpy_writes() {
        // np.save(f, np.zeros((3, 1, 2, 2), np.uint8)) writes this header
        // (numpy 1.24, format 1.0): 118 bytes, then the data
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("x.npy");
        let images = set(3, 1, 2, 2);
        write_npy(&path, &images).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + len]).expect("ascii");
        assert!(
            header.starts_with("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 1, 2, 2), }"),
            "{header}"
        );
        assert!(header.ends_with('\n'));
        assert_eq!(&bytes[10 + len..], &images.pixels[..]);
    }

    #[test]
    fn resize_keeps_constant_images_and_interpolates_between_pixels() {
        let flat = ImageSet {
            pixels: vec![77; 2 * 3 * 4 * 4],
            ..set(2, 3, 4, 4)
        };
        let r = resize(&flat, 7);
        assert_eq!((r.len(), r.channels, r.height, r.width), (2, 3, 7, 7));
        assert!(r.pixels.iter().all(|&p| p == 77));
        // 1x2 -> 1x4 (torch: interpolate([[0, 100]], size=4, mode="bilinear")
        // gives [0, 25, 75, 100]); heights 1 -> 4 repeat the row
        let two = ImageSet {
            channels: 1,
            height: 1,
            width: 2,
            pixels: vec![0, 100],
            labels: vec![0],
        };
        let r = resize(&two, 4);
        assert_eq!(&r.pixels[..4], &[0, 25, 75, 100]);
        assert_eq!(&r.pixels[12..], &[0, 25, 75, 100]);
        let same = set(1, 1, 5, 5);
        assert_eq!(resize(&same, 5).pixels, same.pixels);
    }

    fn scores(text: &str, n: usize) -> Result<NamedScores, String> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("scores.csv");
        std::fs::write(&path, text).expect("write");
        read_scores(&path, n)
    }

    #[test]
    fn scores_read_back_in_order_with_named_columns() {
        let s = scores("score\n0.5\n-1e3\n2\n", 3).expect("valid");
        assert_eq!(s, vec![("score".to_string(), vec![0.5, -1000.0, 2.0])]);
        let two = scores("recon, latent\n1,2\n3,4\n\n", 2).expect("valid");
        assert_eq!(two[1], ("latent".to_string(), vec![2.0, 4.0]));
    }

    #[test]
    fn bad_scores_say_what_and_where() {
        let cases = [
            ("score\n1\n2\n", "2 scores for 3 images"),
            ("score\n1\n2\n3\n4\n", "4 scores for 3 images"),
            ("score\n1\nnan\n3\n", "line 3, column `score`: score of image 1 is nan"),
            ("score\n1\n2\ninf\n", "image 2 is inf"),
            ("score\n1\n1e40\n3\n", "finite number"),
            ("score\n1\nabc\n3\n", "`abc` is not a number"),
            ("a,b\n1,2\n3\n4,5\n", "line 3 has 1 values where the header names 2"),
            ("0.5\n1\n2\n", "is a number"),
            ("", "the file is empty"),
            ("a,a\n1,1\n", "named twice"),
        ];
        for (text, want) in cases {
            let e = scores(text, 3).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let dir = tempfile::tempdir().expect("tmp");
        let missing = read_scores(&dir.path().join("none.csv"), 1).expect_err("missing");
        assert!(missing.contains("no scores file"), "{missing}");
        std::fs::write(dir.path().join("bin.csv"), [0xff, 0xfe, 0x00]).expect("write");
        let binary = read_scores(&dir.path().join("bin.csv"), 1).expect_err("binary");
        assert!(binary.contains("unreadable"), "{binary}");
    }
}
