//! Scores of an [`Aggregate`] against the truth: accuracy, macro F1, Brier score, expected
//! calibration error (15 equal-width confidence bins), clicks per galaxy, and the number of
//! classes they are computed over (`n_classes`: 3 for `smooth-or-featured` — smooth /
//! featured-or-disk / artifact — so F1 is the macro mean over 3 classes and the Brier score sums
//! 3 squared differences; 2 for a binarised question). Galaxies whose truth is unknown (`None`)
//! are skipped. Owns no aggregation.

use std::collections::BTreeMap;

use super::Aggregate;

/// Number of ECE bins.
pub const ECE_BINS: usize = 15;

/// Fraction of labels equal to the truth.
pub fn accuracy(labels: &[u32], truth: &[Option<u32>]) -> f64 {
    let (mut hit, mut n) = (0usize, 0usize);
    for (l, t) in labels.iter().zip(truth) {
        if let Some(t) = t {
            n += 1;
            hit += usize::from(l == t);
        }
    }
    hit as f64 / n.max(1) as f64
}

/// Macro-averaged F1 over the classes that occur in the truth or the labels.
pub fn macro_f1(labels: &[u32], truth: &[Option<u32>], n_classes: usize) -> f64 {
    let (mut tp, mut fp, mut fn_) = (
        vec![0.0; n_classes],
        vec![0.0; n_classes],
        vec![0.0; n_classes],
    );
    for (&l, t) in labels.iter().zip(truth) {
        let Some(t) = *t else { continue };
        let (l, t) = (l as usize, t as usize);
        if l >= n_classes || t >= n_classes {
            continue;
        }
        if l == t {
            tp[l] += 1.0;
        } else {
            fp[l] += 1.0;
            fn_[t] += 1.0;
        }
    }
    let mut sum = 0.0;
    let mut m = 0;
    for c in 0..n_classes {
        if tp[c] + fp[c] + fn_[c] > 0.0 {
            sum += 2.0 * tp[c] / (2.0 * tp[c] + fp[c] + fn_[c]);
            m += 1;
        }
    }
    sum / m.max(1) as f64
}

/// Mean over galaxies of the squared distance between probabilities and the one-hot truth.
pub fn brier(agg: &Aggregate, truth: &[Option<u32>]) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for (g, t) in truth.iter().enumerate() {
        let Some(t) = t else { continue };
        n += 1;
        for (c, &p) in agg.row(g).iter().enumerate() {
            let y = if c as u32 == *t { 1.0 } else { 0.0 };
            s += (p - y) * (p - y);
        }
    }
    s / n.max(1) as f64
}

/// Expected calibration error of the top-label confidence.
pub fn ece(agg: &Aggregate, truth: &[Option<u32>]) -> f64 {
    let mut conf = [0.0; ECE_BINS];
    let mut acc = [0.0; ECE_BINS];
    let mut cnt = [0usize; ECE_BINS];
    let mut n = 0usize;
    for (g, t) in truth.iter().enumerate() {
        let Some(t) = t else { continue };
        let l = agg.labels[g];
        let p = agg.row(g)[l as usize];
        let b = ((p * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        conf[b] += p;
        acc[b] += if l == *t { 1.0 } else { 0.0 };
        cnt[b] += 1;
        n += 1;
    }
    (0..ECE_BINS)
        .filter(|&b| cnt[b] > 0)
        .map(|b| (acc[b] - conf[b]).abs())
        .sum::<f64>()
        / n.max(1) as f64
}

/// Mean votes used per galaxy.
pub fn clicks_per_galaxy(agg: &Aggregate) -> f64 {
    agg.clicks_used.iter().map(|&c| c as f64).sum::<f64>() / agg.clicks_used.len().max(1) as f64
}

/// All metrics of one aggregate: `accuracy`, `f1` (macro over the `n_classes` answers), `brier`,
/// `ece`, `clicks_per_galaxy`, `n_galaxies`, `n_classes`.
pub fn score(agg: &Aggregate, truth: &[Option<u32>]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    m.insert("accuracy".into(), accuracy(&agg.labels, truth));
    m.insert("f1".into(), macro_f1(&agg.labels, truth, agg.n_classes));
    m.insert("brier".into(), brier(agg, truth));
    m.insert("ece".into(), ece(agg, truth));
    m.insert("clicks_per_galaxy".into(), clicks_per_galaxy(agg));
    m.insert("n_classes".into(), agg.n_classes as f64);
    m.insert(
        "n_galaxies".into(),
        truth.iter().filter(|t| t.is_some()).count() as f64,
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_metrics() {
        let agg = Aggregate {
            n_classes: 2,
            probs: vec![0.9, 0.1, 0.4, 0.6, 0.2, 0.8, 0.5, 0.5],
            labels: vec![0, 1, 1, 0],
            clicks_used: vec![3, 5, 4, 0],
        };
        let truth = [Some(0), Some(0), Some(1), None];
        assert!((accuracy(&agg.labels, &truth) - 2.0 / 3.0).abs() < 1e-15);
        // class 0: tp 1, fn 1 -> 2/3; class 1: tp 1, fp 1 -> 2/3.
        assert!((macro_f1(&agg.labels, &truth, 2) - 2.0 / 3.0).abs() < 1e-15);
        let b = (0.01 + 0.01 + 0.36 + 0.36 + 0.04 + 0.04) / 3.0;
        assert!((brier(&agg, &truth) - b).abs() < 1e-12);
        // bins: 0.9 -> bin 13 (acc 1), 0.6 -> bin 9 (acc 0), 0.8 -> bin 12 (acc 1).
        let e = (0.1 + 0.6 + 0.2) / 3.0;
        assert!((ece(&agg, &truth) - e).abs() < 1e-12);
        assert_eq!(clicks_per_galaxy(&agg), 3.0);
        let m = score(&agg, &truth);
        assert_eq!((m["n_classes"], m["n_galaxies"]), (2.0, 3.0));
    }
}
