//! `relu(a + b)`, the end of a residual block, as one CPU op with its own backward.
//!
//! Composed, it is candle's sum and ReLU: two passes forward, and five backward (the ReLU's
//! comparison, cast and product, then each operand's gradient added into a zero-filled buffer,
//! plus the sum node's own). Here the forward is one pass and the backward one pass computing the
//! gradient both operands share.
//!
//! Bit-identical to the composed ops: forward `(a + b).max(0)` (candle's ReLU); backward
//! `dy · [a + b >= 0]` with the mask as `1.0` / `0.0` (candle's ReLU gradient). Candle adds it to
//! each operand's zero-filled gradient, which the composed graph did twice (`0 + (0 + g)`) and
//! this op does once (`0 + g`): the same bits, since `0 + g` already turns `-0` into `+0`. An
//! operand that also feeds other ops (a block's input) receives two terms either way, and two
//! terms added to zero sum to the same bits in either order.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let a = Tensor::new(&[1f32, -3., 2.], &Device::Cpu).unwrap();
//! let b = Tensor::new(&[1f32, 1., -2.], &Device::Cpu).unwrap();
//! let y = gzbench::engine::residual::add_relu(&a, &b).unwrap();
//! assert_eq!(y.to_vec1::<f32>().unwrap(), vec![2.0, 0.0, 0.0]);
//! ```

use super::f32_slice;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// Elements per parallel task (fixed, so the split never depends on the threads; each element
/// is written by one task, no reductions).
const BLOCK: usize = 1 << 14;

/// `relu(a + b)` for tensors of one shape: the fused op for `f32` on the CPU, candle's ops
/// elsewhere.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let fused = !super::candle_kernels()
        && a.device().is_cpu()
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && a.shape() == b.shape();
    if !fused {
        return (a + b)?.relu();
    }
    a.contiguous()?.apply_op2(&b.contiguous()?, AddRelu)
}

/// The operands as slices of one length.
fn operands<'a>(
    name: &str,
    (s1, l1): (&'a CpuStorage, &Layout),
    (s2, l2): (&'a CpuStorage, &Layout),
) -> Result<(&'a [f32], &'a [f32])> {
    let (a, b) = (f32_slice(s1, l1, name)?, f32_slice(s2, l2, name)?);
    if a.len() != b.len() {
        bail!("{name}: operands of {} and {} elements", a.len(), b.len())
    }
    Ok((a, b))
}

/// The forward op.
struct AddRelu;

impl CustomOp2 for AddRelu {
    fn name(&self) -> &'static str {
        "gzbench-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = operands(self.name(), (s1, l1), (s2, l2))?;
        let mut y = vec![0f32; a.len()];
        y.par_chunks_mut(BLOCK)
            .zip(a.par_chunks(BLOCK).zip(b.par_chunks(BLOCK)))
            .for_each(|(y, (a, b))| {
                super::vectorised(|| {
                    for ((o, a), b) in y.iter_mut().zip(a).zip(b) {
                        *o = (a + b).max(0f32);
                    }
                })
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = a.apply_op3_no_bwd(b, &dy.contiguous()?, &AddReluBwd)?;
        Ok((Some(g.clone()), Some(g)))
    }
}

/// The backward: `(a, b, dy) -> dy · [a + b >= 0]`.
struct AddReluBwd;

impl CustomOp3 for AddReluBwd {
    fn name(&self) -> &'static str {
        "gzbench-add-relu-bwd"
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
        let (a, b) = operands(self.name(), (s1, l1), (s2, l2))?;
        let (_, dy) = operands(self.name(), (s1, l1), (s3, l3))?;
        let mut g = vec![0f32; a.len()];
        g.par_chunks_mut(BLOCK)
            .zip(
                a.par_chunks(BLOCK)
                    .zip(b.par_chunks(BLOCK).zip(dy.par_chunks(BLOCK))),
            )
            .for_each(|(g, (a, (b, dy)))| {
                super::vectorised(|| {
                    for (((o, a), b), d) in g.iter_mut().zip(a).zip(b).zip(dy) {
                        let mask = if a + b >= 0.0 { 1f32 } else { 0f32 };
                        *o = d * mask;
                    }
                })
            });
        Ok((CpuStorage::F32(g), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil::{bits, normal, probe_grads};
    use candle_core::{Device, Var};

    /// Operands with exact zeros, negative zeros and sums that cancel to zero.
    fn operands(seed: u64) -> (Var, Var) {
        let mut a = normal(seed, "test/residual/a", &[3, 4, 5, 7], 0.0, 1.0)
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut b = normal(seed, "test/residual/b", &[3 * 4 * 5 * 7], 0.0, 1.0)
            .to_vec1::<f32>()
            .unwrap();
        for i in (0..a.len()).step_by(5) {
            b[i] = -a[i];
        }
        for i in (1..a.len()).step_by(11) {
            (a[i], b[i]) = (-0.0, -0.0);
        }
        let t = |v: Vec<f32>| Var::from_vec(v, (3, 4, 5, 7), &Device::Cpu).unwrap();
        (t(a), t(b))
    }

    #[test]
    fn bit_identical_to_candles_sum_and_relu_with_gradients() {
        let (a, b) = operands(1);
        let probe = normal(1, "test/residual/p", &[3, 4, 5, 7], 0.0, 1.0);
        // `a` also feeds another op, as a block's input does.
        let run = |fused: bool| {
            let y = if fused {
                add_relu(a.as_tensor(), b.as_tensor()).unwrap()
            } else {
                (a.as_tensor() + b.as_tensor()).unwrap().relu().unwrap()
            };
            let y = (y + (a.as_tensor() * 0.5).unwrap()).unwrap();
            let g = probe_grads(&y, &probe);
            [y, g.get(&a).unwrap().clone(), g.get(&b).unwrap().clone()].map(|t| bits(&t))
        };
        assert_eq!(run(true), run(false));
    }
}
