//! A per-channel bias added to an `N x C x ...` tensor (a convolution's bias), as a custom op
//! whose backward sums the bias gradient per channel directly (on a GPU: `cuda::unet`).
//!
//! Composed, `y.broadcast_add(b.reshape((1, C, 1, 1)))` differentiates through candle's
//! reduction over dimensions 0, 2 and 3, which visits every element with an integer division per
//! reduced dimension (in the diffusion U-Net, whose 23 convolutions all have a bias, that was
//! the largest candle kernel of a training step). Here each channel is summed by one thread.
//!
//! Bit-identical to the composed ops: the forward is the same `y + b`; the backward's sum per
//! channel starts at `0` and adds the gradient in memory order (image by image, then position),
//! which is the order candle's reduction adds it in, and the gradient of `y` is `dy` (candle's
//! autograd adds both to its zero-filled sums, as it does for the composed ops).

use super::f32_slice;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// `y + b` with `b` (`C` values) broadcast over the images and positions of `y` (`N x C x ...`).
pub fn add_bias(y: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dims = y.dims();
    if dims.len() < 2 || b.dims() != [dims[1]] {
        bail!(
            "add_bias: a bias of shape {:?} for an input {dims:?}",
            b.dims()
        )
    }
    let fused = super::own_kernels_on(y.device())
        && !super::candle_kernels()
        && y.dtype() == DType::F32
        && b.dtype() == DType::F32;
    if !fused {
        let mut per_channel = vec![1; dims.len()];
        per_channel[1] = dims[1];
        return y.broadcast_add(&b.reshape(per_channel)?);
    }
    y.contiguous()?.apply_op2(&b.contiguous()?, AddBias)
}

/// `(planes, c, inner)` of an `N x C x ...` shape.
fn planes(s: &Shape) -> (usize, usize, usize) {
    let d = s.dims();
    (d[0] * d[1], d[1], d[2..].iter().product())
}

struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "gzbench-add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, self.name())?;
        let b = f32_slice(s2, l2, self.name())?;
        let (np, c, inner) = planes(l1.shape());
        let out = super::par_planes(np, inner, |p, o| {
            let (bias, v) = (b[p % c], &y[p * inner..(p + 1) * inner]);
            super::vectorised(|| {
                for (o, v) in o.iter_mut().zip(v) {
                    o.write(v + bias);
                }
            })
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
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
        use candle_core::backend::BackendStorage;
        let (y, b) = (
            cuda::f32_view(s1, l1, self.name())?,
            cuda::f32_view(s2, l2, self.name())?,
        );
        let out = cuda::unet::bias_add(s1.device(), &y, &b, planes(l1.shape()))?;
        Ok((cuda::storage(out, s1.device()), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        _b: &Tensor,
        _out: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let db = dy.contiguous()?.apply_op1_no_bwd(&ChannelSums)?;
        Ok((Some(dy.clone()), Some(db)))
    }
}

/// Per channel of `N x C x ...`, the `f32` sum from `0` in memory order.
struct ChannelSums;

impl candle_core::CustomOp1 for ChannelSums {
    fn name(&self) -> &'static str {
        "gzbench-channel-sums"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s, l, self.name())?;
        let (np, c, inner) = planes(l.shape());
        let sums: Vec<f32> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let mut s = 0f32;
                for p in (ch..np).step_by(c.max(1)) {
                    for v in &g[p * inner..(p + 1) * inner] {
                        s += v;
                    }
                }
                s
            })
            .collect();
        Ok((CpuStorage::F32(sums), c.into()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda;
        use candle_core::backend::BackendStorage;
        let g = cuda::f32_view(s, l, self.name())?;
        let (np, c, inner) = planes(l.shape());
        let sums = cuda::unet::channel_sums(s.device(), &g, (np, c, inner))?;
        Ok((cuda::storage(sums, s.device()), c.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::{bits, normal, probe_grads};
    use candle_core::{Device, Var};

    #[test]
    fn bit_identical_to_the_composed_broadcast_add() {
        for shape in [[4usize, 6, 5, 7], [1, 3, 1, 1], [3, 2, 9, 4]] {
            let y = Var::from_tensor(&normal(3, "test/bias/y", &shape, 0.0, 1.0)).unwrap();
            let b = Var::from_tensor(&normal(3, "test/bias/b", &[shape[1]], 0.0, 1.0)).unwrap();
            let probe = normal(3, "test/bias/p", &shape, 0.0, 1.0);
            let fused = add_bias(y.as_tensor(), b.as_tensor()).unwrap();
            let per_channel = b.as_tensor().reshape((1, shape[1], 1, 1)).unwrap();
            let composed = y.as_tensor().broadcast_add(&per_channel).unwrap();
            assert_eq!(bits(&fused), bits(&composed), "{shape:?}: output");
            let (gf, gc) = (probe_grads(&fused, &probe), probe_grads(&composed, &probe));
            for (v, what) in [(&y, "dy"), (&b, "db")] {
                let (f, c) = (gf.get(v).unwrap(), gc.get(v).unwrap());
                assert_eq!(bits(f), bits(c), "{shape:?}: {what}");
            }
        }
    }

    #[test]
    fn a_bias_of_the_wrong_length_is_an_error() {
        let y = Tensor::zeros((2, 3, 4, 4), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
        let e = add_bias(&y, &b).unwrap_err().to_string();
        assert!(e.contains("[4]") && e.contains("[2, 3, 4, 4]"), "{e}");
    }
}
