//! [`DetectorConfig`]: the detector's settings as plain values (serde, unknown keys rejected,
//! every key defaulted), torchvision's Faster R-CNN defaults scaled to small cutouts, and
//! [`DetectorConfig::validate`], whose errors name the offending key.

use serde::{Deserialize, Serialize};

/// A configuration error: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("detector: `{key}` {message}")]
pub struct DetectorConfigError {
    pub key: &'static str,
    pub message: String,
}

/// Settings of the two-stage detector (RPN + box head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Foreground classes (class 0 is the background).
    pub classes: usize,
    /// Anchor sizes in image pixels.
    pub anchor_sizes: Vec<f32>,
    /// Anchor aspect ratios (height / width).
    pub anchor_ratios: Vec<f32>,
    /// RPN: proposals kept by objectness before NMS, per image, in training.
    pub rpn_pre_nms_top_n_train: usize,
    /// RPN: the same at inference.
    pub rpn_pre_nms_top_n_test: usize,
    /// RPN: proposals kept after NMS, per image, in training.
    pub rpn_post_nms_top_n_train: usize,
    /// RPN: the same at inference.
    pub rpn_post_nms_top_n_test: usize,
    /// RPN: NMS IoU threshold of the proposals.
    pub rpn_nms_iou: f32,
    /// RPN: anchors with IoU >= this with a box are positive.
    pub rpn_fg_iou: f32,
    /// RPN: anchors with IoU < this with every box are negative.
    pub rpn_bg_iou: f32,
    /// RPN: anchors sampled per image for the loss.
    pub rpn_batch_per_image: usize,
    /// RPN: largest fraction of positives among them.
    pub rpn_positive_fraction: f32,
    /// Box head: proposals with IoU >= this are foreground, the rest background.
    pub roi_fg_iou: f32,
    /// Box head: proposals sampled per image for the loss.
    pub roi_batch_per_image: usize,
    /// Box head: largest fraction of foreground among them.
    pub roi_positive_fraction: f32,
    /// RoI Align output side `P` (torchvision: 7).
    pub pool_size: usize,
    /// RoI Align samples per bin side (0: adaptive, `ceil(bin size)`).
    pub sampling_ratio: usize,
    /// Units of each of the box head's two hidden layers (torchvision: 1024).
    pub hidden: usize,
    /// Detections need at least this class probability.
    pub box_score_thresh: f32,
    /// Per-class NMS IoU threshold of the detections.
    pub box_nms_iou: f32,
    /// Detections kept per image.
    pub detections_per_img: usize,
    /// Proposals and detections narrower or lower than this (pixels) are dropped.
    pub min_size: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            classes: 2,
            anchor_sizes: vec![4.0, 8.0, 16.0],
            anchor_ratios: vec![0.5, 1.0, 2.0],
            rpn_pre_nms_top_n_train: 600,
            rpn_pre_nms_top_n_test: 300,
            rpn_post_nms_top_n_train: 300,
            rpn_post_nms_top_n_test: 100,
            rpn_nms_iou: 0.7,
            rpn_fg_iou: 0.7,
            rpn_bg_iou: 0.3,
            rpn_batch_per_image: 256,
            rpn_positive_fraction: 0.5,
            roi_fg_iou: 0.5,
            roi_batch_per_image: 128,
            roi_positive_fraction: 0.25,
            pool_size: 4,
            sampling_ratio: 2,
            hidden: 128,
            box_score_thresh: 0.05,
            box_nms_iou: 0.6,
            detections_per_img: 50,
            min_size: 0.01,
        }
    }
}

impl DetectorConfig {
    /// Anchors per feature-map cell.
    pub fn anchors_per_cell(&self) -> usize {
        self.anchor_sizes.len() * self.anchor_ratios.len()
    }

    /// Checks every key; the first problem found is returned.
    pub fn validate(&self) -> Result<(), DetectorConfigError> {
        let err = |key: &'static str, message: String| Err(DetectorConfigError { key, message });
        let positive = [
            ("classes", self.classes),
            ("rpn_pre_nms_top_n_train", self.rpn_pre_nms_top_n_train),
            ("rpn_pre_nms_top_n_test", self.rpn_pre_nms_top_n_test),
            ("rpn_post_nms_top_n_train", self.rpn_post_nms_top_n_train),
            ("rpn_post_nms_top_n_test", self.rpn_post_nms_top_n_test),
            ("rpn_batch_per_image", self.rpn_batch_per_image),
            ("roi_batch_per_image", self.roi_batch_per_image),
            ("pool_size", self.pool_size),
            ("hidden", self.hidden),
            ("detections_per_img", self.detections_per_img),
        ];
        for (key, v) in positive {
            if v == 0 {
                return err(key, "must be at least 1".into());
            }
        }
        for (key, v) in [
            ("anchor_sizes", &self.anchor_sizes),
            ("anchor_ratios", &self.anchor_ratios),
        ] {
            if v.is_empty() || v.iter().any(|x| !(x.is_finite() && *x > 0.0)) {
                return err(
                    key,
                    format!("must be a non-empty list of positive numbers, got {v:?}"),
                );
            }
        }
        let unit = [
            ("rpn_nms_iou", self.rpn_nms_iou),
            ("rpn_fg_iou", self.rpn_fg_iou),
            ("rpn_bg_iou", self.rpn_bg_iou),
            ("rpn_positive_fraction", self.rpn_positive_fraction),
            ("roi_fg_iou", self.roi_fg_iou),
            ("roi_positive_fraction", self.roi_positive_fraction),
            ("box_nms_iou", self.box_nms_iou),
        ];
        for (key, v) in unit {
            if !(v > 0.0 && v <= 1.0) {
                return err(key, format!("must be in (0, 1], got {v}"));
            }
        }
        if self.rpn_bg_iou > self.rpn_fg_iou {
            return err(
                "rpn_bg_iou",
                format!(
                    "({}) must not exceed rpn_fg_iou ({})",
                    self.rpn_bg_iou, self.rpn_fg_iou
                ),
            );
        }
        if !(0.0..1.0).contains(&self.box_score_thresh) {
            return err(
                "box_score_thresh",
                format!("must be in [0, 1), got {}", self.box_score_thresh),
            );
        }
        if !(self.min_size.is_finite() && self.min_size >= 0.0) {
            return err("min_size", format!("must be >= 0, got {}", self.min_size));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_defaults_unknown_keys_and_validation() {
        let c: DetectorConfig = serde_yaml::from_str("{ classes: 3, pool_size: 7 }").unwrap();
        assert_eq!((c.classes, c.pool_size, c.hidden), (3, 7, 128));
        assert_eq!(c.anchors_per_cell(), 9);
        assert!(c.validate().is_ok());
        assert!(serde_yaml::from_str::<DetectorConfig>("{ clases: 3 }").is_err());
        let bad = |c: DetectorConfig| c.validate().unwrap_err().key;
        let d = DetectorConfig::default;
        assert_eq!(bad(DetectorConfig { classes: 0, ..d() }), "classes");
        assert_eq!(
            bad(DetectorConfig {
                anchor_sizes: vec![],
                ..d()
            }),
            "anchor_sizes"
        );
        assert_eq!(
            bad(DetectorConfig {
                anchor_ratios: vec![-1.0],
                ..d()
            }),
            "anchor_ratios"
        );
        assert_eq!(
            bad(DetectorConfig {
                rpn_bg_iou: 0.8,
                ..d()
            }),
            "rpn_bg_iou"
        );
        assert_eq!(
            bad(DetectorConfig {
                box_nms_iou: 0.0,
                ..d()
            }),
            "box_nms_iou"
        );
        assert_eq!(
            bad(DetectorConfig {
                box_score_thresh: 1.0,
                ..d()
            }),
            "box_score_thresh"
        );
        assert_eq!(
            bad(DetectorConfig {
                min_size: f32::NAN,
                ..d()
            }),
            "min_size"
        );
        let e = DetectorConfig {
            pool_size: 0,
            ..d()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("`pool_size`"), "{e}");
    }
}
