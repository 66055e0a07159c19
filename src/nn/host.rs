//! Reads of tensors back to the host. On a GPU a read waits until the device
//! has run everything queued before it (a sync, and with kernel fusion the
//! end of the fused block), so the GANs read as little as they can: a
//! training step reads all of its losses at once ([`read_values`]), one
//! scoring batch reads all of its score columns at once ([`read_columns`]),
//! and nothing else in a step or a batch reads (AnoGAN's latent search
//! included). Every read of the training and scoring paths goes through
//! here and is counted per thread ([`reads`]): the GANs' contract tests pin
//! the counts.

use std::cell::Cell;

use burn::tensor::Tensor;

thread_local! {
    static READS: Cell<u64> = const { Cell::new(0) };
}

/// Host reads made on this thread so far.
pub fn reads() -> u64 {
    READS.with(Cell::get)
}

/// Every number of `t` (row-major), in one read.
pub fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, String> {
    READS.with(|r| r.set(r.get() + 1));
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

/// The numbers of `parts` one after the other, in one read: the parts are
/// concatenated on the device first. No read when `parts` is empty.
pub fn read_all(parts: Vec<Tensor<1>>) -> Result<Vec<f32>, String> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    // Detached: the read is no part of any gradient.
    let parts: Vec<Tensor<1>> = parts.into_iter().map(Tensor::inner).collect();
    read(Tensor::cat(parts, 0))
}

/// The values of one-element tensors (a step's losses), in one read.
pub fn read_values(values: Vec<Tensor<1>>) -> Vec<f32> {
    let n = values.len();
    let read = read_all(values).expect("losses are f32 tensors");
    assert_eq!(read.len(), n, "a loss tensor holds one number");
    read
}

/// Score columns of `n` numbers each, in one read.
pub fn read_columns(columns: Vec<Tensor<1>>, n: usize) -> Result<Vec<Vec<f32>>, String> {
    let k = columns.len();
    let all = read_all(columns)?;
    if all.len() != n * k {
        return Err(format!(
            "{} numbers read for {k} columns of {n} images",
            all.len()
        ));
    }
    Ok(all.chunks(n.max(1)).map(<[f32]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn t(v: &[f32]) -> Tensor<1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
    }

    #[test]
    fn several_tensors_are_one_read_in_order() {
        let before = reads();
        let got = read_values(vec![t(&[1.5]), t(&[-2.0]), t(&[f32::NAN])]);
        assert_eq!(reads() - before, 1);
        assert_eq!(&got[..2], &[1.5, -2.0]);
        assert!(got[2].is_nan());
        let cols = read_columns(vec![t(&[1.0, 2.0, 3.0]), t(&[4.0, 5.0, 6.0])], 3).expect("read");
        assert_eq!(cols, vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
        assert_eq!(reads() - before, 2);
        assert!(read_all(Vec::new()).expect("empty").is_empty());
        assert_eq!(reads() - before, 2, "nothing to read, no read");
    }

    #[test]
    fn autodiff_tensors_are_read_without_their_graph() {
        let dev = Device::flex().autodiff();
        let x = Tensor::<1>::from_data(TensorData::new(vec![3.0f32], [1]), &dev).require_grad();
        let loss = x.clone().mul_scalar(2.0);
        let grads = loss.backward();
        let plain = t(&[7.0]);
        assert_eq!(read_values(vec![loss, plain]), vec![6.0, 7.0]);
        let g = x.grad(&grads).expect("grad");
        assert_eq!(read(g).expect("read"), vec![2.0]);
    }

    #[test]
    fn columns_of_the_wrong_length_are_an_error() {
        let e = read_columns(vec![t(&[1.0, 2.0]), t(&[3.0])], 2).expect_err("short");
        assert!(
            e.contains("3 numbers read for 2 columns of 2 images"),
            "{e}"
        );
    }
}
