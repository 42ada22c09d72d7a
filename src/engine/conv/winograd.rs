//! Winograd F(2x2, 3x3) for the 3x3 stride-1 convolutions (Lavin & Gray 2016): each 2x2 output
//! tile is `A^T [(G g G^T) ⊙ (B^T d B)] A` for its 4x4 input tile `d`, so the channel sums are
//! 16 matrix products (one per position `ξ` of the 4x4 transformed tile) of 4 multiply-adds per
//! output where im2col spends 9: 2.25x fewer.
//!
//! The backward passes differentiate exactly that computation: the input's gradient is
//! `B [U ⊙ (A dY A^T)] B^T` per tile, its 16 products `U_ξ^T · dM_ξ`, tiles added into the
//! (overlapping) input windows in tile order; the weight's is `G^T [Σ_tiles dM_ξ · V_ξ^T] G`.
//!
//! The transforms ([`transforms`]) run 8 tiles of a tile row at a time ([`lanes`]: one AVX
//! register, or an array where the CPU has no AVX2).
//!
//! Determinism: transforms are plain `f32` adds and halvings in a fixed order (no fused
//! multiply-adds, none contracted by the compiler; the same on every lane width), the products
//! go through [`gemm_chunked`](super::matmul) like every other product, and the tiles are cut
//! into image groups and blocks that depend only on the shape ([`Plan`]), never on the thread
//! count.
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

/// `f` on three scratch slices carved from this thread's convolution buffer
/// ([`super::with_scratch`]): `pads` floats of padded planes, then a block's transformed tiles
/// of the `cin` channels and of the `cout` channels (`16 x channels x block`, the matrices `ξ`
/// [`xi_stride`] apart). Their contents are left over from earlier uses: every use writes the
/// part it reads.
fn with_bufs<R>(
    g: &Geom,
    pl: &Plan,
    pads: usize,
    f: impl FnOnce(&mut [f32], &mut [f32], &mut [f32]) -> R,
) -> R {
    let (vs, ms) = strides(g, pl.block);
    super::with_scratch(pads + 16 * (vs + ms), |buf| {
        let (p, rest) = buf.split_at_mut(pads);
        let (v, m) = rest.split_at_mut(16 * vs);
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

/// Floats between consecutive matrices `ξ` of a block's transformed tiles or products (`rows x
/// nb` each): one cache line more than they take, so the 16 rows of a tile run a transform reads
/// or writes together fall in different L1 sets (at `rows x nb` a power of two they all fell in
/// one and evicted each other).
fn xi_stride(rows: usize, nb: usize) -> usize {
    rows * nb + 16
}

/// The [`xi_stride`]s of a block of `nb` tiles: of its `cin`-channel matrices (transformed
/// input tiles, input gradients) and of its `cout`-channel ones (products, output gradients).
fn strides(g: &Geom, nb: usize) -> (usize, usize) {
    (xi_stride(g.cin, nb), xi_stride(g.cout, nb))
}

/// An operand of [`products`]: its 16 matrices, `stride` floats apart, each read with `mat`.
type Operand<'a> = (&'a [f32], Mat, usize);

/// The 16 products `out_ξ (m x n) [+]= lhs_ξ (m x k) · rhs_ξ (k x n)`, `out_ξ` row-major and
/// `os` floats apart.
fn products(
    (m, k, n): (usize, usize, usize),
    (lhs, lm, ls): Operand,
    (rhs, rm, rs): Operand,
    (out, os): (&mut [f32], usize),
    accumulate: bool,
) {
    for xi in 0..16 {
        let l = &lhs[xi * ls..xi * ls + m * k];
        let r = &rhs[xi * rs..xi * rs + k * n];
        let o = &mut out[xi * os..xi * os + m * n];
        matmul((m, n, k), o, Mat::rows(n), accumulate, l, lm, r, rm);
    }
}

/// Forward: `y` of every image (`n x cout x oh x ow`) from `x` and `w`.
pub(super) fn forward(g: &Geom, x: &[f32], w: &[f32]) -> Vec<f32> {
    let pl = Plan::new(g, None);
    let (u, cc) = (transform_weight(g, w), g.cout * g.cin);
    let mut y = vec![0f32; g.n * g.out_img()];
    let plane = pl.hp * pl.wp;
    y.par_chunks_mut(pl.ipg * g.out_img())
        .zip(x.par_chunks(pl.ipg * g.in_img()))
        .for_each(|(yg, xg)| {
            let imgs = yg.len() / g.out_img();
            with_bufs(g, &pl, imgs * g.cin * plane, |padded, v, m| {
                pad_planes(xg, (g.cin, g.h, g.w), g.pad, &pl, padded);
                for (start, end) in pl.blocks(imgs) {
                    let nb = end - start;
                    transforms::input(padded, g.cin, &pl, (start, end), v);
                    let (vs, ms) = strides(g, nb);
                    let (lhs, rhs) = ((&u[..], Mat::rows(g.cin), cc), (&v[..], Mat::rows(nb), vs));
                    products((g.cout, g.cin, nb), lhs, rhs, (m, ms), false);
                    transforms::output(g, &pl, m, (start, end), yg);
                }
            })
        });
    y
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
    let (u, cc) = (transform_weight(g, w), g.cout * g.cin);
    let mut dx = vec![0f32; g.n * g.in_img()];
    let (plane, gplane) = (pl.hp * pl.wp, 4 * pl.tiles_per_image());
    dx.par_chunks_mut(pl.ipg * g.in_img())
        .zip(dy.par_chunks(pl.ipg * g.out_img()))
        .for_each(|(dxg, dyg)| {
            let imgs = dxg.len() / g.in_img();
            let pads = imgs * (g.cin * plane + g.cout * gplane);
            with_bufs(g, &pl, pads, |pads, dv, dm| {
                let (dxp, dyp) = pads.split_at_mut(imgs * g.cin * plane);
                pad_grad(g, &pl, dyg, dyp);
                dxp.fill(0.0);
                for (start, end) in pl.blocks(imgs) {
                    let nb = end - start;
                    transforms::grad(dyp, g.cout, &pl, (start, end), dm);
                    let (vs, ms) = strides(g, nb);
                    let lhs = (&u[..], Mat::transposed(g.cin), cc);
                    products(
                        (g.cin, g.cout, nb),
                        lhs,
                        (&dm[..], Mat::rows(nb), ms),
                        (dv, vs),
                        false,
                    );
                    transforms::scatter(g.cin, &pl, dv, (start, end), dxp);
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
            with_bufs(g, &pl, pads, |pads, v, dm| {
                let (xp, rest) = pads.split_at_mut(imgs * g.cin * plane);
                let (dyp, du) = rest.split_at_mut(imgs * g.cout * gplane);
                pad_planes(xg, (g.cin, g.h, g.w), g.pad, &pl, xp);
                pad_grad(g, &pl, dyg, dyp);
                for (b, (start, end)) in pl.blocks(imgs).enumerate() {
                    let nb = end - start;
                    transforms::input(xp, g.cin, &pl, (start, end), v);
                    transforms::grad(dyp, g.cout, &pl, (start, end), dm);
                    let (vs, ms) = strides(g, nb);
                    let (lhs, rhs) = (
                        (&dm[..], Mat::rows(nb), ms),
                        (&v[..], Mat::transposed(nb), vs),
                    );
                    products((g.cout, nb, g.cin), lhs, rhs, (du, cc), b > 0);
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

mod lanes;
#[cfg(test)]
mod tests;
mod transforms;
