//! The box head (torchvision's `RoIHeads` with `TwoMLPHead` and `FastRCNNPredictor`): RoI
//! Align of each proposal, two fully connected layers (ReLU), class logits (`K + 1`,
//! background 0) and class-specific box deltas (`4 (K + 1)`, weights `(10, 10, 5, 5)`).
//!
//! Training ([`sample_rois`], [`roi_loss`]): the ground-truth boxes are appended to each image's
//! proposals, matched at `roi_fg_iou` (below it: background), and a balanced sample drawn;
//! loss = cross-entropy over the sampled RoIs + smooth L1 (beta 1/9) on the true class's
//! deltas of the positives, summed and divided by the number of sampled RoIs.
//!
//! Inference ([`postprocess`]): softmax, per-class decoding, clipping to the image, class
//! probability `> box_score_thresh`, boxes under `min_size` dropped, per-class NMS at
//! `box_nms_iou`, the `detections_per_img` best kept.

use super::boxes::BoxCoder;
use super::matcher::{Match, Matcher, Sampler};
use super::nms::batched_nms;
use super::rpn::{SMOOTH_L1_BETA, smooth_l1_sum};
use super::{Detection, DetectorConfig, TargetBox};
use crate::geom::Rect;
use crate::model::layers::{Linear, Params};
use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

/// The two-layer MLP and the predictor, parameters `<name>.fc6`, `<name>.fc7`,
/// `<name>.cls_score`, `<name>.bbox_pred`.
pub struct BoxHead {
    fc6: Linear,
    fc7: Linear,
    cls_score: Linear,
    bbox_pred: Linear,
}

impl BoxHead {
    /// `inputs` = `C P P` pooled features per RoI; `classes` foreground classes.
    pub fn new(
        p: &Params,
        name: &str,
        inputs: usize,
        hidden: usize,
        classes: usize,
        dev: &Device,
    ) -> Result<Self> {
        Ok(BoxHead {
            fc6: Linear::new(p, &format!("{name}.fc6"), inputs, hidden, dev)?,
            fc7: Linear::new(p, &format!("{name}.fc7"), hidden, hidden, dev)?,
            cls_score: Linear::new(p, &format!("{name}.cls_score"), hidden, classes + 1, dev)?,
            bbox_pred: Linear::new(
                p,
                &format!("{name}.bbox_pred"),
                hidden,
                4 * (classes + 1),
                dev,
            )?,
        })
    }

    /// Logits `R x (K + 1)` and deltas `R x 4 (K + 1)` of pooled features `R x C x P x P`.
    pub fn forward(&self, pooled: &Tensor) -> Result<(Tensor, Tensor)> {
        let x = pooled.flatten_from(1)?;
        let x = self.fc6.forward(&x)?.relu()?;
        let x = self.fc7.forward(&x)?.relu()?;
        Ok((self.cls_score.forward(&x)?, self.bbox_pred.forward(&x)?))
    }
}

/// The RoIs sampled for the box-head loss.
#[derive(Debug, Clone, Default)]
pub struct RoiSamples {
    /// Per image, the sampled RoIs (ascending index among proposals + ground truth).
    pub rois: Vec<Vec<Rect>>,
    /// Per sampled RoI (images concatenated), its class (0 = background).
    pub labels: Vec<usize>,
    /// Per sampled RoI, the deltas (weights 10, 10, 5, 5) to its box (zeros for background).
    pub targets: Vec<[f32; 4]>,
}

/// Appends the ground truth to the proposals, matches and samples, image by image.
pub fn sample_rois(
    proposals: &[Vec<Rect>],
    gt: &[Vec<TargetBox>],
    (matcher, sampler): (&Matcher, &Sampler),
    rng: &mut ChaCha8Rng,
) -> RoiSamples {
    let mut out = RoiSamples::default();
    for (props, boxes) in proposals.iter().zip(gt) {
        let mut cands = props.clone();
        cands.extend(boxes.iter().map(|b| b.rect));
        let rects: Vec<Rect> = boxes.iter().map(|b| b.rect).collect();
        let matches = matcher.matches(&rects, &cands);
        let lab: Vec<i64> = matches
            .iter()
            .map(|m| match m {
                Match::Gt(g) => boxes[*g].class as i64,
                Match::Below => 0,
                Match::Between => -1,
            })
            .collect();
        let (pos, neg) = sampler.sample(&lab, rng);
        let mut chosen: Vec<usize> = pos.into_iter().chain(neg).collect();
        chosen.sort_unstable();
        let mut rois = Vec::with_capacity(chosen.len());
        for c in chosen {
            rois.push(cands[c]);
            match matches[c] {
                Match::Gt(g) => {
                    out.labels.push(boxes[g].class);
                    out.targets
                        .push(BoxCoder::ROI.encode(&cands[c], &boxes[g].rect));
                }
                _ => {
                    out.labels.push(0);
                    out.targets.push([0.0; 4]);
                }
            }
        }
        out.rois.push(rois);
    }
    out
}

/// Cross-entropy and box losses of the sampled RoIs (`logits` `R x (K + 1)`, `deltas`
/// `R x 4 (K + 1)`).
pub fn roi_loss(logits: &Tensor, deltas: &Tensor, s: &RoiSamples) -> Result<(Tensor, Tensor)> {
    let (r, k1) = logits.dims2()?;
    let dev = logits.device();
    if r != s.labels.len() || r == 0 {
        candle_core::bail!("roi loss: {r} RoIs scored but {} sampled", s.labels.len());
    }
    let labels: Vec<u32> = s.labels.iter().map(|&c| c as u32).collect();
    let classes = Tensor::from_vec(labels, r, dev)?;
    let class_loss = crate::model::loss::cross_entropy(logits, &classes)?;
    let (mut rows, mut targets) = (Vec::new(), Vec::<f32>::new());
    for (i, (&c, t)) in s.labels.iter().zip(&s.targets).enumerate() {
        if c > 0 {
            rows.push((i * k1 + c) as u32);
            targets.extend(t);
        }
    }
    let box_loss = if rows.is_empty() {
        Tensor::zeros((), logits.dtype(), dev)?
    } else {
        let p = rows.len();
        let rows = Tensor::from_vec(rows, p, dev)?;
        let pred = deltas.reshape((r * k1, 4))?.index_select(&rows, 0)?;
        let target = Tensor::from_vec(targets, (p, 4), dev)?.to_dtype(pred.dtype())?;
        (smooth_l1_sum(&(pred - target)?, SMOOTH_L1_BETA)? / r as f64)?
    };
    Ok((class_loss, box_loss))
}

/// Detections of one image from its RoIs' logits (`R (K + 1)`, row-major) and deltas
/// (`R 4 (K + 1)`), the RoIs themselves and the image's `height x width`.
pub fn postprocess(
    logits: &[f32],
    deltas: &[f32],
    rois: &[Rect],
    (height, width): (f32, f32),
    cfg: &DetectorConfig,
) -> Vec<Detection> {
    let k1 = cfg.classes + 1;
    let (mut boxes, mut scores, mut classes) = (Vec::new(), Vec::new(), Vec::new());
    for (r, roi) in rois.iter().enumerate() {
        let row = &logits[r * k1..(r + 1) * k1];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
        let total: f32 = exp.iter().sum();
        for (k, e) in exp.iter().enumerate().skip(1) {
            let score = e / total;
            if score.is_nan() || score <= cfg.box_score_thresh {
                continue;
            }
            let o = (r * k1 + k) * 4;
            let d = [deltas[o], deltas[o + 1], deltas[o + 2], deltas[o + 3]];
            let b = BoxCoder::ROI.decode(d, roi).clip(width, height);
            if b.width() >= cfg.min_size && b.height() >= cfg.min_size {
                boxes.push(b);
                scores.push(score);
                classes.push(k);
            }
        }
    }
    batched_nms(&boxes, &scores, &classes, cfg.box_nms_iou)
        .into_iter()
        .take(cfg.detections_per_img)
        .map(|i| Detection {
            rect: boxes[i],
            class: classes[i],
            score: scores[i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn ground_truth_joins_the_samples_with_its_class_and_targets() {
        let gt = vec![TargetBox {
            rect: Rect::new(10.0, 10.0, 16.0, 16.0),
            class: 2,
        }];
        let props = vec![
            Rect::new(11.0, 10.0, 17.0, 16.0), // IoU 30/42 = 0.71: class 2
            Rect::new(30.0, 30.0, 36.0, 36.0), // background
        ];
        let m = Matcher {
            high: 0.5,
            low: 0.5,
            allow_low_quality: false,
        };
        let s = Sampler {
            batch_per_image: 8,
            positive_fraction: 0.25,
        };
        let out = sample_rois(
            std::slice::from_ref(&props),
            std::slice::from_ref(&gt),
            (&m, &s),
            &mut stream(0, "t"),
        );
        assert_eq!(out.rois, vec![vec![props[0], props[1], gt[0].rect]]);
        assert_eq!(out.labels, vec![2, 0, 2]);
        assert_eq!(out.targets[1], [0.0; 4]);
        assert_eq!(out.targets[2], [0.0; 4]); // the box itself
        assert!((out.targets[0][0] - -10.0 / 6.0).abs() < 1e-5);
        // no ground truth: every proposal is background
        let out = sample_rois(
            std::slice::from_ref(&props),
            &[vec![]],
            (&m, &s),
            &mut stream(0, "t"),
        );
        assert_eq!(out.labels, vec![0, 0]);
    }

    #[test]
    fn postprocess_thresholds_decodes_and_suppresses_per_class() {
        let cfg = DetectorConfig {
            box_score_thresh: 0.3,
            ..Default::default()
        };
        let rois = [Rect::new(0.0, 0.0, 8.0, 8.0), Rect::new(1.0, 0.0, 9.0, 8.0)];
        // RoI 0: p = (0.1, 0.8, 0.1); RoI 1: p = (0.2, 0.4, 0.4)
        let l = |p: [f32; 3]| p.map(f32::ln);
        let logits: Vec<f32> = [l([0.1, 0.8, 0.1]), l([0.2, 0.4, 0.4])].concat();
        let mut deltas = vec![0f32; 2 * 12];
        deltas[4] = 10.0 * 0.25; // RoI 0, class 1: shift right by a quarter width
        let d = postprocess(&logits, &deltas, &rois, (16.0, 16.0), &cfg);
        // class 1: RoI 0 -> [2, 10] (0.8) suppresses RoI 1 [1, 9] (0.4, IoU 0.78);
        // class 2: RoI 1 (0.4) stays; RoI 0's 0.1 is under the threshold
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].class, d[0].rect), (1, Rect::new(2.0, 0.0, 10.0, 8.0)));
        assert!((d[0].score - 0.8).abs() < 1e-6);
        assert_eq!((d[1].class, d[1].rect), (2, rois[1]));
        let one = DetectorConfig {
            detections_per_img: 1,
            ..cfg
        };
        assert_eq!(
            postprocess(&logits, &deltas, &rois, (16.0, 16.0), &one).len(),
            1
        );
    }
}
