//! `linear` backbone: the identity on flattened pixels, so backbone + head = logistic regression.

use super::FeatureNet;
use candle_core::{Result, Tensor};

pub struct Flatten {
    features: usize,
}

impl Flatten {
    pub fn new(features: usize) -> Self {
        Flatten { features }
    }
}

impl FeatureNet for Flatten {
    fn forward(&self, x: &Tensor, _train: bool) -> Result<Tensor> {
        x.flatten_from(1)
    }

    fn out_features(&self) -> usize {
        self.features
    }
}
