//! Nearest-neighbour upsampling by an integer factor (the diffusion U-Net's decoder), as a custom
//! op with its own backward (on a GPU: `cuda::unet`, the same bits).
//!
//! candle 0.11 differentiates `upsample_nearest2d` with a grouped convolution by a kernel of
//! ones (`groups = C`), which its CPU backend runs as one convolution per channel. Here the
//! backward sums each `s x s` block of the output gradient directly.
//!
//! The forward is candle's, bit for bit. The backward adds a block's values to `0` row by row,
//! left to right, on every machine. candle's convolution sums them in the order of `gemm`'s
//! kernel for the shape (and the vector width): the same bits for the U-Net's blocks here
//! (8x8 and 16x16 planes), not for a single-pixel plane, where `gemm` reduces pairwise.

use super::f32_slice;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, bail};

/// `x` (`N x C x H x W`) upsampled to `N x C x sH x sW` by repeating each value `s x s` times.
pub fn upsample_nearest(x: &Tensor, s: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if s == 0 {
        bail!("upsample_nearest: a factor of 0")
    }
    if !(super::own_kernels_on(x.device()) && !super::candle_kernels() && x.dtype() == DType::F32) {
        return x.upsample_nearest2d(s * h, s * w);
    }
    x.contiguous()?.apply_op1(Upsample { s })
}

struct Upsample {
    s: usize,
}

impl CustomOp1 for Upsample {
    fn name(&self) -> &'static str {
        "gzbench-upsample-nearest"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(st, l, self.name())?;
        let (n, c, h, w) = l.shape().dims4()?;
        let (s, ow) = (self.s, self.s * w);
        let out = super::par_planes(n * c, s * h * ow, |p, o| {
            let xp = &x[p * h * w..(p + 1) * h * w];
            for (i, row) in o.chunks_mut(ow).enumerate() {
                let xr = &xp[(i / s) * w..(i / s + 1) * w];
                for (j, v) in row.iter_mut().enumerate() {
                    v.write(xr[j / s]);
                }
            }
        });
        Ok((CpuStorage::F32(out), (n, c, s * h, ow).into()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        st: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        use candle_core::backend::BackendStorage;
        let x = cuda::f32_view(st, l, self.name())?;
        let (n, c, h, w) = l.shape().dims4()?;
        let y = cuda::unet::upsample_fwd(st.device(), &x, n * c, (h, w, self.s))?;
        Ok((
            cuda::storage(y, st.device()),
            (n, c, self.s * h, self.s * w).into(),
        ))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let dx = dy
            .contiguous()?
            .apply_op1_no_bwd(&BlockSums { s: self.s })?;
        Ok(Some(dx.reshape(x.shape())?))
    }
}

/// Each `s x s` block of an `N x C x sH x sW` tensor summed from `0`, row by row.
struct BlockSums {
    s: usize,
}

impl CustomOp1 for BlockSums {
    fn name(&self) -> &'static str {
        "gzbench-upsample-nearest-bwd"
    }

    fn cpu_fwd(&self, st: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(st, l, self.name())?;
        let (n, c, oh, ow) = l.shape().dims4()?;
        let s = self.s;
        let (h, w) = (oh / s, ow / s);
        let out = super::par_planes(n * c, h * w, |p, o| {
            let gp = &g[p * oh * ow..(p + 1) * oh * ow];
            for (k, v) in o.iter_mut().enumerate() {
                let (i, j) = (k / w, k % w);
                let mut sum = 0f32;
                for di in 0..s {
                    for dj in 0..s {
                        sum += gp[(i * s + di) * ow + j * s + dj];
                    }
                }
                v.write(sum);
            }
        });
        Ok((CpuStorage::F32(out), (n, c, h, w).into()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        st: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        use candle_core::backend::BackendStorage;
        let g = cuda::f32_view(st, l, self.name())?;
        let (n, c, oh, ow) = l.shape().dims4()?;
        let (h, w) = (oh / self.s, ow / self.s);
        let dx = cuda::unet::upsample_bwd(st.device(), &g, n * c, (h, w, self.s))?;
        Ok((cuda::storage(dx, st.device()), (n, c, h, w).into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::{bits, max_rel, normal, probe_grads};
    use candle_core::{Device, Var};

    #[test]
    fn forward_is_candles_and_backward_sums_each_block_in_order() {
        for (shape, s) in [([2usize, 3, 4, 5], 2), ([1, 4, 3, 3], 3), ([2, 2, 1, 1], 2)] {
            let x = Var::from_tensor(&normal(4, "test/up/x", &shape, 0.0, 1.0)).unwrap();
            let ours = upsample_nearest(x.as_tensor(), s).unwrap();
            let (h, w) = (shape[2] * s, shape[3] * s);
            let theirs = x.as_tensor().upsample_nearest2d(h, w).unwrap();
            assert_eq!(bits(&ours), bits(&theirs), "{shape:?} x{s}: output");
            let probe = normal(4, "test/up/p", ours.dims(), 0.0, 1.0);
            let (a, b) = (probe_grads(&ours, &probe), probe_grads(&theirs, &probe));
            let (a, b) = (a.get(&x).unwrap(), b.get(&x).unwrap());
            // candle's grouped convolution: the same sums, maybe in another order
            assert!(max_rel(a, b) < 1e-6, "{shape:?} x{s}: gradient");
            // the order: row by row from 0
            let p = probe.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let planes = shape[0] * shape[1];
            let mut want = Vec::new();
            for q in 0..planes {
                for (i, j) in (0..shape[2]).flat_map(|i| (0..shape[3]).map(move |j| (i, j))) {
                    let mut sum = 0f32;
                    for (di, dj) in (0..s).flat_map(|di| (0..s).map(move |dj| (di, dj))) {
                        sum += p[q * h * w + (i * s + di) * w + j * s + dj];
                    }
                    want.push(sum.to_bits());
                }
            }
            assert_eq!(bits(a), want, "{shape:?} x{s}: gradient order");
        }
    }

    #[test]
    fn a_zero_factor_is_an_error() {
        let x = Tensor::zeros((1, 1, 2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(upsample_nearest(&x, 0).is_err());
    }
}
