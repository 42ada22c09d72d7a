//! `lgamma` and `digamma`, element-wise, which candle lacks: one custom op each, with a CPU
//! kernel here and a CUDA kernel in `cuda/kernels.cu` that follows the same formula. `lgamma`
//! is differentiable (its gradient is `digamma`); `digamma` is not (nothing needs a second
//! derivative). Both compute in `f64` for `f32` and `f64` tensors, for `x > 0`.
//!
//! * `ln Γ(x) = ln Γ(x+6) - ln(x (x+1) ... (x+5))`, then Stirling's series to the `z^-7` term
//!   at `z = x + 6 >= 6` (truncation error below 1e-10);
//! * `ψ(x) = ψ(x+6) - Σ_{k<6} 1/(x+k)`, then `ln z - 1/(2z)` and the series to `z^-8`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::new(&[1f64, 5.0], &Device::Cpu).unwrap();
//! let y = gzbench::engine::special::lgamma(&x).unwrap().to_vec1::<f64>().unwrap();
//! assert!(y[0].abs() < 1e-9 && (y[1] - 24f64.ln()).abs() < 1e-9);
//! ```

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, bail};

const SHIFT: usize = 6;
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// `ln Γ(x)` of one value (the CPU kernel; `kernels.cu` has the same steps).
pub fn lgamma_f64(x: f64) -> f64 {
    let mut shift = x.ln();
    for k in 1..SHIFT {
        shift += (x + k as f64).ln();
    }
    let z = x + SHIFT as f64;
    let zi = 1.0 / z;
    let zi2 = zi * zi;
    // 1/(12z) - 1/(360z^3) + 1/(1260z^5) - 1/(1680z^7), in Horner form.
    let series = ((zi2 * (-1.0 / 1680.0) + 1.0 / 1260.0) * zi2 - 1.0 / 360.0) * zi2 + 1.0 / 12.0;
    let series = series * zi;
    let stirling = (z - 0.5) * z.ln() - z + HALF_LN_2PI + series;
    stirling - shift
}

/// `ψ(x)` of one value (the CPU kernel; `kernels.cu` has the same steps).
pub fn digamma_f64(x: f64) -> f64 {
    let mut shift = 0.0;
    for k in 0..SHIFT {
        shift += 1.0 / (x + k as f64);
    }
    let z = x + SHIFT as f64;
    let zi = 1.0 / z;
    let zi2 = zi * zi;
    // -1/(12z^2) + 1/(120z^4) - 1/(252z^6) + 1/(240z^8)
    let series =
        (((zi2 * (1.0 / 240.0) - 1.0 / 252.0) * zi2 + 1.0 / 120.0) * zi2 - 1.0 / 12.0) * zi2;
    z.ln() - 0.5 * zi + series - shift
}

/// `ln Γ(x)` element-wise, differentiable.
pub fn lgamma(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Special::Lgamma)
}

/// `ψ(x)` element-wise (no gradient).
pub fn digamma(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&Special::Digamma)
}

#[derive(Clone, Copy)]
enum Special {
    Lgamma,
    Digamma,
}

impl Special {
    fn f(self) -> fn(f64) -> f64 {
        match self {
            Special::Lgamma => lgamma_f64,
            Special::Digamma => digamma_f64,
        }
    }
}

impl CustomOp1 for Special {
    fn name(&self) -> &'static str {
        match self {
            Special::Lgamma => "gzbench-lgamma",
            Special::Digamma => "gzbench-digamma",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let Some((a, b)) = l.contiguous_offsets() else {
            bail!("{}: input must be contiguous", self.name())
        };
        let f = self.f();
        let out = match s {
            CpuStorage::F64(v) => CpuStorage::F64(v[a..b].iter().map(|&x| f(x)).collect()),
            CpuStorage::F32(v) => {
                CpuStorage::F32(v[a..b].iter().map(|&x| f(x as f64) as f32).collect())
            }
            other => bail!(
                "{}: only f32 and f64 are supported, got {:?}",
                self.name(),
                other.dtype()
            ),
        };
        Ok((out, l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use super::cuda::kernels::unary;
        use candle_core::cuda_backend::cudarc::driver::CudaSlice;
        let Some((a, b)) = l.contiguous_offsets() else {
            bail!("{}: input must be contiguous", self.name())
        };
        let stem = match self {
            Special::Lgamma => "lgamma",
            Special::Digamma => "digamma",
        };
        let dev = s.device();
        let out = match s.dtype() {
            candle_core::DType::F64 => {
                let x: &CudaSlice<f64> = s.as_cuda_slice()?;
                let y = unary(dev, &format!("{stem}_f64"), &x.slice(a..b))?;
                candle_core::CudaStorage::wrap_cuda_slice(y, dev.clone())
            }
            candle_core::DType::F32 => {
                let x: &CudaSlice<f32> = s.as_cuda_slice()?;
                let y = unary(dev, &format!("{stem}_f32"), &x.slice(a..b))?;
                candle_core::CudaStorage::wrap_cuda_slice(y, dev.clone())
            }
            other => bail!(
                "{}: only f32 and f64 are supported, got {other:?}",
                self.name()
            ),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        match self {
            Special::Lgamma => Ok(Some(dy.mul(&digamma(x)?)?)),
            Special::Digamma => bail!("gzbench-digamma has no gradient"),
        }
    }
}

#[cfg(test)]
mod tests;
