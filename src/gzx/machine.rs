//! The machine of a Galaxy Zoo Express stream: a classifier trained on the galaxies SWAP has
//! retired (with their SWAP labels) that scores the galaxies still queued, and the thresholds at
//! which its scores are trusted.
//!
//! Two machines, named for what they are: [`Cnn`], a backbone of the `model:` section fine-tuned
//! on the retired galaxies' images (the modern choice; weights carry over from one training to
//! the next, as a fine-tuned network would), and [`Measurements`], a logistic regression on
//! non-parametric morphology measurements of the same images (`gzx::measure`, fitted by
//! `train::probe`; the baseline, in the spirit of Beck et al.'s random forest on ZEST+
//! measurements).
//!
//! **Thresholds** ([`thresholds`]): on the held-out retired galaxies, the lowest score `t_pos`
//! such that the held-out galaxies scoring `>= t_pos` agree with their SWAP label "positive"
//! with *class-balanced* precision at least `precision` (each galaxy weighted by one over its
//! SWAP class's held-out count, so the rule does not depend on the class mix SWAP happened to
//! retire: a machine that scores everything alike has balanced precision 0.5 and retires
//! nothing, even when 97 % of the retired galaxies are negative), and there are at least
//! `ceil(1 / (1 - precision))` of them (so one disagreement is measurable: 20 at 0.95, 100 at
//! 0.99); `t_neg` likewise from below. Both sides retire nothing while either class has fewer
//! than that many held-out galaxies. Balanced, not plain, precision because the early retired
//! galaxies are mostly the easy negatives: with plain precision one seed's first machine
//! retired 46 % of the queue as negative at 64 % accuracy (the majority-class level).

use crate::data::Dataset;
use crate::model::{Model, Params};
use crate::spec::{Invariance, ModelConfig, TrainConfig};
use crate::train;
use crate::train::probe::{Logistic, Standardiser, select};
use anyhow::Context;
use candle_core::Device;
use rand::Rng;

/// A classifier the stream trains on retired galaxies and asks about queued ones. Galaxies are
/// indices into the stream's galaxy list; `true` = the positive answer.
pub trait Machine {
    /// Trains on `train`, holding out `val` (early stopping, when the machine uses it).
    fn fit(
        &mut self,
        round: usize,
        train: &[(u32, bool)],
        val: &[(u32, bool)],
    ) -> anyhow::Result<()>;
    /// P(positive) of each galaxy.
    fn score(&self, galaxies: &[u32]) -> anyhow::Result<Vec<f64>>;
}

/// The machine's retirement thresholds: retire as positive at `score >= pos`, as negative at
/// `score <= neg`; `None` = that side retires nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub pos: Option<f64>,
    pub neg: Option<f64>,
}

impl Thresholds {
    /// The machine's label for a score (`Some(true)` = positive), or `None` when not confident
    /// (also when both sides claim the score).
    pub fn decide(&self, s: f64) -> Option<bool> {
        let pos = self.pos.is_some_and(|t| s >= t);
        let neg = self.neg.is_some_and(|t| s <= t);
        match (pos, neg) {
            (true, false) => Some(true),
            (false, true) => Some(false),
            _ => None,
        }
    }
}

/// The thresholds of the module doc from held-out `scores` and their SWAP `labels`.
pub fn thresholds(scores: &[f64], labels: &[bool], precision: f64) -> Thresholds {
    // 1 / (1 - p) rounded up, without 1 / 0.05 = 20.000000000000004 becoming 21
    let support = (1.0 / (1.0 - precision).max(1e-9) - 1e-6).ceil() as usize;
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos < support || n_neg < support {
        return Thresholds {
            pos: None,
            neg: None,
        };
    }
    let weight = |l: bool| {
        if l {
            1.0 / n_pos as f64
        } else {
            1.0 / n_neg as f64
        }
    };
    let side = |positive: bool| -> Option<f64> {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        // most confident first: descending for the positive side, ascending for the negative
        order.sort_by(|&a, &b| {
            let o = scores[a].total_cmp(&scores[b]);
            if positive { o.reverse() } else { o }
        });
        let (mut agree, mut total, mut best) = (0.0, 0.0, None);
        for (m, &i) in order.iter().enumerate() {
            let w = weight(labels[i]);
            total += w;
            if labels[i] == positive {
                agree += w;
            }
            let tied_next = order.get(m + 1).is_some_and(|&j| scores[j] == scores[i]);
            if !tied_next && m + 1 >= support && agree >= precision * total {
                best = Some(scores[i]);
            }
        }
        best
    };
    Thresholds {
        pos: side(true),
        neg: side(false),
    }
}

/// The galaxies `rows` of `images` (the stream's cutouts, index = galaxy index) with their
/// binary labels as targets.
fn labelled(images: &Dataset, rows: &[(u32, bool)]) -> Dataset {
    let idx: Vec<usize> = rows.iter().map(|&(g, _)| g as usize).collect();
    Dataset {
        targets: rows.iter().map(|&(_, y)| f32::from(u8::from(y))).collect(),
        ..images.subset(&idx)
    }
}

/// Evaluation batch of the CNN's scoring.
const SCORE_BATCH: usize = 256;

/// A backbone + binary head fine-tuned on the retired galaxies at every round.
pub struct Cnn<'a> {
    model: Model,
    params: Params,
    images: &'a Dataset,
    train: TrainConfig,
    augment: bool,
    seed: u64,
    device: Device,
}

impl<'a> Cnn<'a> {
    /// A fresh network of `cfg` (weights from `params`, e.g. a loaded pretrained backbone).
    pub fn new(
        model: Model,
        params: Params,
        cfg: &ModelConfig,
        train: &TrainConfig,
        images: &'a Dataset,
        seed: u64,
        device: &Device,
    ) -> Cnn<'a> {
        Cnn {
            model,
            params,
            images,
            train: train.clone(),
            augment: cfg.invariance == Invariance::Augment,
            seed,
            device: device.clone(),
        }
    }
}

impl Machine for Cnn<'_> {
    fn fit(
        &mut self,
        round: usize,
        train_rows: &[(u32, bool)],
        val: &[(u32, bool)],
    ) -> anyhow::Result<()> {
        let (tr, va) = (
            labelled(self.images, train_rows),
            labelled(self.images, val),
        );
        train::fit(
            &self.model,
            &self.params,
            &train::bce_with_logits,
            &tr,
            &self.train,
            &self.device,
            train::FitOptions {
                // each round its own shuffles
                seed: crate::rng::stream(self.seed, &format!("gzx/machine-round-{round}")).random(),
                val: Some(&va),
                checkpoint: None,
                augment: self.augment,
                on_epoch: &mut |_, _, _| {},
            },
        )
        .with_context(|| format!("training the machine (round {round})"))?;
        Ok(())
    }

    fn score(&self, galaxies: &[u32]) -> anyhow::Result<Vec<f64>> {
        let rows: Vec<(u32, bool)> = galaxies.iter().map(|&g| (g, false)).collect();
        let data = labelled(self.images, &rows);
        let mut out = Vec::with_capacity(galaxies.len());
        train::for_each_batch(&data, SCORE_BATCH, &self.device, |_, x, _| {
            let p = candle_nn::ops::sigmoid(&self.model.forward(x, false)?)?;
            out.extend(p.to_vec1::<f32>()?.into_iter().map(f64::from));
            Ok(())
        })?;
        Ok(out)
    }
}

/// Logistic regression on morphology measurements (one row of features per galaxy): the
/// project's converged linear probe (`train::probe`: standardised features, damped Newton, the
/// L2 penalty chosen on the held-out retired galaxies).
pub struct Measurements {
    features: Vec<Vec<f64>>,
    fit: Option<(Standardiser, Logistic)>,
}

impl Measurements {
    /// Measures every galaxy's image once.
    pub fn new(images: &Dataset) -> anyhow::Result<Measurements> {
        let l = images.image_len();
        let features = images
            .images
            .chunks(l)
            .map(|img| {
                super::measure::measure(img, images.channels, images.size).map(|f| f.to_vec())
            })
            .collect::<Result<Vec<_>, _>>()
            .context("measuring the stream's images")?;
        Ok(Measurements {
            features,
            fit: None,
        })
    }

    /// Raw feature rows and 0/1 labels of `rows`.
    fn rows(&self, rows: &[(u32, bool)]) -> (Vec<Vec<f64>>, Vec<usize>) {
        rows.iter()
            .map(|&(g, y)| (self.features[g as usize].clone(), usize::from(y)))
            .unzip()
    }
}

impl Machine for Measurements {
    fn fit(&mut self, _: usize, train: &[(u32, bool)], val: &[(u32, bool)]) -> anyhow::Result<()> {
        let (x, y) = self.rows(train);
        let (vx, vy) = self.rows(val);
        let st = Standardiser::fit(&x);
        let (model, _) = select((&st.apply(&x), &y), (&st.apply(&vx), &vy), 1);
        self.fit = Some((st, model));
        Ok(())
    }

    fn score(&self, galaxies: &[u32]) -> anyhow::Result<Vec<f64>> {
        let (st, model) = self
            .fit
            .as_ref()
            .context("the measurement machine scored before its first fit")?;
        let rows: Vec<Vec<f64>> = galaxies
            .iter()
            .map(|&g| self.features[g as usize].clone())
            .collect();
        Ok(st.apply(&rows).iter().map(|r| model.probs(r)[0]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_take_the_largest_set_of_balanced_precision_with_enough_support() {
        // 40 positives at 0.9, 0.9025, ..., 0.9975; 2 negatives among them (0.95, 0.97);
        // 40 negatives at 0.00 .. 0.39. Weights: 1/40 per positive, 1/42 per negative.
        let mut s: Vec<f64> = (0..40).map(|i| 0.9 + i as f64 * 0.0025).collect();
        let mut y = vec![true; 40];
        s.extend([0.95, 0.97]);
        y.extend([false, false]);
        s.extend((0..40).map(|i| i as f64 * 0.01));
        y.extend([false; 40]);
        let t = thresholds(&s, &y, 0.95);
        // top 42: 1 / (1 + 2/42) = 0.9545 >= 0.95; with the 0.39 negative 1 / (1 + 3/42) < 0.95
        assert_eq!(t.pos, Some(0.9));
        // from below: 40/42 against k/40 positives holds for k <= 2 (0.952 / (0.952 + 0.05)
        // = 0.950), not k = 3
        assert_eq!(t.neg, Some(0.9 + 0.0025));
        assert_eq!(t.decide(0.9), None, "both sides claim it");
        assert_eq!(t.decide(0.95), Some(true));
        assert_eq!(t.decide(0.2), Some(false));
        // too few held-out galaxies of a class for the support: nothing retires
        let t = thresholds(&s[30..], &y[30..], 0.95);
        assert_eq!(
            t,
            Thresholds {
                pos: None,
                neg: None
            }
        );
        // ties are taken together: a negative tied with positives at the top counts with them
        let t = thresholds(&[1.0; 40], &[[true; 20], [false; 20]].concat(), 0.95);
        assert_eq!(
            t,
            Thresholds {
                pos: None,
                neg: None
            }
        );
    }

    #[test]
    fn a_machine_scoring_everything_alike_retires_nothing_whatever_the_class_mix() {
        // 970 negatives, 30 positives, one score: plain precision of "all negative" is 0.97
        let y: Vec<bool> = (0..1000).map(|i| i < 30).collect();
        let t = thresholds(&[0.3; 1000], &y, 0.95);
        assert_eq!(
            t,
            Thresholds {
                pos: None,
                neg: None
            }
        );
    }
}
