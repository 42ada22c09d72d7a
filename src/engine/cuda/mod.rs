//! The CUDA side of the engine's kernels (built only with the `cuda` feature): what the custom
//! ops of [`super::conv`], [`super::batchnorm`], [`super::groupnorm`], [`super::pool`],
//! [`super::special`], [`super::adamw`], [`super::upsample`] and [`super::bias`] run when their tensors live on a GPU.
//!
//! * [`conv`]: cuDNN convolution forward, backward-data and backward-filter, the algorithm
//!   chosen by cuDNN's heuristics once per shape and cached;
//! * [`bn`]: cuDNN training-mode batch norm, forward and backward;
//! * [`gn`]: group norm with its activation, forward and backward (own kernels);
//! * [`unet`]: nearest upsampling and the per-channel bias add, forward and backward (own
//!   kernels);
//! * [`kernels`]: the project's own CUDA C (`kernels.cu`: fused ReLU + max-pool, `lgamma`,
//!   `digamma`, the multi-tensor AdamW update, group norm, upsampling, bias add), compiled once
//!   per process with NVRTC.
//!
//! Matrix products need nothing here: candle's CUDA `matmul` already calls cuBLAS.
//!
//! Everything takes candle's `CudaStorage` and works on the device's one stream, so the ops
//! order with candle's own kernels without extra synchronisation.

pub mod bn;
pub mod conv;
pub mod gn;
pub mod kernels;
pub mod unet;

use candle_core::cuda_backend::{CudaDevice, DeviceId};
use candle_core::{CudaStorage, Layout, Result, Storage, Tensor, bail};
use cudarc::cudnn::Cudnn;
use cudarc::driver::{CudaSlice, CudaView, DevicePtr};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

thread_local! {
    // cuDNN handles are neither Send nor Sync: one per thread and device, as candle does.
    static CUDNN: RefCell<HashMap<DeviceId, Arc<Cudnn>>> = RefCell::new(HashMap::new());
}

/// The cuDNN handle of this thread for `dev`, bound to the device's stream.
pub fn cudnn(dev: &CudaDevice) -> Result<Arc<Cudnn>> {
    CUDNN.with(|m| {
        if let Some(h) = m.borrow().get(&dev.id()) {
            return Ok(h.clone());
        }
        let h = Cudnn::new(dev.cuda_stream()).map_err(candle_core::Error::wrap)?;
        m.borrow_mut().insert(dev.id(), h.clone());
        Ok(h)
    })
}

/// The contiguous `f32` data of a storage as a device view, or an error naming the op.
pub fn f32_view<'a>(s: &'a CudaStorage, l: &Layout, op: &str) -> Result<CudaView<'a, f32>> {
    let slice: &CudaSlice<f32> = s.as_cuda_slice()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(slice.slice(a..b)),
        None => bail!("{op}: input must be contiguous"),
    }
}

/// A zeroed buffer of `n` elements (`f32` unless said) on `dev`'s stream.
pub fn zeros<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    dev: &CudaDevice,
    n: usize,
) -> Result<CudaSlice<T>> {
    dev.cuda_stream()
        .alloc_zeros::<T>(n)
        .map_err(candle_core::Error::wrap)
}

/// A `u8` scratch buffer (cuDNN workspace) of at least one byte.
pub fn workspace(dev: &CudaDevice, bytes: usize) -> Result<CudaSlice<u8>> {
    // SAFETY: a workspace is scratch memory cuDNN writes before it reads.
    unsafe { dev.cuda_stream().alloc::<u8>(bytes.max(1)) }.map_err(candle_core::Error::wrap)
}

/// Wrap a device buffer as candle storage.
pub fn storage(slice: CudaSlice<f32>, dev: &CudaDevice) -> CudaStorage {
    CudaStorage::wrap_cuda_slice(slice, dev.clone())
}

/// The device addresses of `tensors` (each contiguous `f32` on `dev`), valid while `f` runs:
/// for kernels that update tensors in place (parameters, moments, running statistics). Each
/// tensor's storage stays locked for reading meanwhile; the kernels are queued on the device's
/// one stream, after every earlier use of those buffers.
pub fn with_ptrs<R>(
    dev: &CudaDevice,
    tensors: &[&Tensor],
    f: impl FnOnce(&[u64]) -> Result<R>,
) -> Result<R> {
    let stream = dev.cuda_stream();
    let guards: Vec<_> = tensors.iter().map(|t| t.storage_and_layout()).collect();
    let mut ptrs = Vec::with_capacity(guards.len());
    let mut syncs = Vec::with_capacity(guards.len());
    for (storage, layout) in &guards {
        let (Storage::Cuda(cs), Some((start, _))) = (&**storage, layout.contiguous_offsets())
        else {
            bail!("every tensor updated in place on a GPU must be contiguous and on that GPU")
        };
        let slice: &CudaSlice<f32> = cs.as_cuda_slice()?;
        let (ptr, sync) = slice.device_ptr(&stream);
        ptrs.push(ptr + (start * std::mem::size_of::<f32>()) as u64);
        syncs.push(sync);
    }
    let out = f(&ptrs);
    drop(syncs);
    out
}
