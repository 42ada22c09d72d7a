//! Matrix products whose bits do not depend on the machine: every `gemm` call of the project
//! (the convolutions' im2col products, [`matmul`] for linear layers and RoI pooling, the
//! anomaly ranker's f64 distances) goes through [`gemm_chunked`].
//!
//! Why: the `gemm` crate sums over `K` in blocks of `kc` and chooses `kc` at run time from the
//! L1 cache's size and associativity (`gemm_common::cache::kernel_params`: 1,024 on a 48 KiB
//! 12-way L1, 512 on a 32 KiB 8-way one), so a product with `K` in (512, 1024] was one block on
//! one machine and two on another, rounded differently (measured: 120,071 of 131,072 outputs of a
//! 512 x 256 x 576 product differ). `kc` is never below 512 (nor `K`), so feeding `gemm` at most
//! [`K_CHUNK`] = 512 terms per call, accumulated into the output in order, leaves it nothing to
//! split: each output is the same sequence of fused multiply-adds everywhere. `gemm` is built
//! without its `x86-v4` feature, so AVX-512 machines run the same AVX2+FMA kernels as AVX2
//! ones (the test `chunked_gemm_is_a_sequential_fma_sum` pins that sequence against a scalar
//! reference). Machines without FMA, and aarch64 (NEON kernels), round differently.
//!
//! [`matmul`] is a candle op (with its backward through the same op) for 2-D `f32` CPU tensors;
//! rows are split into fixed blocks of [`ROW_BLOCK`] across rayon, so the result is also
//! independent of the thread count. Elsewhere (GPU, other dtypes) it is candle's `matmul`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let a = Tensor::ones((3, 700), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let b = Tensor::ones((700, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
//! let y = gzbench::engine::matmul::matmul(&a, &b).unwrap();
//! assert_eq!(y.to_vec2::<f32>().unwrap(), vec![vec![700.0; 2]; 3]);
//! ```

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// The most terms of the inner dimension one `gemm` call sums (`gemm`'s smallest block).
pub const K_CHUNK: usize = 512;

/// Output rows per parallel task of [`matmul`] (fixed: the split never depends on the threads).
pub const ROW_BLOCK: usize = 128;

/// The strides of a matrix operand: `rs` between rows, `cs` between columns.
#[derive(Debug, Clone, Copy)]
pub struct Mat {
    pub rs: isize,
    pub cs: isize,
}

impl Mat {
    /// A row-major matrix with `cols` columns.
    pub fn rows(cols: usize) -> Self {
        Mat {
            rs: cols as isize,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(cols: usize) -> Self {
        Mat {
            rs: 1,
            cs: cols as isize,
        }
    }
    /// One past the last element an `r x c` matrix with these strides reaches.
    fn reach(self, r: usize, c: usize) -> usize {
        if r == 0 || c == 0 {
            0
        } else {
            (r - 1) * self.rs as usize + (c - 1) * self.cs as usize + 1
        }
    }
}

/// The element types the products run in.
pub trait Scalar: Copy + Send + Sync + 'static {
    const ONE: Self;
}
impl Scalar for f32 {
    const ONE: Self = 1.0;
}
impl Scalar for f64 {
    const ONE: Self = 1.0;
}

/// `dst (m x n) = [dst +] lhs (m x k) · rhs (k x n)`, single-threaded, with `k` fed to `gemm` in
/// chunks of at most [`K_CHUNK`] accumulated in order (see the module documentation).
///
/// # Panics
/// If a stride is negative or an operand's slice is shorter than its strides reach.
#[allow(clippy::too_many_arguments)]
pub fn gemm_chunked<T: Scalar>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    dm: Mat,
    accumulate: bool,
    lhs: &[T],
    lm: Mat,
    rhs: &[T],
    rm: Mat,
) {
    assert!(
        [dm, lm, rm].iter().all(|s| s.rs >= 0 && s.cs >= 0),
        "gemm: negative stride"
    );
    assert!(dst.len() >= dm.reach(m, n), "gemm dst out of bounds");
    assert!(lhs.len() >= lm.reach(m, k), "gemm lhs out of bounds");
    assert!(rhs.len() >= rm.reach(k, n), "gemm rhs out of bounds");
    let mut start = 0;
    loop {
        let len = (k - start).min(K_CHUNK);
        // SAFETY: the asserts above keep every access of gemm inside the three slices (the chunk
        // `start..start + len` of the inner dimension lies within `0..k`); `dst` does not alias
        // `lhs` or `rhs` (it is a distinct `&mut`).
        unsafe {
            gemm(
                m,
                n,
                len,
                dst.as_mut_ptr(),
                dm.cs,
                dm.rs,
                accumulate || start > 0,
                lhs.as_ptr().offset(start as isize * lm.cs),
                lm.cs,
                lm.rs,
                rhs.as_ptr().offset(start as isize * rm.rs),
                rm.cs,
                rm.rs,
                T::ONE,
                T::ONE,
                false,
                false,
                false,
                Parallelism::None,
            )
        }
        start += len;
        if start >= k {
            break;
        }
    }
}

/// `a (m x k) · b (k x n)`: the machine-independent op on 2-D `f32` CPU tensors, candle's
/// `matmul` elsewhere (and under [`super::use_candle_kernels`]).
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let own = !super::candle_kernels()
        && a.device().is_cpu()
        && a.dtype() == DType::F32
        && b.dtype() == DType::F32
        && a.rank() == 2
        && b.rank() == 2;
    if !own {
        return a.matmul(b);
    }
    // Broadcast (zero-stride) operands are materialised; transposed views are used as they are.
    let plain = |t: &Tensor| -> Result<Tensor> {
        if t.stride().contains(&0) {
            t.contiguous()
        } else {
            Ok(t.clone())
        }
    };
    plain(a)?.apply_op2(&plain(b)?, MatMul)
}

/// The candle op behind [`matmul`].
struct MatMul;

/// The data, dims and strides of a 2-D `f32` operand.
fn operand<'a>(s: &'a CpuStorage, l: &Layout) -> Result<(&'a [f32], [usize; 2], Mat)> {
    let CpuStorage::F32(data) = s else {
        bail!("gzbench-matmul: only f32 is supported, got {:?}", s.dtype())
    };
    let (&[r, c], &[rs, cs]) = (l.dims(), l.stride()) else {
        bail!(
            "gzbench-matmul: expected matrices, got shape {:?}",
            l.dims()
        )
    };
    let mat = Mat {
        rs: rs as isize,
        cs: cs as isize,
    };
    let data = &data[l.start_offset()..];
    if data.len() < mat.reach(r, c) {
        bail!("gzbench-matmul: storage shorter than its layout")
    }
    Ok((data, [r, c], mat))
}

impl CustomOp2 for MatMul {
    fn name(&self) -> &'static str {
        "gzbench-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, [m, k], am) = operand(s1, l1)?;
        let (b, [k2, n], bm) = operand(s2, l2)?;
        if k != k2 {
            bail!("gzbench-matmul: {m}x{k} times {k2}x{n}")
        }
        let mut out = vec![0f32; m * n];
        if n > 0 {
            out.par_chunks_mut(ROW_BLOCK * n)
                .enumerate()
                .for_each(|(i, dst)| {
                    let r0 = i * ROW_BLOCK;
                    let rows = dst.len() / n;
                    let lhs = &a[(r0 as isize * am.rs) as usize..];
                    gemm_chunked((rows, n, k), dst, Mat::rows(n), false, lhs, am, b, bm);
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ga = match a.track_op() {
            true => Some(matmul(grad, &b.t()?)?),
            false => None,
        };
        let gb = match b.track_op() {
            true => Some(matmul(&a.t()?, grad)?),
            false => None,
        };
        Ok((ga, gb))
    }
}

#[cfg(test)]
mod tests;
