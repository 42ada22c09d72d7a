//! Models: a backbone chosen by name (one file each) plus a head chosen by name, with seeded
//! initialisation; losses; safetensors weight import/export.
//!
//! Parameters live in a [`Params`] store: every tensor has a dotted name that follows the
//! builder path, is drawn from its own named random stream (`model/init/<name>`), and is either
//! trainable or a buffer (BatchNorm running statistics). Backbone parameters are named
//! `backbone.<timm/torchvision name>` and head parameters `head.*`, so
//! [`Params::trainable_with_prefix`]`("head.")` is the fine-tune-the-head-only list and
//! [`Params::load_prefixed`]`(file, "backbone.", "")` loads a timm encoder. A model is a plain
//! struct with a `forward`; nothing here knows about devices beyond the `Device` handed in, or
//! about training.
//!
//! Files: `layers` (conv, norms, linear, dropout), `params` (store, safetensors), one file per
//! backbone (`linear`, `cnn_small`, `resnet`, `dieleman`, `convnext`), `heads`, `loss`.

mod cnn_small;
mod convnext;
mod dieleman;
pub mod heads;
mod layers;
mod linear;
pub mod loss;
mod params;
mod resnet;

pub use heads::{Head, HeadSpec, TreeName};
pub use loss::LossKind;
pub use params::{Params, ParamsError};

use crate::spec::{Backbone, ModelConfig};
use candle_core::{Device, Result, Tensor};

/// A feature extractor: images `N x C x H x W` -> features `N x F`.
pub trait FeatureNet: Send + Sync {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor>;
    fn out_features(&self) -> usize;
}

/// Prefix of every backbone parameter name.
pub const BACKBONE: &str = "backbone";
/// Prefix of every head parameter name.
pub const HEAD: &str = "head";

/// Build the backbone of `cfg` for `channels x size x size` inputs, parameters under `backbone.`.
pub fn backbone(
    cfg: &ModelConfig,
    channels: usize,
    size: usize,
    params: &Params,
    device: &Device,
) -> Result<Box<dyn FeatureNet>> {
    Ok(match cfg.backbone {
        Backbone::Linear => Box::new(linear::Flatten::new(channels * size * size)),
        Backbone::CnnSmall => Box::new(cnn_small::CnnSmall::new(
            params,
            BACKBONE,
            channels,
            &cfg.widths,
            device,
        )?),
        Backbone::Resnet => Box::new(resnet::Resnet::new(
            params, BACKBONE, channels, cfg, device,
        )?),
        Backbone::Dieleman => Box::new(dieleman::Dieleman::new(
            params, BACKBONE, channels, size, cfg, device,
        )?),
        Backbone::Convnext => Box::new(convnext::Convnext::new(
            params, BACKBONE, channels, size, cfg, device,
        )?),
    })
}

/// Backbone + head.
pub struct Model {
    backbone: Box<dyn FeatureNet>,
    head: Head,
}

impl Model {
    /// The backbone of `cfg` with a binary head (one logit), for `channels x size x size`
    /// inputs, initialised from the seed of `params`.
    pub fn build(
        cfg: &ModelConfig,
        channels: usize,
        size: usize,
        params: &Params,
        device: &Device,
    ) -> Result<Self> {
        Self::with_head(cfg, &HeadSpec::default(), channels, size, params, device)
    }

    /// The backbone of `cfg` with the head `head`.
    pub fn with_head(
        cfg: &ModelConfig,
        head: &HeadSpec,
        channels: usize,
        size: usize,
        params: &Params,
        device: &Device,
    ) -> Result<Self> {
        let backbone = backbone(cfg, channels, size, params, device)?;
        let head = Head::new(head, params, backbone.out_features(), device)?;
        Ok(Model { backbone, head })
    }

    /// Logits of a one-output (binary) head, shape `N`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if self.head.outputs() != 1 {
            candle_core::bail!(
                "Model::forward needs a one-output head, this one has {}; use forward_outputs",
                self.head.outputs()
            );
        }
        self.forward_outputs(x, train)?.squeeze(1)
    }

    /// Head outputs, shape `N x outputs` (logits, concentrations or probabilities by head).
    pub fn forward_outputs(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.head.forward(&self.features(x, train)?, train)
    }

    /// Backbone features, shape `N x features`.
    pub fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.backbone.forward(x, train)
    }

    pub fn outputs(&self) -> usize {
        self.head.outputs()
    }

    pub fn features_len(&self) -> usize {
        self.backbone.out_features()
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
            ..Default::default()
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
