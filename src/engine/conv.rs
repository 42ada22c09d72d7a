//! Fused CPU 2-D convolution: im2col + `gemm`, rayon across images, as a candle custom op with
//! its own backward (grad of the input by `W^T·dY` + col2im, grad of the weight by `dY·cols^T`).
//! 3x3 stride-1 convolutions with enough channels (nearly all of ResNet's, cnn-small's and the
//! U-Net's multiply-adds) run on Winograd's F(2x2, 3x3) instead ([`winograd`]): 2.25x fewer
//! multiply-adds, different rounding, the same determinism.
//!
//! [`conv2d`] is the only entry point the models use. For `f32` tensors it runs the kernels here
//! on the CPU (`groups == 1`), and cuDNN's forward / backward-data / backward-filter
//! (`cuda::conv`, any `groups`: ConvNeXt's depthwise convolutions too) on a GPU;
//! anywhere else (other dtypes, grouped convolutions on the CPU) it falls back to candle's own
//! `Tensor::conv2d`, so nothing above `engine` knows which one ran.
//!
//! Determinism: every output element is computed by exactly one single-threaded
//! [`super::matmul::gemm_chunked`] call (the same bits on every x86-64 machine with FMA) and the
//! weight gradient is summed over fixed groups of [`GROUP`] images in a fixed order, so the
//! result is bit-identical whatever the number of rayon threads. Which kernel runs depends on
//! the shape only.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::ones((2, 3, 8, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let w = Tensor::ones((4, 3, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let y = gzbench::engine::conv::conv2d(&x, &w, 1, 1, 1).unwrap();
//! assert_eq!(y.dims(), &[2, 4, 8, 8]);
//! ```

use super::f32_slice;
use super::matmul::{Mat, gemm_chunked as matmul};
#[cfg(feature = "cuda")]
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};
use im2col::{col2im, im2col, with_cols, with_scratch};
use rayon::prelude::*;

/// Images per partial sum of the weight gradient (fixed, so the reduction order never depends on
/// the thread count).
pub const GROUP: usize = 4;

/// `x: N x Cin x H x W` convolved with `w: Cout x Cin/groups x KH x KW` (no bias, no dilation).
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
    groups: usize,
) -> Result<Tensor> {
    let fused = !super::candle_kernels()
        && super::own_kernels_on(x.device())
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && (groups == 1 || x.device().is_cuda())
        && stride >= 1;
    if !fused {
        return x.conv2d(w, padding, stride, 1, groups);
    }
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    let g = Geom::new(x.dims(), w.dims(), stride, padding, groups)?;
    x.apply_op2(&w, ConvFwd(g))
}

/// The shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geom {
    n: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    oh: usize,
    ow: usize,
    /// Channel groups (1 on the CPU kernels).
    groups: usize,
}

impl Geom {
    fn new(x: &[usize], w: &[usize], stride: usize, pad: usize, groups: usize) -> Result<Self> {
        let (&[n, cin, h, wd], &[cout, wcin, kh, kw]) = (x, w) else {
            bail!("conv2d: expected 4-d input and weight, got {x:?} and {w:?}")
        };
        if groups == 0 || cin % groups != 0 || cout % groups != 0 {
            bail!("conv2d: {groups} groups do not divide {cin} input and {cout} output channels")
        }
        if wcin * groups != cin {
            bail!(
                "conv2d: input has {cin} channels but the weight expects {}",
                wcin * groups
            )
        }
        if h + 2 * pad < kh || wd + 2 * pad < kw || kh == 0 || kw == 0 {
            bail!("conv2d: kernel {kh}x{kw} larger than the padded input {h}x{wd} (pad {pad})")
        }
        Ok(Geom {
            n,
            cin,
            h,
            w: wd,
            cout,
            kh,
            kw,
            stride,
            pad,
            oh: (h + 2 * pad - kh) / stride + 1,
            ow: (wd + 2 * pad - kw) / stride + 1,
            groups,
        })
    }

    /// The CPU kernels compute ungrouped convolutions only ([`conv2d`] never sends them others).
    fn cpu_only_ungrouped(&self, op: &str) -> Result<()> {
        if self.groups != 1 {
            bail!(
                "{op}: the CPU kernel has no grouped convolution ({} groups)",
                self.groups
            )
        }
        Ok(())
    }

    /// Rows of the im2col matrix.
    fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }
    fn ohw(&self) -> usize {
        self.oh * self.ow
    }
    fn in_img(&self) -> usize {
        self.cin * self.h * self.w
    }
    fn out_img(&self) -> usize {
        self.cout * self.ohw()
    }
    /// 1x1, stride 1, no padding: the image itself is the im2col matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    fn x_shape(&self) -> Shape {
        (self.n, self.cin, self.h, self.w).into()
    }
    fn w_shape(&self) -> Shape {
        (self.cout, self.cin / self.groups, self.kh, self.kw).into()
    }
    fn y_shape(&self) -> Shape {
        (self.n, self.cout, self.oh, self.ow).into()
    }
    #[cfg(feature = "cuda")]
    fn cuda(&self) -> super::cuda::conv::Dims {
        let Geom {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            stride,
            pad,
            oh,
            ow,
            groups,
        } = *self;
        super::cuda::conv::Dims {
            n,
            cin,
            h,
            w,
            cout,
            kh,
            kw,
            stride,
            pad,
            oh,
            ow,
            groups,
        }
    }

    /// For kernel column `kj`, the output columns `ox` whose input column is inside the image.
    fn valid_ox(&self, kj: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.pad);
        // ix = ox*s + kj - p must be in [0, w)
        let lo = if kj >= p { 0 } else { (p - kj).div_ceil(s) };
        let hi = if self.w + p > kj {
            ((self.w + p - kj - 1) / s + 1).min(self.ow)
        } else {
            0
        };
        (lo, hi.max(lo))
    }
}

/// One cuDNN call of a convolution op: both inputs checked against their expected shapes, the
/// output of shape `shapes[2]`.
#[cfg(feature = "cuda")]
fn on_gpu(
    name: &str,
    g: &Geom,
    (s1, l1): (&candle_core::CudaStorage, &Layout),
    (s2, l2): (&candle_core::CudaStorage, &Layout),
    [a, b, out]: [Shape; 3],
    f: super::cuda::conv::Call,
) -> Result<(candle_core::CudaStorage, Shape)> {
    use super::cuda;
    if l1.shape() != &a || l2.shape() != &b {
        bail!("{name}: unexpected shapes")
    }
    let dev = s1.device();
    let (u, v) = (cuda::f32_view(s1, l1, name)?, cuda::f32_view(s2, l2, name)?);
    let y = f(dev, &g.cuda(), &u, &v)?;
    Ok((cuda::storage(y, dev), out))
}

/// Forward: `(x, w) -> y`.
struct ConvFwd(Geom);

impl CustomOp2 for ConvFwd {
    fn name(&self) -> &'static str {
        "gzbench-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.cpu_only_ungrouped(self.name())?;
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        if l1.shape() != &g.x_shape() || l2.shape() != &g.w_shape() {
            bail!("gzbench-conv2d: shapes changed since the op was built")
        }
        if winograd::applies(&g) {
            return Ok((CpuStorage::F32(winograd::forward(&g, x, w)), g.y_shape()));
        }
        let mut y = vec![0f32; g.n * g.out_img()];
        if g.out_img() > 0 {
            let dims = (g.cout, g.ohw(), g.k());
            y.par_chunks_mut(g.out_img())
                .zip(x.par_chunks(g.in_img().max(1)))
                .for_each(|(yi, xi)| {
                    with_cols(&g, |cols| {
                        let c: &[f32] = if g.pointwise() {
                            xi
                        } else {
                            im2col(&g, xi, cols);
                            cols
                        };
                        let (km, om) = (Mat::rows(g.k()), Mat::rows(g.ohw()));
                        matmul(dims, yi, om, false, w, km, c, om);
                    })
                });
        }
        Ok((CpuStorage::F32(y), g.y_shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let g = self.0;
        let shapes = [g.x_shape(), g.w_shape(), g.y_shape()];
        on_gpu(
            self.name(),
            &g,
            (s1, l1),
            (s2, l2),
            shapes,
            super::cuda::conv::forward,
        )
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = if x.track_op() {
            Some(dy.apply_op2_no_bwd(w, &ConvBwdData(self.0))?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(x.apply_op2_no_bwd(&dy, &ConvBwdFilter(self.0))?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// Gradient of the input: `(dy, w) -> dx`, per image `col2im(W^T · dY)`.
struct ConvBwdData(Geom);

impl CustomOp2 for ConvBwdData {
    fn name(&self) -> &'static str {
        "gzbench-conv2d-bwd-data"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.cpu_only_ungrouped(self.name())?;
        let dy = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        if l1.shape() != &g.y_shape() || l2.shape() != &g.w_shape() {
            bail!("gzbench-conv2d-bwd-data: unexpected shapes")
        }
        if winograd::applies(&g) {
            let dx = winograd::backward_data(&g, dy, w);
            return Ok((CpuStorage::F32(dx), g.x_shape()));
        }
        let mut dx = vec![0f32; g.n * g.in_img()];
        if g.in_img() > 0 && g.out_img() > 0 {
            let dims = (g.k(), g.ohw(), g.cout);
            dx.par_chunks_mut(g.in_img())
                .zip(dy.par_chunks(g.out_img()))
                .for_each(|(dxi, dyi)| {
                    with_cols(&g, |cols| {
                        let wt = Mat::transposed(g.k());
                        let om = Mat::rows(g.ohw());
                        if g.pointwise() {
                            matmul(dims, dxi, om, false, w, wt, dyi, om);
                        } else {
                            matmul(dims, cols, om, false, w, wt, dyi, om);
                            col2im(&g, cols, dxi);
                        }
                    })
                });
        }
        Ok((CpuStorage::F32(dx), g.x_shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let g = self.0;
        let shapes = [g.y_shape(), g.w_shape(), g.x_shape()];
        on_gpu(
            self.name(),
            &g,
            (s1, l1),
            (s2, l2),
            shapes,
            super::cuda::conv::backward_data,
        )
    }
}

/// Gradient of the weight: `(x, dy) -> dw = sum_n dY_n · cols_n^T`, summed per fixed group of
/// [`GROUP`] images, then over groups in order.
struct ConvBwdFilter(Geom);

impl CustomOp2 for ConvBwdFilter {
    fn name(&self) -> &'static str {
        "gzbench-conv2d-bwd-filter"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.cpu_only_ungrouped(self.name())?;
        let x = f32_slice(s1, l1, self.name())?;
        let dy = f32_slice(s2, l2, self.name())?;
        if l1.shape() != &g.x_shape() || l2.shape() != &g.y_shape() {
            bail!("gzbench-conv2d-bwd-filter: unexpected shapes")
        }
        if winograd::applies(&g) {
            let dw = winograd::backward_filter(&g, x, dy, GROUP);
            return Ok((CpuStorage::F32(dw), g.w_shape()));
        }
        let wlen = g.cout * g.k();
        let groups = g.n.div_ceil(GROUP);
        let mut partial = vec![0f32; groups * wlen];
        if wlen > 0 && g.out_img() > 0 {
            let dims = (g.cout, g.k(), g.ohw());
            partial
                .par_chunks_mut(wlen)
                .enumerate()
                .for_each(|(gi, part)| {
                    with_cols(&g, |cols| {
                        let first = gi * GROUP;
                        for i in first..(first + GROUP).min(g.n) {
                            let xi = &x[i * g.in_img()..(i + 1) * g.in_img()];
                            let dyi = &dy[i * g.out_img()..(i + 1) * g.out_img()];
                            let c: &[f32] = if g.pointwise() {
                                xi
                            } else {
                                im2col(&g, xi, cols);
                                cols
                            };
                            let (om, ct) = (Mat::rows(g.ohw()), Mat::transposed(g.ohw()));
                            matmul(dims, part, Mat::rows(g.k()), i > first, dyi, om, c, ct);
                        }
                    })
                });
        }
        Ok((CpuStorage::F32(sum_partials(&partial, wlen)), g.w_shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let g = self.0;
        let shapes = [g.x_shape(), g.y_shape(), g.w_shape()];
        on_gpu(
            self.name(),
            &g,
            (s1, l1),
            (s2, l2),
            shapes,
            super::cuda::conv::backward_filter,
        )
    }
}

/// The sum of the partials (`partial`: consecutive vectors of `len`), added in order from 0.
fn sum_partials(partial: &[f32], len: usize) -> Vec<f32> {
    let mut sum = vec![0f32; len];
    if len > 0 {
        sum.par_chunks_mut(4096).enumerate().for_each(|(b, out)| {
            let (at, n) = (b * 4096, out.len());
            for part in partial.chunks(len) {
                for (o, p) in out.iter_mut().zip(&part[at..at + n]) {
                    *o += p;
                }
            }
        });
    }
    sum
}

mod im2col;
#[cfg(test)]
mod tests;
mod winograd;
