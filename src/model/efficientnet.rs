//! `efficientnet` backbone: EfficientNet (Tan & Le 2019) as in timm's `efficientnet_b0`, the
//! backbone of Zoobot's GZ DECaLS / DESI models and of Popp et al.'s clump detector.
//!
//! Stem: 3x3 stride-2 conv (32 channels, no bias) -> BatchNorm -> SiLU. Seven stages of MBConv
//! blocks (`depths`, default B0's 1/2/2/3/3/4/1), each `(kernel, stride, expansion, width)`:
//! (3, 1, 1, 16), (3, 2, 6, 24), (5, 2, 6, 40), (3, 2, 6, 80), (5, 1, 6, 112), (5, 2, 6, 192),
//! (3, 1, 6, 320); only a stage's first block has its stride. Stage 0's blocks are timm's
//! `DepthwiseSeparableConv`: depthwise conv -> BN -> SiLU -> squeeze-excitation -> 1x1 conv ->
//! BN. The others are `InvertedResidual`: 1x1 expansion conv -> BN -> SiLU -> depthwise conv ->
//! BN -> SiLU -> squeeze-excitation -> 1x1 projection conv -> BN. A block adds its input when
//! its stride is 1 and its width does not change. Squeeze-excitation: global mean -> 1x1 conv
//! (bias) to a quarter of the block's input width -> SiLU -> 1x1 conv (bias) -> sigmoid ->
//! times the map. Head: 1x1 conv to 1280 channels -> BN -> SiLU (the feature map); features:
//! its global average. Every conv is padded `k / 2` (timm's symmetric padding, not the `tf_`
//! variants' "same"); BatchNorm is PyTorch's (eps 1e-5, momentum 0.1), as timm's. The depthwise
//! convs run through `engine::depthwise` (shifted multiply-adds on the CPU, cuDNN on a GPU).
//!
//! `width_multiplier` scales the stem, stage and head widths with timm's `round_channels`
//! (nearest multiple of 8, at least 8, never below 90% of the scaled width), as timm's
//! `channel_multiplier`; `depths` (seven counts) replaces the block counts, so timm's
//! `efficientnet_b1` is `depths: [2, 3, 3, 4, 4, 5, 2]` (`depth_multiplier` 1.1, rounded up).
//! `dims` is not taken. Parameter names are timm's (`conv_stem.weight`, `bn1.*`,
//! `blocks.0.0.conv_dw.weight`, `blocks.0.0.se.conv_reduce.bias`, `blocks.0.0.conv_pw.weight`,
//! `blocks.1.0.conv_pw.weight`, `blocks.1.0.bn3.*`, `blocks.1.0.conv_pwl.weight`,
//! `conv_head.weight`, `bn2.*`), so timm / Zoobot EfficientNet weights load by name. Drop-path
//! (stochastic depth) is not implemented: timm's default `drop_path_rate` is 0.

use super::FeatureNet;
use super::layers::{BatchNorm, Conv2d, ConvSpec, Params};
use crate::engine::batchnorm::Act;
use crate::spec::ModelConfig;
use candle_core::{Device, Result, Tensor};

/// B0 blocks per stage.
pub const DEPTHS: [usize; 7] = [1, 2, 2, 3, 3, 4, 1];
/// B0 stages: kernel, stride of the first block, expansion ratio, output width.
const STAGES: [(usize, usize, usize, usize); 7] = [
    (3, 1, 1, 16),
    (3, 2, 6, 24),
    (5, 2, 6, 40),
    (3, 2, 6, 80),
    (5, 1, 6, 112),
    (5, 2, 6, 192),
    (3, 1, 6, 320),
];
const STEM: usize = 32;
const HEAD: usize = 1280;
/// Squeeze-excitation width as a fraction of the block's input width.
const SE_RATIO: f64 = 0.25;

/// timm's `round_channels(c, multiplier)`: `c * multiplier` to the nearest multiple of 8 (at
/// least 8), plus 8 if that fell below 90% of it.
pub fn round_channels(c: usize, multiplier: f64) -> usize {
    let v = c as f64 * multiplier;
    let rounded = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * v {
        rounded + 8
    } else {
        rounded
    }
}

/// Python's `round` (halves to even), as timm rounds the squeeze-excitation width.
fn round_half_even(v: f64) -> usize {
    let r = v.round();
    let r = if (v - v.trunc()).abs() == 0.5 {
        2.0 * (v / 2.0).round()
    } else {
        r
    };
    r.max(0.0) as usize
}

/// A conv (no bias) followed by BatchNorm and, with `act`, SiLU (timm's conv +
/// `BatchNormAct2d`).
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    act: bool,
}

impl ConvBn {
    /// `inp -> out` conv `<prefix>.<conv>` of kernel `k` (padding `k / 2`), depthwise when
    /// `inp == groups`, and BatchNorm `<prefix>.<bn>`.
    fn new(
        p: &Params,
        prefix: &str,
        (conv, bn): (&str, &str),
        (inp, out, k, stride, groups): (usize, usize, usize, usize, usize),
        act: bool,
        dev: &Device,
    ) -> Result<Self> {
        let spec = ConvSpec::new(inp, out, k).stride(stride).groups(groups);
        let name = format!("{prefix}.{conv}");
        let conv = if groups > 1 {
            Conv2d::depthwise(p, &name, spec, dev)?
        } else {
            Conv2d::with_spec(p, &name, spec, dev)?
        };
        Ok(ConvBn {
            conv,
            bn: BatchNorm::new(p, &format!("{prefix}.{bn}"), out, dev)?,
            act,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        // SiLU in the batch norm's op: the same bits as candle's `silu` after it.
        let act = if self.act { Act::Silu } else { Act::None };
        self.bn.forward_act(&self.conv.forward(x)?, train, act)
    }
}

/// Squeeze-excitation (`se.conv_reduce`, `se.conv_expand`, both 1x1 with bias).
struct SqueezeExcite {
    reduce: Conv2d,
    expand: Conv2d,
}

impl SqueezeExcite {
    fn new(p: &Params, prefix: &str, c: usize, reduced: usize, dev: &Device) -> Result<Self> {
        let conv = |name: &str, inp, out| {
            let spec = ConvSpec::new(inp, out, 1).bias(true);
            Conv2d::with_spec(p, &format!("{prefix}.se.{name}"), spec, dev)
        };
        Ok(SqueezeExcite {
            reduce: conv("conv_reduce", c, reduced)?,
            expand: conv("conv_expand", reduced, c)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.mean_keepdim(3)?.mean_keepdim(2)?;
        let s = self.expand.forward(&self.reduce.forward(&s)?.silu()?)?;
        x.broadcast_mul(&candle_nn::ops::sigmoid(&s)?)
    }
}

/// One MBConv block: timm's `DepthwiseSeparableConv` (no `expand`) or `InvertedResidual`.
struct Block {
    /// 1x1 expansion `conv_pw` + `bn1` (InvertedResidual only).
    expand: Option<ConvBn>,
    /// Depthwise `conv_dw` + `bn1` (separable) or `bn2` (inverted residual).
    dw: ConvBn,
    se: SqueezeExcite,
    /// 1x1 projection: `conv_pw` + `bn2` (separable) or `conv_pwl` + `bn3`.
    project: ConvBn,
    skip: bool,
}

impl Block {
    fn new(
        p: &Params,
        prefix: &str,
        (inp, out): (usize, usize),
        (k, stride, expansion): (usize, usize, usize),
        dev: &Device,
    ) -> Result<Self> {
        let mid = inp * expansion;
        // timm: round(mid * se_ratio / expansion), a quarter of the input width.
        let reduced = round_half_even(mid as f64 * (SE_RATIO / expansion as f64)).max(1);
        let separable = expansion == 1;
        let (expand, dw_bn, project) = if separable {
            (None, "bn1", ("conv_pw", "bn2"))
        } else {
            let e = ConvBn::new(
                p,
                prefix,
                ("conv_pw", "bn1"),
                (inp, mid, 1, 1, 1),
                true,
                dev,
            )?;
            (Some(e), "bn2", ("conv_pwl", "bn3"))
        };
        Ok(Block {
            expand,
            dw: ConvBn::new(
                p,
                prefix,
                ("conv_dw", dw_bn),
                (mid, mid, k, stride, mid),
                true,
                dev,
            )?,
            se: SqueezeExcite::new(p, prefix, mid, reduced, dev)?,
            project: ConvBn::new(p, prefix, project, (mid, out, 1, 1, 1), false, dev)?,
            skip: stride == 1 && inp == out,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let h = match &self.expand {
            Some(e) => e.forward(x, train)?,
            None => x.clone(),
        };
        let h = self.se.forward(&self.dw.forward(&h, train)?)?;
        let h = self.project.forward(&h, train)?;
        if self.skip { h + x } else { Ok(h) }
    }
}

pub struct Efficientnet {
    stem: ConvBn,
    blocks: Vec<Block>,
    head: ConvBn,
    out: usize,
}

impl Efficientnet {
    pub fn new(
        p: &Params,
        name: &str,
        channels: usize,
        cfg: &ModelConfig,
        dev: &Device,
    ) -> Result<Self> {
        let m = cfg.width_multiplier;
        if !(m.is_finite() && m > 0.0) {
            candle_core::bail!("model `efficientnet`: width_multiplier must be positive, got {m}");
        }
        if cfg.dims.is_some() {
            candle_core::bail!(
                "model `efficientnet`: dims is not taken; scale the widths with width_multiplier"
            );
        }
        let depths = cfg.depths.clone().unwrap_or(DEPTHS.to_vec());
        if depths.len() != STAGES.len() || depths.contains(&0) {
            candle_core::bail!(
                "model `efficientnet`: depths {depths:?}; expected {} positive block counts, \
                 one per stage (B0: {DEPTHS:?})",
                STAGES.len()
            );
        }
        let stem_width = round_channels(STEM, m);
        let stem = ConvBn::new(
            p,
            name,
            ("conv_stem", "bn1"),
            (channels, stem_width, 3, 2, 1),
            true,
            dev,
        )?;
        let mut blocks = Vec::new();
        let mut inp = stem_width;
        for (s, (&depth, &(k, stride, expansion, width))) in depths.iter().zip(&STAGES).enumerate()
        {
            let out = round_channels(width, m);
            for b in 0..depth {
                let stride = if b == 0 { stride } else { 1 };
                let prefix = format!("{name}.blocks.{s}.{b}");
                blocks.push(Block::new(
                    p,
                    &prefix,
                    (inp, out),
                    (k, stride, expansion),
                    dev,
                )?);
                inp = out;
            }
        }
        let out = round_channels(HEAD, m);
        let head = ConvBn::new(
            p,
            name,
            ("conv_head", "bn2"),
            (inp, out, 1, 1, 1),
            true,
            dev,
        )?;
        Ok(Efficientnet {
            stem,
            blocks,
            head,
            out,
        })
    }
}

impl FeatureNet for Efficientnet {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.feature_map(x, train)?.mean((2, 3))
    }

    fn feature_map(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = self.stem.forward(x, train)?;
        for b in &self.blocks {
            h = b.forward(&h, train)?;
        }
        self.head.forward(&h, train)
    }

    fn out_features(&self) -> usize {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_as_timm() {
        // timm.layers.make_divisible(c * m, 8)
        for (c, m, want) in [
            (32, 1.0, 32),
            (1280, 1.0, 1280),
            (32, 1.1, 32),
            (1280, 1.1, 1408),
            (40, 1.2, 48),
            (24, 0.25, 8),
            (112, 0.25, 32),
            (320, 0.35, 112),
            (16, 0.1, 8),
        ] {
            assert_eq!(round_channels(c, m), want, "{c} x {m}");
        }
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.5), 4);
        assert_eq!(round_half_even(4.0000001), 4);
    }
}
