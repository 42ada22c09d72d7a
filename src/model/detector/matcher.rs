//! Matching predictions (anchors, proposals) to ground-truth boxes and sampling a balanced
//! minibatch of them, as torchvision's `Matcher` and `BalancedPositiveNegativeSampler`
//! (`torchvision/models/detection/_utils.py`).
//!
//! A prediction takes the ground-truth box of highest IoU (ties: the first box); it is
//! [`Match::Below`] when that IoU is under `low`, [`Match::Between`] when in `[low, high)`.
//! With `allow_low_quality`, every prediction that attains a ground-truth box's highest IoU
//! keeps its match whatever the thresholds (so each box gets at least one anchor). One
//! deliberate difference from torchvision: a ground-truth box that overlaps nothing (highest
//! IoU 0) promotes no prediction (torchvision would promote every prediction of IoU 0).
//! No ground truth: every prediction is `Below`.

use crate::geom::Rect;
use rand_chacha::ChaCha8Rng;

/// The outcome for one prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Matched to ground-truth box `i`.
    Gt(usize),
    /// Highest IoU under `low`: background.
    Below,
    /// Highest IoU in `[low, high)`: ignored.
    Between,
}

/// IoU thresholds of a matcher.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matcher {
    pub high: f32,
    pub low: f32,
    pub allow_low_quality: bool,
}

impl Matcher {
    /// The match of every prediction.
    pub fn matches(&self, gt: &[Rect], preds: &[Rect]) -> Vec<Match> {
        if gt.is_empty() {
            return vec![Match::Below; preds.len()];
        }
        // Best ground truth of each prediction, and best IoU of each ground truth.
        let mut best_gt = vec![(0usize, f32::NEG_INFINITY); preds.len()];
        let mut best_of_gt = vec![0f32; gt.len()];
        let ious: Vec<Vec<f32>> = gt
            .iter()
            .map(|g| preds.iter().map(|p| g.iou(p)).collect())
            .collect();
        for (g, row) in ious.iter().enumerate() {
            for (p, &v) in row.iter().enumerate() {
                if v > best_gt[p].1 {
                    best_gt[p] = (g, v);
                }
                best_of_gt[g] = best_of_gt[g].max(v);
            }
        }
        let mut out: Vec<Match> = best_gt
            .iter()
            .map(|&(g, v)| {
                if v < self.low {
                    Match::Below
                } else if v < self.high {
                    Match::Between
                } else {
                    Match::Gt(g)
                }
            })
            .collect();
        if self.allow_low_quality {
            for (g, row) in ious.iter().enumerate() {
                if best_of_gt[g] <= 0.0 {
                    continue;
                }
                for (p, &v) in row.iter().enumerate() {
                    if v == best_of_gt[g] {
                        out[p] = Match::Gt(best_gt[p].0);
                    }
                }
            }
        }
        out
    }
}

/// Draws up to `batch_per_image` labelled predictions, at most `positive_fraction` of them
/// positive (torchvision's `BalancedPositiveNegativeSampler`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    pub batch_per_image: usize,
    pub positive_fraction: f32,
}

impl Sampler {
    /// `labels`: `>= 1` positive, `0` negative, anything else ignored. Returns the sampled
    /// positive and negative indices, each ascending. Positives: `min(floor(batch * fraction),
    /// #positives)`; negatives: `min(batch - positives, #negatives)`; each a uniform draw.
    pub fn sample(&self, labels: &[i64], rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
        let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] >= 1).collect();
        let neg: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 0).collect();
        let want_pos = (self.batch_per_image as f32 * self.positive_fraction) as usize;
        let n_pos = want_pos.min(pos.len());
        let n_neg = (self.batch_per_image - n_pos).min(neg.len());
        (draw(&pos, n_pos, rng), draw(&neg, n_neg, rng))
    }
}

/// `n` of `from` drawn uniformly without replacement, ascending.
fn draw(from: &[usize], n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut out: Vec<usize> = rand::seq::index::sample(rng, from.len(), n)
        .into_iter()
        .map(|i| from[i])
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn thresholds_and_low_quality_matches() {
        let gt = [
            Rect::new(0.0, 0.0, 4.0, 4.0),
            Rect::new(20.0, 20.0, 30.0, 30.0),
        ];
        let preds = [
            Rect::new(0.0, 0.0, 4.0, 4.0),     // IoU 1 with gt 0
            Rect::new(1.0, 0.0, 5.0, 4.0),     // 12/20 = 0.6 with gt 0: between
            Rect::new(2.0, 0.0, 6.0, 4.0),     // 8/24 = 0.33: between
            Rect::new(3.0, 0.0, 7.0, 4.0),     // 4/28 = 0.14: below
            Rect::new(22.0, 22.0, 32.0, 32.0), // 64/136 = 0.47 with gt 1: its best -> low quality
            Rect::new(50.0, 50.0, 51.0, 51.0), // nothing
        ];
        let rpn = Matcher {
            high: 0.7,
            low: 0.3,
            allow_low_quality: true,
        };
        use Match::*;
        assert_eq!(
            rpn.matches(&gt, &preds),
            vec![Gt(0), Between, Between, Below, Gt(1), Below]
        );
        let strict = Matcher {
            allow_low_quality: false,
            ..rpn
        };
        assert_eq!(strict.matches(&gt, &preds)[4], Between);
        let roi = Matcher {
            high: 0.5,
            low: 0.5,
            allow_low_quality: false,
        };
        assert_eq!(
            roi.matches(&gt, &preds),
            vec![Gt(0), Gt(0), Below, Below, Below, Below]
        );
        assert_eq!(rpn.matches(&[], &preds), vec![Below; 6]);
        // a gt box that overlaps nothing promotes nothing
        let far = [Rect::new(100.0, 100.0, 101.0, 101.0)];
        assert_eq!(rpn.matches(&far, &preds[..2]), vec![Below, Below]);
    }

    #[test]
    fn sampler_counts_fraction_and_determinism() {
        // 10 positives, 100 negatives, 5 ignored
        let mut labels = vec![0i64; 100];
        labels.extend([1; 6]);
        labels.extend([2; 4]);
        labels.extend([-1; 5]);
        let s = Sampler {
            batch_per_image: 32,
            positive_fraction: 0.25,
        };
        let (p, n) = s.sample(&labels, &mut stream(1, "test/sampler"));
        assert_eq!((p.len(), n.len()), (8, 24));
        assert!(p.iter().all(|&i| labels[i] >= 1) && n.iter().all(|&i| labels[i] == 0));
        assert!(p.windows(2).all(|w| w[0] < w[1]) && n.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            (p.clone(), n.clone()),
            s.sample(&labels, &mut stream(1, "test/sampler"))
        );
        assert_ne!(n, s.sample(&labels, &mut stream(2, "test/sampler")).1);
        // few positives: all of them, negatives fill the batch
        let s = Sampler {
            batch_per_image: 64,
            positive_fraction: 0.5,
        };
        let (p, n) = s.sample(&labels, &mut stream(1, "test/sampler"));
        assert_eq!((p.len(), n.len()), (10, 54));
        // few of both
        let (p, n) = s.sample(&[0, 1, -1], &mut stream(1, "test/sampler"));
        assert_eq!((p, n), (vec![1], vec![0]));
    }
}
