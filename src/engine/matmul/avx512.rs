//! The AVX-512F kernel of [`super::gemm_chunked`] for `f32`: the same arithmetic as `gemm`'s
//! AVX2+FMA kernels, on vectors twice as wide.
//!
//! The bits of a product do not depend on the vector width, only on each output's sequence of
//! roundings, and that sequence is kept: one accumulator per output starting from zero, one
//! fused multiply-add per term in the order of `K`, restarted at every chunk of
//! [`K_CHUNK`] terms, each chunk's sum added to the output in order (the test
//! `every_kernel_is_the_sequential_fma_sum` pins both kernels to the scalar reference). The lanes
//! of a vector are outputs, never terms of one sum, so nothing is reassociated.
//!
//! Only the products `gemm` runs on its general kernel come here (`super::gemm_general_path`):
//! its matrix-vector and dot-product kernels sum in other orders.
//!
//! Layout (BLIS-style): per chunk of `K`, the left operand is packed once into panels of `MR`
//! rows, the right one into panels of `NV` x 16 columns, [`NC`] columns at a time; the
//! micro-kernel keeps an `MR x 16·NV` tile of accumulators in registers. Two tile shapes are
//! compiled (12 x 32 and 8 x 48, 24 accumulators each) and each product takes the one that pads
//! its `m` and `n` least. Packing buffers are per thread and reused.

use super::{K_CHUNK, Mat};
use std::arch::x86_64::*;
use std::cell::RefCell;

/// Right-operand columns packed at once (`K_CHUNK x NC` floats: 512 KiB, within L2).
const NC: usize = 256;

/// Terms per pass of the micro-kernel: a right panel of `KB x 48` floats (24 KiB) stays in L1
/// while the left panels stream past it; the accumulators go to memory between passes, which
/// keeps every output's sequence of roundings.
const KB: usize = 256;

thread_local! {
    /// The packed left and right operands of the current chunk, and the partial sums of a block
    /// of columns between passes.
    static PACKED: RefCell<(Vec<f32>, Vec<f32>, Vec<f32>)> =
        const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// Whether this kernel runs on this CPU under the `GZBENCH_SIMD` cap: the CPU has AVX-512F and
/// executes it at full width ([`full_width`]).
pub fn available() -> bool {
    crate::simd::level() == crate::simd::Level::Avx512 && full_width()
}

/// Whether the CPU runs a 512-bit fused multiply-add at twice the rate of 256-bit ones. AMD's
/// family 19h (Zen 4) splits it into two 256-bit halves: there `gemm`'s AVX2 kernel measured
/// faster (cnn-small batch-32 train step 73 against 78 ms, resnet 3.46 against 3.76 s on an
/// AMD EPYC), and it gives the same bits, so the products stay on it.
///
/// Read once: `cpuid` traps to the hypervisor in a virtual machine (asked on every product, it
/// took a tenth of the samples of a training run).
fn full_width() -> bool {
    static FULL_WIDTH: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FULL_WIDTH.get_or_init(|| {
        let (vendor, signature) = (__cpuid(0), __cpuid(1).eax);
        let amd = [vendor.ebx, vendor.edx, vendor.ecx] == [0x6874_7541, 0x6974_6e65, 0x444d_4163];
        let base = (signature >> 8) & 0xf;
        let family = if base == 0xf {
            base + ((signature >> 20) & 0xff)
        } else {
            base
        };
        !(amd && family == 0x19)
    })
}

/// One chunk of [`super::gemm_chunked`]: `dst (m x n) = [dst +] lhs (m x k) · rhs (k x n)` with
/// `k <= K_CHUNK`, each output's terms summed by fused multiply-adds in order from zero and the
/// sum added to `dst` when `add`.
///
/// # Safety
/// The CPU supports AVX-512F ([`available`]), and every operand's slice covers what its strides
/// reach for its shape (checked by the caller); strides are non-negative.
#[allow(clippy::too_many_arguments)]
pub unsafe fn chunk(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dm: Mat,
    add: bool,
    lhs: &[f32],
    lm: Mat,
    rhs: &[f32],
    rm: Mat,
) {
    debug_assert!(k <= K_CHUNK);
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let waste = |mr: usize, nr: usize| m.next_multiple_of(mr) * n.next_multiple_of(nr);
    let ops = Operands {
        dst: dst.as_mut_ptr(),
        dm,
        lhs: lhs.as_ptr(),
        lm,
        rhs: rhs.as_ptr(),
        rm,
    };
    // SAFETY: the caller's contract, passed on.
    unsafe {
        if waste(12, 32) <= waste(8, 48) {
            product::<12, 2>((m, n, k), add, ops)
        } else {
            product::<8, 3>((m, n, k), add, ops)
        }
    }
}

/// The three operands as pointers with their strides.
#[derive(Clone, Copy)]
struct Operands {
    dst: *mut f32,
    dm: Mat,
    lhs: *const f32,
    lm: Mat,
    rhs: *const f32,
    rm: Mat,
}

/// The blocked product with `MR x 16·NV` tiles.
#[target_feature(enable = "avx512f")]
unsafe fn product<const MR: usize, const NV: usize>(
    (m, n, kc): (usize, usize, usize),
    add: bool,
    o: Operands,
) {
    let nr = 16 * NV;
    PACKED.with(|p| {
        let (ap, bp, partial) = &mut *p.borrow_mut();
        let panels = m.div_ceil(MR);
        // SAFETY: the buffers are sized here and by the pack functions; reads stay inside the
        // operands (the caller's contract).
        unsafe {
            // The left operand's rows are the columns of its transpose: packed alike, into
            // panels of `MR` rows (`ap[panel][term][row]`, rows past `m` zero).
            let lt = Mat {
                rs: o.lm.cs,
                cs: o.lm.rs,
            };
            pack_rhs(ap, MR, o.lhs, lt, kc, (0, m));
            partial.resize(panels * MR * NC.next_multiple_of(nr), 0.0);
            for j0 in (0..n).step_by(NC) {
                let nc = (n - j0).min(NC);
                let width = nc.next_multiple_of(nr);
                pack_rhs(bp, nr, o.rhs, o.rm, kc, (j0, nc));
                for k0 in (0..kc).step_by(KB) {
                    let steps = Steps {
                        len: (kc - k0).min(KB),
                        first: k0 == 0,
                        last: k0 + KB >= kc,
                    };
                    for jp in 0..nc.div_ceil(nr) {
                        let cols = (nc - jp * nr).min(nr);
                        let b = bp.as_ptr().add(jp * nr * kc + k0 * nr);
                        for ip in 0..panels {
                            let rows = (m - ip * MR).min(MR);
                            let a = ap.as_ptr().add(ip * MR * kc + k0 * MR);
                            let part = partial.as_mut_ptr().add(ip * MR * width + jp * nr);
                            let at = (ip * MR, j0 + jp * nr, rows, cols);
                            tile::<MR, NV>(steps, a, b, (part, width), o, at, add);
                        }
                    }
                }
            }
        }
    })
}

/// Which terms of a chunk one call of [`tile`] sums: `len` of them, the chunk's first ones (the
/// accumulators start from zero, else from the partial sums) and its last ones (the sums go to
/// the output, else back to the partial sums).
#[derive(Clone, Copy)]
struct Steps {
    len: usize,
    first: bool,
    last: bool,
}

/// Packs terms `0..kc`, columns `j0..j0 + nc` of the right operand into panels of `nr`
/// columns (`bp[panel][term][col]`, columns past `nc` zero).
#[target_feature(enable = "avx512f")]
unsafe fn pack_rhs(
    bp: &mut Vec<f32>,
    nr: usize,
    rhs: *const f32,
    rm: Mat,
    kc: usize,
    (j0, nc): (usize, usize),
) {
    let panels = nc.div_ceil(nr);
    bp.resize(panels * nr * kc, 0.0);
    let (rs, cs) = (rm.rs as usize, rm.cs as usize);
    for p in 0..panels {
        let out = &mut bp[p * nr * kc..(p + 1) * nr * kc];
        let cols = (nc - p * nr).min(nr);
        // SAFETY: terms < k and columns < n lie inside the operand (caller's contract).
        unsafe {
            let base = rhs.add((j0 + p * nr) * cs);
            if cs == 1 {
                copy_lines(out, nr, base, rs, cols, kc);
            } else {
                transpose_into(out, nr, base, (cs, rs), cols, kc);
            }
        }
    }
}

/// The mask of the first `n` (at most 16) lanes.
#[inline(always)]
fn lanes(n: usize) -> __mmask16 {
    if n >= 16 { !0 } else { (1 << n) - 1 }
}

/// `out[kk * width + c] = src[kk * stride + c]` for `c < len`, zero for `len <= c < width`, for
/// `kk < kc`: a panel copied from an operand laid out the same way.
#[target_feature(enable = "avx512f")]
unsafe fn copy_lines(
    out: &mut [f32],
    width: usize,
    src: *const f32,
    stride: usize,
    len: usize,
    kc: usize,
) {
    for kk in 0..kc {
        for s0 in (0..width).step_by(16) {
            // SAFETY: lanes below `len` lie inside the operand (caller's contract); the stored
            // lanes stay inside line kk of `out`.
            unsafe {
                let x =
                    _mm512_maskz_loadu_ps(lanes(len.saturating_sub(s0)), src.add(kk * stride + s0));
                let at = out.as_mut_ptr().add(kk * width + s0);
                _mm512_mask_storeu_ps(at, lanes(width - s0), x);
            }
        }
    }
}

/// `out[kk * width + r] = src[r * rs + kk * cs]` for `r < rows`, zero for `rows <= r < width`,
/// for `kk < kc`: a panel gathered from an operand laid out the other way, by 16 x 16 blocks
/// transposed in registers (element by element when neither stride is 1).
#[target_feature(enable = "avx512f")]
unsafe fn transpose_into(
    out: &mut [f32],
    width: usize,
    src: *const f32,
    (rs, cs): (usize, usize),
    rows: usize,
    kc: usize,
) {
    if cs != 1 {
        for kk in 0..kc {
            for r in 0..width {
                // SAFETY: row r < rows and term kk < kc lie inside the operand.
                out[kk * width + r] = if r < rows {
                    unsafe { *src.add(r * rs + kk * cs) }
                } else {
                    0.0
                };
            }
        }
        return;
    }
    for k0 in (0..kc).step_by(16) {
        let kn = (kc - k0).min(16);
        for r0 in (0..width).step_by(16) {
            let mut v = [_mm512_setzero_ps(); 16];
            for (i, x) in v.iter_mut().enumerate() {
                if r0 + i < rows {
                    // SAFETY: row r0 + i < rows, terms k0..k0 + kn < kc.
                    *x = unsafe { _mm512_maskz_loadu_ps(lanes(kn), src.add((r0 + i) * rs + k0)) };
                }
            }
            transpose16(&mut v);
            let keep = lanes(width - r0);
            for (j, x) in v.iter().enumerate().take(kn) {
                // SAFETY: the stored lanes stay inside line k0 + j of `out`.
                unsafe {
                    _mm512_mask_storeu_ps(out.as_mut_ptr().add((k0 + j) * width + r0), keep, *x)
                };
            }
        }
    }
}

/// Transposes 16 vectors of 16 lanes in place (`r[i][j]` becomes `r[j][i]`).
#[target_feature(enable = "avx512f")]
fn transpose16(r: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for i in 0..4 {
        r[4 * i] = _mm512_shuffle_ps::<0x44>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_shuffle_ps::<0x44>(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(t[4 * i + 1], t[4 * i + 3]);
    }
    for i in 0..2 {
        for j in 0..4 {
            t[8 * i + j] = _mm512_shuffle_f32x4::<0x88>(r[8 * i + j], r[8 * i + j + 4]);
            t[8 * i + j + 4] = _mm512_shuffle_f32x4::<0xDD>(r[8 * i + j], r[8 * i + j + 4]);
        }
    }
    for j in 0..8 {
        r[j] = _mm512_shuffle_f32x4::<0x88>(t[j], t[j + 8]);
        r[j + 8] = _mm512_shuffle_f32x4::<0xDD>(t[j], t[j + 8]);
    }
}

/// One `MR x 16·NV` tile over `steps.len` terms, starting from zero or from the partial sums
/// at `part` (row stride `width`), ending in the partial sums or, at the chunk's last terms, in
/// the output at `(i0, j0)` (`rows x cols` of it valid): `dst = acc`, or `dst + acc` when `add`.
#[target_feature(enable = "avx512f")]
unsafe fn tile<const MR: usize, const NV: usize>(
    steps: Steps,
    a: *const f32,
    b: *const f32,
    (part, width): (*mut f32, usize),
    o: Operands,
    (i0, j0, rows, cols): (usize, usize, usize, usize),
    add: bool,
) {
    let nr = 16 * NV;
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    if !steps.first {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, x) in row.iter_mut().enumerate() {
                // SAFETY: the partial sums hold MR rows of `width` >= nr floats per panel.
                *x = unsafe { _mm512_loadu_ps(part.add(r * width + 16 * v)) };
            }
        }
    }
    for kk in 0..steps.len {
        // SAFETY: the packed panels hold at least len x MR and len x nr floats from a and b.
        unsafe {
            let bk = b.add(kk * nr);
            let mut bv = [_mm512_setzero_ps(); NV];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_loadu_ps(bk.add(16 * v));
            }
            let ak = a.add(kk * MR);
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*ak.add(r));
                for (x, bx) in row.iter_mut().zip(&bv) {
                    *x = _mm512_fmadd_ps(av, *bx, *x);
                }
            }
        }
    }
    if !steps.last {
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                // SAFETY: as for the load above.
                unsafe { _mm512_storeu_ps(part.add(r * width + 16 * v), *x) };
            }
        }
        return;
    }
    let (rs, cs) = (o.dm.rs, o.dm.cs);
    if cs == 1 {
        for (r, row) in acc.iter().enumerate().take(rows) {
            // SAFETY: row i0 + r < m, columns j0 + v·16 + lane < n under the mask.
            unsafe {
                let p = o.dst.offset((i0 + r) as isize * rs + j0 as isize);
                for (v, x) in row.iter().enumerate() {
                    let live = cols.saturating_sub(16 * v).min(16);
                    if live == 0 {
                        break;
                    }
                    let mask: __mmask16 = if live == 16 { !0 } else { (1 << live) - 1 };
                    let q = p.add(16 * v);
                    let y = if add {
                        _mm512_add_ps(_mm512_maskz_loadu_ps(mask, q), *x)
                    } else {
                        *x
                    };
                    _mm512_mask_storeu_ps(q, mask, y);
                }
            }
        }
    } else {
        let mut t = [0f32; 16];
        for (r, row) in acc.iter().enumerate().take(rows) {
            for (v, x) in row.iter().enumerate() {
                // SAFETY: `t` holds 16 floats; the output elements are inside dst.
                unsafe {
                    _mm512_storeu_ps(t.as_mut_ptr(), *x);
                    for (l, tv) in t.iter().enumerate() {
                        let j = 16 * v + l;
                        if j >= cols {
                            break;
                        }
                        let q = o
                            .dst
                            .offset((i0 + r) as isize * rs + (j0 + j) as isize * cs);
                        *q = if add { *q + tv } else { *tv };
                    }
                }
            }
        }
    }
}
