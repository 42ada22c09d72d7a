//! `resnet` backbone: ResNet with basic blocks (He et al. 2016), resnet-18 layout by default.
//!
//! Stem (`model.stem`): `small` (default), 3x3 conv stride 1 (no bias) -> BatchNorm -> ReLU,
//! with no max-pool, so 64x64 cutouts keep their resolution into `layer1` (the CIFAR-style
//! stem); or `imagenet`, timm's / torchvision's 7x7 conv stride 2 padding 3 (no bias) ->
//! BatchNorm -> ReLU -> 3x3 max-pool stride 2 padding 1 (a 64x64 cutout enters `layer1` at
//! 16x16), the stem of timm's `resnet18` / `resnet34` and of Zoobot's ResNet encoders, whose
//! weights load by name into it. Both stems name their conv and norm `conv1` / `bn1`; their
//! conv kernels differ (3x3 / 7x7). Stage `i` (1-based) has
//! `depths[i]` basic blocks of width `dims[i]`; stages after the first start with stride 2 and
//! a 1x1-conv + BatchNorm `downsample` shortcut (also used when widths change). Global average
//! pool at the end. Parameter names are torchvision's / timm's: `conv1.weight`, `bn1.*`,
//! `layer1.0.conv1.weight`, `layer1.0.bn2.*`, `layer2.0.downsample.0.weight`,
//! `layer2.0.downsample.1.*`.

use super::FeatureNet;
use super::layers::{BatchNorm, Conv2d, ConvSpec, Params, max_pool2d_padded};
use crate::engine::batchnorm::Act;
use crate::spec::{ModelConfig, Stem};
use candle_core::{Device, Result, Tensor};

/// resnet-18 blocks per stage.
pub const DEPTHS: [usize; 4] = [2, 2, 2, 2];
/// resnet-18 widths per stage (before the width multiplier).
pub const WIDTHS: [usize; 4] = [64, 128, 256, 512];

struct Block {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<(Conv2d, BatchNorm)>,
}

impl Block {
    fn new(
        p: &Params,
        name: &str,
        inp: usize,
        out: usize,
        stride: usize,
        dev: &Device,
    ) -> Result<Self> {
        let conv = |n: &str, i, k, s, pad| {
            let spec = ConvSpec::new(i, out, k).stride(s).padding(pad);
            Conv2d::with_spec(p, &format!("{name}.{n}"), spec, dev)
        };
        let downsample = if stride != 1 || inp != out {
            Some((
                conv("downsample.0", inp, 1, stride, 0)?,
                BatchNorm::new(p, &format!("{name}.downsample.1"), out, dev)?,
            ))
        } else {
            None
        };
        Ok(Block {
            conv1: conv("conv1", inp, 3, stride, 1)?,
            bn1: BatchNorm::new(p, &format!("{name}.bn1"), out, dev)?,
            conv2: conv("conv2", out, 3, 1, 1)?,
            bn2: BatchNorm::new(p, &format!("{name}.bn2"), out, dev)?,
            downsample,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = self
            .bn1
            .forward_act(&self.conv1.forward(x)?, train, Act::Relu)?;
        let h = self.bn2.forward(&self.conv2.forward(&h)?, train)?;
        let shortcut = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(x)?, train)?,
            None => x.clone(),
        };
        crate::engine::residual::add_relu(&h, &shortcut)
    }
}

pub struct Resnet {
    conv1: Conv2d,
    bn1: BatchNorm,
    /// The `imagenet` stem's 3x3 stride-2 max-pool after `bn1` + ReLU.
    stem_pool: bool,
    blocks: Vec<Block>,
    out: usize,
}

/// Stage widths of a config: `dims`, else `base` x `width_multiplier` (rounded, at least 1).
pub fn widths(cfg: &ModelConfig, base: &[usize]) -> Vec<usize> {
    match &cfg.dims {
        Some(d) => d.clone(),
        None => base
            .iter()
            .map(|&w| ((w as f64 * cfg.width_multiplier).round() as usize).max(1))
            .collect(),
    }
}

impl Resnet {
    pub fn new(
        p: &Params,
        name: &str,
        channels: usize,
        cfg: &ModelConfig,
        dev: &Device,
    ) -> Result<Self> {
        let depths = cfg.depths.clone().unwrap_or(DEPTHS.to_vec());
        let dims = widths(cfg, &WIDTHS);
        check_layout("resnet", &depths, &dims, cfg.width_multiplier)?;
        let stem = match cfg.stem {
            Stem::Small => ConvSpec::new(channels, dims[0], 3),
            Stem::Imagenet => ConvSpec::new(channels, dims[0], 7).stride(2),
        };
        let conv1 = Conv2d::with_spec(p, &format!("{name}.conv1"), stem, dev)?;
        let bn1 = BatchNorm::new(p, &format!("{name}.bn1"), dims[0], dev)?;
        let mut blocks = Vec::new();
        let mut inp = dims[0];
        for (s, (&depth, &width)) in depths.iter().zip(&dims).enumerate() {
            for b in 0..depth {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let block_name = format!("{name}.layer{}.{b}", s + 1);
                blocks.push(Block::new(p, &block_name, inp, width, stride, dev)?);
                inp = width;
            }
        }
        Ok(Resnet {
            conv1,
            bn1,
            stem_pool: cfg.stem == Stem::Imagenet,
            blocks,
            out: inp,
        })
    }
}

/// Checks that a stage layout is usable: as many depths as widths, none zero.
pub fn check_layout(backbone: &str, depths: &[usize], dims: &[usize], mult: f64) -> Result<()> {
    if !(mult.is_finite() && mult > 0.0) {
        candle_core::bail!("model `{backbone}`: width_multiplier must be positive, got {mult}");
    }
    if depths.is_empty() || depths.len() != dims.len() {
        candle_core::bail!(
            "model `{backbone}`: {} depths but {} stage widths; give one depth per stage",
            depths.len(),
            dims.len()
        );
    }
    if depths.contains(&0) || dims.contains(&0) {
        candle_core::bail!("model `{backbone}`: depths and dims must be positive");
    }
    Ok(())
}

impl FeatureNet for Resnet {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.feature_map(x, train)?.mean((2, 3))
    }

    fn feature_map(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self
            .bn1
            .forward_act(&self.conv1.forward(x)?, train, Act::Relu)?;
        if self.stem_pool {
            h = max_pool2d_padded(&h, 3, 2, 1)?;
        }
        for b in &self.blocks {
            h = b.forward(&h, train)?;
        }
        Ok(h)
    }

    fn out_features(&self) -> usize {
        self.out
    }
}
