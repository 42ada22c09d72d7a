//! A two-stage detector of the Faster R-CNN family (Ren et al. 2015) with torchvision's
//! semantics (`torchvision.models.detection`), sized for small objects in galaxy cutouts
//! (giant star-forming clumps, boxes of ~3-12 pixels in 64x64 images).
//!
//! ```text
//! images N x C x H x W ─► backbone feature map N x C' x h x w   (any of cnn-small, resnet,
//!   │                         │                                  convnext; parameters backbone.*)
//!   │                         ├─► RPN head: objectness + deltas per anchor  (head.rpn.*)
//!   │                         │     └─► proposals: decode, clip, top-n, NMS (host side)
//!   │                         └─► RoI Align of the proposals (P x P, aligned)
//!   │                                 └─► box head: 2 FC + class logits + class deltas (head.roi.*)
//!   └─ train: RPN loss (sampled anchors) + box-head loss (sampled RoIs, ground truth appended)
//!      eval:  softmax, decode per class, threshold, per-class NMS -> detections
//! ```
//!
//! Files: [`boxes`] (box coding), [`anchors`], [`nms`], [`matcher`]
//! (matching and balanced sampling), [`roi_align`], [`rpn`], [`roi_heads`]; the settings are
//! [`DetectorConfig`] (`spec::detector`, beside the rest of the YAML schema).
//!
//! One feature map (no FPN). The anchor stride is `H / h` (integer division) and RoI Align's
//! scale the power of two nearest `h / H`, both as torchvision. Boxes are [`Rect`]s in image
//! pixels. All sampling draws from the `ChaCha8Rng` handed in, so a step is deterministic.
//! Parameters: `backbone.*` (loadable with `Params::load_prefixed`) and `head.rpn.*`,
//! `head.roi.*`, so the optimizer's head-only fine-tuning treats the detector heads as the head.

pub mod anchors;
pub mod boxes;
pub mod matcher;
pub mod nms;
pub mod roi_align;
pub mod roi_heads;
pub mod rpn;
#[cfg(test)]
mod tests;

pub use crate::spec::{DetectorConfig, DetectorConfigError as ConfigError};

use crate::geom::Rect;
use crate::model::{FeatureNet, Params};
use crate::spec::{Invariance, ModelConfig};
use candle_core::{DType, Device, Result, Tensor};
use matcher::{Matcher, Sampler};
use rand_chacha::ChaCha8Rng;
use roi_heads::BoxHead;
use rpn::{ProposalSettings, RpnHead};

/// A ground-truth box and its class (`1..=classes`; 0 is the background).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetBox {
    pub rect: Rect,
    pub class: usize,
}

/// A detected box, its class (`1..=classes`) and that class's probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub rect: Rect,
    pub class: usize,
    pub score: f32,
}

/// The four training losses and their sum (differentiable).
#[derive(Debug, Clone)]
pub struct Losses {
    pub rpn_objectness: Tensor,
    pub rpn_box: Tensor,
    pub roi_class: Tensor,
    pub roi_box: Tensor,
    pub total: Tensor,
}

/// What the RPN stage of a batch produced.
struct RpnStage {
    /// `N x M` objectness logits.
    logits: Tensor,
    /// `N x M x 4` deltas.
    deltas: Tensor,
    anchors: Vec<Rect>,
    /// RoI Align's spatial scale.
    scale: f32,
    /// Proposals per image.
    props: Vec<Vec<Rect>>,
}

/// Backbone + RPN + box head.
pub struct Detector {
    backbone: Box<dyn FeatureNet>,
    rpn: RpnHead,
    roi: BoxHead,
    cfg: DetectorConfig,
    base_anchors: Vec<Rect>,
    /// Feature-map size of a `size x size` input and its stride.
    map: (usize, usize),
    stride: usize,
    frozen_backbone: bool,
}

/// Prefix of the RPN's parameters.
pub const RPN: &str = "head.rpn";
/// Prefix of the box head's parameters.
pub const ROI: &str = "head.roi";

impl Detector {
    /// The detector on the backbone of `model` for `channels x size x size` images.
    pub fn new(
        model: &ModelConfig,
        det: &DetectorConfig,
        channels: usize,
        size: usize,
        params: &Params,
        device: &Device,
    ) -> Result<Detector> {
        det.validate()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        if !Invariance::is_none(&model.invariance) {
            candle_core::bail!(
                "detector: model.invariance must be none (the invariance wrappers pool away the \
                 feature map)"
            );
        }
        let backbone = crate::model::backbone(model, channels, size, params, device)?;
        let probe = Tensor::zeros((1, channels, size, size), DType::F32, device)?;
        let (_, c, h, w) = backbone.feature_map(&probe, false)?.dims4()?;
        if h == 0 || w == 0 || c != backbone.map_channels() {
            candle_core::bail!("detector: the backbone gives a {c}x{h}x{w} feature map");
        }
        let a = det.anchors_per_cell();
        let rpn = RpnHead::new(params, RPN, c, a, device)?;
        let inputs = c * det.pool_size * det.pool_size;
        let roi = BoxHead::new(params, ROI, inputs, det.hidden, det.classes, device)?;
        Ok(Detector {
            backbone,
            rpn,
            roi,
            cfg: det.clone(),
            base_anchors: anchors::base_anchors(&det.anchor_sizes, &det.anchor_ratios),
            map: (h, w),
            stride: size / h,
            frozen_backbone: false,
        })
    }

    /// Image pixels per feature-map cell (the anchor stride) for the construction size.
    pub fn feature_stride(&self) -> usize {
        self.stride
    }

    /// Feature-map `h x w` for the construction size.
    pub fn feature_map_size(&self) -> (usize, usize) {
        self.map
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// Freeze (or unfreeze) the backbone: evaluation-mode features and no gradient into it
    /// (pair with training only the `head.` parameters).
    pub fn set_frozen_backbone(&mut self, frozen: bool) {
        self.frozen_backbone = frozen;
    }

    /// The backbone's feature map of `images` (what the RPN and RoI Align read), e.g. for
    /// precise BatchNorm statistics.
    pub fn backbone_features(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        self.backbone.feature_map(images, train)
    }

    fn features(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        if self.frozen_backbone {
            Ok(self.backbone.feature_map(images, false)?.detach())
        } else {
            self.backbone.feature_map(images, train)
        }
    }

    /// Anchors, RoI-Align scale and image size for a feature map of `images`.
    fn geometry(&self, images: &Tensor, f: &Tensor) -> Result<(Vec<Rect>, f32, (f32, f32))> {
        let (_, _, ih, iw) = images.dims4()?;
        let (_, _, h, w) = f.dims4()?;
        if h == 0 || w == 0 {
            candle_core::bail!("detector: empty {h}x{w} feature map for {ih}x{iw} images");
        }
        let anchors = anchors::grid_anchors(&self.base_anchors, (h, w), (ih / h, iw / w));
        let scale = 2f32.powf((h as f32 / ih as f32).log2().round());
        Ok((anchors, scale, (ih as f32, iw as f32)))
    }

    fn proposal_settings(&self, train: bool) -> ProposalSettings {
        let c = &self.cfg;
        ProposalSettings {
            pre_nms_top_n: if train {
                c.rpn_pre_nms_top_n_train
            } else {
                c.rpn_pre_nms_top_n_test
            },
            post_nms_top_n: if train {
                c.rpn_post_nms_top_n_train
            } else {
                c.rpn_post_nms_top_n_test
            },
            nms_iou: c.rpn_nms_iou,
            min_size: c.min_size,
        }
    }

    /// RPN outputs and the proposals of every image.
    fn rpn_stage(&self, images: &Tensor, f: &Tensor, train: bool) -> Result<RpnStage> {
        let (anchors, scale, hw) = self.geometry(images, f)?;
        let (logits, deltas) = self.rpn.forward(f)?;
        let l = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let d = deltas
            .to_dtype(DType::F32)?
            .flatten_from(1)?
            .to_vec2::<f32>()?;
        let s = self.proposal_settings(train);
        let props = l
            .iter()
            .zip(&d)
            .map(|(li, di)| rpn::proposals(li, di, &anchors, hw, &s))
            .collect();
        Ok(RpnStage {
            logits,
            deltas,
            anchors,
            scale,
            props,
        })
    }

    /// The training losses of a batch (train mode: BatchNorm uses and updates batch
    /// statistics). `targets[i]` are the boxes of image `i` (may be empty). Anchor and RoI
    /// sampling draw from `rng`.
    pub fn losses(
        &self,
        images: &Tensor,
        targets: &[Vec<TargetBox>],
        rng: &mut ChaCha8Rng,
    ) -> Result<Losses> {
        let n = images.dim(0)?;
        self.check_targets(n, targets)?;
        let f = self.features(images, true)?;
        let RpnStage {
            logits,
            deltas,
            anchors,
            scale,
            props,
        } = self.rpn_stage(images, &f, true)?;
        let gt: Vec<Vec<Rect>> = targets
            .iter()
            .map(|t| t.iter().map(|b| b.rect).collect())
            .collect();
        let c = &self.cfg;
        let rpn_m = Matcher {
            high: c.rpn_fg_iou,
            low: c.rpn_bg_iou,
            allow_low_quality: true,
        };
        let rpn_s = Sampler {
            batch_per_image: c.rpn_batch_per_image,
            positive_fraction: c.rpn_positive_fraction,
        };
        let (rpn_objectness, rpn_box) =
            rpn::rpn_loss(&logits, &deltas, &anchors, &gt, (&rpn_m, &rpn_s), rng)?;
        let roi_m = Matcher {
            high: c.roi_fg_iou,
            low: c.roi_fg_iou,
            allow_low_quality: false,
        };
        let roi_s = Sampler {
            batch_per_image: c.roi_batch_per_image,
            positive_fraction: c.roi_positive_fraction,
        };
        let samples = roi_heads::sample_rois(&props, targets, (&roi_m, &roi_s), rng);
        let (roi_class, roi_box) =
            match roi_align::roi_align(&f, &samples.rois, scale, c.pool_size, c.sampling_ratio)? {
                Some(pooled) => {
                    let (cl, de) = self.roi.forward(&pooled)?;
                    roi_heads::roi_loss(&cl, &de, &samples)?
                }
                None => {
                    let zero = Tensor::zeros((), f.dtype(), f.device())?;
                    (zero.clone(), zero)
                }
            };
        let total = (((&rpn_objectness + &rpn_box)? + &roi_class)? + &roi_box)?;
        Ok(Losses {
            rpn_objectness,
            rpn_box,
            roi_class,
            roi_box,
            total,
        })
    }

    /// Detections of every image (evaluation mode), each list by descending score.
    pub fn detect(&self, images: &Tensor) -> Result<Vec<Vec<Detection>>> {
        let f = self.backbone.feature_map(images, false)?;
        let RpnStage { scale, props, .. } = self.rpn_stage(images, &f, false)?;
        let (_, _, ih, iw) = images.dims4()?;
        let c = &self.cfg;
        let Some(pooled) = roi_align::roi_align(&f, &props, scale, c.pool_size, c.sampling_ratio)?
        else {
            return Ok(vec![Vec::new(); props.len()]);
        };
        let (logits, deltas) = self.roi.forward(&pooled)?;
        let logits = logits
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let deltas = deltas
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let (k1, mut start) = (c.classes + 1, 0);
        let mut out = Vec::with_capacity(props.len());
        for p in &props {
            let (l, d) = (
                &logits[start * k1..(start + p.len()) * k1],
                &deltas[start * 4 * k1..(start + p.len()) * 4 * k1],
            );
            out.push(roi_heads::postprocess(l, d, p, (ih as f32, iw as f32), c));
            start += p.len();
        }
        Ok(out)
    }

    /// One list of boxes per image; every box finite, of positive size, of a known class.
    fn check_targets(&self, n: usize, targets: &[Vec<TargetBox>]) -> Result<()> {
        if targets.len() != n {
            candle_core::bail!("detector: {} target lists for {n} images", targets.len());
        }
        for (i, t) in targets.iter().enumerate() {
            for b in t {
                let r = b.rect;
                let finite = [r.x0, r.y0, r.x1, r.y1].iter().all(|v| v.is_finite());
                if !finite || r.x1 <= r.x0 || r.y1 <= r.y0 {
                    candle_core::bail!("detector: image {i} has an empty or invalid box {r:?}");
                }
                if b.class == 0 || b.class > self.cfg.classes {
                    candle_core::bail!(
                        "detector: image {i} has a box of class {} (classes are 1..={})",
                        b.class,
                        self.cfg.classes
                    );
                }
            }
        }
        Ok(())
    }
}
