//! L2-regularised logistic regression on standardised features, fitted to convergence by Newton's
//! method with a backtracking line search: the measurement-based baseline machine of Galaxy Zoo
//! Express (Beck et al. 2018 used a random forest on the same kind of measurements).
//!
//! Features are standardised with the training mean and population standard deviation (ddof 0,
//! as scikit-learn's `StandardScaler`); a constant feature gets scale 1. In standardised units
//! `fit` minimises
//!
//! ```text
//! f(w, b) = sum_i [log(1 + exp(z_i)) - y_i z_i] + lambda / 2 ||w||^2,   z_i = w . x_i + b
//! ```
//!
//! (the bias is not penalised): scikit-learn's `LogisticRegression(C = 1 / lambda)` on
//! standardised features minimises the same objective (it is `C` times ours). With `lambda > 0`
//! it is strictly convex with a finite minimum whenever both classes are present, also for
//! separable data. Iteration stops when the gradient's Euclidean norm is at most `1e-9 n`
//! (`n` training rows); `fit` fails if that takes more than [`MAX_ITERATIONS`] Newton steps.
//! The benchmark against scikit-learn is `fixtures/logistic_sklearn.json`
//! (`benches/peers/logistic_fixture.py`).

use thiserror::Error;

/// Cap on Newton steps.
pub const MAX_ITERATIONS: usize = 100;
/// Gradient-norm tolerance per training row.
const TOL_PER_ROW: f64 = 1e-9;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum FitError {
    #[error("no training rows")]
    Empty,
    #[error("rows have no features")]
    NoFeatures,
    #[error("{rows} rows but {labels} labels")]
    LabelCount { rows: usize, labels: usize },
    #[error("row {row} has {got} features, row 0 has {expected}")]
    Ragged {
        row: usize,
        expected: usize,
        got: usize,
    },
    #[error("feature {col} of row {row} is not finite ({value})")]
    NonFinite { row: usize, col: usize, value: f64 },
    #[error("every label is {class}: logistic regression needs both classes")]
    SingleClass { class: bool },
    #[error("lambda must be finite and > 0, got {0}")]
    Lambda(f64),
    #[error("no convergence in {iterations} Newton steps (gradient norm {grad_norm:e})")]
    NotConverged { iterations: usize, grad_norm: f64 },
}

/// A fitted model: standardisation, weights (standardised units) and fit diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Training mean of each feature.
    pub mean: Vec<f64>,
    /// Training standard deviation (ddof 0) of each feature, 1 for a constant one.
    pub scale: Vec<f64>,
    /// Weights on the standardised features.
    pub weights: Vec<f64>,
    pub bias: f64,
    /// Newton steps taken.
    pub iterations: usize,
    /// Euclidean norm of the objective's gradient at the returned point.
    pub grad_norm: f64,
}

/// `log(1 + exp(z))` without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Solve `a x = b` for symmetric positive definite `a` (row-major `m x m`) by Cholesky; `None`
/// if a pivot is not positive.
fn cholesky_solve(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let m = b.len();
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let s = a[i * m + j] - (0..j).map(|k| l[i * m + k] * l[j * m + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * m + i] = s.sqrt();
            } else {
                l[i * m + j] = s / l[j * m + j];
            }
        }
    }
    let mut y = vec![0.0; m];
    for i in 0..m {
        y[i] = (b[i] - (0..i).map(|k| l[i * m + k] * y[k]).sum::<f64>()) / l[i * m + i];
    }
    let mut x = vec![0.0; m];
    for i in (0..m).rev() {
        x[i] = (y[i] - (i + 1..m).map(|k| l[k * m + i] * x[k]).sum::<f64>()) / l[i * m + i];
    }
    Some(x)
}

/// Standardised rows with a trailing 1 for the bias.
struct Design {
    rows: Vec<Vec<f64>>,
    y: Vec<f64>,
    lambda: f64,
}

impl Design {
    /// Objective at `theta` (weights then bias).
    fn objective(&self, theta: &[f64]) -> f64 {
        let d = theta.len() - 1;
        let w2: f64 = theta[..d].iter().map(|w| w * w).sum();
        self.rows
            .iter()
            .zip(&self.y)
            .map(|(r, y)| {
                let z: f64 = r.iter().zip(theta).map(|(a, b)| a * b).sum();
                softplus(z) - y * z
            })
            .sum::<f64>()
            + 0.5 * self.lambda * w2
    }

    /// Gradient and Hessian (row-major) at `theta`.
    fn derivatives(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let m = theta.len();
        let (mut g, mut h) = (vec![0.0; m], vec![0.0; m * m]);
        for (r, y) in self.rows.iter().zip(&self.y) {
            let p = sigmoid(r.iter().zip(theta).map(|(a, b)| a * b).sum());
            let (e, w) = (p - y, p * (1.0 - p));
            for j in 0..m {
                g[j] += e * r[j];
                for k in 0..=j {
                    h[j * m + k] += w * r[j] * r[k];
                }
            }
        }
        for j in 0..m {
            if j + 1 < m {
                g[j] += self.lambda * theta[j];
                h[j * m + j] += self.lambda;
            }
            for k in 0..j {
                h[k * m + j] = h[j * m + k];
            }
        }
        (g, h)
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

impl Logistic {
    /// Fit on rows `x` (all the same length) with labels `y` and penalty `lambda > 0`.
    pub fn fit(x: &[Vec<f64>], y: &[bool], lambda: f64) -> Result<Logistic, FitError> {
        let n = x.len();
        if n == 0 {
            return Err(FitError::Empty);
        }
        if y.len() != n {
            return Err(FitError::LabelCount {
                rows: n,
                labels: y.len(),
            });
        }
        let d = x[0].len();
        if d == 0 {
            return Err(FitError::NoFeatures);
        }
        for (row, r) in x.iter().enumerate() {
            if r.len() != d {
                return Err(FitError::Ragged {
                    row,
                    expected: d,
                    got: r.len(),
                });
            }
            if let Some((col, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(FitError::NonFinite { row, col, value });
            }
        }
        if y.iter().all(|&c| c == y[0]) {
            return Err(FitError::SingleClass { class: y[0] });
        }
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(FitError::Lambda(lambda));
        }
        let nf = n as f64;
        let mean: Vec<f64> = (0..d)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / nf)
            .collect();
        let scale: Vec<f64> = (0..d)
            .map(|j| {
                if x.iter().all(|r| r[j] == x[0][j]) {
                    return 1.0;
                }
                let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / nf;
                let s = var.sqrt();
                if s > 0.0 && s.is_finite() { s } else { 1.0 }
            })
            .collect();
        let design = Design {
            rows: x
                .iter()
                .map(|r| {
                    let mut s: Vec<f64> = (0..d).map(|j| (r[j] - mean[j]) / scale[j]).collect();
                    s.push(1.0);
                    s
                })
                .collect(),
            y: y.iter().map(|&c| c as u8 as f64).collect(),
            lambda,
        };
        let tol = TOL_PER_ROW * nf;
        let mut theta = vec![0.0; d + 1];
        let mut f = design.objective(&theta);
        let mut iterations = 0;
        loop {
            let (g, h) = design.derivatives(&theta);
            let grad_norm = norm(&g);
            if grad_norm <= tol {
                return Ok(Logistic {
                    mean,
                    scale,
                    weights: theta[..d].to_vec(),
                    bias: theta[d],
                    iterations,
                    grad_norm,
                });
            }
            if iterations == MAX_ITERATIONS || !grad_norm.is_finite() {
                return Err(FitError::NotConverged {
                    iterations,
                    grad_norm,
                });
            }
            iterations += 1;
            // Newton direction; if the Hessian is numerically singular, damp it.
            let mut damping = 0.0;
            let step = loop {
                let mut hd = h.clone();
                for j in 0..=d {
                    hd[j * (d + 1) + j] += damping;
                }
                if let Some(s) = cholesky_solve(&hd, &g) {
                    break s;
                }
                damping = if damping == 0.0 {
                    1e-10
                } else {
                    damping * 10.0
                };
                if damping > 1e10 {
                    return Err(FitError::NotConverged {
                        iterations,
                        grad_norm,
                    });
                }
            };
            // Backtracking (Armijo) along -step; a slack of a few ulps of f lets the full step
            // through near the optimum, where the decrease is below rounding.
            let slope: f64 = -g.iter().zip(&step).map(|(a, b)| a * b).sum::<f64>();
            let slack = 64.0 * f64::EPSILON * f.abs().max(1.0);
            let mut t = 1.0;
            let accepted = loop {
                let trial: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
                let ft = design.objective(&trial);
                if ft <= f + 1e-4 * t * slope + slack {
                    break Some((trial, ft));
                }
                t *= 0.5;
                if t < 1e-12 {
                    break None;
                }
            };
            match accepted {
                Some((trial, ft)) => (theta, f) = (trial, ft),
                None => {
                    return Err(FitError::NotConverged {
                        iterations,
                        grad_norm,
                    });
                }
            }
        }
    }

    /// Number of features the model takes.
    pub fn n_features(&self) -> usize {
        self.weights.len()
    }

    /// `P(y = true | x)` for raw (unstandardised) features `x`; NaN if `x` does not have
    /// [`n_features`](Self::n_features) values (never panics).
    pub fn predict(&self, x: &[f64]) -> f64 {
        if x.len() != self.weights.len() {
            return f64::NAN;
        }
        let z: f64 = x
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(&self.weights)
            .map(|(((v, m), s), w)| (v - m) / s * w)
            .sum();
        sigmoid(z + self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use serde::Deserialize;

    /// Overlapping classes: x ~ N(mu_y, 1) in 3 features of unequal scale plus a constant one.
    fn data(n: usize, shift: f64) -> (Vec<Vec<f64>>, Vec<bool>) {
        let mut r = crate::rng::stream(5, "test/gzx/logistic/data");
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3 == 0;
            let s = if c { shift } else { 0.0 };
            let mut u = || r.random::<f64>() + r.random::<f64>() + r.random::<f64>() - 1.5;
            x.push(vec![s + u(), 10.0 * (u() - 0.5 * s), 0.01 * u() + 3.0, 7.0]);
            y.push(c);
        }
        (x, y)
    }

    /// Gradient of the objective at the fitted point, written out independently of `Design`.
    fn gradient(m: &Logistic, x: &[Vec<f64>], y: &[bool], lambda: f64) -> Vec<f64> {
        let d = m.weights.len();
        let mut g = vec![0.0; d + 1];
        for (r, &c) in x.iter().zip(y) {
            let z: f64 = (0..d)
                .map(|j| m.weights[j] * (r[j] - m.mean[j]) / m.scale[j])
                .sum::<f64>()
                + m.bias;
            let e = 1.0 / (1.0 + (-z).exp()) - if c { 1.0 } else { 0.0 };
            for j in 0..d {
                g[j] += e * (r[j] - m.mean[j]) / m.scale[j];
            }
            g[d] += e;
        }
        for (gj, w) in g.iter_mut().zip(&m.weights) {
            *gj += lambda * w;
        }
        g
    }

    #[test]
    fn fitted_point_satisfies_kkt_and_fits_the_data() {
        let (x, y) = data(400, 1.0);
        for lambda in [1e-3, 1.0, 50.0] {
            let m = Logistic::fit(&x, &y, lambda).unwrap();
            let g = gradient(&m, &x, &y, lambda);
            assert!(norm(&g) < 1e-9 * 400.0, "lambda {lambda}: {g:?}");
            assert!(m.grad_norm <= 1e-9 * 400.0 && m.iterations > 0 && m.iterations < 30);
            // the constant feature: scale 1, no weight; stronger penalty, smaller weights
            assert_eq!((m.scale[3], m.weights[3]), (1.0, 0.0));
            assert!((m.scale[1] - 10.0 * m.scale[0]).abs() < 3.0 * m.scale[0]);
        }
        let (weak, strong) = (
            Logistic::fit(&x, &y, 1e-3).unwrap(),
            Logistic::fit(&x, &y, 50.0).unwrap(),
        );
        assert!(norm(&strong.weights) < norm(&weak.weights));
        // a positive shift on feature 0 makes it a positive weight, feature 1 a negative one
        assert!(weak.weights[0] > 0.5 && weak.weights[1] < -0.2, "{weak:?}");
        let acc = x
            .iter()
            .zip(&y)
            .filter(|(r, c)| (weak.predict(r) > 0.5) == **c)
            .count();
        assert!(acc > 300, "{acc} of 400 right");
        assert!(weak.predict(&[0.0]).is_nan());
    }

    #[test]
    fn separable_data_stays_finite() {
        let (x, _) = data(200, 0.0);
        let y: Vec<bool> = x.iter().map(|r| r[0] > 0.1).collect();
        let m = Logistic::fit(&x, &y, 1e-2).unwrap();
        assert!(m.weights.iter().all(|w| w.is_finite()) && m.bias.is_finite());
        assert!(m.weights[0] > 5.0, "{m:?}");
        assert!(norm(&gradient(&m, &x, &y, 1e-2)) < 1e-9 * 200.0);
    }

    #[test]
    fn bad_input_is_an_error() {
        let (x, y) = data(10, 1.0);
        assert_eq!(Logistic::fit(&[], &[], 1.0), Err(FitError::Empty));
        assert!(matches!(
            Logistic::fit(&x, &y[..9], 1.0),
            Err(FitError::LabelCount { .. })
        ));
        let mut ragged = x.clone();
        ragged[4].pop();
        assert_eq!(
            Logistic::fit(&ragged, &y, 1.0),
            Err(FitError::Ragged {
                row: 4,
                expected: 4,
                got: 3
            })
        );
        let mut nan = x.clone();
        nan[2][1] = f64::INFINITY;
        assert!(matches!(
            Logistic::fit(&nan, &y, 1.0),
            Err(FitError::NonFinite { row: 2, col: 1, .. })
        ));
        let e = Logistic::fit(&x, &[true; 10], 1.0).unwrap_err();
        assert_eq!(e, FitError::SingleClass { class: true });
        assert!(e.to_string().contains("true"));
        for l in [0.0, -1.0, f64::NAN] {
            assert!(matches!(Logistic::fit(&x, &y, l), Err(FitError::Lambda(_))));
        }
        assert_eq!(
            Logistic::fit(&[vec![], vec![]], &[true, false], 1.0),
            Err(FitError::NoFeatures)
        );
    }

    /// The baseline end to end: measurements of rendered galaxies (as `data::synthetic` draws
    /// them, 32 px DECaLS-like) and a fit on 1500 of them rank 1000 held-out galaxies by
    /// `featured` well above chance (area under the ROC curve over all pairs; 0.925 when written).
    #[test]
    fn measured_features_predict_featured_on_renders() {
        use crate::gzx::measure::measure;
        use crate::spec::Target;
        use crate::universe::observe::to_display_planes;
        use crate::universe::population::sample_galaxy;
        use crate::universe::{PopulationConfig, RenderConfig, Survey, render};
        use rayon::prelude::*;
        let (seed, pop) = (12, PopulationConfig::default());
        let cfg = RenderConfig::new(32, Survey::DecalsLike);
        let draw = |ids: std::ops::Range<u64>| -> (Vec<Vec<f64>>, Vec<bool>) {
            ids.into_par_iter()
                .map(|id| {
                    let g = sample_galaxy(seed, id, &pop);
                    let planes = to_display_planes(&render(&g, &cfg, seed));
                    let x = measure(&planes, 3, 32).unwrap().to_vec();
                    (x, crate::data::synthetic::label(&g, Target::Featured, &cfg))
                })
                .unzip()
        };
        let ((x, y), (xt, yt)) = (draw(0..1500), draw(1500..2500));
        let m = Logistic::fit(&x, &y, 1.0).unwrap();
        let p: Vec<f64> = xt.iter().map(|r| m.predict(r)).collect();
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (pi, &ci) in p.iter().zip(&yt) {
            for (pj, &cj) in p.iter().zip(&yt) {
                if ci && !cj {
                    pairs += 1.0;
                    wins += if pi > pj {
                        1.0
                    } else if pi == pj {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let auc = wins / pairs;
        eprintln!(
            "featured AUC {auc:.3} ({} Newton steps), weights {:?}",
            m.iterations, m.weights
        );
        assert!(auc > 0.85, "AUC {auc}");
    }

    #[derive(Deserialize)]
    struct Case {
        lambda: f64,
        x: Vec<Vec<f64>>,
        y: Vec<bool>,
        mean: Vec<f64>,
        scale: Vec<f64>,
        coef: Vec<f64>,
        intercept: f64,
        proba: Vec<f64>,
    }

    #[derive(Deserialize)]
    struct Fixture {
        sklearn: String,
        cases: Vec<Case>,
    }

    /// scikit-learn's `StandardScaler` + `LogisticRegression(C = 1 / lambda)` (newton-cholesky,
    /// tol 1e-12) on the committed data: same standardisation, coefficients and probabilities.
    #[test]
    fn matches_sklearn() {
        let fx: Fixture =
            serde_json::from_str(include_str!("fixtures/logistic_sklearn.json")).unwrap();
        assert!(fx.sklearn.starts_with("1."), "{}", fx.sklearn);
        assert!(fx.cases.len() >= 3);
        for (k, c) in fx.cases.iter().enumerate() {
            let m = Logistic::fit(&c.x, &c.y, c.lambda).unwrap();
            let close = |a: &[f64], b: &[f64], tol: f64| {
                a.len() == b.len() && a.iter().zip(b).all(|(u, v)| (u - v).abs() < tol)
            };
            assert!(close(&m.mean, &c.mean, 1e-12), "case {k}");
            assert!(close(&m.scale, &c.scale, 1e-12), "case {k}");
            assert!(
                close(&m.weights, &c.coef, 1e-6) && (m.bias - c.intercept).abs() < 1e-6,
                "case {k}: ours {:?} {} sklearn {:?} {}",
                m.weights,
                m.bias,
                c.coef,
                c.intercept
            );
            let p: Vec<f64> = c.x.iter().map(|r| m.predict(r)).collect();
            assert!(close(&p, &c.proba, 1e-7), "case {k}");
        }
    }
}
