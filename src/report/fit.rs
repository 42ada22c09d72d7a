//! Learning-curve fits: `error = a * n^-b + c` per series, for `report.power_law: <metric>`
//! (error = 1 - metric for accuracy, ROC AUC and F1; the metric itself otherwise). Fitted by an
//! exhaustive search over the exponent `b` (0.01..3 in steps of 0.01) with the linear least-squares
//! `a, c` for each `b` (constrained to `a >= 0`, `c >= 0`), which needs no starting guess and is
//! deterministic. Written as `tables/<name>_power_law.{csv,md}`.

use super::{ReportError, Row};
use crate::spec::Experiment;
use crate::store::write_atomic;
use std::path::{Path, PathBuf};

/// A fitted curve and its root-mean-square residual.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub rmse: f64,
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

/// The error a metric's value stands for.
fn error_of(metric: &str, v: f64) -> f64 {
    match metric {
        "accuracy" | "roc_auc" | "f1" => 1.0 - v,
        _ => v,
    }
}

/// Fit one curve per series of `metric` against `report.x`; write CSV and Markdown tables.
pub fn write(exp: &Experiment, rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let (Some(metric), Some(x)) = (exp.report.power_law.as_deref(), exp.report.x.as_deref()) else {
        return Ok(vec![]);
    };
    let series: Vec<(String, Vec<f64>, Vec<f64>)> = super::figures::lines(exp, rows, x, metric)
        .into_iter()
        .map(|l| {
            let n = l.points.iter().map(|p| p.0).collect();
            let e = l.points.iter().map(|p| error_of(metric, p.1)).collect();
            (l.name, n, e)
        })
        .collect();
    let mut csv = String::from("series,a,b,c,rmse,points\n");
    let mut md = format!(
        "Power-law fit of the error ({}) against {x}: error = a * n^-b + c\n\n| series | a | b | c | rmse | points |\n|---|---|---|---|---|---|\n",
        if matches!(metric, "accuracy" | "roc_auc" | "f1") {
            format!("1 - {metric}")
        } else {
            metric.to_string()
        }
    );
    for (name, n, y) in &series {
        match fit_power_law(n, y) {
            Some(p) => {
                csv.push_str(&format!(
                    "{name},{:.6},{:.6},{:.6},{:.6},{}\n",
                    p.a,
                    p.b,
                    p.c,
                    p.rmse,
                    n.len()
                ));
                md.push_str(&format!(
                    "| {name} | {:.4} | {:.2} | {:.4} | {:.4} | {} |\n",
                    p.a,
                    p.b,
                    p.c,
                    p.rmse,
                    n.len()
                ));
            }
            None => md.push_str(&format!("| {name} | - | - | - | - | {} |\n", n.len())),
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
}
