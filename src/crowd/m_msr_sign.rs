//! The sign step of [`MMsr`](super::MMsr) (crowd-kit's `_sign_determination_valid`) and the
//! numerics it needs. Volunteers whose covariance row sums to non-zero are "valid"; on them a
//! graph joins negatively correlated pairs directly (every diagonal entry is negative, so each
//! has a self-loop) and positively correlated pairs through an added node. crowd-kit takes the
//! eigenvector of `D^-1 A + I` with the eigenvalue of smallest magnitude (scipy's ARPACK
//! `eigs(..., which="SM")`); its signs, oriented so that most valid volunteers are positive,
//! give each volunteer's sign. `D^-1 A` is similar to the symmetric `N = D^-1/2 A D^-1/2` and its
//! eigenvalues lie in [-1, 1], so that is the eigenvector of N's smallest eigenvalue scaled by
//! `D^-1/2` (same signs). It is found by single-vector LOBPCG (the graph has up to V^2/2 added
//! nodes: never a dense matrix, and only a few vectors are kept), its 3 x 3 Rayleigh-Ritz
//! problems by cyclic Jacobi. The start vector comes from the rand_chacha stream
//! `crowd/m-msr-lobpcg`; dot products are summed in fixed chunks, so the result does not depend
//! on the number of rayon threads.

use rand::Rng;
use rayon::prelude::*;

use crate::rng::stream;

/// numpy's pairwise summation (`np.sum` of a contiguous float64 array), bit for bit.
pub(crate) fn np_sum(a: &[f64]) -> f64 {
    fn pairwise(a: &[f64]) -> f64 {
        let n = a.len();
        if n < 8 {
            a.iter().fold(0.0, |s, x| s + x)
        } else if n <= 128 {
            let mut r = [0.0; 8];
            r.copy_from_slice(&a[..8]);
            let full = n - n % 8;
            for chunk in a[8..full].chunks_exact(8) {
                for (r, x) in r.iter_mut().zip(chunk) {
                    *r += x;
                }
            }
            let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for x in &a[full..] {
                s += x;
            }
            s
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            pairwise(&a[..n2]) + pairwise(&a[n2..])
        }
    }
    0.0 + pairwise(a)
}

/// Chunk length of the deterministic parallel dot product.
const CHUNK: usize = 4096;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    let parts: Vec<f64> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p * q).sum())
        .collect();
    parts.iter().sum()
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The signed graph of the valid volunteers and its normalised adjacency `N`.
struct Graph {
    k: usize,
    /// Per valid volunteer: negatively correlated valid partners (itself included).
    neg: Vec<Vec<u32>>,
    /// Positive pairs (p < q), one added node each, in row-major order.
    pos: Vec<(u32, u32)>,
    /// Per valid volunteer: indices into `pos`.
    node_pos: Vec<Vec<u32>>,
    /// `1 / sqrt(degree)` per node (valid volunteers, then added nodes).
    inv_sqrt_deg: Vec<f64>,
}

impl Graph {
    fn len(&self) -> usize {
        self.k + self.pos.len()
    }

    /// `out = N x`.
    fn apply(&self, x: &[f64], out: &mut [f64]) {
        let z: Vec<f64> = x
            .iter()
            .zip(&self.inv_sqrt_deg)
            .map(|(a, b)| a * b)
            .collect();
        let k = self.k;
        out.par_iter_mut().enumerate().for_each(|(r, o)| {
            let s = if r < k {
                let a: f64 = self.neg[r].iter().map(|&q| z[q as usize]).sum();
                a + self.node_pos[r]
                    .iter()
                    .map(|&e| z[k + e as usize])
                    .sum::<f64>()
            } else {
                let (p, q) = self.pos[r - k];
                z[p as usize] + z[q as usize]
            };
            *o = s * self.inv_sqrt_deg[r];
        });
    }
}

/// Eigenvalues and eigenvectors (columns of the returned row-major matrix) of a dense symmetric
/// `m x m` matrix by cyclic Jacobi rotations.
fn jacobi(mut a: Vec<f64>, m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; m * m];
    (0..m).for_each(|i| v[i * m + i] = 1.0);
    for _ in 0..100 {
        let off: f64 = (0..m)
            .flat_map(|p| (p + 1..m).map(move |q| (p, q)))
            .map(|(p, q)| a[p * m + q].powi(2))
            .sum();
        let diag: f64 = (0..m).map(|p| a[p * m + p].powi(2)).sum();
        if off <= 1e-32 * diag.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..m {
                    let (x, y) = (a[r * m + p], a[r * m + q]);
                    a[r * m + p] = c * x - s * y;
                    a[r * m + q] = s * x + c * y;
                }
                for r in 0..m {
                    let (x, y) = (a[p * m + r], a[q * m + r]);
                    a[p * m + r] = c * x - s * y;
                    a[q * m + r] = s * x + c * y;
                }
                for r in 0..m {
                    let (x, y) = (v[r * m + p], v[r * m + q]);
                    v[r * m + p] = c * x - s * y;
                    v[r * m + q] = s * x + c * y;
                }
            }
        }
    }
    ((0..m).map(|i| a[i * m + i]).collect(), v)
}

fn normalized(mut x: Vec<f64>) -> Vec<f64> {
    let norm = dot(&x, &x).sqrt();
    x.par_iter_mut().for_each(|a| *a /= norm);
    x
}

/// `x -= c y`.
fn sub_scaled(x: &mut [f64], c: f64, y: &[f64]) {
    x.par_iter_mut().zip(y).for_each(|(a, b)| *a -= c * b);
}

/// Unit eigenvector of the smallest eigenvalue of the symmetric operator `apply` (size `n`), by
/// LOBPCG with one vector: each step minimises the Rayleigh quotient over the current vector, its
/// residual and the previous step (memory: a few vectors, whatever the size).
fn min_eigenvector(n: usize, apply: impl Fn(&[f64], &mut [f64]), x: Vec<f64>) -> Vec<f64> {
    const MAX_ITER: usize = 20_000;
    const TOL: f64 = 1e-10;
    let image = |v: &[f64]| {
        let mut w = vec![0.0; n];
        apply(v, &mut w);
        w
    };
    let mut x = normalized(x);
    let mut ax = image(&x);
    let mut p: Option<Vec<f64>> = None;
    for _ in 0..MAX_ITER {
        let lambda = dot(&x, &ax);
        let mut r = ax.clone();
        sub_scaled(&mut r, lambda, &x);
        let r_norm = dot(&r, &r).sqrt();
        if r_norm < TOL {
            break;
        }
        let mut basis = vec![x.clone()];
        for mut v in [Some(r), p.take()].into_iter().flatten() {
            let before = dot(&v, &v).sqrt();
            for _ in 0..2 {
                for b in &basis {
                    let h = dot(b, &v);
                    sub_scaled(&mut v, h, b);
                }
            }
            if dot(&v, &v).sqrt() > 1e-8 * before {
                basis.push(normalized(v));
            }
        }
        let mut images = vec![ax.clone()];
        images.extend(basis[1..].iter().map(|b| image(b)));
        let m = basis.len();
        let mut h = vec![0.0; m * m];
        for i in 0..m {
            for j in i..m {
                let v = 0.5 * (dot(&basis[i], &images[j]) + dot(&basis[j], &images[i]));
                h[i * m + j] = v;
                h[j * m + i] = v;
            }
        }
        let (values, vectors) = jacobi(h, m);
        let best = (0..m)
            .min_by(|&a, &b| values[a].total_cmp(&values[b]))
            .expect("non-empty basis");
        let c: Vec<f64> = (0..m).map(|i| vectors[i * m + best]).collect();
        let combine = |vs: &[Vec<f64>], from: usize| -> Vec<f64> {
            let mut out = vec![0.0; n];
            for (v, &ci) in vs.iter().zip(&c).skip(from) {
                out.par_iter_mut().zip(v).for_each(|(o, a)| *o += ci * a);
            }
            out
        };
        let (new_x, new_ax) = (combine(&basis, 0), combine(&images, 0));
        if m > 1 {
            p = Some(combine(&basis, 1));
        }
        let norm = dot(&new_x, &new_x).sqrt();
        x = new_x.iter().map(|a| a / norm).collect();
        ax = new_ax.iter().map(|a| a / norm).collect();
    }
    x
}

/// crowd-kit's `_sign_determination_valid(C, s_abs)` for the `n x n` covariance `cov`.
pub(crate) fn sign_determination(cov: &[f64], n: usize, s_abs: &[f64], seed: u64) -> Vec<f64> {
    let valid: Vec<usize> = (0..n)
        .filter(|&a| np_sum(&cov[a * n..(a + 1) * n]) != 0.0)
        .collect();
    let k = valid.len();
    let mut out = vec![0.0; n];
    if k == 0 {
        return out;
    }
    let s = |p: usize, q: usize| sign(cov[valid[p] * n + valid[q]]);
    let neg: Vec<Vec<u32>> = (0..k)
        .map(|p| {
            (0..k)
                .filter(|&q| s(p, q) < 0.0)
                .map(|q| q as u32)
                .collect()
        })
        .collect();
    let mut pos = Vec::new();
    let mut node_pos = vec![Vec::new(); k];
    for p in 0..k {
        for q in p..k {
            if s(p, q) > 0.0 {
                node_pos[p].push(pos.len() as u32);
                node_pos[q].push(pos.len() as u32);
                pos.push((p as u32, q as u32));
            }
        }
    }
    let mut inv_sqrt_deg: Vec<f64> = (0..k)
        .map(|p| 1.0 / ((neg[p].len() + node_pos[p].len()) as f64).sqrt())
        .collect();
    inv_sqrt_deg.extend(std::iter::repeat_n(1.0 / 2f64.sqrt(), pos.len()));
    let g = Graph {
        k,
        neg,
        pos,
        node_pos,
        inv_sqrt_deg,
    };
    let mut rng = stream(seed, "crowd/m-msr-lobpcg");
    let start: Vec<f64> = (0..g.len())
        .map(|_| rng.random::<f64>() * 2.0 - 1.0)
        .collect();
    let x = min_eigenvector(g.len(), |a, b| g.apply(a, b), start);
    let signs: Vec<f64> = x[..k].iter().map(|&a| sign(a)).collect();
    let orient = sign(signs.iter().sum());
    for (p, &a) in valid.iter().enumerate() {
        out[a] = orient * s_abs[a] * signs[p];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn np_sum_matches_numpy_order() {
        let a: Vec<f64> = (0..300).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        // Blocks of <= 128: eight accumulators, then the remainder one by one.
        let block = |b: &[f64]| {
            let full = b.len() - b.len() % 8;
            let mut r = [0.0; 8];
            r.copy_from_slice(&b[..8]);
            for c in b[8..full].chunks_exact(8) {
                (0..8).for_each(|j| r[j] += c[j]);
            }
            let s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            b[full..].iter().fold(s, |s, x| s + x)
        };
        // n = 300 splits at 144 (150 less 150 % 8), 144 at 72, 156 at 72 (78 less 6).
        let want =
            (block(&a[..72]) + block(&a[72..144])) + (block(&a[144..216]) + block(&a[216..]));
        assert_eq!(np_sum(&a), want);
        assert_eq!(np_sum(&a[..5]), (((a[0] + a[1]) + a[2]) + a[3]) + a[4]);
    }

    #[test]
    fn jacobi_and_lobpcg_find_the_smallest_eigenpair() {
        // M = H diag(1, 2, ..., n) H with the Householder reflection H = I - 2 h h^T / h^T h:
        // smallest eigenvalue 1, eigenvector H e0 = e0 - 2 h h0 / h^T h.
        let n = 300;
        let h: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 101) as f64 / 101.0 - 0.4)
            .collect();
        let hh = dot(&h, &h);
        let reflect = |x: &[f64]| -> Vec<f64> {
            let c = 2.0 * dot(&h, x) / hh;
            x.iter().zip(&h).map(|(a, b)| a - c * b).collect()
        };
        let apply = |x: &[f64], y: &mut [f64]| {
            let z: Vec<f64> = reflect(x)
                .iter()
                .enumerate()
                .map(|(i, a)| a * (i + 1) as f64)
                .collect();
            y.copy_from_slice(&reflect(&z));
        };
        let start: Vec<f64> = (0..n).map(|i| ((i * 31) % 17) as f64 - 8.0).collect();
        let x = min_eigenvector(n, apply, start);
        let mut e0 = vec![0.0; n];
        e0[0] = 1.0;
        let want = reflect(&e0);
        let c = dot(&x, &want) / dot(&want, &want).sqrt();
        assert!(c.abs() > 1.0 - 1e-12, "cosine {c}");
        let (values, vectors) = jacobi(vec![2.0, 1.0, 1.0, 2.0], 2);
        let small = if values[0] < values[1] { 0 } else { 1 };
        assert!((values[small] - 1.0).abs() < 1e-14 && (values[1 - small] - 3.0).abs() < 1e-14);
        // Its eigenvector is (1, -1) / sqrt(2).
        assert!((vectors[small] + vectors[2 + small]).abs() < 1e-14);
    }

    #[test]
    fn signs_split_two_camps() {
        // Volunteers 0-2 agree with each other, 3 disagrees with all: 3 flips.
        let mut cov = vec![-0.5; 16];
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    cov[a * 4 + b] = 0.8;
                }
            }
        }
        let out = sign_determination(&cov, 4, &[0.9, 0.8, 0.7, 0.6], 0);
        assert_eq!(out, vec![0.9, 0.8, 0.7, -0.6]);
    }
}
