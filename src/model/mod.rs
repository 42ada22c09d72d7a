//! Models: a backbone chosen by name (one file each) plus a head, with seeded initialisation.
//!
//! Parameters live in a [`Params`] store: every tensor has a dotted name that follows the
//! builder path (`stages.0.conv.weight`), is drawn from its own named random stream
//! (`model/init/<name>`), and is either trainable or a buffer (BatchNorm running statistics).
//! A model is a plain struct with a `forward`; nothing here knows about devices beyond the
//! `Device` handed in, or about training.

mod cnn_small;
mod layers;
mod linear;

pub use layers::Params;

use crate::spec::{Backbone, ModelConfig};
use candle_core::{Device, Result, Tensor};

/// A feature extractor: images `N x C x H x W` -> features `N x F`.
pub trait FeatureNet: Send + Sync {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor>;
    fn out_features(&self) -> usize;
}

/// Backbone + linear head producing one logit per image.
pub struct Model {
    backbone: Box<dyn FeatureNet>,
    head: layers::Linear,
}

impl Model {
    /// Build the model of `cfg` for `channels x size x size` inputs, initialised from `seed`.
    pub fn build(
        cfg: &ModelConfig,
        channels: usize,
        size: usize,
        params: &Params,
        device: &Device,
    ) -> Result<Self> {
        let backbone: Box<dyn FeatureNet> = match cfg.backbone {
            Backbone::Linear => Box::new(linear::Flatten::new(channels * size * size)),
            Backbone::CnnSmall => Box::new(cnn_small::CnnSmall::new(
                params,
                "backbone",
                channels,
                &cfg.widths,
                device,
            )?),
        };
        let head = layers::Linear::new(params, "head", backbone.out_features(), 1, device)?;
        Ok(Model { backbone, head })
    }

    /// Logits, shape `N`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let f = self.backbone.forward(x, train)?;
        self.head.forward(&f)?.squeeze(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ModelConfig;

    #[test]
    fn cnn_small_shapes_and_seeded_init() {
        let dev = Device::Cpu;
        let cfg = ModelConfig {
            backbone: Backbone::CnnSmall,
            widths: vec![4, 8],
        };
        let p1 = Params::new(7);
        let m = Model::build(&cfg, 3, 16, &p1, &dev).unwrap();
        let x = Tensor::ones((2, 3, 16, 16), candle_core::DType::F32, &dev).unwrap();
        let y = m.forward(&x, false).unwrap();
        assert_eq!(y.dims(), &[2]);
        let p2 = Params::new(7);
        let m2 = Model::build(&cfg, 3, 16, &p2, &dev).unwrap();
        let y2 = m2.forward(&x, false).unwrap();
        assert_eq!(y.to_vec1::<f32>().unwrap(), y2.to_vec1::<f32>().unwrap());
        // conv, bn weight, bn bias per stage + head weight, bias
        assert_eq!(p1.trainable().len(), 2 * 3 + 2);
        assert!(
            p1.names()
                .contains(&"backbone.stages.1.conv.weight".to_string())
        );
    }
}
