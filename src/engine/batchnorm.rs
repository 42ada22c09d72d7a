//! Fused CPU batch normalisation (training mode) as a candle custom op with its own backward, plus
//! the evaluation-mode form and the running-statistics update that `model::layers` uses.
//!
//! Training mode ([`batch_norm_train`]) normalises each channel with the batch mean and biased
//! variance: one pass over `x` for the statistics, one to write `y = x·a + b`. Its backward gives
//! `dx`, `dgamma` and `dbeta` together: one pass for the two per-channel sums, one to write `dx`.
//! The statistics are returned (detached) so the caller can update its running buffers with
//! [`update_running_stats`] (momentum, unbiased running variance, as in PyTorch).
//!
//! On a GPU (the `cuda` feature) the op runs cuDNN's batch norm (`cuda::bn`); for
//! non-`f32` tensors the same functions compute with plain candle ops.
//!
//! Determinism: every per-channel sum is accumulated by one thread, in `f64`, in a fixed lane
//! order, so results are bit-identical whatever the number of rayon threads.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use gzbench::engine::batchnorm::batch_norm_train;
//! let x = Tensor::arange(0f32, 16., &Device::Cpu).unwrap().reshape((2, 2, 2, 2)).unwrap();
//! let g = Tensor::ones(2, DType::F32, &Device::Cpu).unwrap();
//! let b = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
//! let out = batch_norm_train(&x, &g, &b, 1e-5).unwrap();
//! assert_eq!(out.mean.to_vec1::<f32>().unwrap(), vec![5.5, 9.5]);
//! ```

pub(crate) mod act;
mod eval;
pub(crate) mod sums;

pub use act::Act;
pub use eval::{batch_norm_eval, batch_norm_eval_act};

use super::f32_slice;
#[cfg(feature = "cuda")]
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Result, Shape, Tensor, Var, bail};
use rayon::prelude::*;
use std::sync::{Arc, OnceLock};
use sums::{Sums, channel_sums};

/// What training-mode batch norm returns.
pub struct BatchNormOut {
    /// The normalised, scaled and shifted output (same shape as `x`).
    pub y: Tensor,
    /// Per-channel batch mean, shape `C`, detached.
    pub mean: Tensor,
    /// Per-channel biased batch variance, shape `C`, detached.
    pub var: Tensor,
    /// Elements per channel (`N · H · W`), for the unbiased running variance.
    pub count: usize,
}

/// The running statistics of a batch-norm layer and their momentum (PyTorch's rule:
/// `running = (1 - momentum)·running + momentum·batch`, with the unbiased batch variance).
#[derive(Clone)]
pub struct Running {
    pub mean: Var,
    pub var: Var,
    pub momentum: f64,
}

/// `(channels, elements per channel)` of a valid training-mode batch norm, or the error.
fn check(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> Result<(usize, usize)> {
    let dims = x.dims();
    if dims.len() < 2 {
        bail!("batch_norm: expected N x C x ..., got {dims:?}")
    }
    let c = dims[1];
    if gamma.dims() != [c] || beta.dims() != [c] {
        bail!(
            "batch_norm: {c} channels but gamma {:?} and beta {:?}",
            gamma.dims(),
            beta.dims()
        )
    }
    let count = x.elem_count() / c.max(1);
    if count == 0 {
        bail!("batch_norm: empty batch {dims:?}")
    }
    Ok((c, count))
}

/// Whether the custom op (rather than the composed reference) computes these tensors.
fn fused(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> bool {
    !super::candle_kernels()
        && super::own_kernels_on(x.device())
        && [x, gamma, beta].iter().all(|t| t.dtype() == DType::F32)
}

/// Training-mode batch norm that also updates `running`. On a GPU cuDNN's forward updates them
/// in the same kernel; elsewhere [`batch_norm_train`] then [`update_running_stats`].
pub fn batch_norm_train_update(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    running: &Running,
) -> Result<Tensor> {
    batch_norm_train_act(x, gamma, beta, eps, running, Act::None)
}

/// [`batch_norm_train_update`] followed by `act`: in the same op on the CPU (see [`act`]), as
/// separate ops elsewhere ([`super::pool::relu_max_pool2d`], candle's `relu`).
pub fn batch_norm_train_act(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    running: &Running,
    act: Act,
) -> Result<Tensor> {
    if act != Act::None && x.device().is_cpu() && fused(x, gamma, beta) {
        let (c, _) = check(x, gamma, beta)?;
        act.out_shape(x.shape())?;
        let saved = Arc::new(OnceLock::new());
        let op = BnTrain {
            eps,
            saved: saved.clone(),
            running: None,
            act,
        };
        let y = x
            .contiguous()?
            .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
        let Some(Saved::Cpu { mean, var, .. }) = saved.get() else {
            bail!("batch_norm: statistics were not computed")
        };
        let out = BatchNormOut {
            y,
            mean: Tensor::from_vec(mean.iter().map(|&v| v as f32).collect(), c, &Device::Cpu)?,
            var: Tensor::from_vec(var.iter().map(|&v| v as f32).collect(), c, &Device::Cpu)?,
            count: x.elem_count() / c.max(1),
        };
        update_running_stats(&running.mean, &running.var, &out, running.momentum)?;
        return Ok(out.y);
    }
    act.composed(batch_norm_train_update_plain(x, gamma, beta, eps, running)?)
}

/// Training-mode batch norm without an activation, updating `running`.
fn batch_norm_train_update_plain(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    running: &Running,
) -> Result<Tensor> {
    if x.device().is_cuda()
        && fused(x, gamma, beta)
        && [&running.mean, &running.var]
            .iter()
            .all(|v| v.dtype() == DType::F32 && v.device().same_device(x.device()))
    {
        check(x, gamma, beta)?;
        let op = BnTrain {
            eps,
            saved: Arc::new(OnceLock::new()),
            running: Some(running.clone()),
            act: Act::None,
        };
        return x
            .contiguous()?
            .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op);
    }
    let out = batch_norm_train(x, gamma, beta, eps)?;
    update_running_stats(&running.mean, &running.var, &out, running.momentum)?;
    Ok(out.y)
}

/// Training-mode batch norm of `x: N x C x ...` with per-channel `gamma`, `beta` (shape `C`).
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<BatchNormOut> {
    let (c, count) = check(x, gamma, beta)?;
    if !fused(x, gamma, beta) {
        return reference_train(x, gamma, beta, eps);
    }
    let saved = Arc::new(OnceLock::new());
    let op = BnTrain {
        eps,
        saved: saved.clone(),
        running: None,
        act: Act::None,
    };
    let y = x
        .contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    let (mean, var) = match saved.get() {
        Some(Saved::Cpu { mean, var, .. }) => (
            Tensor::from_vec(mean.iter().map(|&v| v as f32).collect(), c, &Device::Cpu)?,
            Tensor::from_vec(var.iter().map(|&v| v as f32).collect(), c, &Device::Cpu)?,
        ),
        #[cfg(feature = "cuda")]
        Some(Saved::Cuda(stats)) => {
            let Device::Cuda(dev) = x.device() else {
                bail!("batch_norm: CUDA statistics of a tensor not on a GPU")
            };
            let wrap = |s: &cudarc::driver::CudaSlice<f32>| {
                let st = candle_core::Storage::Cuda(super::cuda::storage(s.clone(), dev));
                Tensor::from_storage(st, c, candle_core::op::BackpropOp::none(), false)
            };
            // cuDNN saves 1/sqrt(var + eps): var = invstd^-2 - eps.
            let var = (wrap(&stats.invstd).sqr()?.recip()? - eps)?;
            (wrap(&stats.mean), var)
        }
        None => bail!("batch_norm: statistics were not computed"),
    };
    Ok(BatchNormOut {
        y,
        mean,
        var,
        count,
    })
}

/// `running = (1 - momentum)·running + momentum·batch`, with the unbiased batch variance.
pub fn update_running_stats(
    running_mean: &Var,
    running_var: &Var,
    out: &BatchNormOut,
    momentum: f64,
) -> Result<()> {
    let n = out.count as f64;
    let keep = 1.0 - momentum;
    running_mean.set(&((running_mean.as_tensor() * keep)? + (out.mean.detach() * momentum)?)?)?;
    let unbiased = (out.var.detach() * (n / (n - 1.0).max(1.0)))?;
    running_var.set(&((running_var.as_tensor() * keep)? + (unbiased * momentum)?)?)
}

/// `1 x C x 1 x ...` for broadcasting per-channel values against `x`.
fn channel_shape(x: &Tensor) -> Result<Shape> {
    let dims = x.dims();
    if dims.len() < 2 {
        bail!("batch_norm: expected N x C x ..., got {dims:?}")
    }
    let mut s = vec![1; dims.len()];
    s[1] = dims[1];
    Ok(s.into())
}

/// Training-mode batch norm composed of candle ops (the reference, and the non-CPU path).
pub fn reference_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<BatchNormOut> {
    let shape = channel_shape(x)?;
    let c = x.dim(1)?;
    let axes: Vec<usize> = (0..x.rank()).filter(|&d| d != 1).collect();
    let mean = x.mean_keepdim(axes.as_slice())?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(axes.as_slice())?;
    let y = centred
        .broadcast_div(&(&var + eps)?.sqrt()?)?
        .broadcast_mul(&gamma.reshape(shape.clone())?)?
        .broadcast_add(&beta.reshape(shape)?)?;
    Ok(BatchNormOut {
        y,
        mean: mean.flatten_all()?.detach(),
        var: var.flatten_all()?.detach(),
        count: x.elem_count() / c.max(1),
    })
}

/// Per-channel statistics kept by the forward for the backward.
enum Saved {
    Cpu {
        mean: Vec<f64>,
        var: Vec<f64>,
        invstd: Vec<f64>,
        /// `y = x·a + b` per channel, as the forward computed it.
        a: Vec<f32>,
        b: Vec<f32>,
    },
    #[cfg(feature = "cuda")]
    Cuda(super::cuda::bn::Stats),
}

/// `(n, c, inner)` of an `N x C x ...` shape, or an error naming `op`.
pub(crate) fn nci(s: &Shape, op: &str) -> Result<(usize, usize, usize)> {
    let d = s.dims();
    if d.len() < 2 {
        bail!("{op}: expected N x C x ..., got {d:?}")
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// Training-mode forward: `(x, gamma, beta) -> y`; saves the statistics.
struct BnTrain {
    eps: f64,
    saved: Arc<OnceLock<Saved>>,
    /// Updated in place by the forward on a GPU (the CPU forward never sees it).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    running: Option<Running>,
    /// Applied to the output in the same op (CPU only; `Act::None` on a GPU).
    act: Act,
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "gzbench-batchnorm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let gamma = f32_slice(s2, l2, self.name())?;
        let beta = f32_slice(s3, l3, self.name())?;
        let (n, c, inner) = nci(l1.shape(), "batch_norm")?;
        let m = (n * inner) as f64;
        let sums = channel_sums(n, c, inner, Sums::Stats { x });
        let mean: Vec<f64> = sums.iter().map(|s| s.0 / m).collect();
        let var: Vec<f64> = sums
            .iter()
            .zip(&mean)
            .map(|(s, mu)| (s.1 / m - mu * mu).max(0.0))
            .collect();
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let a: Vec<f32> = (0..c)
            .map(|ch| (gamma[ch] as f64 * invstd[ch]) as f32)
            .collect();
        let b: Vec<f32> = (0..c)
            .map(|ch| (beta[ch] as f64 - mean[ch] * gamma[ch] as f64 * invstd[ch]) as f32)
            .collect();
        let (y, shape) = act::forward(self.act, x, l1.shape(), &a, &b)?;
        // The op runs once per instance; a second run would recompute identical statistics.
        let _ = self.saved.set(Saved::Cpu {
            mean,
            var,
            invstd,
            a,
            b,
        });
        Ok((CpuStorage::F32(y), shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let dev = s1.device();
        let x = cuda::f32_view(s1, l1, self.name())?;
        let gamma = cuda::f32_view(s2, l2, self.name())?;
        let beta = cuda::f32_view(s3, l3, self.name())?;
        let nci = nci(l1.shape(), "batch_norm")?;
        let forward =
            |running| cuda::bn::forward_train(dev, nci, &x, (&gamma, &beta), self.eps, running);
        let (y, stats) = match &self.running {
            None => forward(None)?,
            Some(r) => cuda::with_ptrs(dev, &[r.mean.as_tensor(), r.var.as_tensor()], |p| {
                forward(Some(cuda::bn::Running {
                    mean: p[0],
                    var: p[1],
                    momentum: r.momentum,
                }))
            })?,
        };
        let _ = self.saved.set(Saved::Cuda(stats));
        Ok((cuda::storage(y, dev), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = x.dim(1)?;
        let numel = x.elem_count();
        let dy = dy.contiguous()?;
        let packed = match self.saved.get() {
            Some(Saved::Cpu {
                mean, invstd, a, b, ..
            }) => x.apply_op3_no_bwd(
                &dy,
                gamma,
                &BnBwd {
                    mean: mean.clone(),
                    invstd: invstd.clone(),
                    act: self.act,
                    a: a.clone(),
                    b: b.clone(),
                },
            )?,
            #[cfg(feature = "cuda")]
            Some(Saved::Cuda(_)) => x.apply_op3_no_bwd(
                &dy,
                gamma,
                &BnBwdCuda {
                    eps: self.eps,
                    saved: self.saved.clone(),
                },
            )?,
            None => bail!("gzbench-batchnorm: backward before forward"),
        };
        let dx = packed.narrow(0, 0, numel)?.reshape(x.shape())?;
        let dgamma = packed.narrow(0, numel, c)?;
        let dbeta = packed.narrow(0, numel + c, c)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

/// Training-mode backward: `(x, dy, gamma) -> [dx (flat), dgamma, dbeta]` packed in one vector.
struct BnBwd {
    mean: Vec<f64>,
    invstd: Vec<f64>,
    /// The forward's activation, and its `x·a + b` to recompute the activation's input.
    act: Act,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl CustomOp3 for BnBwd {
    fn name(&self) -> &'static str {
        "gzbench-batchnorm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let dy = f32_slice(s2, l2, self.name())?;
        let gamma = f32_slice(s3, l3, self.name())?;
        let (n, c, inner) = nci(l1.shape(), "batch_norm")?;
        if gamma.len() != c || self.mean.len() != c || self.a.len() != c {
            bail!("gzbench-batchnorm-bwd: unexpected shapes")
        }
        let dy = act::grad_in(self.act, x, l1.shape(), &self.a, &self.b, dy)?;
        let dy = &dy[..];
        if dy.len() != x.len() {
            bail!("gzbench-batchnorm-bwd: unexpected shapes")
        }
        let m = (n * inner) as f64;
        let mean = &self.mean;
        // sum dy, sum dy·(x - mean)
        let sums = channel_sums(n, c, inner, Sums::Grad { dy, x, mean });
        let mut out = vec![0f32; x.len() + 2 * c];
        let (dx, tail) = out.split_at_mut(x.len());
        // dx = k·(dy - mean(dy) - xhat·mean(dy·xhat)) with k = gamma·invstd, written as
        // dx = dy·p + x·q + r per channel.
        let mut coef = Vec::with_capacity(c);
        for ch in 0..c {
            let (sdy, sdyxc) = sums[ch];
            let inv = self.invstd[ch];
            let k = gamma[ch] as f64 * inv;
            let mdy = sdy / m;
            let mdyx = sdyxc * inv / m; // mean(dy·xhat)
            let q = -k * inv * mdyx;
            let r = -k * mdy - q * mean[ch];
            coef.push((k as f32, q as f32, r as f32));
            tail[ch] = (sdyxc * inv) as f32; // dgamma = sum dy·xhat
            tail[c + ch] = sdy as f32; // dbeta = sum dy
        }
        write_dx(dx, dy, x, inner, &coef);
        let len = out.len();
        Ok((CpuStorage::F32(out), len.into()))
    }
}

/// `dx = dy·p + x·q + r` with `(p, q, r) = coef[i % coef.len()]` on plane `i` of `inner` values
/// (coefficients per channel, or per plane): the last pass of the batch-norm and group-norm
/// backwards.
pub(crate) fn write_dx(
    dx: &mut [f32],
    dy: &[f32],
    x: &[f32],
    inner: usize,
    coef: &[(f32, f32, f32)],
) {
    if inner == 0 || coef.is_empty() {
        return;
    }
    dx.par_chunks_mut(inner)
        .zip(dy.par_chunks(inner).zip(x.par_chunks(inner)))
        .enumerate()
        .for_each(|(i, (o, (g, v)))| {
            let (p, q, r) = coef[i % coef.len()];
            super::vectorised(|| {
                for ((o, g), v) in o.iter_mut().zip(g).zip(v) {
                    *o = g * p + v * q + r;
                }
            })
        });
}

/// Training-mode backward on a GPU: `(x, dy, gamma) -> [dx, dgamma, dbeta]` from the
/// statistics cuDNN saved in the forward pass.
#[cfg(feature = "cuda")]
struct BnBwdCuda {
    eps: f64,
    saved: Arc<OnceLock<Saved>>,
}

#[cfg(feature = "cuda")]
impl CustomOp3 for BnBwdCuda {
    fn name(&self) -> &'static str {
        "gzbench-batchnorm-bwd-cuda"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        bail!("gzbench-batchnorm-bwd-cuda: the forward ran on a GPU, the backward on the CPU")
    }

    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let Some(Saved::Cuda(stats)) = self.saved.get() else {
            bail!("{}: no CUDA statistics saved", self.name())
        };
        let dev = s1.device();
        let x = cuda::f32_view(s1, l1, self.name())?;
        let dy = cuda::f32_view(s2, l2, self.name())?;
        let gamma = cuda::f32_view(s3, l3, self.name())?;
        let (n, c, inner) = nci(l1.shape(), "batch_norm")?;
        let out = cuda::bn::backward(dev, (n, c, inner), &x, &dy, &gamma, stats, self.eps)?;
        let len = n * c * inner + 2 * c;
        Ok((cuda::storage(out, dev), len.into()))
    }
}

#[cfg(test)]
mod tests;
