//! Bootstrap over test galaxies: how much a run's metric would move if the test set were drawn
//! again from the same population.
//!
//! [`indices`] draws [`REPLICATES`] resamples (with replacement) of the `n` test galaxies from
//! the named stream `eval/bootstrap` under the data seed, so two runs that share the test set
//! (same `data.data_seed`, same test galaxies) get the *same* resamples: replicate `b` of one
//! run and replicate `b` of the other score the same galaxies, and their difference is a paired
//! difference. [`replicates`] recomputes a metric on each resample; the report combines the
//! within-run variance of the replicates with the between-seed variance.
//!
//! ```
//! use gzbench::eval::bootstrap::{REPLICATES, indices};
//! let a = indices(0, 5);
//! assert_eq!(a.len(), REPLICATES);
//! assert_eq!(a, indices(0, 5)); // same seed, same resamples
//! ```
//!
//! Pure functions of predictions and targets; nothing here touches a model or the store.

use crate::spec::Metric;
use crate::tree::Tree;
use rand::Rng;

/// Bootstrap replicates per run and metric.
pub const REPLICATES: usize = 200;

/// [`REPLICATES`] resamples of `0..n` with replacement, each of length `n`, from the stream
/// `eval/bootstrap` of `seed` (the data seed). Empty resamples when `n` is 0.
pub fn indices(seed: u64, n: usize) -> Vec<Vec<usize>> {
    let mut rng = crate::rng::stream(seed, "eval/bootstrap");
    (0..REPLICATES)
        .map(|_| {
            (0..n)
                .map(|_| if n == 0 { 0 } else { rng.random_range(0..n) })
                .collect()
        })
        .collect()
}

/// `metric` recomputed on each of the [`REPLICATES`] resamples of galaxies, where galaxy `i` is
/// values `i*outputs .. (i+1)*outputs` of `p` (predictions) and `targets`. Empty for a metric
/// that needs more than predictions ([`Metric::from_predictions`] false). A replicate may be NaN
/// (e.g. `roc_auc` of a resample holding one class only).
pub fn replicates(
    metric: Metric,
    p: &[f32],
    targets: &[f32],
    outputs: usize,
    seed: u64,
) -> anyhow::Result<Vec<f64>> {
    if !metric.from_predictions() {
        return Ok(Vec::new());
    }
    let k = outputs.max(1);
    anyhow::ensure!(
        p.len() == targets.len() && p.len().is_multiple_of(k),
        "bootstrap of `{}`: {} predictions and {} targets are not whole galaxies of {k} values",
        metric.as_str(),
        p.len(),
        targets.len()
    );
    resampled(p, targets, k, seed, |p, y| {
        Ok(crate::eval::try_compute(metric, p, y)?)
    })
}

/// [`replicates`] for vote-count targets: `pred` holds `N x answers` predicted fractions and
/// `counts` the vote counts of the same galaxies; each resample of galaxies is scored on the
/// questions each galaxy was asked ([`crate::eval::asked_fractions`]), as the run scores them.
pub fn replicates_asked(
    metric: Metric,
    pred: &[f32],
    counts: &[f32],
    tree: &Tree,
    seed: u64,
) -> anyhow::Result<Vec<f64>> {
    if !metric.from_predictions() {
        return Ok(Vec::new());
    }
    let k = tree.n_answers();
    anyhow::ensure!(
        pred.len() == counts.len() && pred.len().is_multiple_of(k),
        "bootstrap of `{}`: {} predictions and {} vote counts are not whole galaxies of {k} answers",
        metric.as_str(),
        pred.len(),
        counts.len()
    );
    resampled(pred, counts, k, seed, |p, c| {
        let (p, y) = crate::eval::asked_fractions(p, c, tree);
        Ok(crate::eval::try_compute(metric, &p, &y)?)
    })
}

/// `score` of each of the [`REPLICATES`] resamples of galaxies, galaxy `i` being values
/// `i*k .. (i+1)*k` of both `a` and `b` (gathered in resample order).
fn resampled(
    a: &[f32],
    b: &[f32],
    k: usize,
    seed: u64,
    mut score: impl FnMut(&[f32], &[f32]) -> anyhow::Result<f64>,
) -> anyhow::Result<Vec<f64>> {
    let (mut xs, mut ys) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    indices(seed, a.len() / k)
        .iter()
        .map(|idx| {
            xs.clear();
            ys.clear();
            for &i in idx {
                xs.extend_from_slice(&a[i * k..(i + 1) * k]);
                ys.extend_from_slice(&b[i * k..(i + 1) * k]);
            }
            score(&xs, &ys)
        })
        .collect()
}

/// Multi-class accuracy ([`crate::eval::multiclass_accuracy`]) on each resample of the rows.
pub fn replicates_multiclass(rows: &[Vec<f32>], targets: &[f32], seed: u64) -> Vec<f64> {
    indices(seed, rows.len().min(targets.len()))
        .iter()
        .map(|idx| {
            let r: Vec<Vec<f32>> = idx.iter().map(|&i| rows[i].clone()).collect();
            let y: Vec<f32> = idx.iter().map(|&i| targets[i]).collect();
            crate::eval::multiclass_accuracy(&r, &y)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_are_reproducible_and_in_range() {
        let a = indices(3, 7);
        assert_eq!(a.len(), REPLICATES);
        assert!(a.iter().all(|r| r.len() == 7 && r.iter().all(|&i| i < 7)));
        assert_eq!(a, indices(3, 7));
        assert_ne!(a, indices(4, 7));
        // with replacement: some resample repeats a galaxy
        assert!(a.iter().any(|r| {
            let mut s = r.clone();
            s.sort();
            s.dedup();
            s.len() < 7
        }));
        assert!(indices(0, 0).iter().all(Vec::is_empty));
    }

    #[test]
    fn replicates_gather_whole_galaxies() {
        // two outputs per galaxy; galaxy i predicts (i, i) against targets (0, 0): the RMSE of
        // a resample is sqrt(mean of i^2 over its galaxies), computed here by hand from indices
        let n = 5;
        let p: Vec<f32> = (0..n).flat_map(|i| [i as f32, i as f32]).collect();
        let y = vec![0f32; 2 * n];
        let reps = replicates(Metric::Rmse, &p, &y, 2, 9).unwrap();
        assert_eq!(reps.len(), REPLICATES);
        for (r, idx) in reps.iter().zip(indices(9, n)) {
            let want = (idx.iter().map(|&i| (i * i) as f64).sum::<f64>() / n as f64).sqrt();
            assert!((r - want).abs() < 1e-6, "{r} vs {want}");
        }
        // all replicates equal when every galaxy scores the same
        let same = replicates(Metric::Rmse, &[1.0; 10], &[0.0; 10], 2, 9).unwrap();
        assert!(same.iter().all(|&r| (r - 1.0).abs() < 1e-12));
        assert!(
            replicates(Metric::EquivarianceSpread, &p, &y, 2, 9)
                .unwrap()
                .is_empty()
        );
        assert!(replicates(Metric::Rmse, &p, &y[..9], 2, 9).is_err());
    }

    #[test]
    fn accuracy_replicates_count_hits_of_the_resample() {
        let p = [0.9, 0.1, 0.8, 0.2];
        let y = [1.0, 1.0, 1.0, 0.0]; // galaxy 1 is the only miss
        let reps = replicates(Metric::Accuracy, &p, &y, 1, 1).unwrap();
        for (r, idx) in reps.iter().zip(indices(1, 4)) {
            let misses = idx.iter().filter(|&&i| i == 1).count();
            assert_eq!(*r, (4 - misses) as f64 / 4.0);
        }
        let rows: Vec<Vec<f32>> = p.iter().map(|&q| vec![1.0 - q, q]).collect();
        assert_eq!(replicates_multiclass(&rows, &y, 1), reps);
    }

    #[test]
    fn asked_replicates_match_the_run_on_a_full_resample() {
        let tree = Tree::decals();
        let k = tree.n_answers();
        let pred = vec![0.5f32; 2 * k];
        let mut counts = vec![0f32; 2 * k];
        counts[0] = 3.0;
        counts[1] = 1.0;
        counts[k] = 2.0;
        counts[k + 1] = 2.0;
        let reps = replicates_asked(Metric::Rmse, &pred, &counts, &tree, 0).unwrap();
        // galaxy 0: errors 0.25, 0.25, 0.5 (squares 0.375); galaxy 1: 0, 0, 0.5 (0.25)
        for (r, idx) in reps.iter().zip(indices(0, 2)) {
            let s: f64 = idx.iter().map(|&i| [0.375, 0.25][i]).sum();
            assert!((r - (s / 6.0).sqrt()).abs() < 1e-6);
        }
    }
}
