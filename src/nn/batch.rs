//! Images as network input: bytes -> f32 in [-1, 1] at the network's side,
//! then batches as `[batch, channels, side, side]` tensors.
//!
//! Resizing is a separable triangle (bilinear) filter with half-pixel centres,
//! widened by the scale factor when shrinking: the filter PIL's
//! `Image.resize(..., BILINEAR)` applies, which is what torchvision's
//! `Resize` runs on the PIL images of the reference code (MNIST 28 -> 32).
//! Upsampling is then plain bilinear interpolation; downsampling averages
//! instead of aliasing. Images already at the side are copied unchanged.

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::ImageSet;

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

/// Resizes one `[h][w]` plane to `side x side` (values in and out as f32).
fn resize_plane(
    src: &[f32],
    h: usize,
    w: usize,
    side: usize,
    rows: &[Tap],
    cols: &[Tap],
) -> Vec<f32> {
    // Horizontal pass: h x side.
    let mut tmp = vec![0f32; h * side];
    for y in 0..h {
        let line = &src[y * w..(y + 1) * w];
        for (x, tap) in cols.iter().enumerate() {
            tmp[y * side + x] = tap
                .weights
                .iter()
                .enumerate()
                .map(|(k, wt)| wt * line[tap.start + k])
                .sum();
        }
    }
    // Vertical pass: side x side.
    let mut out = vec![0f32; side * side];
    for (y, tap) in rows.iter().enumerate() {
        for (k, wt) in tap.weights.iter().enumerate() {
            let row = &tmp[(tap.start + k) * side..(tap.start + k + 1) * side];
            for x in 0..side {
                out[y * side + x] += wt * row[x];
            }
        }
    }
    out
}

/// A whole image set prepared once as network input.
pub struct PreparedImages {
    pub channels: usize,
    pub side: usize,
    /// `len * channels * side * side` values in [-1, 1].
    values: Vec<f32>,
}

impl PreparedImages {
    /// Scales bytes to [-1, 1] ((v / 255 - 0.5) / 0.5) and resizes to `side`.
    pub fn new(images: &ImageSet, side: usize) -> PreparedImages {
        let (c, h, w) = (images.channels, images.height, images.width);
        let plane = side * side;
        let mut values = Vec::with_capacity(images.len() * c * plane);
        let same = h == side && w == side;
        let rows = taps(h, side);
        let cols = taps(w, side);
        for i in 0..images.len() {
            let img = images.image(i);
            for ch in 0..c {
                let src: Vec<f32> = img[ch * h * w..(ch + 1) * h * w]
                    .iter()
                    .map(|&b| b as f32 / 255.0)
                    .collect();
                let resized = if same {
                    src
                } else {
                    resize_plane(&src, h, w, side, &rows, &cols)
                };
                values.extend(resized.into_iter().map(|v| (v - 0.5) / 0.5));
            }
        }
        PreparedImages {
            channels: c,
            side,
            values,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len() / (self.channels * self.side * self.side)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The images at `indices`, in that order, as `[n, c, side, side]`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Tensor<4> {
        let n = self.channels * self.side * self.side;
        let mut v = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            v.extend_from_slice(&self.values[i * n..(i + 1) * n]);
        }
        Tensor::from_data(
            TensorData::new(v, [indices.len(), self.channels, self.side, self.side]),
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

    #[test]
    fn scales_bytes_to_minus_one_one() {
        let p = PreparedImages::new(&set(1, 2, 2, vec![0, 255, 51, 255]), 2);
        assert_eq!(p.values, vec![-1.0, 1.0, -0.6, 1.0]);
    }

    #[test]
    fn constant_images_stay_constant_when_resized() {
        for (from, to) in [(28, 32), (64, 32), (5, 16)] {
            let p = PreparedImages::new(&set(1, from, from, vec![200; from * from]), to);
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
        let p = PreparedImages::new(
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
