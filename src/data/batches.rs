//! Batches of a [`Dataset`] as tensors: one batch by index ([`batch`]), every image in order
//! ([`for_each_batch`], the evaluation loop every metric and prediction shares), and the host
//! side of a training batch, augmented when asked (used by the training loop's prefetcher).

use super::Dataset;
use crate::engine::prefetch;
use candle_core::{Device, Result, Tensor};

/// A batch of the dataset as tensors on `device`: images `N x C x H x W`, targets `N` (one per
/// image) or `N x K`.
pub fn batch(data: &Dataset, idx: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
    let (x, shape, y) = host_batch(data, idx, None)?;
    let x = Tensor::from_vec(x, shape, device)?;
    Ok((x, targets(data, y, idx.len(), device)?))
}

/// The training batch of epoch `epoch` on the host, augmented if asked: flat images, their
/// shape, targets.
pub(crate) fn host_batch(
    data: &Dataset,
    idx: &[usize],
    augment: Option<(u64, usize)>,
) -> Result<prefetch::HostBatch> {
    let (mut x, y) = data.gather(idx);
    if let Some((seed, epoch)) = augment {
        x = crate::data::augment::augment(&x, data.channels, data.size, seed, epoch, idx)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    }
    Ok((x, (idx.len(), data.channels, data.size, data.size), y))
}

/// Targets as `N` (one per image) or `N x K`.
pub(crate) fn targets(data: &Dataset, y: Vec<f32>, n: usize, device: &Device) -> Result<Tensor> {
    if data.target_len == 1 {
        Tensor::from_vec(y, n, device)
    } else {
        Tensor::from_vec(y, (n, data.target_len), device)
    }
}

/// Calls `f(indices, images, targets)` for consecutive batches of `batch_size` covering every
/// image of `data` in order (the evaluation loop every metric and prediction shares).
pub fn for_each_batch(
    data: &Dataset,
    batch_size: usize,
    device: &Device,
    mut f: impl FnMut(&[usize], &Tensor, &Tensor) -> Result<()>,
) -> Result<()> {
    let all: Vec<usize> = (0..data.len()).collect();
    for idx in all.chunks(batch_size.max(1)) {
        let (x, y) = batch(data, idx, device)?;
        f(idx, &x, &y)?;
    }
    Ok(())
}
