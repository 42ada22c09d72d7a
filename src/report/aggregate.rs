//! Aggregation over seeds: one [`Row`] per grid point with mean, std, 95% t-interval and n per metric.

use crate::spec::{RunSpec, run_id};
use crate::store::{Store, StoreError};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// Mean, sample standard deviation, half-width of the 95% t-interval, number of seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub ci95: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Stat {
                mean,
                std: 0.0,
                ci95: f64::NAN,
                n,
            };
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let std = var.sqrt();
        Stat {
            mean,
            std,
            ci95: t975(n - 1) * std / (n as f64).sqrt(),
            n,
        }
    }
}

/// 97.5% quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        d if d <= 30 => T[d - 1],
        d if d <= 60 => 2.042 - (d - 30) as f64 * (2.042 - 2.000) / 30.0,
        _ => 1.96,
    }
}

/// One grid point: its sweep coordinates and the statistics of each metric over seeds.
#[derive(Debug, Clone)]
pub struct Row {
    pub point: BTreeMap<String, Value>,
    pub stats: BTreeMap<String, Stat>,
}

/// Rows in grid order, and how many runs were complete. Incomplete runs are left out.
pub fn rows(runs: &[RunSpec], store: &Store) -> Result<(Vec<Row>, usize), StoreError> {
    let mut order: Vec<BTreeMap<String, Value>> = Vec::new();
    let mut values: Vec<BTreeMap<String, Vec<f64>>> = Vec::new();
    let mut complete = 0;
    for run in runs {
        let i = match order.iter().position(|p| p == &run.point) {
            Some(i) => i,
            None => {
                order.push(run.point.clone());
                values.push(BTreeMap::new());
                order.len() - 1
            }
        };
        if let Some(m) = store.metrics(&run_id(run))? {
            complete += 1;
            for (k, v) in m {
                values[i].entry(k).or_default().push(v);
            }
        }
    }
    let rows = order
        .into_iter()
        .zip(values)
        .filter(|(_, v)| !v.is_empty())
        .map(|(point, v)| Row {
            point,
            stats: v.into_iter().map(|(k, xs)| (k, Stat::of(&xs))).collect(),
        })
        .collect();
    Ok((rows, complete))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_matches_hand_computation() {
        // mean 2, sample var ((1)+(0)+(1))/2 = 1, ci = 4.303 * 1 / sqrt(3)
        let s = Stat::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.std, s.n), (2.0, 1.0, 3));
        assert!((s.ci95 - 4.303 / 3f64.sqrt()).abs() < 1e-12);
        assert!(Stat::of(&[5.0]).ci95.is_nan());
    }
}
