//! Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions (Lavin & Gray 2016): each 2x2 output
//! tile is `A^T [(G g G^T) ⊙ (B^T d B)] A` for its 4x4 input tile `d`, so the channel sums are
//! 16 matrix products (one per position `ξ` of the 4x4 transformed tile) of 4 multiply-adds per
//! output where im2col spends 9: 2.25x fewer.
//!
//! The backward passes differentiate exactly that computation: the input's gradient is
//! `B [U ⊙ (A dY A^T)] B^T` per tile, its 16 products `U_ξ^T · dM_ξ`, tiles added into the
//! (overlapping) input windows in tile order; the weight's is `G^T [Σ_tiles dM_ξ · V_ξ^T] G`.
//!
//! Determinism: transforms are plain `f32` adds and halvings in a fixed order (no fused
//! multiply-adds, none contracted by the compiler), the products go through
//! [`gemm_chunked`](super::matmul) like every other product, and the tiles are cut into
//! image groups and blocks that depend only on the shape ([`Plan`]), never on the thread count.
//! Rounding differs from im2col's (a different sum), within `1e-5` relative (the tests).
//!
//! Used where [`applies`]: 3x3 kernels, stride 1, at least [`MIN_CHANNELS`] input and output
//! channels (below that the transforms cost more than the products they save).

use super::{Geom, Mat, matmul};
use rayon::prelude::*;

/// Fewest input and output channels for which the Winograd path is used.
pub const MIN_CHANNELS: usize = 16;

/// Whether the convolution runs on the Winograd kernels.
pub(super) fn applies(g: &Geom) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == 1
        && g.groups == 1
        && g.cin >= MIN_CHANNELS
        && g.cout >= MIN_CHANNELS
        && g.oh > 0
        && g.ow > 0
}

/// How the tiles of a batch are cut: `ipg` images per group (one parallel task each), the
/// group's tiles (image-major, then row-major) in blocks of nearly equal size (at most
/// `block`, at least 2 where the group has 2, so no product degenerates to a matrix-vector one).
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Tile rows and columns per image.
    th: usize,
    tw: usize,
    /// Rows and columns of the zero-padded input plane (`2 th + 2` x `2 tw + 2`).
    hp: usize,
    wp: usize,
    /// Images per group.
    ipg: usize,
    /// Most tiles per block.
    block: usize,
}

impl Plan {
    fn new(g: &Geom, ipg: Option<usize>) -> Self {
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        // ~1 MiB of transformed tiles per block (16 x channels x block floats).
        let block = (16_384 / g.cin.max(g.cout)).clamp(16, 512);
        let tpi = th * tw;
        Plan {
            th,
            tw,
            hp: 2 * th + 2,
            wp: 2 * tw + 2,
            ipg: ipg.unwrap_or((block / tpi).max(1)),
            block,
        }
    }
    fn tiles_per_image(&self) -> usize {
        self.th * self.tw
    }
    /// The blocks `[start, end)` of a group of `imgs` images.
    fn blocks(&self, imgs: usize) -> impl Iterator<Item = (usize, usize)> {
        let t = imgs * self.tiles_per_image();
        let nb = t.div_ceil(self.block).max(1);
        (0..nb).map(move |b| (b * t / nb, (b + 1) * t / nb))
    }
    /// Tile `j` of a group: its image, and the row and column of its top-left corner in the
    /// padded plane (and in the output).
    #[cfg(test)]
    fn tile(&self, j: usize) -> (usize, usize, usize) {
        let tpi = self.tiles_per_image();
        let (i, r) = (j / tpi, j % tpi);
        (i, 2 * (r / self.tw), 2 * (r % self.tw))
    }
}

/// `f` on three scratch slices of the given lengths (padded planes, transformed tiles,
/// products), carved from this thread's convolution buffer ([`super::with_scratch`]). Their
/// contents are left over from earlier uses: every use writes the part it reads.
fn with_bufs<R>(lens: [usize; 3], f: impl FnOnce(&mut [f32], &mut [f32], &mut [f32]) -> R) -> R {
    super::with_scratch(lens.iter().sum(), |buf| {
        let (p, rest) = buf.split_at_mut(lens[0]);
        let (v, m) = rest.split_at_mut(lens[1]);
        f(p, v, m)
    })
}

/// `G g G^T` of a 3x3 kernel: the 4x4 transformed weight.
fn weight_tile(g: &[f32]) -> [f32; 16] {
    let mut t = [0f32; 12];
    for c in 0..3 {
        let (g0, g1, g2) = (g[c], g[3 + c], g[6 + c]);
        t[c] = g0;
        t[3 + c] = 0.5 * (g0 + g1 + g2);
        t[6 + c] = 0.5 * (g0 - g1 + g2);
        t[9 + c] = g2;
    }
    let mut u = [0f32; 16];
    for r in 0..4 {
        let (t0, t1, t2) = (t[3 * r], t[3 * r + 1], t[3 * r + 2]);
        u[4 * r] = t0;
        u[4 * r + 1] = 0.5 * (t0 + t1 + t2);
        u[4 * r + 2] = 0.5 * (t0 - t1 + t2);
        u[4 * r + 3] = t2;
    }
    u
}

/// `G^T u G` of a 4x4 gradient: the 3x3 kernel's, the transpose of [`weight_tile`].
fn weight_tile_t(u: &[f32; 16]) -> [f32; 9] {
    let mut t = [0f32; 12];
    for c in 0..4 {
        let (u0, u1, u2, u3) = (u[c], u[4 + c], u[8 + c], u[12 + c]);
        t[c] = u0 + 0.5 * (u1 + u2);
        t[4 + c] = 0.5 * (u1 - u2);
        t[8 + c] = 0.5 * (u1 + u2) + u3;
    }
    let mut g = [0f32; 9];
    for r in 0..3 {
        let (t0, t1, t2, t3) = (t[4 * r], t[4 * r + 1], t[4 * r + 2], t[4 * r + 3]);
        g[3 * r] = t0 + 0.5 * (t1 + t2);
        g[3 * r + 1] = 0.5 * (t1 - t2);
        g[3 * r + 2] = 0.5 * (t1 + t2) + t3;
    }
    g
}

/// The transformed weight `U: 16 x cout x cin` of `w: cout x cin x 3 x 3`.
fn transform_weight(g: &Geom, w: &[f32]) -> Vec<f32> {
    let cc = g.cout * g.cin;
    let mut u = vec![0f32; 16 * cc];
    for (o, k) in w.chunks_exact(9).enumerate() {
        for (xi, v) in weight_tile(k).into_iter().enumerate() {
            u[xi * cc + o] = v;
        }
    }
    u
}

/// Copies a group's images (`c` channels of `h x w`) into zero-padded planes `hp x wp`, offset
/// by `pad` rows and columns.
fn pad_planes(
    src: &[f32],
    (c, h, w): (usize, usize, usize),
    pad: usize,
    pl: &Plan,
    dst: &mut [f32],
) {
    debug_assert_eq!(src.len() % (c * h * w).max(1), 0);
    let plane = pl.hp * pl.wp;
    for (s, d) in src.chunks_exact(h * w).zip(dst.chunks_exact_mut(plane)) {
        d.fill(0.0);
        for (r, row) in s.chunks_exact(w).enumerate() {
            let at = (r + pad) * pl.wp + pad;
            d[at..at + w].copy_from_slice(row);
        }
    }
}

/// Most tiles one vectorised pass of the transforms handles.
const SEG: usize = 32;

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

/// Scratch rows of a run of tiles.
type Run = [f32; SEG + 1];

/// Writes the even and odd columns `2(tx + k)` and `2(tx + k) + 1`, `k < n`, of a row.
#[inline(always)]
fn deinterleave(row: &[f32], tx: usize, n: usize, e: &mut Run, o: &mut Run) {
    let row = &row[2 * tx..2 * (tx + n)];
    for (k, pair) in row.chunks_exact(2).enumerate() {
        e[k] = pair[0];
        o[k] = pair[1];
    }
}

/// The 16 rows `(ξ, ch)` of `src: 16 x c x nb` for a run of `len` tiles at `off`.
#[inline(always)]
fn rows16(src: &[f32], (c, ch, nb): (usize, usize, usize), off: usize, len: usize) -> [&[f32]; 16] {
    std::array::from_fn(|xi| {
        let at = (xi * c + ch) * nb + off;
        &src[at..at + len]
    })
}

/// The transformed input tiles `[start, end)` of a group, `V: 16 x c x nb` (`nb = end - start`),
/// from its padded planes: `B^T d B` of each tile, the columns' combinations first, computed for
/// a run of tiles of one tile row at a time.
fn transform_input(
    padded: &[f32],
    c: usize,
    pl: &Plan,
    (start, end): (usize, usize),
    v: &mut [f32],
) {
    let nb = end - start;
    let plane = pl.hp * pl.wp;
    super::super::vectorised(|| {
        let mut d = [[[0f32; SEG + 1]; 2]; 4];
        let mut t = [[[0f32; SEG + 1]; 2]; 4];
        for [i, ty, tx, len, off] in segments(pl, (start, end)) {
            for ch in 0..c {
                let p = &padded[(i * c + ch) * plane..];
                for (r, [e, o]) in d.iter_mut().enumerate() {
                    deinterleave(&p[(2 * ty + r) * pl.wp..], tx, len + 1, e, o);
                }
                for eo in 0..2 {
                    let (d0, d1, d2, d3) = (&d[0][eo], &d[1][eo], &d[2][eo], &d[3][eo]);
                    for k in 0..=len {
                        t[0][eo][k] = d0[k] - d2[k];
                        t[1][eo][k] = d1[k] + d2[k];
                        t[2][eo][k] = d2[k] - d1[k];
                        t[3][eo][k] = d1[k] - d3[k];
                    }
                }
                for (r, [e, o]) in t.iter().enumerate() {
                    let at = |q: usize| ((4 * r + q) * c + ch) * nb + off;
                    let out = &mut v[at(0)..at(0) + len];
                    for k in 0..len {
                        out[k] = e[k] - e[k + 1];
                    }
                    let out = &mut v[at(1)..at(1) + len];
                    for k in 0..len {
                        out[k] = o[k] + e[k + 1];
                    }
                    let out = &mut v[at(2)..at(2) + len];
                    for k in 0..len {
                        out[k] = e[k + 1] - o[k];
                    }
                    let out = &mut v[at(3)..at(3) + len];
                    for k in 0..len {
                        out[k] = o[k] - o[k + 1];
                    }
                }
            }
        }
    })
}

/// The 16 products `out_ξ (m x n) [+]= lhs_ξ (m x k) · rhs_ξ (k x n)`, the operands read with
/// `lm` and `rm`, `out` row-major.
fn products(
    (m, k, n): (usize, usize, usize),
    (lhs, lm): (&[f32], Mat),
    (rhs, rm): (&[f32], Mat),
    out: &mut [f32],
    accumulate: bool,
) {
    for xi in 0..16 {
        let l = &lhs[xi * m * k..(xi + 1) * m * k];
        let r = &rhs[xi * k * n..(xi + 1) * k * n];
        let o = &mut out[xi * m * n..(xi + 1) * m * n];
        matmul((m, n, k), o, Mat::rows(n), accumulate, l, lm, r, rm);
    }
}

/// Forward: `y` of every image (`n x cout x oh x ow`) from `x` and `w`.
pub(super) fn forward(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
    let pl = Plan::new(g, None);
    let u = transform_weight(g, w);
    let mut y = vec![0f32; g.n * g.out_img()];
    let plane = pl.hp * pl.wp;
    y.par_chunks_mut(pl.ipg * g.out_img())
        .zip(x.par_chunks(pl.ipg * g.in_img()))
        .for_each(|(yg, xg)| {
            let imgs = yg.len() / g.out_img();
            let lens = [
                imgs * g.cin * plane,
                16 * g.cin * pl.block,
                16 * g.cout * pl.block,
            ];
            with_bufs(lens, |padded, v, m| {
                pad_planes(xg, (g.cin, g.h, g.w), g.pad, &pl, padded);
                for (start, end) in pl.blocks(imgs) {
                    let nb = end - start;
                    transform_input(padded, g.cin, &pl, (start, end), v);
                    let (lhs, rhs) = ((&u[..], Mat::rows(g.cin)), (&v[..], Mat::rows(nb)));
                    products((g.cout, g.cin, nb), lhs, rhs, m, false);
                    transform_output(g, &pl, m, (start, end), yg);
                }
            })
        });
    y
}

/// The transformed output gradients `dM: 16 x cout x nb` of the tiles `[start, end)` of a group
/// whose `dy` planes were padded to `2 th x 2 tw` (zero outside the output): `A dy A^T` of each
/// tile, the rows' combinations first.
fn transform_grad(
    dyp: &[f32],
    cout: usize,
    pl: &Plan,
    (start, end): (usize, usize),
    dm: &mut [f32],
) {
    let nb = end - start;
    let (pw, plane) = (2 * pl.tw, 4 * pl.tiles_per_image());
    super::super::vectorised(|| {
        let (mut e, mut od) = ([0f32; SEG + 1], [0f32; SEG + 1]);
        let mut h = [[[0f32; SEG + 1]; 4]; 2];
        for [i, ty, tx, len, off] in segments(pl, (start, end)) {
            for o in 0..cout {
                let p = &dyp[(i * cout + o) * plane..];
                for (r, hr) in h.iter_mut().enumerate() {
                    deinterleave(&p[(2 * ty + r) * pw..], tx, len, &mut e, &mut od);
                    for k in 0..len {
                        hr[0][k] = e[k];
                        hr[1][k] = e[k] + od[k];
                        hr[2][k] = e[k] - od[k];
                        hr[3][k] = -od[k];
                    }
                }
                for (c, (h0, h1)) in h[0].iter().zip(&h[1]).enumerate() {
                    let at = |r: usize| ((4 * r + c) * cout + o) * nb + off;
                    dm[at(0)..at(0) + len].copy_from_slice(&h0[..len]);
                    let out = &mut dm[at(1)..at(1) + len];
                    for k in 0..len {
                        out[k] = h0[k] + h1[k];
                    }
                    let out = &mut dm[at(2)..at(2) + len];
                    for k in 0..len {
                        out[k] = h0[k] - h1[k];
                    }
                    let out = &mut dm[at(3)..at(3) + len];
                    for k in 0..len {
                        out[k] = -h1[k];
                    }
                }
            }
        }
    })
}

/// The outputs `A^T m A` of the products `m: 16 x cout x nb` of the tiles `[start, end)`,
/// written into the group's `y`, the columns' combinations first.
fn transform_output(g: &Geom, pl: &Plan, m: &[f32], (start, end): (usize, usize), yg: &mut [f32]) {
    let nb = end - start;
    super::super::vectorised(|| {
        let mut t = [[[0f32; SEG + 1]; 4]; 2];
        let (mut e, mut od) = ([0f32; SEG + 1], [0f32; SEG + 1]);
        for [i, ty, tx, len, off] in segments(pl, (start, end)) {
            for o in 0..g.cout {
                let m = rows16(m, (g.cout, o, nb), off, len);
                for c in 0..4 {
                    let (m0, m1, m2, m3) = (m[c], m[4 + c], m[8 + c], m[12 + c]);
                    for k in 0..len {
                        t[0][c][k] = m0[k] + m1[k] + m2[k];
                        t[1][c][k] = m1[k] - m2[k] - m3[k];
                    }
                }
                let yo = &mut yg[(i * g.cout + o) * g.ohw()..(i * g.cout + o + 1) * g.ohw()];
                for (r, [t0, t1, t2, t3]) in t.iter().enumerate() {
                    let oy = 2 * ty + r;
                    if oy >= g.oh {
                        break;
                    }
                    for k in 0..len {
                        e[k] = t0[k] + t1[k] + t2[k];
                        od[k] = t1[k] - t2[k] - t3[k];
                    }
                    let row = &mut yo[oy * g.ow..(oy + 1) * g.ow];
                    // The last tile column's right half lies outside an odd-width output.
                    let full = len.min((g.ow - 2 * tx) / 2);
                    for (k, pair) in row[2 * tx..2 * (tx + full)].chunks_exact_mut(2).enumerate() {
                        pair[0] = e[k];
                        pair[1] = od[k];
                    }
                    if full < len {
                        row[2 * (tx + full)] = e[full];
                    }
                }
            }
        }
    })
}

/// The input gradients `B dv B^T` of the tiles `[start, end)` (`dv: 16 x cin x nb`) added
/// into the group's padded planes, the rows' combinations first, every pixel's terms in tile
/// order (a tile's right half before the next tile's left half).
fn scatter_input(cin: usize, pl: &Plan, dv: &[f32], (start, end): (usize, usize), dxp: &mut [f32]) {
    let nb = end - start;
    let plane = pl.hp * pl.wp;
    super::super::vectorised(|| {
        let mut t = [[[0f32; SEG + 1]; 4]; 4];
        let (mut e, mut od) = ([0f32; SEG + 1], [0f32; SEG + 1]);
        let mut d = [[0f32; SEG + 1]; 4];
        for [i, ty, tx, len, off] in segments(pl, (start, end)) {
            for ch in 0..cin {
                let v = rows16(dv, (cin, ch, nb), off, len);
                for c in 0..4 {
                    let (v0, v1, v2, v3) = (v[c], v[4 + c], v[8 + c], v[12 + c]);
                    for k in 0..len {
                        t[0][c][k] = v0[k];
                        t[1][c][k] = v1[k] - v2[k] + v3[k];
                        t[2][c][k] = v1[k] + v2[k] - v0[k];
                        t[3][c][k] = -v3[k];
                    }
                }
                let p = &mut dxp[(i * cin + ch) * plane..(i * cin + ch + 1) * plane];
                for (r, [t0, t1, t2, t3]) in t.iter().enumerate() {
                    let row = &mut p[(2 * ty + r) * pl.wp..(2 * ty + r + 1) * pl.wp];
                    deinterleave(row, tx, len + 1, &mut e, &mut od);
                    // Tile k's right half (d2, d3) lands on tile k + 1's left half (d0, d1):
                    // added first, as tile order has it (the zeros added are exact).
                    let [d0, d1, d2, d3] = &mut d;
                    (d0[len], d1[len], d2[0], d3[0]) = (0.0, 0.0, 0.0, 0.0);
                    for k in 0..len {
                        d0[k] = t0[k];
                        d1[k] = t1[k] - t2[k] + t3[k];
                        d2[k + 1] = t1[k] + t2[k] - t0[k];
                        d3[k + 1] = -t3[k];
                    }
                    let row = &mut row[2 * tx..2 * (tx + len + 1)];
                    for (k, pair) in row.chunks_exact_mut(2).enumerate() {
                        pair[0] = e[k] + d2[k] + d0[k];
                        pair[1] = od[k] + d3[k] + d1[k];
                    }
                }
            }
        }
    })
}

/// A group's output gradients padded to `2 th x 2 tw` planes.
fn pad_grad(g: &Geom, pl: &Plan, dy: &[f32], dst: &mut [f32]) {
    let grid = Plan {
        hp: 2 * pl.th,
        wp: 2 * pl.tw,
        ..*pl
    };
    pad_planes(dy, (g.cout, g.oh, g.ow), 0, &grid, dst);
}

/// Gradient of the input (`n x cin x h x w`) from `dy` and `w`.
pub(super) fn backward_data(g: &Geom, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let pl = Plan::new(g, None);
    let u = transform_weight(g, w);
    let mut dx = vec![0f32; g.n * g.in_img()];
    let (plane, gplane) = (pl.hp * pl.wp, 4 * pl.tiles_per_image());
    dx.par_chunks_mut(pl.ipg * g.in_img())
        .zip(dy.par_chunks(pl.ipg * g.out_img()))
        .for_each(|(dxg, dyg)| {
            let imgs = dxg.len() / g.in_img();
            let pads = imgs * (g.cin * plane + g.cout * gplane);
            let lens = [pads, 16 * g.cin * pl.block, 16 * g.cout * pl.block];
            with_bufs(lens, |pads, dv, dm| {
                let (dxp, dyp) = pads.split_at_mut(imgs * g.cin * plane);
                pad_grad(g, &pl, dyg, dyp);
                dxp.fill(0.0);
                for (start, end) in pl.blocks(imgs) {
                    let nb = end - start;
                    transform_grad(dyp, g.cout, &pl, (start, end), dm);
                    let (lhs, rhs) = ((&u[..], Mat::transposed(g.cin)), (&dm[..], Mat::rows(nb)));
                    products((g.cin, g.cout, nb), lhs, rhs, dv, false);
                    scatter_input(g.cin, &pl, dv, (start, end), dxp);
                }
                for (s, d) in dxp.chunks_exact(plane).zip(dxg.chunks_exact_mut(g.h * g.w)) {
                    for (r, row) in d.chunks_exact_mut(g.w).enumerate() {
                        let at = (r + g.pad) * pl.wp + g.pad;
                        row.copy_from_slice(&s[at..at + g.w]);
                    }
                }
            })
        });
    dx
}

/// Gradient of the weight (`cout x cin x 3 x 3`) from `x` and `dy`: one partial sum per group
/// of `group` images (back in the kernel's 3x3 space), then the partials in order.
pub(super) fn backward_filter(g: &Geom, x: &[f32], dy: &[f32], group: usize) -> Vec<f32> {
    let pl = Plan::new(g, Some(group));
    let (wlen, cc) = (g.cout * g.cin * 9, g.cout * g.cin);
    let mut partial = vec![0f32; g.n.div_ceil(pl.ipg) * wlen];
    let (plane, gplane) = (pl.hp * pl.wp, 4 * pl.tiles_per_image());
    partial
        .par_chunks_mut(wlen)
        .zip(x.par_chunks(pl.ipg * g.in_img()))
        .zip(dy.par_chunks(pl.ipg * g.out_img()))
        .for_each(|((part, xg), dyg)| {
            let imgs = xg.len() / g.in_img();
            let pads = imgs * (g.cin * plane + g.cout * gplane) + 16 * cc;
            let lens = [pads, 16 * g.cin * pl.block, 16 * g.cout * pl.block];
            with_bufs(lens, |pads, v, dm| {
                let (xp, rest) = pads.split_at_mut(imgs * g.cin * plane);
                let (dyp, du) = rest.split_at_mut(imgs * g.cout * gplane);
                pad_planes(xg, (g.cin, g.h, g.w), g.pad, &pl, xp);
                pad_grad(g, &pl, dyg, dyp);
                for (b, (start, end)) in pl.blocks(imgs).enumerate() {
                    let nb = end - start;
                    transform_input(xp, g.cin, &pl, (start, end), v);
                    transform_grad(dyp, g.cout, &pl, (start, end), dm);
                    let (lhs, rhs) = ((&dm[..], Mat::rows(nb)), (&v[..], Mat::transposed(nb)));
                    products((g.cout, nb, g.cin), lhs, rhs, du, b > 0);
                }
                for (k, out) in part.chunks_exact_mut(9).enumerate() {
                    let mut t = [0f32; 16];
                    for (xi, e) in t.iter_mut().enumerate() {
                        *e = du[xi * cc + k];
                    }
                    out.copy_from_slice(&weight_tile_t(&t));
                }
            })
        });
    super::sum_partials(&partial, wlen)
}

#[cfg(test)]
mod tests;
