//! Evaluation-mode batch norm: `y = x·a + b` per channel from the running statistics, and the
//! same followed by its activation in one CPU pass.

use super::{Act, act, channel_shape};
use crate::engine::f32_slice;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, bail};

/// Evaluation-mode batch norm with given statistics (plain candle ops).
pub fn batch_norm_eval(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let shape = channel_shape(x)?;
    let (a, b) = eval_coefficients(mean, var, gamma, beta, eps)?;
    x.broadcast_mul(&a.reshape(shape.clone())?)?
        .broadcast_add(&b.reshape(shape)?)
}

/// The per-channel `y = x·a + b` of an evaluation-mode batch norm: `a = gamma / sqrt(var + eps)`,
/// `b = beta - mean·a`.
fn eval_coefficients(
    mean: &Tensor,
    var: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor)> {
    let a = (gamma / (var + eps)?.sqrt()?)?;
    let b = (beta - (mean * &a)?)?;
    Ok((a, b))
}

/// Evaluation-mode batch norm followed by `act`. On the CPU it is one pass of `act(x·a + b)`
/// ([`act::forward`], the training op's forward) with `a`, `b` from the running statistics by
/// the same ops as [`batch_norm_eval`], so the same bits as the composed ops, without their
/// three intermediate tensors. That op has no backward: evaluation and frozen features never
/// take one, and a backward through it is an error rather than a silent zero. Elsewhere (GPU,
/// other dtypes, candle's kernels) the composed ops.
pub fn batch_norm_eval_act(
    x: &Tensor,
    (mean, var): (&Tensor, &Tensor),
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    act: Act,
) -> Result<Tensor> {
    let fused = !crate::engine::candle_kernels() && x.device().is_cpu() && x.dtype() == DType::F32;
    if !fused {
        return act.composed(batch_norm_eval(x, mean, var, gamma, beta, eps)?);
    }
    let (a, b) = eval_coefficients(mean, var, gamma, beta, eps)?;
    let (a, b) = (a.to_vec1::<f32>()?, b.to_vec1::<f32>()?);
    if a.len() != x.dim(1)? {
        bail!("batch_norm: {} channels, {} statistics", x.dim(1)?, a.len())
    }
    x.contiguous()?.apply_op1(BnEvalAct { act, a, b })
}

/// The CPU op of [`batch_norm_eval_act`].
struct BnEvalAct {
    act: Act,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl CustomOp1 for BnEvalAct {
    fn name(&self) -> &'static str {
        "gzbench-batchnorm-eval"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (y, shape) = act::forward(self.act, x, l.shape(), &self.a, &self.b)?;
        Ok((CpuStorage::F32(y), shape))
    }
}
