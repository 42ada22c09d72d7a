//! Fused CPU ReLU + `k x k` max-pool (stride `k`) as a candle custom op with its own backward.
//!
//! `max(0, max(window)) = max(window of relu(x))`, so one pass replaces candle's ReLU and
//! max-pool forward, and one pass replaces their backward (candle builds the max-pool gradient
//! from an upsample, a comparison mask, a tie count and several element-wise ops, each a pass
//! over the activation). The gradient goes to the first maximum of each window, as in PyTorch,
//! and only where the output is positive. On a GPU the same two passes are CUDA kernels
//! (`cuda::kernels`); for non-`f32` tensors it computes `x.relu()?.max_pool2d(k)` with
//! candle's ops.
//!
//! Determinism: each output and each input gradient is written by one thread, no reductions.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::new(&[[[[1f32, -2.], [3., 0.]]]], &Device::Cpu).unwrap();
//! let y = gzbench::engine::pool::relu_max_pool2d(&x, 2).unwrap();
//! assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![3.0]);
//! ```

use super::f32_slice;
#[cfg(feature = "cuda")]
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// `relu(x)` then `k x k` max-pooling with stride `k` (rows and columns past a multiple of `k`
/// are dropped, as in candle and PyTorch).
pub fn relu_max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if k == 0 || h < k || w < k {
        bail!("relu_max_pool2d: window {k} does not fit a {h}x{w} input")
    }
    let fused =
        !super::candle_kernels() && super::own_kernels_on(x.device()) && x.dtype() == DType::F32;
    if !fused {
        return x.relu()?.max_pool2d(k);
    }
    x.contiguous()?.apply_op1(ReluMaxPool(k))
}

/// The geometry of the CUDA kernels.
#[cfg(feature = "cuda")]
fn cuda_pool(s: &Shape, k: usize) -> Result<super::cuda::kernels::Pool> {
    let (n, c, h, w) = s.dims4()?;
    Ok(super::cuda::kernels::Pool {
        planes: n * c,
        h,
        w,
        oh: h / k,
        ow: w / k,
        k,
    })
}

/// Input plane size, output plane size and the output shape.
fn geometry(s: &Shape, k: usize) -> Result<(usize, usize, usize, usize, Shape)> {
    let (n, c, h, w) = s.dims4()?;
    let (oh, ow) = (h / k, w / k);
    Ok((h, w, oh, ow, (n, c, oh, ow).into()))
}

/// For each output `o` of one plane, `f(o, window maximum, index in the plane of the window's
/// first maximum)` (`-inf` and index 0 for a window of NaNs).
#[inline(always)]
pub(super) fn for_each_window(
    x: &[f32],
    w: usize,
    oh: usize,
    ow: usize,
    k: usize,
    f: impl FnMut(usize, f32, usize),
) {
    // The 2x2 pool of every CNN here, with the window size known to the compiler.
    match k {
        2 => windows::<2>(x, w, oh, ow, f),
        _ => windows_of(x, w, oh, ow, k, f),
    }
}

/// [`for_each_window`] for a `K x K` window.
#[inline(always)]
fn windows<const K: usize>(
    x: &[f32],
    w: usize,
    oh: usize,
    ow: usize,
    mut f: impl FnMut(usize, f32, usize),
) {
    for oy in 0..oh {
        let rows: [&[f32]; K] = std::array::from_fn(|dy| &x[(oy * K + dy) * w..][..ow * K]);
        for ox in 0..ow {
            let mut best = f32::NEG_INFINITY;
            let mut at = 0;
            for (dy, r) in rows.iter().enumerate() {
                for dx in 0..K {
                    let v = r[ox * K + dx];
                    if v > best {
                        best = v;
                        at = (oy * K + dy) * w + ox * K + dx;
                    }
                }
            }
            f(oy * ow + ox, best, at);
        }
    }
}

/// [`for_each_window`] for any window size.
fn windows_of(
    x: &[f32],
    w: usize,
    oh: usize,
    ow: usize,
    k: usize,
    mut f: impl FnMut(usize, f32, usize),
) {
    for oy in 0..oh {
        for ox in 0..ow {
            let mut best = f32::NEG_INFINITY;
            let mut at = 0;
            for dy in 0..k {
                let row = (oy * k + dy) * w + ox * k;
                for (dx, &v) in x[row..row + k].iter().enumerate() {
                    if v > best {
                        best = v;
                        at = row + dx;
                    }
                }
            }
            f(oy * ow + ox, best, at);
        }
    }
}

struct ReluMaxPool(usize);

impl CustomOp1 for ReluMaxPool {
    fn name(&self) -> &'static str {
        "gzbench-relu-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let k = self.0;
        let x = f32_slice(s, l, self.name())?;
        let (h, w, oh, ow, shape) = geometry(l.shape(), k)?;
        let mut y = vec![0f32; shape.elem_count()];
        if oh * ow > 0 {
            y.par_chunks_mut(oh * ow)
                .zip(x.par_chunks(h * w))
                .for_each(|(yo, xi)| {
                    for_each_window(xi, w, oh, ow, k, |o, best, _| yo[o] = best.max(0.0));
                });
        }
        Ok((CpuStorage::F32(y), shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let x = cuda::f32_view(s, l, self.name())?;
        let (_, _, _, _, shape) = geometry(l.shape(), self.0)?;
        let y = cuda::kernels::relu_max_pool_fwd(s.device(), &cuda_pool(l.shape(), self.0)?, &x)?;
        Ok((cuda::storage(y, s.device()), shape))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(
            &dy.contiguous()?,
            &ReluMaxPoolBwd(self.0),
        )?))
    }
}

/// `(x, dy) -> dx`: each output's gradient to its window's first maximum, where that is > 0.
struct ReluMaxPoolBwd(usize);

impl CustomOp2 for ReluMaxPoolBwd {
    fn name(&self) -> &'static str {
        "gzbench-relu-max-pool2d-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let k = self.0;
        let x = f32_slice(s1, l1, self.name())?;
        let dy = f32_slice(s2, l2, self.name())?;
        let (h, w, oh, ow, shape) = geometry(l1.shape(), k)?;
        if l2.shape() != &shape {
            bail!(
                "gzbench-relu-max-pool2d-bwd: unexpected gradient shape {:?}",
                l2.shape()
            )
        }
        let mut dx = vec![0f32; x.len()];
        if oh * ow > 0 {
            dx.par_chunks_mut(h * w)
                .zip(x.par_chunks(h * w).zip(dy.par_chunks(oh * ow)))
                .for_each(|(dxi, (xi, dyi))| {
                    for_each_window(xi, w, oh, ow, k, |o, best, at| {
                        if best > 0.0 {
                            dxi[at] = dyi[o];
                        }
                    });
                });
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        let (_, _, _, _, shape) = geometry(l1.shape(), self.0)?;
        if l2.shape() != &shape {
            bail!(
                "{}: unexpected gradient shape {:?}",
                self.name(),
                l2.shape()
            )
        }
        let x = cuda::f32_view(s1, l1, self.name())?;
        let dy = cuda::f32_view(s2, l2, self.name())?;
        let p = cuda_pool(l1.shape(), self.0)?;
        let dx = cuda::kernels::relu_max_pool_bwd(s1.device(), &p, &x, &dy)?;
        Ok((cuda::storage(dx, s1.device()), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::{
        assert_finite_difference, assert_same_bits_on_threads, flat, normal, probe_grads,
    };
    use candle_core::Device;
    use candle_core::Var;

    fn randn(name: &str, shape: &[usize]) -> Tensor {
        normal(9, name, shape, 0.0, 1.0)
    }

    #[test]
    fn parity_with_candle_relu_and_max_pool() {
        // candle's max-pool backward also misplaces gradients when the input is not a multiple
        // of the window; the finite-difference test covers that case.
        for (shape, k) in [
            ([3usize, 4, 8, 8], 2usize),
            ([2, 3, 6, 10], 2),
            ([2, 2, 9, 9], 3),
        ] {
            let x = Var::from_tensor(&randn(&format!("test/pool/x{shape:?}"), &shape)).unwrap();
            let ours = relu_max_pool2d(&x, k).unwrap();
            let theirs = x.relu().unwrap().max_pool2d(k).unwrap();
            let probe = randn(&format!("test/pool/p{shape:?}"), ours.dims());
            assert_eq!(flat(&ours), flat(&theirs), "forward {shape:?}");
            let g1 = probe_grads(&ours, &probe);
            let g2 = probe_grads(&theirs, &probe);
            let d1 = flat(g1.get(&x).unwrap());
            // candle 0.11.1's max-pool backward multiplies the gradient by (ties / k^2) instead of
            // dividing by the number of ties: with the unique maxima of random data its gradient
            // is the true one times 1/k^2 (see `finite_difference_gradient` for the true one).
            let d2 = flat(&(g2.get(&x).unwrap() * (k * k) as f64).unwrap());
            let err = d1
                .iter()
                .zip(&d2)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err <= 1e-5, "dx {shape:?}: max error {err}");
        }
    }

    #[test]
    fn finite_difference_gradient() {
        let x = randn("test/pool/fd", &[1, 2, 5, 7]); // odd sizes: last row and column dropped
        let probe = randn("test/pool/fd-p", &[1, 2, 2, 3]);
        let v = Var::from_tensor(&x).unwrap();
        assert_finite_difference("relu max-pool", &[&v], &probe, 1e-3, |t| {
            relu_max_pool2d(&t[0], 2).unwrap()
        });
    }

    #[test]
    fn bit_identical_across_thread_counts() {
        let x = Var::from_tensor(&randn("test/pool/det", &[5, 6, 10, 10])).unwrap();
        let probe = randn("test/pool/det-p", &[5, 6, 5, 5]);
        assert_same_bits_on_threads(&[2, 3], || {
            let y = relu_max_pool2d(&x, 2).unwrap();
            let g = probe_grads(&y, &probe);
            vec![y, g.get(&x).unwrap().clone()]
        });
    }

    #[test]
    fn window_larger_than_input_is_an_error() {
        let x = Tensor::zeros((1, 1, 1, 3), DType::F32, &Device::Cpu).unwrap();
        assert!(relu_max_pool2d(&x, 2).is_err());
    }
}
