//! Aggregation over seeds: one [`Row`] per grid point with mean, std, 95% interval and n per
//! metric, and, when the report names a reference arm, the paired difference against it.
//!
//! Two sources of error enter an interval: the seeds (training randomness, the between-seed
//! variance `s²`) and the test set (which galaxies happened to be drawn: the mean within-run
//! bootstrap variance `v̄`, from each run's `bootstrap.json`). With `S` seeds the half-width is
//! `t(S-1) · sqrt(s²/S + v̄/S)`, or `1.96 · sqrt(v̄)` with one seed; runs recorded without
//! bootstrap replicates keep the plain t-interval over seeds `t(S-1) · s/sqrt(S)`.
//!
//! A difference against the reference arm (the same grid point with the `report.reference`
//! keys set to their reference values) is paired by seed: `d_s = m_s(row) - m_s(ref)`, and its
//! within-run variance is the variance over replicates `b` of `rep_b(row) - rep_b(ref)` (both runs
//! share the data seed and so the resamples of their common test set; where the test sets differ,
//! `var(row) + var(ref)`). Its p-value is two-sided, Student t with `S-1` degrees of freedom
//! (normal with one seed). Reads the store only.

use crate::spec::{RunSpec, run_id};
use crate::store::{Bootstrap, Metrics, Store, StoreError};
use serde_yaml::Value;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use std::collections::BTreeMap;

/// Mean, sample standard deviation over seeds, half-width of the 95% interval (seeds plus
/// bootstrap over test galaxies where the runs have replicates), number of seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub ci95: f64,
    pub n: usize,
}

impl Stat {
    /// The plain t-interval over seeds (no test-sampling error); NaN half-width for one seed.
    pub fn of(values: &[f64]) -> Stat {
        Stat::with_within(values, None)
    }

    /// The interval over seeds widened by the within-run (bootstrap) variances `within`, one
    /// per value; `None` = the plain t-interval of [`Stat::of`].
    pub fn with_within(values: &[f64], within: Option<&[f64]>) -> Stat {
        let e = Estimate::of(values, within);
        Stat {
            mean: e.mean,
            std: e.std,
            ci95: e.ci95(),
            n: values.len(),
        }
    }
}

/// A paired difference against the reference arm: mean over seeds of `d_s`, half-width of its
/// 95% interval, two-sided p-value of "no difference", number of paired seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diff {
    pub mean: f64,
    pub ci95: f64,
    pub p: f64,
    pub n: usize,
}

impl Diff {
    /// The difference of paired values `d` with within-run variances `within` (one per value).
    pub fn of(d: &[f64], within: Option<&[f64]>) -> Diff {
        let e = Estimate::of(d, within);
        Diff {
            mean: e.mean,
            ci95: e.ci95(),
            p: e.p_value(),
            n: d.len(),
        }
    }

    /// Whether the 95% interval excludes zero.
    pub fn detected(&self) -> bool {
        self.ci95.is_finite() && self.mean.abs() > self.ci95
    }
}

/// Mean, between-seed std, standard error and degrees of freedom of a mean over seeds.
struct Estimate {
    mean: f64,
    std: f64,
    se: f64,
    /// 0 = use the normal distribution (one seed with a bootstrap variance).
    df: usize,
}

impl Estimate {
    fn of(values: &[f64], within: Option<&[f64]>) -> Estimate {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let s2 = if n < 2 { f64::NAN } else { variance(values) };
        let vbar = within
            .filter(|w| w.len() == n && n > 0)
            .map(|w| w.iter().sum::<f64>() / n as f64);
        let se = match (vbar, n) {
            (Some(v), 1) => v.sqrt(),
            (Some(v), _) => (s2 / n as f64 + v / n as f64).sqrt(),
            (None, _) => (s2 / n as f64).sqrt(),
        };
        Estimate {
            mean,
            std: if n < 2 { 0.0 } else { s2.sqrt() },
            se,
            df: n.saturating_sub(1),
        }
    }

    fn ci95(&self) -> f64 {
        t975(self.df) * self.se
    }

    fn p_value(&self) -> f64 {
        if !self.se.is_finite() || !self.mean.is_finite() {
            return f64::NAN;
        }
        if self.se == 0.0 {
            return if self.mean == 0.0 { 1.0 } else { 0.0 };
        }
        let t = (self.mean / self.se).abs();
        2.0 * match self.df {
            0 => Normal::standard().sf(t),
            df => StudentsT::new(0.0, 1.0, df as f64).expect("df > 0").sf(t),
        }
    }
}

/// Sample variance (divisor `n - 1`); NaN for fewer than two values.
pub fn variance(xs: &[f64]) -> f64 {
    let n = xs.len();
    if n < 2 {
        return f64::NAN;
    }
    let m = xs.iter().sum::<f64>() / n as f64;
    xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64
}

/// 97.5% quantile of Student's t with `df` degrees of freedom; the normal one for `df` 0 (used
/// only where a bootstrap variance stands in for the missing between-seed one).
pub fn t975(df: usize) -> f64 {
    match df {
        0 => Normal::standard().inverse_cdf(0.975),
        d => StudentsT::new(0.0, 1.0, d as f64)
            .expect("df > 0")
            .inverse_cdf(0.975),
    }
}

/// One grid point: its sweep coordinates, the statistics of each metric over seeds and, when
/// the report has a reference arm, the paired difference of each metric against it.
#[derive(Debug, Clone)]
pub struct Row {
    pub point: BTreeMap<String, Value>,
    pub stats: BTreeMap<String, Stat>,
    /// Metric -> difference against the reference arm (empty on reference rows, without a
    /// reference, or when the reference arm has no complete run).
    pub diffs: BTreeMap<String, Diff>,
    /// Whether this row is itself the reference arm.
    pub is_reference: bool,
}

/// One complete run: its seed, metrics, replicates and what identifies its test set.
struct Done {
    seed: u64,
    metrics: Metrics,
    boot: Option<Bootstrap>,
    test_set: String,
}

/// What determines the test galaxies and their order: the data section without the sizes of
/// the training and validation sets (test items are drawn first), and the task.
fn test_set(run: &RunSpec) -> String {
    let mut d = serde_json::to_value(&run.data).expect("spec serialises");
    if let Some(m) = d.as_object_mut() {
        m.retain(|k, _| !k.starts_with("train_") && !k.starts_with("val_"));
    }
    serde_json::to_string(&(d, &run.task)).expect("spec serialises")
}

/// Rows in grid order, and how many runs were complete. Incomplete runs are left out.
pub fn rows(runs: &[RunSpec], store: &Store) -> Result<(Vec<Row>, usize), StoreError> {
    rows_vs(runs, store, None)
}

/// [`rows`] with paired differences against the `reference` arm (sweep key -> value).
pub fn rows_vs(
    runs: &[RunSpec],
    store: &Store,
    reference: Option<&BTreeMap<String, Value>>,
) -> Result<(Vec<Row>, usize), StoreError> {
    let mut order: Vec<BTreeMap<String, Value>> = Vec::new();
    let mut done: Vec<Vec<Done>> = Vec::new();
    let mut complete = 0;
    for run in runs {
        let i = match order.iter().position(|p| p == &run.point) {
            Some(i) => i,
            None => {
                order.push(run.point.clone());
                done.push(Vec::new());
                order.len() - 1
            }
        };
        let id = run_id(run);
        if let Some(metrics) = store.metrics(&id)? {
            complete += 1;
            done[i].push(Done {
                seed: run.seed,
                metrics,
                boot: store.bootstrap(&id)?,
                test_set: test_set(run),
            });
        }
    }
    let mut rows = Vec::new();
    for (i, point) in order.iter().enumerate() {
        if done[i].is_empty() {
            continue;
        }
        let reference_point = reference.map(|r| {
            let mut q = point.clone();
            for (k, v) in r {
                if let Some(slot) = q.get_mut(k) {
                    *slot = v.clone();
                }
            }
            q
        });
        let is_reference = reference_point.as_ref() == Some(point);
        let diffs = match reference_point.and_then(|q| order.iter().position(|p| p == &q)) {
            Some(j) if j != i => diffs(&done[i], &done[j]),
            _ => BTreeMap::new(),
        };
        rows.push(Row {
            point: point.clone(),
            stats: stats(&done[i]),
            diffs,
            is_reference,
        });
    }
    Ok((rows, complete))
}

/// Per metric: values over seeds, widened by the bootstrap variances when every run has them.
fn stats(runs: &[Done]) -> BTreeMap<String, Stat> {
    let mut names: Vec<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|m| {
            let have: Vec<&Done> = runs.iter().filter(|r| r.metrics.contains_key(m)).collect();
            let values: Vec<f64> = have.iter().map(|r| r.metrics[m]).collect();
            let within: Option<Vec<f64>> = have
                .iter()
                .map(|r| replicates(r, m).map(variance))
                .collect();
            (m.clone(), Stat::with_within(&values, within.as_deref()))
        })
        .collect()
}

fn replicates<'a>(run: &'a Done, metric: &str) -> Option<&'a [f64]> {
    run.boot
        .as_ref()
        .and_then(|b| b.get(metric))
        .map(Vec::as_slice)
        .filter(|r| r.len() >= 2)
}

/// Per metric: the difference `row - reference`, paired by seed.
fn diffs(row: &[Done], reference: &[Done]) -> BTreeMap<String, Diff> {
    let mut out = BTreeMap::new();
    let mut names: Vec<&String> = row.iter().flat_map(|r| r.metrics.keys()).collect();
    names.sort();
    names.dedup();
    for m in names {
        let mut d = Vec::new();
        let mut within: Option<Vec<f64>> = Some(Vec::new());
        for a in row {
            let Some(b) = reference.iter().find(|b| b.seed == a.seed) else {
                continue;
            };
            let (Some(x), Some(y)) = (a.metrics.get(m), b.metrics.get(m)) else {
                continue;
            };
            d.push(x - y);
            let v = match (replicates(a, m), replicates(b, m)) {
                (Some(ra), Some(rb)) if a.test_set == b.test_set && ra.len() == rb.len() => {
                    let paired: Vec<f64> = ra.iter().zip(rb).map(|(p, q)| p - q).collect();
                    Some(variance(&paired))
                }
                (Some(ra), Some(rb)) => Some(variance(ra) + variance(rb)),
                _ => None,
            };
            within = within.zip(v).map(|(mut w, v)| {
                w.push(v);
                w
            });
        }
        if !d.is_empty() {
            out.insert(m.clone(), Diff::of(&d, within.as_deref()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::bootstrap;
    use crate::spec::Metric;
    use crate::store::Metrics;

    #[test]
    fn stat_matches_hand_computation() {
        // mean 2, sample var ((1)+(0)+(1))/2 = 1, ci = t(2) * 1 / sqrt(3), t(2) = 4.303 (table)
        let s = Stat::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.std, s.n), (2.0, 1.0, 3));
        assert!((s.ci95 - 4.302653 / 3f64.sqrt()).abs() < 1e-5, "{}", s.ci95);
        assert!(Stat::of(&[5.0]).ci95.is_nan());
        // the quantiles of the printed t table
        for (df, t) in [(1, 12.706), (2, 4.303), (10, 2.228), (30, 2.042)] {
            assert!((t975(df) - t).abs() < 1e-3, "df {df}: {}", t975(df));
        }
        assert!((t975(0) - 1.959964).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_variance_widens_the_interval() {
        // three seeds (s^2 = 1), each with within-run variance 2 (replicates 0 and 2):
        // ci = t(2) * sqrt(1/3 + 2/3) = t(2)
        let s = Stat::with_within(&[1.0, 2.0, 3.0], Some(&[2.0, 2.0, 2.0]));
        assert!((s.ci95 - 4.302653).abs() < 1e-5, "{}", s.ci95);
        assert_eq!(s.std, 1.0);
        assert_eq!(variance(&[0.0, 2.0]), 2.0);
        // one seed: 1.96 * sqrt(vbar)
        let one = Stat::with_within(&[5.0], Some(&[2.0]));
        assert!((one.ci95 - 1.959964 * 2f64.sqrt()).abs() < 1e-5);
        assert_eq!(one.mean, 5.0);
    }

    #[test]
    fn p_values_match_hand_computation() {
        // d = 1, 2, 3: mean 2, se = 1/sqrt(3), t = 2 sqrt(3); with 2 df the two-sided p is
        // 1 - t / sqrt(2 + t^2) = 1 - sqrt(12/14)
        let d = Diff::of(&[1.0, 2.0, 3.0], None);
        assert_eq!((d.mean, d.n), (2.0, 3));
        assert!(
            (d.p - (1.0 - (12.0f64 / 14.0).sqrt())).abs() < 1e-6,
            "{}",
            d.p
        );
        assert!((d.ci95 - 4.302653 / 3f64.sqrt()).abs() < 1e-5);
        assert!(!d.detected()); // p > 0.05: the interval (2.48) covers zero
        // one seed, within variance 0.25: z = 1 / 0.5 = 2, p = 2 (1 - Phi(2)) = 0.0455003
        let z = Diff::of(&[1.0], Some(&[0.25]));
        assert!((z.p - 0.0455003).abs() < 1e-6, "{}", z.p);
        assert!((z.ci95 - 1.959964 * 0.5).abs() < 1e-6);
        // no difference at all
        let zero = Diff::of(&[0.1, -0.1], Some(&[0.01, 0.01]));
        assert!(zero.p > 0.5 && !zero.detected());
        assert!(Diff::of(&[1.0], None).p.is_nan());
    }

    /// Two arms whose per-galaxy predictions are the same up to a known shift: arm `b`'s
    /// probabilities are half of arm `a`'s on every galaxy, so on every resample of galaxies its
    /// log loss (all targets 1) is exactly `ln 2` higher. Paired by seed and by resample, the
    /// difference is `ln 2` with a zero-width interval, although each arm alone varies.
    #[test]
    fn known_shift_is_recovered_by_pairing() {
        let text = "name: shift\nkind: train\nseeds: [0, 1, 2]\ndata: { source: shapes, test_size: 50 }\nsweep:\n  model.backbone: [linear, cnn-small]\nreport:\n  reference: { model.backbone: linear }\n";
        let exp = crate::spec::parse_str(text, "s.yaml").unwrap();
        let runs = crate::spec::expand(&exp, text, "s.yaml").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let y = vec![1f32; 50];
        let mut cnn = Vec::new();
        for run in &runs {
            // each seed predicts differently; the cnn arm predicts half of the linear arm
            let mut rng = crate::rng::stream(run.seed, "test/shift");
            let cnn_arm = run.point["model.backbone"] == "cnn-small";
            let mut p: Vec<f32> = (0..50)
                .map(|_| rand::Rng::random_range(&mut rng, 0.2f32..0.9))
                .collect();
            if cnn_arm {
                p.iter_mut().for_each(|q| *q *= 0.5);
            }
            let ll = crate::eval::log_loss(&p, &y);
            if cnn_arm {
                cnn.push(ll);
            }
            let reps =
                bootstrap::replicates(Metric::LogLoss, &p, &y, 1, run.data.data_seed).unwrap();
            let m: Metrics = [("log_loss".to_string(), ll)].into();
            let b: Bootstrap = [("log_loss".to_string(), reps)].into();
            store.put(run, &m, &b);
        }
        let reference = exp.report.reference.as_ref();
        let (rows, complete) = rows_vs(&runs, &store, reference).unwrap();
        assert_eq!((rows.len(), complete), (2, 6));
        assert!(rows[0].is_reference && rows[0].diffs.is_empty());
        let d = rows[1].diffs["log_loss"];
        assert!((d.mean - 2f64.ln()).abs() < 1e-6, "{d:?}");
        assert!(d.ci95 < 1e-5 && d.p < 1e-6, "{d:?}");
        assert_eq!(d.n, 3);
        // each arm alone has a real interval, wider than the seeds alone give
        let s = rows[1].stats["log_loss"];
        assert!(s.ci95 > Stat::of(&cnn).ci95, "{s:?}");
        assert!(s.ci95 > 10.0 * d.ci95, "{s:?}");
        // without the reference the rows carry no differences
        let (plain_rows, _) = super::rows(&runs, &store).unwrap();
        assert!(
            plain_rows
                .iter()
                .all(|r| r.diffs.is_empty() && !r.is_reference)
        );
    }
}
