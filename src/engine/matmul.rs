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
//! without its `x86-v4` feature, so it runs its AVX2+FMA kernels on every x86-64-v3 machine.
//! On AVX-512 machines the products `gemm` would run on its general kernel go to the project's
//! own AVX-512F kernel (`avx512`), about 1.3x faster on an Intel CPU: the same sequence of fused
//! multiply-adds per output on 16-lane vectors, so the same bits (the test
//! `every_kernel_is_the_sequential_fma_sum` pins both against a scalar reference, and
//! `GZBENCH_SIMD=avx2` turns the own kernel off). CPUs that split 512-bit vectors into two
//! halves (AMD Zen 4) keep `gemm`'s kernel, measured faster there. Machines without FMA, and
//! aarch64 (NEON kernels), round differently.
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
    /// Whether the project's own kernel ([`own_chunk`](Scalar::own_chunk)) runs this type on
    /// this CPU.
    fn own_kernel() -> bool {
        false
    }
    /// One chunk on the project's own kernel (only called when [`own_kernel`](Scalar::own_kernel)).
    #[allow(clippy::too_many_arguments)]
    fn own_chunk(
        _dims: (usize, usize, usize),
        _dst: &mut [Self],
        _dm: Mat,
        _add: bool,
        _lhs: &[Self],
        _lm: Mat,
        _rhs: &[Self],
        _rm: Mat,
    ) {
        unreachable!("no own kernel for this type")
    }
}
impl Scalar for f32 {
    const ONE: Self = 1.0;
    fn own_kernel() -> bool {
        #[cfg(target_arch = "x86_64")]
        return avx512::available();
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }
    fn own_chunk(
        dims: (usize, usize, usize),
        dst: &mut [f32],
        dm: Mat,
        add: bool,
        lhs: &[f32],
        lm: Mat,
        rhs: &[f32],
        rm: Mat,
    ) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `own_kernel` found AVX-512F; `gemm_chunked` checked the slices and strides.
        unsafe {
            avx512::chunk(dims, dst, dm, add, lhs, lm, rhs, rm)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (dims, dst, dm, add, lhs, lm, rhs, rm);
    }
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
    dims: (usize, usize, usize),
    dst: &mut [T],
    dm: Mat,
    accumulate: bool,
    lhs: &[T],
    lm: Mat,
    rhs: &[T],
    rm: Mat,
) {
    let own = T::own_kernel();
    gemm_chunked_on(own, dims, dst, dm, accumulate, lhs, lm, rhs, rm)
}

/// [`gemm_chunked`] on the project's own kernel where `own` and `gemm` would run its
/// general kernel (see [`gemm_general_path`]), else on `gemm`.
#[allow(clippy::too_many_arguments)]
fn gemm_chunked_on<T: Scalar>(
    own: bool,
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
        let add = accumulate || start > 0;
        let (l, r) = (start * lm.cs as usize, start * rm.rs as usize);
        if own && gemm_general_path((m, n, len), lm, rm) {
            T::own_chunk((m, n, len), dst, dm, add, &lhs[l..], lm, &rhs[r..], rm);
        } else {
            // SAFETY: the asserts above keep every access of gemm inside the three slices (the
            // chunk `start..start + len` of the inner dimension lies within `0..k`); `dst` does
            // not alias `lhs` or `rhs` (it is a distinct `&mut`).
            unsafe {
                gemm(
                    m,
                    n,
                    len,
                    dst.as_mut_ptr(),
                    dm.cs,
                    dm.rs,
                    add,
                    lhs.as_ptr().add(l),
                    lm.cs,
                    lm.rs,
                    rhs.as_ptr().add(r),
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
        }
        start += len;
        if start >= k {
            break;
        }
    }
}

/// Whether `gemm` 0.19 computes an `m x n x k` product (one chunk) on its general blocked
/// kernel, one fused multiply-add per term in order: not on its matrix-vector kernels (`m` or
/// `n` at most 1), its outer-product one (`k` at most 2), nor its dot-product one (both operands
/// contiguous along `k` and at most 256 outputs), which sum in other orders
/// (`gemm_common::gemm::gemm_basic_generic`). Only these products go to the own kernel, so its
/// bits are `gemm`'s everywhere.
fn gemm_general_path((m, n, k): (usize, usize, usize), lm: Mat, rm: Mat) -> bool {
    m >= 2 && n >= 2 && k >= 3 && !(lm.cs == 1 && rm.rs == 1 && m * n <= 256)
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

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(test)]
mod tests;
