//! `dieleman` backbone: the convolutional network of Dieleman, Willett & Dambre (2015, MNRAS
//! 450, 1441), winner of the Galaxy Zoo Kaggle challenge, on one view.
//!
//! Four "valid" (unpadded) convolutions with bias and ReLU, no batch-norm, as in the paper:
//! 32@6x6 -> 2x2 max-pool -> 64@5x5 -> 2x2 max-pool -> 128@3x3 -> 128@3x3 -> 2x2 max-pool
//! (widths x `width_multiplier`, or `dims` with four entries), flattened, then `dense_layers`
//! dense maxout layers (default 2) of `dense_units` units (default 2048), each unit the max of
//! `maxout_pieces` (default 2) linear units — the paper's 4096-linear / 2048-maxout layers.
//! On 64x64 inputs the conv stack ends at 128 x 4 x 4. The paper's multi-view rotations and
//! dense-layer dropout are not part of the backbone (dropout belongs to the head).
//! Parameter names: `convs.<i>.{weight,bias}`, `dense.<i>.{weight,bias}`.

use super::FeatureNet;
use super::layers::{Conv2d, ConvSpec, Linear, Params, max_pool2d};
use super::resnet::widths;
use crate::spec::ModelConfig;
use candle_core::{D, Device, Result, Tensor};

/// Conv widths of the paper (before the width multiplier).
pub const WIDTHS: [usize; 4] = [32, 64, 128, 128];
/// Kernel size of each conv, and whether a 2x2 max-pool follows it.
const LAYERS: [(usize, bool); 4] = [(6, true), (5, true), (3, false), (3, true)];

pub struct Dieleman {
    convs: Vec<(Conv2d, bool)>,
    dense: Vec<Linear>,
    units: usize,
    pieces: usize,
    out: usize,
}

impl Dieleman {
    pub fn new(
        p: &Params,
        name: &str,
        channels: usize,
        size: usize,
        cfg: &ModelConfig,
        dev: &Device,
    ) -> Result<Self> {
        let dims = widths(cfg, &WIDTHS);
        if dims.len() != LAYERS.len() || dims.contains(&0) {
            candle_core::bail!(
                "model `dieleman`: needs 4 positive conv widths in `dims`, got {dims:?}"
            );
        }
        if cfg.dense_units == 0 || cfg.maxout_pieces == 0 {
            candle_core::bail!("model `dieleman`: dense_units and maxout_pieces must be positive");
        }
        let mut convs = Vec::with_capacity(LAYERS.len());
        let (mut inp, mut s) = (channels, size);
        for (i, (&(k, pool), &w)) in LAYERS.iter().zip(&dims).enumerate() {
            if s < k || (pool && s - k + 1 < 2) {
                candle_core::bail!(
                    "model `dieleman`: {size}x{size} images are too small (conv {i} sees \
                     {s}x{s}); use images of at least 45x45"
                );
            }
            s = s - k + 1;
            if pool {
                s /= 2;
            }
            let spec = ConvSpec::new(inp, w, k).padding(0).bias(true);
            convs.push((
                Conv2d::with_spec(p, &format!("{name}.convs.{i}"), spec, dev)?,
                pool,
            ));
            inp = w;
        }
        let mut features = inp * s * s;
        let mut dense = Vec::with_capacity(cfg.dense_layers);
        for i in 0..cfg.dense_layers {
            let out = cfg.dense_units * cfg.maxout_pieces;
            dense.push(Linear::new(
                p,
                &format!("{name}.dense.{i}"),
                features,
                out,
                dev,
            )?);
            features = cfg.dense_units;
        }
        Ok(Dieleman {
            convs,
            dense,
            units: cfg.dense_units,
            pieces: cfg.maxout_pieces,
            out: features,
        })
    }
}

impl FeatureNet for Dieleman {
    fn forward(&self, x: &Tensor, _train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for (conv, pool) in &self.convs {
            h = conv.forward(&h)?.relu()?;
            if *pool {
                h = max_pool2d(&h, 2)?;
            }
        }
        let mut h = h.flatten_from(1)?;
        for d in &self.dense {
            let n = h.dim(0)?;
            h = d
                .forward(&h)?
                .reshape((n, self.units, self.pieces))?
                .max(D::Minus1)?;
        }
        Ok(h)
    }

    fn out_features(&self) -> usize {
        self.out
    }
}
