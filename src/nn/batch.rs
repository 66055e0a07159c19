//! Images as network input, as each method declares it ([`Preprocessing`]):
//! bytes -> f32 resized to the method's side (or kept at their size), then
//! normalised per channel; then batches as `[batch, channels, h, w]` tensors.
//!
//! Resizing is a separable triangle (bilinear) filter with half-pixel centres,
//! widened by the scale factor when shrinking: the filter PIL's
//! `Image.resize(..., BILINEAR)` applies, which is what torchvision's
//! `Resize` runs on the PIL images of the reference code (MNIST 28 -> 32).
//! Upsampling is then plain bilinear interpolation; downsampling averages
//! instead of aliasing. Images already at the side are copied unchanged.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::NnError;
use crate::data::ImageSet;
use crate::spec::methods::input::{ChannelStats, Normalization};

/// Weights of one output sample along one axis: the first input index and
/// the normalised weights of the inputs from there on.
struct Tap {
    start: usize,
    weights: Vec<f32>,
}

/// The triangle-filter taps mapping `n_in` samples to `n_out`.
fn taps(n_in: usize, n_out: usize) -> Vec<Tap> {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0); // filter half-width in input pixels
    (0..n_out)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale;
            let lo = ((centre - support).floor().max(0.0)) as usize;
            let hi = ((centre + support).ceil() as usize).min(n_in);
            let mut w: Vec<f64> = (lo..hi)
                .map(|i| {
                    let d = ((i as f64 + 0.5) - centre).abs() / support;
                    (1.0 - d).max(0.0)
                })
                .collect();
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            }
            Tap {
                start: lo,
                weights: w.into_iter().map(|v| v as f32).collect(),
            }
        })
        .collect()
}

/// Resizes one `[h][w]` plane to `oh x ow` (values in and out as f32).
fn resize_plane(
    src: &[f32],
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    rows: &[Tap],
    cols: &[Tap],
) -> Vec<f32> {
    // Horizontal pass: h x ow.
    let mut tmp = vec![0f32; h * ow];
    for y in 0..h {
        let line = &src[y * w..(y + 1) * w];
        for (x, tap) in cols.iter().enumerate() {
            tmp[y * ow + x] = tap
                .weights
                .iter()
                .enumerate()
                .map(|(k, wt)| wt * line[tap.start + k])
                .sum();
        }
    }
    // Vertical pass: oh x ow.
    let mut out = vec![0f32; oh * ow];
    for (y, tap) in rows.iter().enumerate() {
        for (k, wt) in tap.weights.iter().enumerate() {
            let row = &tmp[(tap.start + k) * ow..(tap.start + k + 1) * ow];
            for x in 0..ow {
                out[y * ow + x] += wt * row[x];
            }
        }
    }
    out
}

/// What a method declares about its input: the size it works at and the
/// per-channel normalisation (resolved from the method's `normalization`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Side of the square input; `None` keeps the images' own size.
    pub side: Option<usize>,
    /// `(v / 255 - mean[c]) / std[c]` for channel `c`.
    pub stats: ChannelStats,
}

impl Preprocessing {
    /// Resolves a method's `normalization` for `channels`-channel images;
    /// `official` is the method's own choice.
    pub fn new(
        side: Option<usize>,
        normalization: &Normalization,
        channels: usize,
        official: impl Fn(usize) -> Normalization,
    ) -> Result<Preprocessing, NnError> {
        let stats = normalization
            .resolve(channels, official)
            .map_err(NnError::Input)?;
        Ok(Preprocessing { side, stats })
    }
}

/// A whole image set prepared once as network input.
pub struct PreparedImages {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// `len * channels * height * width` normalised values.
    values: Vec<f32>,
}

impl PreparedImages {
    /// Resizes to the side of `prep` (if any) and normalises each channel.
    /// Resizing works on `v / 255`, normalisation comes after (as the
    /// reference's `Resize` then `ToTensor` then `Normalize`).
    pub fn new(images: &ImageSet, prep: &Preprocessing) -> Result<PreparedImages, NnError> {
        let (c, h, w) = (images.channels, images.height, images.width);
        if prep.stats.mean.len() != c || prep.stats.std.len() != c {
            return Err(NnError::Input(format!(
                "the normalisation is for {} channel(s) but the images have {c}",
                prep.stats.mean.len()
            )));
        }
        let (oh, ow) = prep.side.map_or((h, w), |s| (s, s));
        let plane = oh * ow;
        let mut values = Vec::with_capacity(images.len() * c * plane);
        let same = h == oh && w == ow;
        let rows = taps(h, oh);
        let cols = taps(w, ow);
        let scale: Vec<(f32, f32)> = (0..c)
            .map(|ch| {
                let inv = 1.0 / prep.stats.std[ch];
                (prep.stats.mean[ch] as f32, inv as f32)
            })
            .collect();
        for i in 0..images.len() {
            let img = images.image(i);
            for (ch, &(mean, inv)) in scale.iter().enumerate() {
                let src: Vec<f32> = img[ch * h * w..(ch + 1) * h * w]
                    .iter()
                    .map(|&b| b as f32 / 255.0)
                    .collect();
                let resized = if same {
                    src
                } else {
                    resize_plane(&src, h, w, oh, ow, &rows, &cols)
                };
                values.extend(resized.into_iter().map(|v| (v - mean) * inv));
            }
        }
        Ok(PreparedImages {
            channels: c,
            height: oh,
            width: ow,
            values,
        })
    }

    pub fn len(&self) -> usize {
        self.values.len() / (self.channels * self.height * self.width).max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The images at `indices`, in that order, as `[n, c, height, width]`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let n = self.channels * self.height * self.width;
        let mut v = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            v.extend_from_slice(&self.values[i * n..(i + 1) * n]);
        }
        Tensor::from_data(
            TensorData::new(v, [indices.len(), self.channels, self.height, self.width]),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: usize, h: usize, w: usize, pixels: Vec<u8>) -> ImageSet {
        let n = pixels.len() / (c * h * w);
        ImageSet {
            channels: c,
            height: h,
            width: w,
            pixels,
            labels: vec![0; n],
        }
    }

    fn prepare(images: &ImageSet, side: usize) -> PreparedImages {
        let prep = Preprocessing {
            side: Some(side),
            stats: ChannelStats {
                mean: vec![0.5; images.channels],
                std: vec![0.5; images.channels],
            },
        };
        PreparedImages::new(images, &prep).expect("prepared")
    }

    #[test]
    fn scales_bytes_to_minus_one_one() {
        let p = prepare(&set(1, 2, 2, vec![0, 255, 51, 255]), 2);
        assert_eq!(p.values, vec![-1.0, 1.0, -0.6, 1.0]);
    }

    #[test]
    fn normalises_each_channel_with_its_statistics() {
        // MNIST's statistics (torchvision Normalize((0.1307,), (0.3081,))):
        // 0 -> -0.4242, 255 -> 2.8215.
        let mnist = Preprocessing::new(
            None,
            &Normalization::OFFICIAL,
            1,
            crate::spec::methods::GanomalyParams::official_normalization,
        )
        .expect("resolved");
        let p = PreparedImages::new(&set(1, 1, 2, vec![0, 255]), &mnist).expect("prepared");
        assert!((p.values[0] + 0.424_213).abs() < 1e-5, "{:?}", p.values);
        assert!((p.values[1] - 2.821_487).abs() < 1e-5, "{:?}", p.values);
        // two channels, each its own statistics; the size is kept
        let two = Preprocessing {
            side: None,
            stats: ChannelStats {
                mean: vec![0.0, 1.0],
                std: vec![1.0, 0.5],
            },
        };
        let p = PreparedImages::new(&set(2, 1, 3, vec![0, 51, 255, 0, 51, 255]), &two)
            .expect("prepared");
        assert_eq!((p.height, p.width), (1, 3));
        let want = [0.0, 0.2, 1.0, -2.0, -1.6, 0.0];
        for (g, w) in p.values.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{:?}", p.values);
        }
        // statistics for another channel count are refused
        assert!(PreparedImages::new(&set(1, 1, 3, vec![0; 3]), &two).is_err());
    }

    #[test]
    fn constant_images_stay_constant_when_resized() {
        for (from, to) in [(28, 32), (64, 32), (5, 16)] {
            let p = prepare(&set(1, from, from, vec![200; from * from]), to);
            let expect = (200.0 / 255.0 - 0.5) / 0.5;
            assert_eq!(p.len(), 1);
            assert!(p.values.iter().all(|v| (v - expect).abs() < 1e-5));
        }
    }

    #[test]
    fn upsampling_is_half_pixel_bilinear() {
        // 2 -> 4 along a row [0, 1]: PIL/torch (align_corners=False) give
        // [0, 0.25, 0.75, 1].
        let t = taps(2, 4);
        let line = [0.0f32, 1.0];
        let got: Vec<f32> = t
            .iter()
            .map(|tap| {
                tap.weights
                    .iter()
                    .enumerate()
                    .map(|(k, w)| w * line[tap.start + k])
                    .sum()
            })
            .collect();
        for (g, e) in got.iter().zip([0.0, 0.25, 0.75, 1.0]) {
            assert!((g - e).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn batches_keep_order_and_shape() {
        let p = prepare(
            &set(
                1,
                16,
                16,
                (0..=2).flat_map(|i| vec![i * 100; 256]).collect(),
            ),
            16,
        );
        let b = p.batch(&[2, 0], &Device::flex());
        assert_eq!(b.dims(), [2, 1, 16, 16]);
        let d = b.into_data();
        let v = d.as_slice::<f32>().expect("f32");
        assert!((v[0] - ((200.0 / 255.0 - 0.5) / 0.5)).abs() < 1e-6);
        assert_eq!(v[256], -1.0);
    }
}
