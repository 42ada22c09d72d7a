//! Fused CPU group normalisation (Wu & He 2018; PyTorch's `nn.GroupNorm`: biased variance, a
//! scale and shift per channel) with its activation in the same op, as a candle custom op with
//! its own backward: the diffusion U-Net's `SiLU(GroupNorm(x))`.
//!
//! Composed from candle ops the pair was ten ops forward and about twenty backward, each a pass
//! over the activation, and the gradient of the per-channel scale and shift went through
//! candle's strided reduction (an integer division per element and dimension). Here the forward
//! is one pass for per-plane sums and one to write `act(x·a + b)` (`a`, `b` per image and
//! channel); the backward recomputes the activation's input, takes two sums per plane, and
//! writes `dx` in one more pass, with `dweight` and `dbias` from the same sums.
//!
//! On a GPU (the `cuda` feature) the same op runs its CUDA twin ([`super::cuda::gn`]: the
//! statistics and coefficients in the same `f64` arithmetic, the sums a tree reduction).
//!
//! Determinism: each plane's sums are accumulated by one thread, in `f64`, in a fixed lane order
//! ([`super::batchnorm::sums`]), then added over a group's channels and over the images in a
//! fixed order, so the bits never depend on the number of threads or the vector width. They
//! differ from the composed ops' (a different summation), which [`group_norm`] uses for other
//! dtypes and devices, and the tests use as the reference.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use gzbench::engine::{batchnorm::Act, groupnorm::group_norm};
//! let x = Tensor::arange(0f32, 8., &Device::Cpu).unwrap().reshape((1, 2, 2, 2)).unwrap();
//! let w = Tensor::ones(2, DType::F32, &Device::Cpu).unwrap();
//! let b = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
//! let y = group_norm(&x, &w, &b, 1, 0.0, Act::None).unwrap();
//! let mean = y.mean_all().unwrap().to_scalar::<f32>().unwrap();
//! assert!(mean.abs() < 1e-6);
//! ```

use super::batchnorm::Act;
use super::batchnorm::sums::{Sums, channel_sums};
use super::batchnorm::{act, nci};
use super::f32_slice;
#[cfg(feature = "cuda")]
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, D, DType, Layout, Result, Shape, Tensor, bail};
use std::sync::{Arc, OnceLock};

/// `act(GroupNorm(x))`: `x` is `N x C x ...`, `weight` and `bias` have `C` values, `groups`
/// divides `C`. Fused on the CPU for `f32`; composed from candle ops elsewhere.
pub fn group_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    groups: usize,
    eps: f64,
    act: Act,
) -> Result<Tensor> {
    check(x.shape(), weight, bias, groups)?;
    let on_device = x.device().is_cpu() || (x.device().is_cuda() && cuda_act(act).is_some());
    let fused = on_device
        && super::own_kernels_on(x.device())
        && !super::candle_kernels()
        && [x, weight, bias].iter().all(|t| t.dtype() == DType::F32);
    if !fused {
        return act.composed(group_norm_composed(x, weight, bias, groups, eps)?);
    }
    let op = GnFwd {
        groups,
        eps,
        act,
        saved: Arc::new(OnceLock::new()),
    };
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}

/// Group norm from candle ops (no activation): the reference, and the path off the CPU.
pub fn group_norm_composed(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    groups: usize,
    eps: f64,
) -> Result<Tensor> {
    let (n, c, _) = check(x.shape(), weight, bias, groups)?;
    let mut per_channel = vec![1; x.rank()];
    per_channel[1] = c;
    let g = x.reshape((n, groups, ()))?;
    let centred = g.broadcast_sub(&g.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed
        .reshape(x.shape())?
        .broadcast_mul(&weight.reshape(per_channel.as_slice())?)?
        .broadcast_add(&bias.reshape(per_channel.as_slice())?)
}

/// `(n, c, inner)` of a valid group norm's input, or the error.
fn check(
    x: &Shape,
    weight: &Tensor,
    bias: &Tensor,
    groups: usize,
) -> Result<(usize, usize, usize)> {
    let d = x.dims();
    if d.len() < 2 {
        bail!("group_norm: expected N x C x ..., got {d:?}")
    }
    let c = d[1];
    if groups == 0 || !c.is_multiple_of(groups) {
        bail!("group_norm: {c} channels do not split into {groups} groups")
    }
    if weight.dims() != [c] || bias.dims() != [c] {
        bail!(
            "group_norm: {c} channels but weight {:?} and bias {:?}",
            weight.dims(),
            bias.dims()
        )
    }
    Ok((d[0], c, d[2..].iter().product()))
}

/// The CUDA kernels' code of an activation (`ReluMaxPool` has none there).
fn cuda_act(act: Act) -> Option<i32> {
    match act {
        Act::None => Some(0),
        Act::Relu => Some(1),
        Act::Silu => Some(2),
        Act::ReluMaxPool(_) => None,
    }
}

/// What the forward keeps for the backward.
enum Saved {
    /// Per image and group (`mean`, `invstd`) and per image and channel (`a`, `b`: the output
    /// before the activation is `x·a + b`).
    Cpu {
        mean: Vec<f64>,
        invstd: Vec<f64>,
        a: Vec<f32>,
        b: Vec<f32>,
    },
    #[cfg(feature = "cuda")]
    Cuda(super::cuda::gn::Stats),
}

/// The forward: `(x, weight, bias) -> act(GroupNorm(x))`; saves the statistics.
struct GnFwd {
    groups: usize,
    eps: f64,
    act: Act,
    saved: Arc<OnceLock<Saved>>,
}

impl CustomOp3 for GnFwd {
    fn name(&self) -> &'static str {
        "gzbench-groupnorm"
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
        let weight = f32_slice(s2, l2, self.name())?;
        let bias = f32_slice(s3, l3, self.name())?;
        let (n, c, inner) = nci(l1.shape(), self.name())?;
        let (g, per) = (self.groups, c / self.groups);
        let m = (per * inner) as f64;
        let sums = channel_sums(1, n * c, inner, Sums::Stats { x });
        let (mut mean, mut invstd) = (Vec::with_capacity(n * g), Vec::with_capacity(n * g));
        for group in sums.chunks(per.max(1)) {
            let (s, ss) = group
                .iter()
                .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
            let mu = s / m;
            mean.push(mu);
            invstd.push(1.0 / ((ss / m - mu * mu).max(0.0) + self.eps).sqrt());
        }
        let (mut a, mut b) = (Vec::with_capacity(n * c), Vec::with_capacity(n * c));
        for p in 0..n * c {
            let (k, w) = (p / per, weight[p % c] as f64);
            a.push((w * invstd[k]) as f32);
            b.push((bias[p % c] as f64 - mean[k] * w * invstd[k]) as f32);
        }
        let (y, shape) = act::forward(self.act, x, l1.shape(), &a, &b)?;
        // The op runs once per instance; a second run would recompute identical statistics.
        let _ = self.saved.set(Saved::Cpu { mean, invstd, a, b });
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
        let weight = cuda::f32_view(s2, l2, self.name())?;
        let bias = cuda::f32_view(s3, l3, self.name())?;
        let g = self.shape(l1.shape())?;
        let (y, stats) = cuda::gn::forward(dev, &g, &x, &weight, &bias)?;
        let _ = self.saved.set(Saved::Cuda(stats));
        Ok((cuda::storage(y, dev), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(saved) = self.saved.get() else {
            bail!("gzbench-groupnorm: backward before forward")
        };
        let c = x.dim(1)?;
        let numel = x.elem_count();
        let op = GnBwd { fwd: self, saved };
        let packed = x.apply_op3_no_bwd(&dy.contiguous()?, weight, &op)?;
        let dx = packed.narrow(0, 0, numel)?.reshape(x.shape())?;
        let dweight = packed.narrow(0, numel, c)?;
        let dbias = packed.narrow(0, numel + c, c)?;
        Ok((Some(dx), Some(dweight), Some(dbias)))
    }
}

#[cfg(feature = "cuda")]
impl GnFwd {
    /// The kernels' description of this op on an input of shape `s`.
    fn shape(&self, s: &Shape) -> Result<super::cuda::gn::Gn> {
        let (n, c, inner) = nci(s, "gzbench-groupnorm")?;
        let Some(act) = cuda_act(self.act) else {
            bail!("gzbench-groupnorm: no CUDA kernel for {:?}", self.act)
        };
        Ok(super::cuda::gn::Gn {
            n,
            c,
            inner,
            groups: self.groups,
            eps: self.eps,
            act,
        })
    }
}

/// The backward: `(x, dy, weight) -> [dx (flat), dweight, dbias]` packed in one vector.
struct GnBwd<'a> {
    fwd: &'a GnFwd,
    saved: &'a Saved,
}

impl CustomOp3 for GnBwd<'_> {
    fn name(&self) -> &'static str {
        "gzbench-groupnorm-bwd"
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
        let weight = f32_slice(s3, l3, self.name())?;
        let (n, c, inner) = nci(l1.shape(), self.name())?;
        #[allow(irrefutable_let_patterns)] // refutable with the `cuda` feature
        let Saved::Cpu { mean, invstd, a, b } = self.saved else {
            bail!(
                "{}: the forward ran on a GPU, the backward on the CPU",
                self.name()
            )
        };
        let (groups, act) = (self.fwd.groups, self.fwd.act);
        let per = c / groups;
        if weight.len() != c || a.len() != n * c || mean.len() != n * groups {
            bail!("{}: unexpected shapes", self.name())
        }
        // the gradient reaching x·a + b
        let dz = act::grad_in(act, x, l1.shape(), a, b, dy)?;
        let dz = &dz[..];
        let plane_mean: Vec<f64> = (0..n * c).map(|p| mean[p / per]).collect();
        // per plane: sum dz, sum dz·(x - mean)
        let sums = channel_sums(
            1,
            n * c,
            inner,
            Sums::Grad {
                dy: dz,
                x,
                mean: &plane_mean,
            },
        );
        let mut out = vec![0f32; x.len() + 2 * c];
        let (dx, tail) = out.split_at_mut(x.len());
        let (mut dw, mut db) = (vec![0f64; c], vec![0f64; c]);
        let m = (per * inner) as f64;
        // dx = invstd·(dz·w - mean(dz·w) - xhat·mean(dz·w·xhat)) = dz·p + x·q + r per plane
        let mut coef = Vec::with_capacity(n * c);
        for (k, group) in sums.chunks(per.max(1)).enumerate() {
            let inv = invstd[k];
            let (mut sw, mut swx) = (0.0, 0.0);
            for (j, &(s, sx)) in group.iter().enumerate() {
                let ch = (k * per + j) % c;
                let w = weight[ch] as f64;
                sw += w * s;
                swx += w * sx;
                db[ch] += s;
                dw[ch] += sx * inv;
            }
            let q = -inv * inv * inv * swx / m;
            let r = -inv * sw / m - q * mean[k];
            for j in 0..group.len() {
                let w = weight[(k * per + j) % c] as f64;
                coef.push(((w * inv) as f32, q as f32, r as f32));
            }
        }
        for ch in 0..c {
            tail[ch] = dw[ch] as f32;
            tail[c + ch] = db[ch] as f32;
        }
        super::batchnorm::write_dx(dx, dz, x, inner, &coef);
        let len = out.len();
        Ok((CpuStorage::F32(out), len.into()))
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
        let Saved::Cuda(stats) = self.saved else {
            bail!(
                "{}: the forward ran on the CPU, the backward on a GPU",
                self.name()
            )
        };
        let dev = s1.device();
        let x = cuda::f32_view(s1, l1, self.name())?;
        let dy = cuda::f32_view(s2, l2, self.name())?;
        let weight = cuda::f32_view(s3, l3, self.name())?;
        let g = self.fwd.shape(l1.shape())?;
        let out = cuda::gn::backward(dev, &g, &x, &dy, &weight, stats)?;
        let len = x.len() + 2 * g.c;
        Ok((cuda::storage(out, dev), len.into()))
    }
}

#[cfg(test)]
mod tests;
