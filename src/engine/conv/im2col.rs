//! The convolutions' scratch memory and the im2col lowering: each thread's reusable buffer,
//! the column matrix `k x ohw` of one image (`im2col`) and its adjoint (`col2im`,
//! the input gradient's scatter-add).

use super::Geom;
use std::cell::RefCell;

thread_local! {
    /// Each thread's scratch buffer (im2col columns, Winograd's tiles), kept between ops: every
    /// use writes the part it reads.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `f` on `len` floats of this thread's scratch buffer. Their contents are left over from
/// earlier uses. Nothing inside `f` may call `with_scratch` again (the products run on the
/// calling thread, `Parallelism::None`).
pub(super) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|buf| {
        let mut buf = buf.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// `f` on the column buffer of `k x ohw` floats (empty for 1x1 stride-1 convolutions, which
/// read the image itself); `im2col` and the products writing it overwrite every element.
pub(super) fn with_cols<R>(g: &Geom, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(if g.pointwise() { 0 } else { g.k() * g.ohw() }, f)
}

/// im2col of one image `cin x h x w` into `cols: k x ohw`.
pub(super) fn im2col(g: &Geom, x: &[f32], cols: &mut [f32]) {
    let ohw = g.ohw();
    for c in 0..g.cin {
        let xc = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let dst = &mut cols[row * ohw..(row + 1) * ohw];
                if g.stride == 1 && g.ow == g.w {
                    shifted_plane(g, xc, (ki, kj), dst);
                    continue;
                }
                let (lo, hi) = g.valid_ox(kj);
                for oy in 0..g.oh {
                    let d = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    let iy = (oy * g.stride + ki) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        d.fill(0.0);
                        continue;
                    }
                    let xr = &xc[iy as usize * g.w..(iy as usize + 1) * g.w];
                    d[..lo].fill(0.0);
                    d[hi..].fill(0.0);
                    if g.stride == 1 {
                        let start = lo + kj - g.pad;
                        d[lo..hi].copy_from_slice(&xr[start..start + (hi - lo)]);
                    } else {
                        for (ox, v) in d[lo..hi].iter_mut().enumerate() {
                            *v = xr[(ox + lo) * g.stride + kj - g.pad];
                        }
                    }
                }
            }
        }
    }
}

/// One im2col row of a stride-1 convolution whose output rows are as wide as the input's (a
/// "same" padding): the plane shifted by `(ki - pad, kj - pad)`, zero outside. The rows inside
/// the image are one block copy (consecutive output rows read consecutive input rows), after
/// which the few columns that wrapped around a row's edge are zeroed.
fn shifted_plane(g: &Geom, xc: &[f32], (ki, kj): (usize, usize), dst: &mut [f32]) {
    let (w, p) = (g.w, g.pad);
    // Output rows oy whose input row oy + ki - pad is inside the image.
    let oy0 = p.saturating_sub(ki).min(g.oh);
    let oy1 = (g.h + p).saturating_sub(ki).min(g.oh).max(oy0);
    dst[..oy0 * w].fill(0.0);
    dst[oy1 * w..].fill(0.0);
    if oy1 > oy0 {
        // Element (oy, ox) reads x[(oy + ki - p)·w + ox + kj - p]: one offset for the block.
        let start = (oy0 + ki - p) * w;
        let block = &mut dst[oy0 * w..oy1 * w];
        let len = block.len();
        if kj >= p {
            let s = start + kj - p;
            let n = len.min(xc.len() - s);
            block[..n].copy_from_slice(&xc[s..s + n]);
            block[n..].fill(0.0);
        } else {
            let shift = p - kj;
            block[shift..].copy_from_slice(&xc[start..start + len - shift]);
            block[..shift].fill(0.0);
        }
        let (lo, hi) = g.valid_ox(kj);
        for row in block.chunks_exact_mut(w) {
            for v in &mut row[..lo] {
                *v = 0.0;
            }
            for v in &mut row[hi..] {
                *v = 0.0;
            }
        }
    }
}

/// col2im of `cols: k x ohw` added into one image `dx: cin x h x w` (zeroed by the caller),
/// summing overlaps in a fixed order.
pub(super) fn col2im(g: &Geom, cols: &[f32], dx: &mut [f32]) {
    let ohw = g.ohw();
    for c in 0..g.cin {
        let xc = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &cols[row * ohw..(row + 1) * ohw];
                let (lo, hi) = g.valid_ox(kj);
                for oy in 0..g.oh {
                    let iy = (oy * g.stride + ki) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let s = &src[oy * g.ow..(oy + 1) * g.ow];
                    let xr = &mut xc[iy as usize * g.w..(iy as usize + 1) * g.w];
                    if g.stride == 1 {
                        let start = lo + kj - g.pad;
                        for (o, v) in xr[start..start + (hi - lo)].iter_mut().zip(&s[lo..hi]) {
                            *o += v;
                        }
                    } else {
                        for (ox, v) in s[lo..hi].iter().enumerate() {
                            xr[(ox + lo) * g.stride + kj - g.pad] += v;
                        }
                    }
                }
            }
        }
    }
}
