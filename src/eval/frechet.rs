//! The Fréchet distance between two sets of feature vectors (the FID of Heusel et al. 2017 when
//! the features are Inception pool activations; here any backbone's): the squared distance
//! between the Gaussians fitted to each set,
//! `||mu1 - mu2||² + Tr(S1) + Tr(S2) - 2 Tr(sqrt(S1 S2))`, covariances with denominator `n - 1`
//! (as `numpy.cov` and pytorch-fid's `calculate_frechet_distance`).
//!
//! `Tr(sqrt(S1 S2))` is computed without the non-symmetric square root: `S1 S2` is similar to the
//! symmetric positive semi-definite `sqrt(S1) S2 sqrt(S1)`, so the trace is the sum of the square
//! roots of that matrix's eigenvalues (clamped at 0, where rounding makes a zero one negative),
//! with `sqrt(S1)` from the symmetric eigen-decomposition ([`crate::linalg::eigh`]). Unlike
//! `scipy.linalg.sqrtm(S1 @ S2)` this needs no `eps` offset and stays accurate when a covariance
//! is singular (fewer rows than dimensions). All arithmetic is f64 and sequential: the value does
//! not depend on the thread count.
//!
//! Checked against pytorch-fid's formula (scipy's `sqrtm`) on a committed fixture
//! (`benches/peers/frechet_fixture.py`) and on hand-computed cases.

/// Why the distance cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrechetError {
    #[error("feature set {set}: {rows} rows; a covariance needs at least 2")]
    TooFewRows { set: char, rows: usize },
    #[error("feature set {set}: rows have no features")]
    NoFeatures { set: char },
    #[error("feature set {set}: row {row} has {len} features; expected {expected}")]
    Dims {
        set: char,
        row: usize,
        len: usize,
        expected: usize,
    },
    #[error("feature set {set}: row {row}, feature {col} is {value}; expected a finite number")]
    NonFinite {
        set: char,
        row: usize,
        col: usize,
        value: f64,
    },
    #[error("{0}")]
    Eigen(#[from] crate::linalg::NoConvergence),
}

/// The Fréchet distance between the Gaussians fitted to the rows of `a` and of `b` (each
/// `n x d`, `n >= 2`, one `d` for both, finite).
pub fn frechet_distance(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64, FrechetError> {
    let d = a.first().map_or(0, Vec::len);
    check(a, 'a', d)?;
    check(b, 'b', d)?;
    let (mu1, s1) = moments(a, d);
    let (mu2, s2) = moments(b, d);
    let mean_term: f64 = mu1.iter().zip(&mu2).map(|(x, y)| (x - y) * (x - y)).sum();
    let trace = |s: &[f64]| (0..d).map(|i| s[i * d + i]).sum::<f64>();
    let root = sqrt_psd(s1.clone(), d)?;
    // sqrt(S1) S2 sqrt(S1), symmetrised against rounding
    let m = matmul(&matmul(&root, &s2, d), &root, d);
    let sym: Vec<f64> = (0..d * d)
        .map(|k| {
            let (i, j) = (k / d, k % d);
            0.5 * (m[i * d + j] + m[j * d + i])
        })
        .collect();
    let (values, _) = crate::linalg::eigh(sym, d)?;
    let tr_covmean: f64 = values.iter().map(|v| v.max(0.0).sqrt()).sum();
    Ok(mean_term + trace(&s1) + trace(&s2) - 2.0 * tr_covmean)
}

/// Every row of `x` has `d >= 1` finite features, and there are at least 2 rows.
fn check(x: &[Vec<f64>], set: char, d: usize) -> Result<(), FrechetError> {
    if x.len() < 2 {
        return Err(FrechetError::TooFewRows { set, rows: x.len() });
    }
    if d == 0 {
        return Err(FrechetError::NoFeatures { set });
    }
    for (row, r) in x.iter().enumerate() {
        if r.len() != d {
            return Err(FrechetError::Dims {
                set,
                row,
                len: r.len(),
                expected: d,
            });
        }
        if let Some((col, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(FrechetError::NonFinite {
                set,
                row,
                col,
                value,
            });
        }
    }
    Ok(())
}

/// Mean and covariance (`d x d` row-major, denominator `n - 1`) of the rows of `x`.
fn moments(x: &[Vec<f64>], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let mut mean = vec![0f64; d];
    for r in x {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0f64; d * d];
    let mut c = vec![0f64; d];
    for r in x {
        for ((ci, v), m) in c.iter_mut().zip(r).zip(&mean) {
            *ci = v - m;
        }
        for i in 0..d {
            for j in i..d {
                cov[i * d + j] += c[i] * c[j];
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / (n - 1) as f64;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    (mean, cov)
}

/// The symmetric square root of the symmetric positive semi-definite `s` (`d x d`): `V
/// diag(sqrt(max(λ, 0))) Vᵀ`.
fn sqrt_psd(s: Vec<f64>, d: usize) -> Result<Vec<f64>, FrechetError> {
    let (values, vectors) = crate::linalg::eigh(s, d)?;
    let mut out = vec![0f64; d * d];
    for (l, v) in values.iter().zip(&vectors) {
        let r = l.max(0.0).sqrt();
        if r == 0.0 {
            continue;
        }
        for i in 0..d {
            let ri = r * v[i];
            for j in 0..d {
                out[i * d + j] += ri * v[j];
            }
        }
    }
    Ok(out)
}

/// `x y` for `d x d` row-major matrices.
fn matmul(x: &[f64], y: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0f64; d * d];
    for i in 0..d {
        for k in 0..d {
            let xik = x[i * d + k];
            for j in 0..d {
                out[i * d + j] += xik * y[k * d + j];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
