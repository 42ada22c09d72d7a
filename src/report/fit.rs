//! Learning-curve fits: `error = a * n^-b + c` per series, for `report.power_law: <metric>`
//! (error = 1 - metric for accuracy, ROC AUC, PR AUC and F1; the metric itself otherwise). Fitted
//! by an exhaustive search over the exponent `b` (0.01..3 in steps of 0.01) with the linear
//! least-squares `a, c` for each `b` (constrained to `a >= 0`, `c >= 0`), which needs no starting
//! guess and is deterministic. The uncertainty is a parametric bootstrap over seeds ([`bootstrap`]):
//! each point's mean is redrawn from the normal matching its 95% interval and the curve refitted,
//! from the fixed stream `report/power-law-bootstrap`. Written as `tables/<name>_power_law.{csv,md}`
//! (with 95% bootstrap intervals of `b` and `c`); the figures draw the curve and its band.
//! Reads aggregated rows only, never the runs.

use super::figure_kit::{Line, facets, lines};
use super::{ReportError, Row};
use crate::spec::Experiment;
use crate::store::write_atomic;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};

/// A fitted curve and its root-mean-square residual.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub rmse: f64,
}

impl PowerLaw {
    /// The fitted error at `n`.
    pub fn at(&self, n: f64) -> f64 {
        self.a * n.powf(-self.b) + self.c
    }
}

/// Least-squares fit of `y = a n^-b + c` (`a, c >= 0`); `None` with fewer than 3 points.
pub fn fit_power_law(n: &[f64], y: &[f64]) -> Option<PowerLaw> {
    if n.len() < 3 || n.len() != y.len() || n.iter().any(|&v| v <= 0.0) {
        return None;
    }
    let m = n.len() as f64;
    let mut best: Option<PowerLaw> = None;
    for step in 1..=300 {
        let b = step as f64 * 0.01;
        let x: Vec<f64> = n.iter().map(|v| v.powf(-b)).collect();
        let (sx, sy) = (x.iter().sum::<f64>(), y.iter().sum::<f64>());
        let sxx: f64 = x.iter().map(|v| v * v).sum();
        let sxy: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
        let det = m * sxx - sx * sx;
        let (mut a, mut c) = if det.abs() > 1e-300 {
            ((m * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det)
        } else {
            (0.0, sy / m)
        };
        if c < 0.0 {
            c = 0.0;
            a = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        }
        if a < 0.0 {
            a = 0.0;
            c = (sy / m).max(0.0);
        }
        let sse: f64 = x
            .iter()
            .zip(y)
            .map(|(xi, yi)| (a * xi + c - yi).powi(2))
            .sum();
        let rmse = (sse / m).sqrt();
        if best.is_none_or(|p| rmse < p.rmse) {
            best = Some(PowerLaw { a, b, c, rmse });
        }
    }
    best
}

/// Bootstrap refits of a learning curve.
pub const BOOTSTRAP_DRAWS: usize = 400;

/// A fit and its bootstrap refits.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub fit: PowerLaw,
    pub draws: Vec<PowerLaw>,
}

/// The `q` quantile (0..=1) of `v` by linear interpolation; NaN for none.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let at = q * (v.len() - 1) as f64;
    let (i, f) = (at.floor() as usize, at.fract());
    v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * f
}

impl Bootstrap {
    /// The 95% bootstrap interval of the fitted error at `n`.
    pub fn band(&self, n: f64) -> (f64, f64) {
        self.interval(|p| p.at(n))
    }

    /// The 95% bootstrap interval of any function of the fit (e.g. `|p| p.b`).
    pub fn interval(&self, f: impl Fn(&PowerLaw) -> f64) -> (f64, f64) {
        let mut v: Vec<f64> = self.draws.iter().map(f).collect();
        (quantile(&mut v, 0.025), quantile(&mut v, 0.975))
    }
}

/// Fit `error = a n^-b + c` to points `(n, mean error, 95% CI half-width)` and refit it `draws`
/// times with every mean redrawn from the normal whose central 95% is the point's interval
/// (`sd = ci / 1.96`; a point without an interval stays put). The interval is the tables' one
/// over seeds, so this is a parametric bootstrap over seeds. Deterministic: the draws come from
/// `rng::stream(0, "report/power-law-bootstrap")`. `None` when the points cannot be fitted.
pub fn bootstrap(points: &[(f64, f64, f64)], draws: usize) -> Option<Bootstrap> {
    let n: Vec<f64> = points.iter().map(|p| p.0).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let fit = fit_power_law(&n, &y)?;
    let mut rng = crate::rng::stream(0, "report/power-law-bootstrap");
    let sd: Vec<f64> = points
        .iter()
        .map(|p| {
            if p.2.is_finite() {
                p.2.max(0.0) / 1.96
            } else {
                0.0
            }
        })
        .collect();
    let draws = (0..draws)
        .filter_map(|_| {
            let y: Vec<f64> = y
                .iter()
                .zip(&sd)
                .map(|(&m, &s)| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    m + s * z
                })
                .collect();
            fit_power_law(&n, &y)
        })
        .collect();
    Some(Bootstrap { fit, draws })
}

/// Whether `metric` is a score whose error is `1 - metric` (else the metric is the error).
fn is_score(metric: &str) -> bool {
    matches!(
        metric,
        "accuracy" | "roc_auc" | "pr_auc" | "f1" | "completeness" | "purity"
    )
}

/// The error a metric's value stands for; also its inverse (the metric of an error).
pub fn error_of(metric: &str, v: f64) -> f64 {
    if is_score(metric) { 1.0 - v } else { v }
}

/// [`bootstrap`] of one plotted line of `metric` (its means turned into errors).
pub(super) fn fit_line(metric: &str, line: &Line) -> Option<Bootstrap> {
    let pts: Vec<(f64, f64, f64)> = line
        .points
        .iter()
        .map(|p| (p.x, error_of(metric, p.mean), p.ci))
        .collect();
    bootstrap(&pts, BOOTSTRAP_DRAWS)
}

/// Fit one curve per series (and facet) of `metric` against `report.x`; write CSV and Markdown
/// tables.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let (Some(metric), Some(x)) = (exp.report.power_law.as_deref(), exp.report.x.as_deref()) else {
        return Ok(vec![]);
    };
    let fs = facets(exp, rows, x);
    let mut csv = String::from("series,a,b,c,rmse,points,b_lo,b_hi,c_lo,c_hi\n");
    let mut md = format!(
        "Power-law fit of the error ({}) against {x}: error = a * n^-b + c; [95% bootstrap \
         interval over seeds]\n\n| series | a | b | c | rmse | points |\n|---|---|---|---|---|---|\n",
        if is_score(metric) {
            format!("1 - {metric}")
        } else {
            metric.to_string()
        }
    );
    for (f, frows) in &fs {
        for l in lines(exp, frows, x, metric) {
            let name = if fs.len() > 1 {
                format!("{} ({f})", l.name)
            } else {
                l.name.clone()
            };
            let k = l.points.len();
            match fit_line(metric, &l) {
                Some(bs) => {
                    let p = bs.fit;
                    let (b0, b1) = bs.interval(|q| q.b);
                    let (c0, c1) = bs.interval(|q| q.c);
                    csv.push_str(&format!(
                        "{name},{:.6},{:.6},{:.6},{:.6},{k},{b0:.6},{b1:.6},{c0:.6},{c1:.6}\n",
                        p.a, p.b, p.c, p.rmse,
                    ));
                    md.push_str(&format!(
                        "| {name} | {:.4} | {:.2} [{b0:.2}, {b1:.2}] | {:.4} [{c0:.4}, {c1:.4}] | {:.4} | {k} |\n",
                        p.a, p.b, p.c, p.rmse,
                    ));
                }
                None => md.push_str(&format!("| {name} | - | - | - | - | {k} |\n")),
            }
        }
    }
    let base = dir.join(format!("{}_power_law", exp.name));
    let (c, m) = (base.with_extension("csv"), base.with_extension("md"));
    write_atomic(&c, csv.as_bytes())?;
    write_atomic(&m, md.as_bytes())?;
    Ok(vec![c, m])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_curve() {
        let n = [30.0, 100.0, 300.0, 1000.0, 3000.0];
        let y: Vec<f64> = n.iter().map(|v: &f64| 2.0 * v.powf(-0.5) + 0.05).collect();
        let p = fit_power_law(&n, &y).unwrap();
        assert!((p.b - 0.5).abs() < 0.011, "{p:?}");
        assert!(
            (p.a - 2.0).abs() < 0.1 && (p.c - 0.05).abs() < 0.005,
            "{p:?}"
        );
        assert!(p.rmse < 1e-3);
        assert!(fit_power_law(&n[..2], &y[..2]).is_none());
    }

    #[test]
    fn bootstrap_band_covers_the_curve_and_is_deterministic() {
        let n = [30.0, 100.0, 300.0, 1000.0, 3000.0];
        let pts: Vec<(f64, f64, f64)> = n
            .iter()
            .map(|&v: &f64| (v, 2.0 * v.powf(-0.5) + 0.05, 0.04))
            .collect();
        let bs = bootstrap(&pts, 200).unwrap();
        assert!(bs.draws.len() > 150, "{}", bs.draws.len());
        for &v in &n {
            let (lo, hi) = bs.band(v);
            let f = bs.fit.at(v);
            assert!(lo < f && f < hi, "{v}: {lo} {f} {hi}");
            assert!(hi - lo > 1e-3 && hi - lo < 0.2, "{v}: {lo} {hi}");
        }
        let again = bootstrap(&pts, 200).unwrap();
        assert_eq!(bs.band(500.0), again.band(500.0));
        // no spread over seeds: every refit is the fit itself
        let still: Vec<_> = pts.iter().map(|p| (p.0, p.1, 0.0)).collect();
        let (lo, hi) = bootstrap(&still, 20).unwrap().band(100.0);
        assert!((hi - lo).abs() < 1e-12);
        assert_eq!(error_of("accuracy", 0.8), 1.0 - 0.8);
        assert_eq!(error_of("rmse", 0.3), 0.3);
    }
}
