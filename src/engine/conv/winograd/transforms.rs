//! The Winograd transforms of a block of tiles, computed for a run of tiles of one tile row at
//! a time, 8 tiles per [`Lanes`] chunk: the input's `B^T d B`, the output gradient's `A dy A^T`,
//! the output's `A^T m A` and the input gradient's `B dv B^T` added into the padded planes.
//! Each is generic over the lanes and dispatched by `on_lanes!`; both instances give each
//! tile's definition bit for bit (the tests). The 16 matrices `ξ` of transformed tiles and
//! products lie [`xi_stride`] floats apart.

use super::lanes::{self, Avx, L, Lanes, Portable, chunks};
use super::{Plan, xi_stride};
use crate::engine::conv::Geom;

/// Most tiles one pass of the transforms handles.
const SEG: usize = 32;

/// Length of a scratch row of a run of tiles: a chunk's room past its end, shifted by one.
const RUN: usize = SEG + 2 * L;

/// `f::<W>(args..)` on the widest lanes the CPU and `GZBENCH_SIMD` allow: [`Avx`] inside a
/// function compiled for AVX2 where [`lanes::avx2`] says so, else [`Portable`].
macro_rules! on_lanes {
    ($f:ident($($a:ident: $t:ty),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            fn on_avx2($($a: $t),*) {
                $f::<Avx>($($a),*)
            }
            if lanes::avx2() {
                // SAFETY: the CPU has AVX2 (`lanes::avx2`).
                return unsafe { on_avx2($($a),*) };
            }
        }
        $f::<Portable>($($a),*)
    }};
}

/// The runs of consecutive tiles of one tile row in the tiles `[start, end)` of a group, at most
/// [`SEG`] long: (image, tile row, first tile column, tiles, offset in the block).
fn segments(pl: &Plan, (start, end): (usize, usize)) -> impl Iterator<Item = [usize; 5]> + '_ {
    let tpi = pl.tiles_per_image();
    let mut j = start;
    std::iter::from_fn(move || {
        (j < end).then(|| {
            let (i, r) = (j / tpi, j % tpi);
            let (ty, tx) = (r / pl.tw, r % pl.tw);
            let len = (pl.tw - tx).min(end - j).min(SEG);
            let seg = [i, ty, tx, len, j - start];
            j += len;
            seg
        })
    })
}

/// The 16 rows `(ξ, ch)` of `src: 16 x c x nb` (the `ξ` [`xi_stride`] apart) for a run of `len`
/// tiles at `off`.
#[inline(always)]
fn rows16(src: &[f32], (c, ch, nb): (usize, usize, usize), off: usize, len: usize) -> [&[f32]; 16] {
    let xs = xi_stride(c, nb);
    std::array::from_fn(|xi| {
        let at = xi * xs + ch * nb + off;
        &src[at..at + len]
    })
}

/// The transformed input tiles `[start, end)` of a group, `V: 16 x c x nb` (`nb = end - start`),
/// from its padded planes: `B^T d B` of each tile, the columns' combinations first.
pub(super) fn input(padded: &[f32], c: usize, pl: &Plan, blk: (usize, usize), v: &mut [f32]) {
    on_lanes!(input_on(padded: &[f32], c: usize, pl: &Plan, blk: (usize, usize), v: &mut [f32]))
}

#[inline(always)]
pub(super) fn input_on<W: Lanes>(
    padded: &[f32],
    c: usize,
    pl: &Plan,
    blk: (usize, usize),
    v: &mut [f32],
) {
    let nb = blk.1 - blk.0;
    let xs = xi_stride(c, nb);
    let plane = pl.hp * pl.wp;
    let mut t = [[[0f32; RUN]; 2]; 4];
    for [i, ty, tx, len, off] in segments(pl, blk) {
        for ch in 0..c {
            let p = &padded[(i * c + ch) * plane..];
            let row = |r: usize| {
                let at = (2 * ty + r) * pl.wp + 2 * tx;
                &p[at..at + 2 * (len + 1)]
            };
            // the columns' combinations of the len + 1 column pairs, even and odd apart
            for k in chunks(len + 1) {
                let ((e0, o0), (e1, o1)) = (W::ld2(row(0), k), W::ld2(row(1), k));
                let ((e2, o2), (e3, o3)) = (W::ld2(row(2), k), W::ld2(row(3), k));
                let rows = [
                    (e0 - e2, o0 - o2),
                    (e1 + e2, o1 + o2),
                    (e2 - e1, o2 - o1),
                    (e1 - e3, o1 - o3),
                ];
                for ([te, to], (e, o)) in t.iter_mut().zip(rows) {
                    e.st(te, k);
                    o.st(to, k);
                }
            }
            for (r, [e, o]) in t.iter().enumerate() {
                let at = |q: usize| (4 * r + q) * xs + ch * nb + off;
                for k in chunks(len) {
                    let (e0, e1) = (W::ld(e, k), W::ld(e, k + 1));
                    let (o0, o1) = (W::ld(o, k), W::ld(o, k + 1));
                    (e0 - e1).st(&mut v[at(0)..at(0) + len], k);
                    (o0 + e1).st(&mut v[at(1)..at(1) + len], k);
                    (e1 - o0).st(&mut v[at(2)..at(2) + len], k);
                    (o0 - o1).st(&mut v[at(3)..at(3) + len], k);
                }
            }
        }
    }
}

/// The transformed output gradients `dM: 16 x cout x nb` of the tiles `[start, end)` of a group
/// whose `dy` planes were padded to `2 th x 2 tw` (zero outside the output): `A dy A^T` of each
/// tile, the rows' combinations first.
pub(super) fn grad(dyp: &[f32], cout: usize, pl: &Plan, blk: (usize, usize), dm: &mut [f32]) {
    on_lanes!(grad_on(dyp: &[f32], cout: usize, pl: &Plan, blk: (usize, usize), dm: &mut [f32]))
}

#[inline(always)]
pub(super) fn grad_on<W: Lanes>(
    dyp: &[f32],
    cout: usize,
    pl: &Plan,
    blk: (usize, usize),
    dm: &mut [f32],
) {
    let (nb, pw, plane) = (blk.1 - blk.0, 2 * pl.tw, 4 * pl.tiles_per_image());
    let xs = xi_stride(cout, nb);
    for [i, ty, tx, len, off] in segments(pl, blk) {
        for o in 0..cout {
            let p = &dyp[(i * cout + o) * plane..];
            let row = |r: usize| {
                let at = (2 * ty + r) * pw + 2 * tx;
                &p[at..at + 2 * len]
            };
            for k in chunks(len) {
                let ((e0, o0), (e1, o1)) = (W::ld2(row(0), k), W::ld2(row(1), k));
                let h0 = [e0, e0 + o0, e0 - o0, -o0];
                let h1 = [e1, e1 + o1, e1 - o1, -o1];
                for c in 0..4 {
                    let at = |r: usize| (4 * r + c) * xs + o * nb + off;
                    h0[c].st(&mut dm[at(0)..at(0) + len], k);
                    (h0[c] + h1[c]).st(&mut dm[at(1)..at(1) + len], k);
                    (h0[c] - h1[c]).st(&mut dm[at(2)..at(2) + len], k);
                    (-h1[c]).st(&mut dm[at(3)..at(3) + len], k);
                }
            }
        }
    }
}

/// The outputs `A^T m A` of the products `m: 16 x cout x nb` of the tiles `[start, end)`,
/// written into the group's `y`, the columns' combinations first.
pub(super) fn output(g: &Geom, pl: &Plan, m: &[f32], blk: (usize, usize), yg: &mut [f32]) {
    on_lanes!(output_on(g: &Geom, pl: &Plan, m: &[f32], blk: (usize, usize), yg: &mut [f32]))
}

#[inline(always)]
pub(super) fn output_on<W: Lanes>(
    g: &Geom,
    pl: &Plan,
    m: &[f32],
    blk: (usize, usize),
    yg: &mut [f32],
) {
    let nb = blk.1 - blk.0;
    for [i, ty, tx, len, off] in segments(pl, blk) {
        for o in 0..g.cout {
            let m = rows16(m, (g.cout, o, nb), off, len);
            let yo = &mut yg[(i * g.cout + o) * g.ohw()..(i * g.cout + o + 1) * g.ohw()];
            for k in chunks(len) {
                let [t0, t1, t2, t3] = [
                    output_col::<W>(&m, 0, k),
                    output_col::<W>(&m, 1, k),
                    output_col::<W>(&m, 2, k),
                    output_col::<W>(&m, 3, k),
                ];
                for r in 0..2 {
                    let oy = 2 * ty + r;
                    if oy >= g.oh {
                        break;
                    }
                    // The last tile column's right half lies outside an odd-width output: the
                    // row ends before it, and the store drops it.
                    let row = &mut yo[oy * g.ow + 2 * tx..oy * g.ow + g.ow.min(2 * (tx + len))];
                    let (even, odd) = (t0[r] + t1[r] + t2[r], t1[r] - t2[r] - t3[r]);
                    W::st2(row, k, even, odd);
                }
            }
        }
    }
}

/// Column `c`'s two row combinations of `A^T m A` for tiles `k..k + 8`.
#[inline(always)]
fn output_col<W: Lanes>(m: &[&[f32]; 16], c: usize, k: usize) -> [W; 2] {
    let (m0, m1) = (W::ld(m[c], k), W::ld(m[4 + c], k));
    let (m2, m3) = (W::ld(m[8 + c], k), W::ld(m[12 + c], k));
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// The input gradients `B dv B^T` of the tiles `[start, end)` (`dv: 16 x cin x nb`) added
/// into the group's padded planes, the rows' combinations first, every pixel's terms in tile
/// order (a tile's right half before the next tile's left half).
pub(super) fn scatter(cin: usize, pl: &Plan, dv: &[f32], blk: (usize, usize), dxp: &mut [f32]) {
    on_lanes!(scatter_on(cin: usize, pl: &Plan, dv: &[f32], blk: (usize, usize), dxp: &mut [f32]))
}

/// Column `c`'s four row combinations of `B dv B^T` for tiles `k..k + 8`.
#[inline(always)]
fn scatter_col<W: Lanes>(v: &[&[f32]; 16], c: usize, k: usize) -> [W; 4] {
    let (v0, v1) = (W::ld(v[c], k), W::ld(v[4 + c], k));
    let (v2, v3) = (W::ld(v[8 + c], k), W::ld(v[12 + c], k));
    [v0, v1 - v2 + v3, v1 + v2 - v0, -v3]
}

#[inline(always)]
pub(super) fn scatter_on<W: Lanes>(
    cin: usize,
    pl: &Plan,
    dv: &[f32],
    blk: (usize, usize),
    dxp: &mut [f32],
) {
    let nb = blk.1 - blk.0;
    let plane = pl.hp * pl.wp;
    // Each tile row's 4 column combinations d0..d3, d2 and d3 one tile to the right; the sums.
    let mut d = [[[0f32; RUN]; 4]; 4];
    let mut sum = [[0f32; RUN]; 2];
    for [i, ty, tx, len, off] in segments(pl, blk) {
        for ch in 0..cin {
            let v = rows16(dv, (cin, ch, nb), off, len);
            for k in chunks(len) {
                let [t0, t1, t2, t3] = [
                    scatter_col::<W>(&v, 0, k),
                    scatter_col::<W>(&v, 1, k),
                    scatter_col::<W>(&v, 2, k),
                    scatter_col::<W>(&v, 3, k),
                ];
                for (r, [d0, d1, d2, d3]) in d.iter_mut().enumerate() {
                    t0[r].st(d0, k);
                    (t1[r] - t2[r] + t3[r]).st(d1, k);
                    (t1[r] + t2[r] - t0[r]).st(d2, k + 1);
                    (-t3[r]).st(d3, k + 1);
                }
            }
            let p = &mut dxp[(i * cin + ch) * plane..(i * cin + ch + 1) * plane];
            for (r, [d0, d1, d2, d3]) in d.iter_mut().enumerate() {
                // Tile k's right half (d2, d3) lands on tile k + 1's left half (d0, d1): added
                // first, as tile order has it (the zeros added are exact).
                (d0[len], d1[len], d2[0], d3[0]) = (0.0, 0.0, 0.0, 0.0);
                let at = (2 * ty + r) * pl.wp + 2 * tx;
                let row = &mut p[at..at + 2 * (len + 1)];
                // summed apart, then stored: the chunks overlap
                let [even, odd] = &mut sum;
                for k in chunks(len + 1) {
                    let (e, od) = W::ld2(row, k);
                    (e + W::ld(d2, k) + W::ld(d0, k)).st(even, k);
                    (od + W::ld(d3, k) + W::ld(d1, k)).st(odd, k);
                }
                for k in chunks(len + 1) {
                    W::st2(row, k, W::ld(even, k), W::ld(odd, k));
                }
            }
        }
    }
}
