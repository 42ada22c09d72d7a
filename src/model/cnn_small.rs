//! `cnn-small` backbone: per entry of `widths`, conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool;
//! then global average pooling. Parameter names: `stages.<i>.conv.weight`, `stages.<i>.bn.*`.

use super::FeatureNet;
use super::layers::{BatchNorm, Conv2d, Params};
use crate::engine::batchnorm::Act;
use candle_core::{Device, Result, Tensor};

struct Stage {
    conv: Conv2d,
    bn: BatchNorm,
}

pub struct CnnSmall {
    stages: Vec<Stage>,
    out: usize,
}

impl CnnSmall {
    pub fn new(
        p: &Params,
        name: &str,
        channels: usize,
        widths: &[usize],
        dev: &Device,
    ) -> Result<Self> {
        let mut stages = Vec::with_capacity(widths.len());
        let mut inp = channels;
        for (i, &w) in widths.iter().enumerate() {
            let prefix = format!("{name}.stages.{i}");
            stages.push(Stage {
                conv: Conv2d::new(p, &format!("{prefix}.conv"), inp, w, 3, dev)?,
                bn: BatchNorm::new(p, &format!("{prefix}.bn"), w, dev)?,
            });
            inp = w;
        }
        Ok(CnnSmall { stages, out: inp })
    }
}

impl FeatureNet for CnnSmall {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.feature_map(x, train)?.mean((2, 3))
    }

    fn feature_map(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for s in &self.stages {
            let act = if h.dim(2)? >= 2 && h.dim(3)? >= 2 {
                Act::ReluMaxPool(2)
            } else {
                Act::Relu
            };
            h = s.bn.forward_act(&s.conv.forward(&h)?, train, act)?;
        }
        Ok(h)
    }

    fn out_features(&self) -> usize {
        self.out
    }
}
