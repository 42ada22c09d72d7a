//! Dense symmetric linear algebra in f64, deterministic: the eigen-decomposition of a symmetric
//! matrix by Householder tridiagonalisation plus the implicit QL algorithm (EISPACK's `tred2` /
//! `tql2`, as in JAMA), no random start, no threads. Used by `repr::pca` (the covariance of
//! embeddings) and `eval::frechet` (matrix square roots of covariances); below both in the layers.

/// The QL iterations did not converge (non-finite input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the eigensolver did not converge")]
pub struct NoConvergence;

/// Eigen-decomposition of the symmetric `m x m` matrix `a` (row-major): eigenvalues in
/// decreasing order and their unit eigenvectors (as rows, same order).
pub fn eigh(a: Vec<f64>, m: usize) -> Result<(Vec<f64>, Vec<Vec<f64>>), NoConvergence> {
    let mut v = a;
    let (mut d, mut e) = (vec![0f64; m], vec![0f64; m]);
    tred2(&mut v, &mut d, &mut e, m);
    // rows of `w` are the eigenvectors being accumulated (columns of JAMA's V)
    let mut w: Vec<Vec<f64>> = v.chunks(m).map(<[f64]>::to_vec).collect();
    tql2(&mut w, &mut d, &mut e, m)?;
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| d[j].total_cmp(&d[i]).then(i.cmp(&j)));
    let values = order.iter().map(|&i| d[i]).collect();
    let vectors = order.iter().map(|&i| std::mem::take(&mut w[i])).collect();
    Ok((values, vectors))
}

/// Householder reduction of the symmetric `v` to tridiagonal form (diagonal `d`, sub-diagonal
/// `e`), `v` becoming the transpose of the orthogonal transformation (JAMA's `tred2` with every
/// index pair swapped: the same arithmetic on the transposed storage, so that its inner loops
/// run along rows).
fn tred2(v: &mut [f64], d: &mut [f64], e: &mut [f64], n: usize) {
    let at = |i: usize, j: usize| i * n + j;
    for j in 0..n {
        d[j] = v[at(j, n - 1)];
    }
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(j, i - 1)];
                v[at(j, i)] = 0.0;
                v[at(i, j)] = 0.0;
            }
        } else {
            for dk in d[..i].iter_mut() {
                *dk /= scale;
                h += *dk * *dk;
            }
            let mut f = d[i - 1];
            let mut g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].iter_mut().for_each(|x| *x = 0.0);
            for j in 0..i {
                f = d[j];
                v[at(i, j)] = f;
                g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(j, k)] * d[k];
                    e[k] += v[at(j, k)] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(j, k)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(j, i - 1)];
                v[at(j, i)] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n.saturating_sub(1) {
        v[at(i, n - 1)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(i + 1, k)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(i + 1, k)] * v[at(j, k)]).sum();
                for k in 0..=i {
                    v[at(j, k)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(i + 1, k)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(j, n - 1)];
        v[at(j, n - 1)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// Implicit QL iterations on the tridiagonal (`d`, `e`), accumulating the rotations into the
/// eigenvector rows `w` (JAMA's `tql2`, transposed). Fails rather than loop on a matrix that
/// does not converge (non-finite input).
fn tql2(w: &mut [Vec<f64>], d: &mut [f64], e: &mut [f64], n: usize) -> Result<(), NoConvergence> {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let (mut f, mut tst1) = (0f64, 0f64);
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        // JAMA's do-while: rotate until e[l] is negligible
        let (mut iter, mut converged) = (0, m == l);
        while !converged {
            iter += 1;
            if iter > 100 || !tst1.is_finite() {
                return Err(NoConvergence);
            }
            let g = d[l];
            let mut p = (d[l + 1] - g) / (2.0 * e[l]);
            let mut r = p.hypot(1.0);
            if p < 0.0 {
                r = -r;
            }
            d[l] = e[l] / (p + r);
            d[l + 1] = e[l] * (p + r);
            let dl1 = d[l + 1];
            let mut h = g - d[l];
            for di in d[l + 2..].iter_mut() {
                *di -= h;
            }
            f += h;
            p = d[m];
            let (mut c, mut c2, mut c3) = (1f64, 1f64, 1f64);
            let el1 = e[l + 1];
            let (mut s, mut s2) = (0f64, 0f64);
            for i in (l..m).rev() {
                c3 = c2;
                c2 = c;
                s2 = s;
                let g = c * e[i];
                h = c * p;
                r = p.hypot(e[i]);
                e[i + 1] = s * r;
                s = e[i] / r;
                c = p / r;
                p = c * d[i] - s * g;
                d[i + 1] = h + s * (c * g + s * d[i]);
                let (lo, hi) = w.split_at_mut(i + 1);
                for (a, b) in lo[i].iter_mut().zip(hi[0].iter_mut()) {
                    let t = *b;
                    *b = s * *a + c * t;
                    *a = c * *a - s * t;
                }
            }
            p = -s * s2 * c3 * el1 * e[l] / dl1;
            e[l] = s * p;
            d[l] = c * p;
            converged = e[l].abs() <= eps * tst1;
        }
        d[l] += f;
        e[l] = 0.0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use rand::Rng;

    #[test]
    fn eigensolver_reconstructs_random_symmetric_matrices() {
        let mut rng = stream(5, "test/pca/eigh");
        for m in [1, 2, 3, 17, 40] {
            let mut a = vec![0f64; m * m];
            for i in 0..m {
                for j in 0..=i {
                    let v: f64 = rng.random_range(-1.0..1.0);
                    a[i * m + j] = v;
                    a[j * m + i] = v;
                }
            }
            let (vals, vecs) = eigh(a.clone(), m).unwrap();
            assert!(vals.windows(2).all(|w| w[0] >= w[1]), "decreasing");
            for i in 0..m {
                for j in 0..m {
                    let dot: f64 = vecs[i].iter().zip(&vecs[j]).map(|(a, b)| a * b).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12, "m {m}: orthonormal {i} {j}");
                    let rec: f64 = (0..m).map(|k| vals[k] * vecs[k][i] * vecs[k][j]).sum();
                    assert!((rec - a[i * m + j]).abs() < 1e-12, "m {m}: A[{i}][{j}]");
                }
            }
        }
        let (vals, _) = eigh(vec![2.0, 1.0, 1.0, 2.0], 2).unwrap();
        assert!((vals[0] - 3.0).abs() < 1e-15 && (vals[1] - 1.0).abs() < 1e-15);
    }
}
