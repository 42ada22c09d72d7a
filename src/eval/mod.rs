//! Metrics of predictions against targets: binary ones on probabilities (accuracy, ROC AUC, F1,
//! log loss), the Kaggle Galaxy Zoo RMSE on vote fractions, and (in [`rotation`]) test-time
//! augmentation and the rotation-equivariance spread, which need the network itself; [`frechet`]
//! compares two sets of features (the Fréchet distance of generated and real images).
//!
//! Pure functions on host vectors, computed in f64; each is checked against a hand-computed case.
//! Nothing here trains or changes a model.

pub mod bootstrap;
pub mod detection;
pub mod frechet;
pub mod rotation;

use crate::spec::Metric;
use crate::tree::Tree;

/// Why a metric cannot be computed from the values given.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EvalError {
    #[error(
        "metric `{metric}` needs the model, not only its predictions; call          eval::rotation::equivariance_spread"
    )]
    NeedsModel { metric: &'static str },
    #[error("metric `{metric}`: {predictions} predictions but {targets} targets")]
    Length {
        metric: &'static str,
        predictions: usize,
        targets: usize,
    },
}

/// Value of `metric` for predictions `p` and targets `y`: for the binary metrics, probabilities of
/// class 1 and targets in {0, 1}; for `rmse`, predicted and target vote fractions flattened
/// image-major (`N x answers`, the layout of `Dataset::targets`).
///
/// Metrics that cannot be computed from predictions ([`Metric::from_predictions`] is false:
/// `equivariance_spread`) give NaN here, which the runner drops like any non-finite value; use
/// [`try_compute`] to get the reason as an error.
pub fn compute(metric: Metric, p: &[f32], y: &[f32]) -> f64 {
    try_compute(metric, p, y).unwrap_or(f64::NAN)
}

/// [`compute`] with an error for a metric that needs the model and for mismatched lengths.
pub fn try_compute(metric: Metric, p: &[f32], y: &[f32]) -> Result<f64, EvalError> {
    if !metric.from_predictions() {
        return Err(EvalError::NeedsModel {
            metric: metric.as_str(),
        });
    }
    if p.len() != y.len() {
        return Err(EvalError::Length {
            metric: metric.as_str(),
            predictions: p.len(),
            targets: y.len(),
        });
    }
    Ok(match metric {
        Metric::Accuracy => accuracy(p, y),
        Metric::RocAuc => roc_auc(p, y),
        Metric::PrAuc => pr_auc(p, y),
        Metric::F1 => f1(p, y),
        Metric::Completeness => completeness(p, y),
        Metric::Purity => purity(p, y),
        Metric::LogLoss => log_loss(p, y),
        Metric::Rmse => rmse(p, y),
        Metric::EquivarianceSpread | Metric::RmseMeanBaseline => f64::NAN, // rejected above
    })
}

/// Multi-class accuracy: the share of rows whose largest value (class probability or logit)
/// is at the index `y` holds (class indices as `f32`). NaN for no rows.
pub fn multiclass_accuracy(rows: &[Vec<f32>], y: &[f32]) -> f64 {
    if rows.is_empty() {
        return f64::NAN;
    }
    let hits = rows
        .iter()
        .zip(y)
        .filter(|&(r, &t)| {
            let best =
                r.iter().enumerate().fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                );
            best.0 as f32 == t
        })
        .count();
    hits as f64 / rows.len() as f64
}

/// Predicted and observed vote fractions of the questions each galaxy was asked (a question
/// total above 0), flattened: `pred` holds `N x answers` predicted fractions, `counts` the
/// `N x answers` vote counts of the same galaxies. Score the pair with [`rmse`].
pub fn asked_fractions(pred: &[f32], counts: &[f32], tree: &Tree) -> (Vec<f32>, Vec<f32>) {
    let a = tree.n_answers();
    let (mut p, mut y) = (Vec::new(), Vec::new());
    for (pr, cr) in pred.chunks_exact(a).zip(counts.chunks_exact(a)) {
        for s in tree.question_slices() {
            let total: f32 = cr[s.clone()].iter().sum();
            if total > 0.0 {
                p.extend_from_slice(&pr[s.clone()]);
                y.extend(cr[s].iter().map(|c| c / total));
            }
        }
    }
    (p, y)
}

/// The constant prediction "mean training target of each answer", repeated for each of `n`
/// galaxies: `train` holds `answers`-long target rows (image-major). Score it with [`rmse`] for
/// the `rmse_mean_baseline` metric.
pub fn mean_baseline(train: &[f32], answers: usize, n: usize) -> Vec<f32> {
    let rows = train.len() / answers.max(1);
    let mut mean = vec![0f64; answers];
    for row in train.chunks_exact(answers.max(1)) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    let mean: Vec<f32> = mean
        .iter()
        .map(|m| (m / rows.max(1) as f64) as f32)
        .collect();
    mean.repeat(n)
}

/// The constant vote-fraction prediction for vote-count targets: per answer, the mean over the
/// training galaxies asked its question of the answer's fraction of that question's votes
/// (`counts`: `N x answers` vote counts). Each question's fractions sum to 1 (or are all 0 when
/// no training galaxy was asked it). Score it like the network, with [`asked_fractions`] and
/// [`rmse`]: then `rmse_mean_baseline` and `rmse` are in the same units.
pub fn mean_fraction_baseline(counts: &[f32], tree: &Tree) -> Vec<f32> {
    let a = tree.n_answers();
    let mut sum = vec![0f64; a];
    let mut asked = vec![0usize; a];
    for row in counts.chunks_exact(a.max(1)) {
        for q in tree.question_slices() {
            let total: f32 = row[q.clone()].iter().sum();
            if total > 0.0 {
                for i in q {
                    sum[i] += (row[i] / total) as f64;
                    asked[i] += 1;
                }
            }
        }
    }
    sum.iter()
        .zip(&asked)
        .map(|(s, &n)| if n == 0 { 0.0 } else { (s / n as f64) as f32 })
        .collect()
}

/// Kaggle Galaxy Zoo RMSE: `sqrt(mean over galaxies and answers of (pred - target)^2)`, with
/// `p` and `y` the `N x answers` predictions and targets flattened image-major (every galaxy has
/// the same number of answers, so this equals the mean over the flat values). NaN when empty.
pub fn rmse(p: &[f32], y: &[f32]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let s: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| (p as f64 - y as f64).powi(2))
        .sum();
    (s / y.len() as f64).sqrt()
}

pub fn accuracy(p: &[f32], y: &[f32]) -> f64 {
    let hits = p
        .iter()
        .zip(y)
        .filter(|&(&p, &y)| (p >= 0.5) == (y >= 0.5))
        .count();
    hits as f64 / y.len().max(1) as f64
}

/// Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties counted as 1/2.
/// NaN when one class is absent.
pub fn roc_auc(p: &[f32], y: &[f32]) -> f64 {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut ranks = vec![0f64; p.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && p[idx[j + 1]] == p[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|&&t| t >= 0.5).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(y)
        .filter(|&(_, &t)| t >= 0.5)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Area under the precision-recall curve as average precision (scikit-learn's
/// `average_precision_score`): `sum_k (R_k - R_{k-1}) P_k` over the distinct scores taken as
/// thresholds, highest first (tied scores enter together). Its chance level is the positive
/// prevalence, which makes it the readable score for a rare class. NaN without positives.
pub fn pr_auc(p: &[f32], y: &[f32]) -> f64 {
    let pos = y.iter().filter(|&&t| t >= 0.5).count() as f64;
    if pos == 0.0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0f64, 0f64, 0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && p[idx[j]] == p[idx[i]] {
            if y[idx[j]] >= 0.5 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        let recall = tp / pos;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
        i = j;
    }
    ap
}

/// (true positives, false positives, false negatives) at probability 0.5.
fn confusion(p: &[f32], y: &[f32]) -> (f64, f64, f64) {
    let (mut tp, mut fp, mut fn_) = (0f64, 0f64, 0f64);
    for (&p, &y) in p.iter().zip(y) {
        match (p >= 0.5, y >= 0.5) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    (tp, fp, fn_)
}

/// Recall of the positive class at 0.5; NaN without positives.
pub fn completeness(p: &[f32], y: &[f32]) -> f64 {
    let (tp, _, fn_) = confusion(p, y);
    tp / (tp + fn_)
}

/// Precision of the positive class at 0.5; 0 when nothing is predicted positive.
pub fn purity(p: &[f32], y: &[f32]) -> f64 {
    let (tp, fp, _) = confusion(p, y);
    if tp + fp == 0.0 { 0.0 } else { tp / (tp + fp) }
}

pub fn f1(p: &[f32], y: &[f32]) -> f64 {
    let (tp, fp, fn_) = confusion(p, y);
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

pub fn log_loss(p: &[f32], y: &[f32]) -> f64 {
    let eps = 1e-7;
    let s: f64 = p
        .iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(eps, 1.0 - eps);
            -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
        })
        .sum();
    s / y.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_cases() {
        let p = [0.9, 0.4, 0.6, 0.2, 0.6];
        let y = [1.0, 1.0, 0.0, 0.0, 1.0];
        assert_eq!(accuracy(&p, &y), 0.6);
        // pairs (pos, neg): (0.9,0.6)=1 (0.9,0.2)=1 (0.4,0.6)=0 (0.4,0.2)=1 (0.6,0.6)=0.5 (0.6,0.2)=1 -> 4.5/6
        assert!((roc_auc(&p, &y) - 0.75).abs() < 1e-12);
        // tp=2 (0.9, 0.6) fp=1 fn=1 -> 4/6
        assert!((f1(&p, &y) - 2.0 / 3.0).abs() < 1e-12);
        assert!((completeness(&p, &y) - 2.0 / 3.0).abs() < 1e-12);
        assert!((purity(&p, &y) - 2.0 / 3.0).abs() < 1e-12);
        // 0.9 and 0.6 of [1, 0, 0]: tp 1, fp 1, fn 0
        assert_eq!(completeness(&[0.9, 0.6, 0.1], &[1.0, 0.0, 0.0]), 1.0);
        assert_eq!(purity(&[0.9, 0.6, 0.1], &[1.0, 0.0, 0.0]), 0.5);
        assert_eq!(purity(&[0.1, 0.2], &[1.0, 0.0]), 0.0);
        assert!(completeness(&[0.1, 0.2], &[0.0, 0.0]).is_nan());
        let ll =
            -((0.9f64).ln() + (0.4f64).ln() + (0.4f64).ln() + (0.8f64).ln() + (0.6f64).ln()) / 5.0;
        assert!((log_loss(&p, &y) - ll).abs() < 1e-6);
        assert!(roc_auc(&p, &[1.0; 5]).is_nan());
        // thresholds 0.9 (P 1, R 1/3), 0.6 (P 2/3, R 2/3), 0.4 (P 3/4, R 1), 0.2 (R stays 1)
        let ap = (1.0 + 2.0 / 3.0 + 3.0 / 4.0) / 3.0;
        assert!((pr_auc(&p, &y) - ap).abs() < 1e-12);
        assert!(pr_auc(&p, &[0.0; 5]).is_nan());
    }

    #[test]
    fn mean_fraction_baseline_is_in_fraction_units() {
        let tree = Tree::decals();
        let a = tree.n_answers();
        let q = tree.question_slices()[0].clone();
        // two galaxies asked the first question: votes (3, 1, ...) and (1, 1, ...)
        let mut counts = vec![0f32; 2 * a];
        counts[q.start] = 3.0;
        counts[q.start + 1] = 1.0;
        counts[a + q.start] = 1.0;
        counts[a + q.start + 1] = 1.0;
        let base = mean_fraction_baseline(&counts, &tree);
        // (0.75 + 0.5) / 2 and (0.25 + 0.5) / 2; questions nobody was asked stay 0
        assert_eq!((base[q.start], base[q.start + 1]), (0.625, 0.375));
        let (p, y) = asked_fractions(&base.repeat(2), &counts, &tree);
        assert_eq!(p.len(), 2 * q.len());
        // errors of 0.125 on two answers of each galaxy, 0 on the rest of the question
        let want = (4.0 * 0.125f64.powi(2) / (2 * q.len()) as f64).sqrt();
        assert!((rmse(&p, &y) - want).abs() < 1e-6, "{}", rmse(&p, &y));
    }

    #[test]
    fn multiclass_accuracy_hand_computed() {
        let rows = vec![
            vec![0.1, 0.7, 0.2],
            vec![0.5, 0.3, 0.2],
            vec![0.2, 0.2, 0.6],
        ];
        assert_eq!(multiclass_accuracy(&rows, &[1.0, 0.0, 1.0]), 2.0 / 3.0);
        assert!(multiclass_accuracy(&[], &[]).is_nan());
    }

    #[test]
    fn asked_fractions_skip_unasked_questions() {
        let tree = Tree::decals();
        let n = tree.n_answers();
        let pred = vec![0.5f32; n];
        let mut counts = vec![0f32; n];
        counts[0] = 3.0; // first question: 3 smooth, 1 featured, 0 artifact
        counts[1] = 1.0;
        let (p, y) = asked_fractions(&pred, &counts, &tree);
        assert_eq!(p, vec![0.5, 0.5, 0.5]);
        assert_eq!(y, vec![0.75, 0.25, 0.0]);
        // squared errors 0.0625, 0.0625, 0.25 over 3 answers
        assert!((rmse(&p, &y) - (0.375f64 / 3.0).sqrt()).abs() < 1e-7);
    }

    #[test]
    fn mean_baseline_hand_computed() {
        // two answers, three training rows: means 0.5 and 0.2
        let train = [0.0, 0.1, 1.0, 0.3, 0.5, 0.2];
        let p = mean_baseline(&train, 2, 2);
        assert_eq!(p, vec![0.5, 0.2, 0.5, 0.2]);
        // test targets (1, 0.2), (0, 0.4): squared errors 0.25, 0, 0.25, 0.04
        let y = [1.0, 0.2, 0.0, 0.4];
        assert!((rmse(&p, &y) - (0.54f64 / 4.0).sqrt()).abs() < 1e-7);
    }

    #[test]
    fn rmse_hand_computed() {
        // two galaxies x three answers; errors 0.1 0 -0.2 / 0.3 0 0 -> squares .01 .04 .09
        let p = [0.6, 0.4, 0.0, 1.0, 0.5, 0.5];
        let y = [0.5, 0.4, 0.2, 0.7, 0.5, 0.5];
        let want = ((0.01 + 0.04 + 0.09) / 6.0f64).sqrt();
        assert!((rmse(&p, &y) - want).abs() < 1e-7);
        assert!((compute(Metric::Rmse, &p, &y) - want).abs() < 1e-7);
        assert_eq!(rmse(&y, &y), 0.0);
        assert!(rmse(&[], &[]).is_nan());
        assert_eq!(
            try_compute(Metric::Rmse, &p, &y[..5]),
            Err(EvalError::Length {
                metric: "rmse",
                predictions: 6,
                targets: 5
            })
        );
        assert!(matches!(
            try_compute(Metric::EquivarianceSpread, &p, &y),
            Err(EvalError::NeedsModel { .. })
        ));
        assert!(compute(Metric::EquivarianceSpread, &p, &y).is_nan());
        let m: Vec<Metric> = serde_yaml::from_str("[rmse, equivariance_spread]").unwrap();
        assert_eq!(
            m.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            ["rmse", "equivariance_spread"]
        );
    }
}
