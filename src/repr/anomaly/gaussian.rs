//! One Gaussian fitted to every row; the anomaly score is the squared Mahalanobis distance
//! `(x - mean)^T Sigma^-1 (x - mean)`, solved by Cholesky in f64.
//!
//! ```text
//! z = (x - mean) / sd                  per feature (population sd; constant features dropped)
//! R = z^T z / n                        the correlation matrix, diagonal 1
//! R_s = (1 - s) R + s mu I             mu = trace R / p (= 1): shrink towards the diagonal
//! Sigma = diag(sd) R_s diag(sd)        so the covariance keeps its variances and loses
//!                                      a fraction s of every covariance
//! score(x) = |L^-1 z(x)|^2             R_s = L L^T
//! ```
//! The intensity `s` is Ledoit & Wolf's (2004) estimate computed on the standardised rows (as
//! scikit-learn's `LedoitWolf` on `StandardScaler` output: the fixture
//! `fixtures/ledoit_wolf_sklearn.json`, written by `benches/peers/anomaly_ledoit_wolf_fixture.py`),
//! or fixed ([`Shrinkage::Fixed`]; 0 gives the plain maximum-likelihood Gaussian). Standardising
//! first turns Ledoit-Wolf's scaled-identity target into the covariance's own diagonal, so
//! features of very different scale are not pulled towards a common variance. Mahalanobis
//! distance does not depend on the scaling itself.
//!
//! A constant feature (sd below 1e-12 of its magnitude) carries no information and would make
//! the covariance singular: it is dropped, and ignored when scoring other rows.

use crate::engine::matmul::{Mat, gemm_chunked};
use anyhow::{Result, ensure};
use rayon::prelude::*;

/// How far the correlations are shrunk towards zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shrinkage {
    /// Ledoit & Wolf's (2004) estimate of the best intensity.
    LedoitWolf,
    /// A fixed intensity in [0, 1].
    Fixed(f64),
}

/// A fitted Gaussian (on the non-constant features).
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    /// Features per row of the data it was fitted on.
    pub d: usize,
    /// Non-constant features used, ascending.
    pub kept: Vec<usize>,
    /// Mean and population standard deviation of each kept feature.
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    /// The shrinkage intensity applied.
    pub shrinkage: f64,
    /// Lower Cholesky factor of the shrunk correlation matrix (`p x p`, `p = kept.len()`).
    chol: Vec<f64>,
}

/// Rows per parallel chunk of the correlation sums.
const CHUNK: usize = 2048;

/// Squared Mahalanobis distance of every row under a Gaussian fitted to all rows with
/// Ledoit-Wolf shrinkage (see the module doc).
pub fn gaussian_score(x: &[Vec<f32>]) -> Result<Vec<f64>> {
    Gaussian::fit(x, Shrinkage::LedoitWolf)?.score(x)
}

impl Gaussian {
    /// Fits the mean, the standard deviations and the shrunk correlation matrix of `x`.
    pub fn fit(x: &[Vec<f32>], shrinkage: Shrinkage) -> Result<Self> {
        let d = super::check_rows(x, "gaussian")?;
        let n = x.len();
        ensure!(n >= 2, "gaussian: needs at least 2 rows, got {n}");
        if let Shrinkage::Fixed(s) = shrinkage {
            ensure!(
                (0.0..=1.0).contains(&s),
                "gaussian: shrinkage {s} outside [0, 1]"
            );
        }
        let nf = n as f64;
        let mut mean = vec![0.0; d];
        for r in x {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += f64::from(*v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= nf);
        let mut var = vec![0.0; d];
        for r in x {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (f64::from(*v) - m).powi(2);
            }
        }
        let kept: Vec<usize> = (0..d)
            .filter(|&j| (var[j] / nf).sqrt() > 1e-12 * mean[j].abs().max(1e-300))
            .collect();
        let mean: Vec<f64> = kept.iter().map(|&j| mean[j]).collect();
        let sd: Vec<f64> = kept.iter().map(|&j| (var[j] / nf).sqrt()).collect();
        let p = kept.len();
        let standardise = |r: &[f32], out: &mut [f64]| {
            for (o, ((&j, m), s)) in out.iter_mut().zip(kept.iter().zip(&mean).zip(&sd)) {
                *o = (f64::from(r[j]) - m) / s;
            }
        };
        // R = z^T z / n and sum_rows |z|^4 (Ledoit-Wolf's beta), per chunk then in chunk order.
        let parts: Vec<(Vec<f64>, f64)> = x
            .par_chunks(CHUNK)
            .map(|rows| {
                if p == 0 {
                    return (Vec::new(), 0.0);
                }
                let mut z = vec![0.0; rows.len() * p];
                for (r, out) in rows.iter().zip(z.chunks_mut(p)) {
                    standardise(r, out);
                }
                let mut g = vec![0.0; p * p];
                let (zt, zm) = (Mat::transposed(p), Mat::rows(p));
                gemm_chunked(
                    (p, p, rows.len()),
                    &mut g,
                    Mat::rows(p),
                    false,
                    &z,
                    zt,
                    &z,
                    zm,
                );
                let quartic = z
                    .chunks(p)
                    .map(|r| r.iter().map(|v| v * v).sum::<f64>().powi(2))
                    .sum::<f64>();
                (g, quartic)
            })
            .collect();
        let mut corr = vec![0.0; p * p];
        let mut quartic = 0.0;
        for (g, q) in parts {
            corr.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            quartic += q;
        }
        corr.iter_mut().for_each(|v| *v /= nf);
        let s = match shrinkage {
            Shrinkage::Fixed(s) => s,
            Shrinkage::LedoitWolf => ledoit_wolf(&corr, quartic, n),
        };
        let mu = (0..p).map(|i| corr[i * p + i]).sum::<f64>() / p.max(1) as f64;
        for i in 0..p {
            for j in 0..p {
                corr[i * p + j] *= 1.0 - s;
            }
            corr[i * p + i] += s * mu;
        }
        let chol = cholesky(&corr, p).ok_or_else(|| {
            anyhow::anyhow!(
                "gaussian: the covariance (shrinkage {s}) is singular; use shrinkage > 0 \
                 (fewer rows than features or collinear features)"
            )
        })?;
        Ok(Gaussian {
            d,
            kept,
            mean,
            sd,
            shrinkage: s,
            chol,
        })
    }

    /// Squared Mahalanobis distance of every row of `x`, rows in parallel.
    pub fn score(&self, x: &[Vec<f32>]) -> Result<Vec<f64>> {
        let d = super::check_rows(x, "gaussian score")?;
        ensure!(
            d == self.d,
            "gaussian: fitted on {} features, scoring rows of {d}",
            self.d
        );
        let p = self.kept.len();
        Ok(x.par_iter()
            .map(|r| {
                let mut y = vec![0.0; p];
                for i in 0..p {
                    let z = (f64::from(r[self.kept[i]]) - self.mean[i]) / self.sd[i];
                    let row = &self.chol[i * p..i * p + i];
                    let acc: f64 = row.iter().zip(&y[..i]).map(|(l, v)| l * v).sum();
                    y[i] = (z - acc) / self.chol[i * p + i];
                }
                y.iter().map(|v| v * v).sum()
            })
            .collect())
    }

    /// The fitted covariance in the original units (`d x d`, row-major; zero rows and columns
    /// for dropped constant features).
    pub fn covariance(&self) -> Vec<f64> {
        let p = self.kept.len();
        let mut out = vec![0.0; self.d * self.d];
        for a in 0..p {
            for b in 0..p {
                let r: f64 = (0..=a.min(b))
                    .map(|t| self.chol[a * p + t] * self.chol[b * p + t])
                    .sum();
                out[self.kept[a] * self.d + self.kept[b]] = r * self.sd[a] * self.sd[b];
            }
        }
        out
    }
}

/// Ledoit & Wolf's shrinkage intensity from the empirical covariance `s` (`p x p`, of centred
/// rows, divided by `n`) and `quartic = sum_rows |x|^4`, as scikit-learn's
/// `ledoit_wolf_shrinkage`: `min(beta, delta) / delta` with
/// `beta = (quartic / n - |S|_F^2) / (p n)` and `delta = |S - mu I|_F^2 / p`.
fn ledoit_wolf(s: &[f64], quartic: f64, n: usize) -> f64 {
    let p = (s.len() as f64).sqrt().round() as usize;
    if p == 0 {
        return 0.0;
    }
    let (pf, nf) = (p as f64, n as f64);
    let trace: f64 = (0..p).map(|i| s[i * p + i]).sum();
    let mu = trace / pf;
    let frob: f64 = s.iter().map(|v| v * v).sum();
    let beta = (quartic / nf - frob) / (pf * nf);
    let delta = (frob - 2.0 * mu * trace + pf * mu * mu) / pf;
    let beta = beta.min(delta);
    if beta <= 0.0 || delta <= 0.0 {
        0.0
    } else {
        beta / delta
    }
}

/// Lower Cholesky factor of the symmetric `p x p` matrix `a`; `None` unless positive definite.
fn cholesky(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let s = a[i * p + j] - (0..j).map(|t| l[i * p + t] * l[j * p + t]).sum::<f64>();
            if i == j {
                // relative to the diagonal: a pivot lost to rounding is a singular matrix
                if s <= 1e-12 * a[i * p + i] || !s.is_finite() {
                    return None;
                }
                l[i * p + i] = s.sqrt();
            } else {
                l[i * p + j] = s / l[j * p + j];
            }
        }
    }
    Some(l)
}
