//! `convnext` backbone: ConvNeXt (Liu et al. 2022) as in timm, `convnext-nano` layout by default
//! (depths 2/2/8/2, dims 80/160/320/640).
//!
//! Stem: 4x4 stride-4 conv (bias) + LayerNorm2d. Stage `i > 0` starts with a downsample
//! (LayerNorm2d + 2x2 stride-2 conv); each block is depthwise 7x7 conv -> LayerNorm over
//! channels (channels-last) -> Linear `4c` -> exact (erf) GELU -> Linear `c` -> layer scale
//! `gamma` (init 1e-6) -> + input. Features: global average pool -> LayerNorm (`head.norm`).
//! All LayerNorms use eps 1e-6. Parameter names are exactly timm's (`stem.0.weight`,
//! `stem.1.weight`, `stages.1.downsample.0.weight` (norm), `stages.1.downsample.1.weight`
//! (conv), `stages.0.blocks.0.conv_dw.weight`, `.norm.weight`, `.mlp.fc1.weight`, `.gamma`,
//! `head.norm.weight`), so timm / Zoobot encoder weights load by name (timm's `conv_mlp`
//! variants such as `convnext_nano` store `mlp.fc1/fc2` as 1x1 convs, which
//! [`Params::load_prefixed`] reshapes into these linear weights; the maths is the same).
//! Initial values are drawn Kaiming-uniform (not timm's truncated normal); layer scale starts
//! at 1e-6 as in timm.

use super::FeatureNet;
use super::layers::{Conv2d, ConvSpec, LayerNorm, Linear, Params};
use super::resnet::{check_layout, widths};
use crate::spec::ModelConfig;
use candle_core::{Device, Result, Tensor};

/// convnext-nano blocks per stage.
pub const DEPTHS: [usize; 4] = [2, 2, 8, 2];
/// convnext-nano widths per stage (before the width multiplier).
pub const DIMS: [usize; 4] = [80, 160, 320, 640];
const EPS: f64 = 1e-6;
const LAYER_SCALE_INIT: f64 = 1e-6;

struct Block {
    conv_dw: Conv2d,
    norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    gamma: Tensor,
}

impl Block {
    fn new(p: &Params, name: &str, c: usize, dev: &Device) -> Result<Self> {
        let dw = ConvSpec::new(c, c, 7).groups(c).bias(true);
        Ok(Block {
            conv_dw: Conv2d::with_spec(p, &format!("{name}.conv_dw"), dw, dev)?,
            norm: LayerNorm::new(p, &format!("{name}.norm"), c, EPS, dev)?,
            fc1: Linear::new(p, &format!("{name}.mlp.fc1"), c, 4 * c, dev)?,
            fc2: Linear::new(p, &format!("{name}.mlp.fc2"), 4 * c, c, dev)?,
            gamma: p.constant(&format!("{name}.gamma"), &[c], LAYER_SCALE_INIT, true, dev)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let y = self.conv_dw.forward(x)?;
        // Channels-last rows: one row of `c` values per pixel.
        let y = y.permute((0, 2, 3, 1))?.reshape((n * h * w, c))?;
        let y = self.norm.forward(&y)?;
        let y = self.fc2.forward(&self.fc1.forward(&y)?.gelu_erf()?)?;
        let y = y.broadcast_mul(&self.gamma)?;
        let y = y.reshape((n, h, w, c))?.permute((0, 3, 1, 2))?;
        x + y
    }
}

struct Stage {
    downsample: Option<(LayerNorm, Conv2d)>,
    blocks: Vec<Block>,
}

pub struct Convnext {
    stem_conv: Conv2d,
    stem_norm: LayerNorm,
    stages: Vec<Stage>,
    head_norm: LayerNorm,
    out: usize,
}

impl Convnext {
    pub fn new(
        p: &Params,
        name: &str,
        channels: usize,
        size: usize,
        cfg: &ModelConfig,
        dev: &Device,
    ) -> Result<Self> {
        let depths = cfg.depths.clone().unwrap_or(DEPTHS.to_vec());
        let dims = widths(cfg, &DIMS);
        check_layout("convnext", &depths, &dims, cfg.width_multiplier)?;
        // The stem divides the size by 4, each later stage by 2.
        let min = 4usize.saturating_mul(1usize << (dims.len() - 1).min(30));
        if size < min {
            candle_core::bail!(
                "model `convnext`: {size}x{size} images are too small for {} stages; \
                 use at least {min}x{min} or fewer stages",
                dims.len()
            );
        }
        let stem = ConvSpec::new(channels, dims[0], 4)
            .stride(4)
            .padding(0)
            .bias(true);
        let stem_conv = Conv2d::with_spec(p, &format!("{name}.stem.0"), stem, dev)?;
        let stem_norm = LayerNorm::new(p, &format!("{name}.stem.1"), dims[0], EPS, dev)?;
        let mut stages = Vec::with_capacity(dims.len());
        let mut inp = dims[0];
        for (i, (&depth, &c)) in depths.iter().zip(&dims).enumerate() {
            let prefix = format!("{name}.stages.{i}");
            let downsample = if i > 0 {
                let spec = ConvSpec::new(inp, c, 2).stride(2).padding(0).bias(true);
                Some((
                    LayerNorm::new(p, &format!("{prefix}.downsample.0"), inp, EPS, dev)?,
                    Conv2d::with_spec(p, &format!("{prefix}.downsample.1"), spec, dev)?,
                ))
            } else {
                None
            };
            let blocks = (0..depth)
                .map(|b| Block::new(p, &format!("{prefix}.blocks.{b}"), c, dev))
                .collect::<Result<Vec<_>>>()?;
            stages.push(Stage { downsample, blocks });
            inp = c;
        }
        let head_norm = LayerNorm::new(p, &format!("{name}.head.norm"), inp, EPS, dev)?;
        Ok(Convnext {
            stem_conv,
            stem_norm,
            stages,
            head_norm,
            out: inp,
        })
    }
}

impl FeatureNet for Convnext {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        // The head LayerNorm belongs to the pooled features only.
        self.head_norm
            .forward(&self.feature_map(x, train)?.mean((2, 3))?)
    }

    fn feature_map(&self, x: &Tensor, _train: bool) -> Result<Tensor> {
        let mut h = self.stem_norm.forward_nchw(&self.stem_conv.forward(x)?)?;
        for s in &self.stages {
            if let Some((norm, conv)) = &s.downsample {
                h = conv.forward(&norm.forward_nchw(&h)?)?;
            }
            for b in &s.blocks {
                h = b.forward(&h)?;
            }
        }
        Ok(h)
    }

    fn out_features(&self) -> usize {
        self.out
    }
}
