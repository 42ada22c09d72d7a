//! The compute boundary: which device runs the tensors. Nothing above `engine` names a device.
//!
//! `--device cpu|cuda|auto` is parsed here into [`DeviceChoice`] and turned into a candle
//! device once, at the start of a command. `auto` picks CUDA when the binary was built with
//! the `cuda` feature and a GPU answers, else the CPU. The project's own kernels (fused CPU
//! ops, cuDNN/cuBLAS custom ops) live in sub-modules of this one:
//!
//! * [`conv`]: 2-D convolution (im2col + `gemm`, rayon over images) with its backward;
//! * [`depthwise`]: depthwise convolution (EfficientNet's): shifted multiply-adds on the CPU,
//!   cuDNN through [`conv`] on a GPU;
//! * [`batchnorm`]: training-mode batch norm with its backward (and the ReLU / ReLU + max-pool
//!   after it, in the same op), eval mode (with its activation in one pass on the CPU), running
//!   statistics;
//! * [`matmul`]: machine-independent matrix products (`gemm`, or the own AVX-512 kernel);
//! * [`pool`]: ReLU + max-pool in one op with its backward;
//! * [`residual`]: a residual block's `relu(a + b)` in one op with its backward (CPU; candle's
//!   ops on a GPU);
//! * [`special`]: `lgamma` and `digamma` (the Dirichlet-multinomial loss needs both);
//! * [`adamw`]: the AdamW update of all parameters in one fused step;
//! * [`prefetch`]: training batches assembled on a host thread while the device computes;
//! * [`crosscheck`]: every kernel on a device against its CPU twin.
//!
//! Each is a candle custom op with a CPU kernel and, with the `cuda` feature, a CUDA one
//! (`cuda`: cuDNN, and the project's NVRTC kernels); models call the op and never branch on
//! the device. The CPU kernels are bit-identical whatever the number of rayon threads.

pub mod adamw;
pub mod batchnorm;
pub mod bias;
pub mod conv;
pub mod crosscheck;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod depthwise;
pub mod groupnorm;
pub mod matmul;
pub mod pool;
pub mod prefetch;
pub mod residual;
pub mod special;
#[cfg(test)]
pub(crate) mod testutil;
pub mod upsample;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Device, Layout, bail};
use std::sync::atomic::{AtomicBool, Ordering};

static CANDLE_KERNELS: AtomicBool = AtomicBool::new(false);

/// Use candle's own CPU convolution and composed batch-norm instead of the fused kernels of
/// [`conv`] and [`batchnorm`] (process-wide; for before/after benchmarks only).
pub fn use_candle_kernels(on: bool) {
    CANDLE_KERNELS.store(on, Ordering::Relaxed);
}

/// Whether [`use_candle_kernels`] is on.
pub fn candle_kernels() -> bool {
    CANDLE_KERNELS.load(Ordering::Relaxed)
}

/// The contiguous `f32` data of a CPU storage, or an error naming the op (the CPU twin of
/// `cuda::f32_view`).
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        bail!("{op}: only f32 is supported, got {:?}", s.dtype())
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{op}: input must be contiguous"),
    }
}

/// `f()` compiled for the widest vectors [`crate::simd::level`] allows (AVX-512F, AVX2, or the
/// baseline build's SSE2). The engine's element-wise loops and per-channel `f64` sums run
/// through it. No FMA is enabled and Rust never contracts `a * b + c` or reassociates, so every
/// path gives the same bits; only the instructions' width changes.
#[inline(always)]
fn vectorised<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::{Level, level};

        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx512f")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        match level() {
            // SAFETY: `simd::level` detected the feature on this CPU.
            Level::Avx512 => return unsafe { avx512(f) },
            // SAFETY: as above.
            Level::Avx2 => return unsafe { avx2(f) },
            Level::Portable => {}
        }
    }
    f()
}

/// A vector of `planes · plane` values whose planes `fill(i, plane)` writes completely, in
/// parallel (no zero-filling pass first).
fn par_planes<F>(planes: usize, plane: usize, fill: F) -> Vec<f32>
where
    F: Fn(usize, &mut [std::mem::MaybeUninit<f32>]) + Sync,
{
    use rayon::prelude::*;
    let len = planes * plane;
    let mut out = Vec::with_capacity(len);
    if plane > 0 {
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(plane)
            .enumerate()
            .for_each(|(i, p)| fill(i, p));
    }
    // SAFETY: every plane was fully written by `fill` (the contract of this function).
    unsafe { out.set_len(len) };
    out
}

/// Whether the project's own kernels run on `device` (the CPU always; a GPU when built with
/// `cuda`); elsewhere the ops fall back to candle's.
pub fn own_kernels_on(device: &Device) -> bool {
    match device {
        Device::Cpu => true,
        Device::Cuda(_) => cfg!(feature = "cuda"),
        Device::Metal(_) => false,
    }
}

/// The user's device request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// The CPU, all cores (deterministic: same spec and seed give bit-identical results).
    #[default]
    Cpu,
    /// The first NVIDIA GPU (needs a binary built with `--features cuda`).
    Cuda,
    /// CUDA when available, else the CPU.
    Auto,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "--device cuda: this gzbench was built without CUDA support; rebuild with `cargo build --release --features cuda` (see README) or use --device cpu"
    )]
    NoCudaBuild,
    #[error("--device cuda: no usable GPU: {0}")]
    NoGpu(String),
}

/// Ask the system allocator to keep freed memory for reuse instead of returning it to the OS.
///
/// candle allocates a fresh buffer for every tensor op. By default glibc serves buffers of
/// 128 KiB and more (at most 32 MiB once its threshold has adapted) from fresh `mmap`s, unmapped
/// on free, and trims the heap's free top, so every op paid page faults for the kernel to zero
/// new pages: about a fifth of a CPU training step of cnn-small at batch 32, and a third of a
/// ResNet evaluation pass at batch 256 (its 268 MB activations). Here the main heap serves every
/// size (`M_MMAP_MAX` 0) and is never trimmed (`M_TRIM_THRESHOLD` -1): after the first step a
/// process keeps its peak memory and reuses it (measured: no page faults in later steps). Call
/// once at the start of a binary. A no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // exists and its failure (an out-of-range value) leaves the defaults in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
    }
}

/// Run candle's own element-wise CPU ops (`add`, `mul`, unary maps) on the calling thread
/// instead of candle's barrier pool, unless `CANDLE_NUM_THREADS` is already set.
///
/// candle 0.11 splits large element-wise ops over a pool of its own (`CANDLE_NUM_THREADS - 1`
/// spinning workers, by default one per core) next to rayon's pool that runs the project's
/// kernels. On a small machine the two pools' threads spin against each other: the backward
/// pass's gradient sums waited on a descheduled candle worker (about a tenth of a CPU training
/// step of cnn-small at batch 32 was spent spinning). Element-wise ops give the same bits
/// however they are split, so this changes no result. Call once at the start of a binary,
/// before any other thread exists.
pub fn candle_ops_on_caller() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called at the start of `main`, before any other thread exists, so nothing
        // reads the environment concurrently.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// Resolve the request into a device.
pub fn device(choice: DeviceChoice) -> Result<Device, EngineError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => cuda(),
        DeviceChoice::Auto => Ok(cuda().unwrap_or(Device::Cpu)),
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device, EngineError> {
    Device::new_cuda(0).map_err(|e| EngineError::NoGpu(e.to_string()))
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Device, EngineError> {
    Err(EngineError::NoCudaBuild)
}

/// A short human name of the device for logs and `timing.json`.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", rayon::current_num_threads()),
        Device::Cuda(_) => "cuda:0".to_string(),
        Device::Metal(_) => "metal".to_string(),
    }
}
