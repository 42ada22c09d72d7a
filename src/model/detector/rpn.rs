//! The region proposal network (torchvision's `RPNHead` and `RegionProposalNetwork`, one
//! feature map): a 3x3 conv (ReLU) shared by a 1x1 conv to `A` objectness logits and a 1x1 conv
//! to `4 A` box deltas per cell; proposals decoded from the anchors; and the RPN loss.
//!
//! Layout: the head's outputs are flattened to `N x (h w A)` logits and `N x (h w A) x 4`
//! deltas with anchor index `(y w + x) A + a` (delta channel `4 a + k`), the order of
//! [`super::anchors::grid_anchors`].
//!
//! Proposals (per image, on the host, no gradient): the `pre_nms_top_n` anchors of highest
//! objectness, decoded (weights 1), clipped to the image, boxes narrower or lower than
//! `min_size` dropped, NMS at `nms_iou` on the sigmoid scores, the first `post_nms_top_n` kept.
//!
//! Loss: anchors matched to the ground truth (positive at IoU >= `fg`, negative under `bg`,
//! plus each box's best anchors), a balanced sample per image; binary cross-entropy on the
//! logits of the sampled anchors (mean over all sampled in the batch) and smooth L1
//! (beta 1/9) on the positives' deltas, summed and divided by the number sampled.

use super::boxes::BoxCoder;
use super::matcher::{Match, Matcher, Sampler};
use super::nms::{nms_first, order_by_score};
use crate::geom::Rect;
use crate::model::layers::{Conv2d, ConvSpec, Params};
use candle_core::{Device, Result, Tensor};
use rand_chacha::ChaCha8Rng;

/// Smooth L1 beta of both regression losses (torchvision's 1/9).
pub const SMOOTH_L1_BETA: f64 = 1.0 / 9.0;

/// `sum(smooth_l1(diff))`: `0.5 d^2 / beta` for `|d| < beta`, else `|d| - 0.5 beta`, written
/// as `0.5 m^2 / beta + (|d| - m)` with `m = min(|d|, beta)`.
pub fn smooth_l1_sum(diff: &Tensor, beta: f64) -> Result<Tensor> {
    let d = diff.abs()?;
    let m = d.minimum(beta)?;
    ((m.sqr()? * (0.5 / beta))? + (d - m)?)?.sum_all()
}

/// The RPN head's convolutions, parameters `<name>.conv`, `<name>.cls_logits`,
/// `<name>.bbox_pred`.
pub struct RpnHead {
    conv: Conv2d,
    cls_logits: Conv2d,
    bbox_pred: Conv2d,
    anchors: usize,
}

impl RpnHead {
    pub fn new(
        p: &Params,
        name: &str,
        channels: usize,
        anchors: usize,
        dev: &Device,
    ) -> Result<Self> {
        let spec = |out, k| ConvSpec::new(channels, out, k).bias(true);
        Ok(RpnHead {
            conv: Conv2d::with_spec(p, &format!("{name}.conv"), spec(channels, 3), dev)?,
            cls_logits: Conv2d::with_spec(p, &format!("{name}.cls_logits"), spec(anchors, 1), dev)?,
            bbox_pred: Conv2d::with_spec(
                p,
                &format!("{name}.bbox_pred"),
                spec(4 * anchors, 1),
                dev,
            )?,
            anchors,
        })
    }

    /// Objectness logits `N x (h w A)` and deltas `N x (h w A) x 4` of features `N x C x h x w`.
    pub fn forward(&self, f: &Tensor) -> Result<(Tensor, Tensor)> {
        let (n, _, h, w) = f.dims4()?;
        let a = self.anchors;
        let t = self.conv.forward(f)?.relu()?;
        let logits = self
            .cls_logits
            .forward(&t)?
            .permute((0, 2, 3, 1))?
            .reshape((n, h * w * a))?;
        let deltas = self
            .bbox_pred
            .forward(&t)?
            .reshape((n, a, 4, h, w))?
            .permute((0, 3, 4, 1, 2))?
            .reshape((n, h * w * a, 4))?;
        Ok((logits, deltas))
    }
}

/// How many proposals to keep and how to filter them.
#[derive(Debug, Clone, Copy)]
pub struct ProposalSettings {
    pub pre_nms_top_n: usize,
    pub post_nms_top_n: usize,
    pub nms_iou: f32,
    pub min_size: f32,
}

/// Proposals of one image from its logits (`M`), deltas (`4 M`) and anchors (`M`), image
/// `height x width` pixels; by descending objectness.
pub fn proposals(
    logits: &[f32],
    deltas: &[f32],
    anchors: &[Rect],
    (height, width): (f32, f32),
    s: &ProposalSettings,
) -> Vec<Rect> {
    let mut boxes = Vec::with_capacity(s.pre_nms_top_n);
    let mut scores = Vec::with_capacity(s.pre_nms_top_n);
    for i in order_by_score(logits).into_iter().take(s.pre_nms_top_n) {
        let d = [
            deltas[4 * i],
            deltas[4 * i + 1],
            deltas[4 * i + 2],
            deltas[4 * i + 3],
        ];
        let b = BoxCoder::RPN.decode(d, &anchors[i]).clip(width, height);
        if b.width() >= s.min_size
            && b.height() >= s.min_size
            && b.x0.is_finite()
            && b.y0.is_finite()
        {
            boxes.push(b);
            scores.push(1.0 / (1.0 + (-logits[i]).exp()));
        }
    }
    nms_first(&boxes, &scores, s.nms_iou, s.post_nms_top_n)
        .into_iter()
        .map(|i| boxes[i])
        .collect()
}

/// The RPN losses (objectness, box regression) of a batch: `logits` `N x M`, `deltas`
/// `N x M x 4`, `gt[i]` the boxes of image `i`. Sampling draws from `rng`, image by image.
pub fn rpn_loss(
    logits: &Tensor,
    deltas: &Tensor,
    anchors: &[Rect],
    gt: &[Vec<Rect>],
    (matcher, sampler): (&Matcher, &Sampler),
    rng: &mut ChaCha8Rng,
) -> Result<(Tensor, Tensor)> {
    let (n, m) = logits.dims2()?;
    let dev = logits.device();
    let (mut sampled, mut labels) = (Vec::new(), Vec::new());
    let (mut pos_rows, mut pos_targets) = (Vec::new(), Vec::new());
    for (i, boxes) in gt.iter().enumerate().take(n) {
        let matches = matcher.matches(boxes, anchors);
        let lab: Vec<i64> = matches
            .iter()
            .map(|m| match m {
                Match::Gt(_) => 1,
                Match::Below => 0,
                Match::Between => -1,
            })
            .collect();
        let (pos, neg) = sampler.sample(&lab, rng);
        for &a in &pos {
            if let Match::Gt(g) = matches[a] {
                pos_rows.push((i * m + a) as u32);
                pos_targets.extend(BoxCoder::RPN.encode(&anchors[a], &boxes[g]));
            }
        }
        let mut all: Vec<(usize, f32)> = pos.iter().map(|&a| (a, 1.0)).collect();
        all.extend(neg.iter().map(|&a| (a, 0.0)));
        all.sort_by_key(|&(a, _)| a);
        for (a, y) in all {
            sampled.push((i * m + a) as u32);
            labels.push(y);
        }
    }
    if sampled.is_empty() {
        candle_core::bail!("rpn loss: no anchors were sampled ({m} anchors per image)");
    }
    let count = sampled.len();
    let idx = Tensor::from_vec(sampled, count, dev)?;
    let y = Tensor::from_vec(labels, count, dev)?.to_dtype(logits.dtype())?;
    let sel = logits.flatten_all()?.index_select(&idx, 0)?;
    let objectness = crate::model::loss::bce_with_logits(&sel, &y)?;
    let box_loss = if pos_rows.is_empty() {
        Tensor::zeros((), logits.dtype(), dev)?
    } else {
        let p = pos_rows.len();
        let rows = Tensor::from_vec(pos_rows, p, dev)?;
        let pred = deltas.reshape((n * m, 4))?.index_select(&rows, 0)?;
        let target = Tensor::from_vec(pos_targets, (p, 4), dev)?.to_dtype(pred.dtype())?;
        (smooth_l1_sum(&(pred - target)?, SMOOTH_L1_BETA)? / count as f64)?
    };
    Ok((objectness, box_loss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_l1_by_hand() {
        let d = Tensor::new(&[0.0f32, 0.05, -0.1, 1.0, -2.0], &Device::Cpu).unwrap();
        let b = 1.0 / 9.0;
        let want = 0.5 * 0.05f64.powi(2) / b + 0.5 * 0.01 / b + (1.0 - 0.5 * b) + (2.0 - 0.5 * b);
        let got = smooth_l1_sum(&d, b).unwrap().to_scalar::<f32>().unwrap() as f64;
        assert!((got - want).abs() < 1e-5, "{got} {want}");
    }

    #[test]
    fn proposals_decode_clip_filter_and_nms() {
        let anchors = [
            Rect::new(0.0, 0.0, 4.0, 4.0),
            Rect::new(1.0, 0.0, 5.0, 4.0), // overlaps anchor 0 (IoU 0.6)
            Rect::new(-2.0, 10.0, 2.0, 14.0), // clipped to x in [0, 2]
            Rect::new(8.0, 8.0, 12.0, 12.0),
        ];
        let logits = [3.0, 2.0, 1.0, -5.0];
        // anchor 3 is shrunk to ~0 width: dropped by min_size
        let mut deltas = vec![0f32; 16];
        deltas[14] = -20.0;
        let s = ProposalSettings {
            pre_nms_top_n: 10,
            post_nms_top_n: 10,
            nms_iou: 0.5,
            min_size: 0.01,
        };
        let p = proposals(&logits, &deltas, &anchors, (16.0, 16.0), &s);
        assert_eq!(p, vec![anchors[0], Rect::new(0.0, 10.0, 2.0, 14.0)]);
        let s = ProposalSettings {
            nms_iou: 0.7,
            post_nms_top_n: 2,
            ..s
        };
        assert_eq!(
            proposals(&logits, &deltas, &anchors, (16.0, 16.0), &s),
            vec![anchors[0], anchors[1]]
        );
        let s = ProposalSettings {
            pre_nms_top_n: 1,
            ..s
        };
        assert_eq!(
            proposals(&logits, &deltas, &anchors, (16.0, 16.0), &s),
            vec![anchors[0]]
        );
    }
}
