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
//! backbone (the [`Backbone`] registry, built in [`backbone`]; its doc says what adding one
//! takes), `heads`, `loss`, `invariance` (exact rotation / flip views; the `multiview` and
//! `cyclic-pool` wrappers).

mod cnn_small;
mod convnext;
pub mod detector;
mod dieleman;
mod efficientnet;
pub mod heads;
mod import;
pub mod invariance;
pub(crate) mod layers;
mod linear;
mod load_error;
pub mod loss;
mod params;
pub mod parity;
pub mod parts;
mod resnet;
pub mod rotate;

pub use heads::{Head, HeadSpec, TreeName};
pub use import::{CLASSIFIER_KEYS, ImportReport, is_ignored_key};
pub use load_error::{ImportMismatch, ParamsError};
pub use loss::LossKind;
pub use params::Params;

use crate::spec::{Backbone, ModelConfig};
use candle_core::{Device, Result, Tensor};

/// A feature extractor: images `N x C x H x W` -> features `N x F`.
pub trait FeatureNet: Send + Sync {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor>;
    fn out_features(&self) -> usize;

    /// The spatial features `N x C x h x w` of the last stage before global pooling (what the
    /// detector works on). Backbones without one (`linear`, `dieleman`, the invariance
    /// wrappers) keep this default, an error.
    fn feature_map(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let _ = (x, train);
        candle_core::bail!(
            "this backbone has no spatial feature map (it pools or flattens internally); \
             use cnn-small, resnet, convnext or efficientnet with invariance none"
        )
    }

    /// Channels `C` of [`FeatureNet::feature_map`].
    fn map_channels(&self) -> usize {
        self.out_features()
    }
}

/// Prefix of every backbone parameter name.
pub const BACKBONE: &str = "backbone";
/// Prefix of every head parameter name.
pub const HEAD: &str = "head";

/// Build the backbone of `cfg` for `channels x size x size` inputs, parameters under `backbone.`.
///
/// Adding a backbone takes: its file `model/<name>.rs` and `mod <name>;` above; a variant of
/// [`Backbone`] in `spec/mod.rs`; its arm below (the compiler asks); and, asked for only when the
/// tests are built (`cargo test`), its feature width in this module's tests and its arm in
/// `parity::net` (a PyTorch fixture, or `None`). `tests/registries.rs` validates every variant and
/// trains it for a smoke run.
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
        Backbone::Efficientnet => Box::new(efficientnet::Efficientnet::new(
            params, BACKBONE, channels, cfg, device,
        )?),
    })
}

/// Backbone + head.
pub struct Model {
    backbone: Box<dyn FeatureNet>,
    head: Head,
    /// Head-only fine-tuning: the backbone runs in evaluation mode and passes no gradient.
    frozen_backbone: bool,
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

    /// The backbone of `cfg` with the head `head`. With `cfg.invariance` `multiview` or
    /// `cyclic-pool` the backbone is wrapped in [`invariance::ViewNet`] (one shared backbone over
    /// the exact views), and the head is sized for the wrapper's features.
    pub fn with_head(
        cfg: &ModelConfig,
        head: &HeadSpec,
        channels: usize,
        size: usize,
        params: &Params,
        device: &Device,
    ) -> Result<Self> {
        let inner = invariance::backbone_size(cfg, size);
        let backbone = invariance::wrap(cfg, backbone(cfg, channels, inner, params, device)?)?;
        let head = Head::new(head, params, backbone.out_features(), device)?;
        Ok(Model {
            backbone,
            head,
            frozen_backbone: false,
        })
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
        let f = if self.frozen_backbone {
            self.features(x, false)?.detach()
        } else {
            self.features(x, train)?
        };
        self.head.forward(&f, train)
    }

    /// Freeze (or unfreeze) the backbone: evaluation-mode features (BatchNorm keeps its
    /// statistics) and no gradient into it. Pair with `train.freeze_backbone`, which gives the
    /// optimizer only the `head.` parameters.
    pub fn set_frozen_backbone(&mut self, frozen: bool) {
        self.frozen_backbone = frozen;
    }

    /// Backbone features, shape `N x features`.
    pub fn features(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.backbone.forward(x, train)
    }

    pub fn outputs(&self) -> usize {
        self.head.outputs()
    }

    /// Length of the features the head sees (the wrapper's, with `multiview` / `cyclic-pool`).
    pub fn features_len(&self) -> usize {
        self.backbone.out_features()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ModelConfig;
    use candle_core::DType;

    fn cfg(backbone: Backbone) -> ModelConfig {
        ModelConfig {
            backbone,
            ..Default::default()
        }
    }

    fn input(n: usize, size: usize) -> Tensor {
        let p = Params::new(99);
        p.uniform("x", &[n, 3, size, size], 1.0, &Device::Cpu)
            .unwrap()
    }

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
        let x = Tensor::ones((2, 3, 16, 16), DType::F32, &dev).unwrap();
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

    /// The feature width of each backbone at its standard size on 3 x 64 x 64 images (a new
    /// backbone must state its own: the match is exhaustive).
    fn standard_features(b: Backbone) -> usize {
        match b {
            Backbone::Linear => 3 * 64 * 64,
            Backbone::CnnSmall => 32,
            Backbone::Resnet => 512,
            Backbone::Dieleman => 2048,
            Backbone::Convnext => 640,
            Backbone::Efficientnet => 1280,
        }
    }

    #[test]
    fn every_backbone_at_standard_size_on_64x64() {
        let dev = Device::Cpu;
        let x = input(2, 64);
        for &b in crate::spec::all::<Backbone>() {
            let features = standard_features(b);
            let p = Params::new(1);
            let m = Model::build(&cfg(b), 3, 64, &p, &dev).unwrap();
            assert_eq!(m.features_len(), features, "{b:?}");
            assert_eq!(
                m.features(&x, false).unwrap().dims(),
                &[2, features],
                "{b:?}"
            );
            assert_eq!(m.forward(&x, true).unwrap().dims(), &[2], "{b:?}");
        }
    }

    #[test]
    fn seeded_init_is_deterministic_for_every_backbone() {
        let dev = Device::Cpu;
        let x = input(2, 48);
        let small = |b| ModelConfig {
            width_multiplier: 0.125,
            dense_units: 16,
            ..cfg(b)
        };
        // every backbone with parameters (cnn-small's widths are not scaled: it is tested above)
        let scaled = crate::spec::all::<Backbone>()
            .iter()
            .filter(|&&b| !matches!(b, Backbone::Linear | Backbone::CnnSmall));
        for &b in scaled {
            let run = |seed| {
                let p = Params::new(seed);
                let m = Model::build(&small(b), 3, 48, &p, &dev).unwrap();
                m.forward(&x, false).unwrap().to_vec1::<f32>().unwrap()
            };
            assert_eq!(run(3), run(3), "{b:?}");
            assert_ne!(run(3), run(4), "{b:?}");
        }
    }

    #[test]
    fn resnet18_names_follow_torchvision() {
        let p = Params::new(0);
        let c = ModelConfig {
            width_multiplier: 0.0625,
            ..cfg(Backbone::Resnet)
        };
        Model::build(&c, 3, 32, &p, &Device::Cpu).unwrap();
        let names = p.names_with_prefix("backbone.");
        for n in [
            "conv1.weight",
            "bn1.weight",
            "bn1.running_var",
            "layer1.0.conv1.weight",
            "layer1.1.bn2.bias",
            "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.running_mean",
            "layer4.1.conv2.weight",
        ] {
            assert!(names.contains(&format!("backbone.{n}")), "missing {n}");
        }
        assert!(!names.iter().any(|n| n.contains("layer1.0.downsample")));
        assert!(!names.iter().any(|n| n.contains("conv1.bias")));
        // resnet-18: 20 convs (17 + 3 downsample) + 20 BatchNorms, 2 trainable tensors each.
        assert_eq!(p.trainable_with_prefix("backbone.").len(), 20 + 2 * 20);
        let w = p.var("backbone.layer3.0.conv1.weight").unwrap();
        assert_eq!(w.dims(), &[16, 8, 3, 3]);
    }

    #[test]
    fn convnext_names_follow_timm() {
        let p = Params::new(0);
        let c = ModelConfig {
            width_multiplier: 0.1,
            ..cfg(Backbone::Convnext)
        };
        Model::build(&c, 3, 64, &p, &Device::Cpu).unwrap();
        let names = p.names_with_prefix("backbone.");
        for n in [
            "stem.0.weight",
            "stem.0.bias",
            "stem.1.weight",
            "stem.1.bias",
            "stages.0.blocks.0.conv_dw.weight",
            "stages.0.blocks.0.conv_dw.bias",
            "stages.0.blocks.0.norm.weight",
            "stages.0.blocks.0.mlp.fc1.weight",
            "stages.0.blocks.0.mlp.fc2.bias",
            "stages.0.blocks.0.gamma",
            "stages.1.downsample.0.weight",
            "stages.1.downsample.1.weight",
            "stages.2.blocks.7.gamma",
            "stages.3.blocks.1.mlp.fc1.bias",
            "head.norm.weight",
            "head.norm.bias",
        ] {
            assert!(names.contains(&format!("backbone.{n}")), "missing {n}");
        }
        assert!(!names.iter().any(|n| n.contains("stages.0.downsample")));
        assert!(!names.iter().any(|n| n.contains("stages.2.blocks.8")));
        // nano dims 80/160/320/640 x 0.1
        assert_eq!(
            p.var("backbone.stages.3.blocks.0.conv_dw.weight")
                .unwrap()
                .dims(),
            &[64, 1, 7, 7]
        );
        assert_eq!(
            p.var("backbone.stages.1.blocks.0.mlp.fc1.weight")
                .unwrap()
                .dims(),
            &[64, 16]
        );
        assert_eq!(
            p.var("backbone.stages.1.downsample.1.weight")
                .unwrap()
                .dims(),
            &[16, 8, 2, 2]
        );
        let gamma = p.var("backbone.stages.0.blocks.0.gamma").unwrap();
        assert_eq!(gamma.as_tensor().to_vec1::<f32>().unwrap()[0], 1e-6);
    }

    #[test]
    fn resnet_imagenet_stem_and_efficientnet_feature_maps() {
        let dev = Device::Cpu;
        let x = input(2, 64);
        let imagenet = ModelConfig {
            stem: crate::spec::Stem::Imagenet,
            width_multiplier: 0.125,
            ..cfg(Backbone::Resnet)
        };
        let small = ModelConfig {
            stem: crate::spec::Stem::Small,
            ..imagenet.clone()
        };
        let effnet = ModelConfig {
            width_multiplier: 0.25,
            depths: Some(vec![1; 7]),
            ..cfg(Backbone::Efficientnet)
        };
        // stride 2 conv + stride 2 pool + 3 stride-2 stages: 64 -> 2; small stem: 64 -> 8;
        // efficientnet: 5 stride-2 steps, head round(1280 / 4) = 320 wide.
        for (c, kernel, map) in [
            (&imagenet, Some(7), [2, 64, 2, 2]),
            (&small, Some(3), [2, 64, 8, 8]),
            (&effnet, None, [2, 320, 2, 2]),
        ] {
            let p = Params::new(1);
            let b = backbone(c, 3, 64, &p, &dev).unwrap();
            assert_eq!(b.feature_map(&x, false).unwrap().dims(), &map, "{c:?}");
            assert_eq!(b.forward(&x, true).unwrap().dims(), &[2, map[1]], "{c:?}");
            assert_eq!(b.map_channels(), map[1]);
            if let Some(k) = kernel {
                let w = p.var("backbone.conv1.weight").unwrap();
                assert_eq!(w.dims(), &[8, 3, k, k]);
            }
        }
        let p = Params::new(0);
        Model::build(&effnet, 3, 32, &p, &dev).unwrap();
        let names = p.names_with_prefix("backbone.");
        for n in [
            "conv_stem.weight",
            "bn1.running_var",
            "blocks.0.0.conv_dw.weight",
            "blocks.0.0.se.conv_reduce.bias",
            "blocks.0.0.conv_pw.weight",
            "blocks.0.0.bn2.weight",
            "blocks.1.0.conv_pw.weight",
            "blocks.1.0.bn3.running_mean",
            "blocks.6.0.conv_pwl.weight",
            "conv_head.weight",
            "bn2.bias",
        ] {
            assert!(names.contains(&format!("backbone.{n}")), "missing {n}");
        }
        assert!(!names.iter().any(|n| n.contains("blocks.0.0.conv_pwl")));
        assert!(!names.iter().any(|n| n.contains("conv_stem.bias")));
        let bad = [
            ModelConfig {
                dims: Some(vec![8; 7]),
                ..effnet.clone()
            },
            ModelConfig {
                depths: Some(vec![1; 4]),
                ..effnet.clone()
            },
            ModelConfig {
                width_multiplier: -1.0,
                ..effnet.clone()
            },
        ];
        for c in bad {
            let e = backbone(&c, 3, 32, &Params::new(0), &dev).err().unwrap();
            assert!(e.to_string().contains("model `efficientnet`"), "{e}");
        }
    }

    #[test]
    fn heads_and_parameter_groups() {
        let dev = Device::Cpu;
        let x = input(3, 16);
        let c = ModelConfig {
            widths: vec![4],
            ..Default::default()
        };
        for (spec, outputs) in [
            (
                HeadSpec::MultiClass {
                    classes: 4,
                    dropout: 0.5,
                },
                4,
            ),
            (
                HeadSpec::Regression {
                    outputs: 2,
                    dropout: 0.0,
                },
                2,
            ),
            (
                HeadSpec::Dirichlet {
                    tree: TreeName::Gz2,
                    dropout: 0.0,
                },
                37,
            ),
            (
                HeadSpec::Dieleman {
                    tree: TreeName::Gz2,
                    dropout: 0.0,
                },
                37,
            ),
        ] {
            let p = Params::new(0);
            let m = Model::with_head(&c, &spec, 3, 16, &p, &dev).unwrap();
            assert_eq!(m.outputs(), outputs);
            let y = m.forward_outputs(&x, true).unwrap();
            assert_eq!(y.dims(), &[3, outputs]);
            assert!(m.forward(&x, false).is_err(), "forward needs one output");
            assert_eq!(p.trainable_with_prefix("head.").len(), 2);
            assert_eq!(p.trainable_with_prefix("backbone.").len(), 3);
            assert_eq!(p.trainable().len(), 5);
            if let HeadSpec::Dirichlet { .. } = spec {
                let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                assert!(v.iter().all(|&a| (1.0..=101.0).contains(&a)));
            }
        }
    }

    #[test]
    fn bad_configs_are_errors_not_panics() {
        let dev = Device::Cpu;
        let bad = [
            (
                ModelConfig {
                    depths: Some(vec![1]),
                    ..cfg(Backbone::Resnet)
                },
                32,
            ),
            (
                ModelConfig {
                    width_multiplier: 0.0,
                    ..cfg(Backbone::Resnet)
                },
                32,
            ),
            (cfg(Backbone::Convnext), 16),
            (cfg(Backbone::Dieleman), 32),
            (
                ModelConfig {
                    dims: Some(vec![4, 4]),
                    ..cfg(Backbone::Dieleman)
                },
                64,
            ),
            (
                ModelConfig {
                    dense_units: 0,
                    ..cfg(Backbone::Dieleman)
                },
                64,
            ),
        ];
        for (c, size) in bad {
            assert!(
                Model::build(&c, 3, size, &Params::new(0), &dev).is_err(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn yaml_model_sections() {
        let c: ModelConfig = serde_yaml::from_str(
            "{ backbone: convnext, depths: [2, 2, 6, 2], width_multiplier: 0.5 }",
        )
        .unwrap();
        assert_eq!(c.backbone, Backbone::Convnext);
        assert_eq!(c.widths, vec![8, 16, 32]);
        let d: ModelConfig = serde_yaml::from_str("{ backbone: cnn-small, widths: [8] }").unwrap();
        // Defaults are not serialised, so older specs keep their run ids.
        let text = serde_json::to_string(&d).unwrap();
        assert_eq!(text, r#"{"backbone":"cnn-small","widths":[8]}"#);
        assert!(serde_yaml::from_str::<ModelConfig>("{ backbone: resnet50 }").is_err());
        assert!(serde_yaml::from_str::<ModelConfig>("{ backbone: resnet, width: 2 }").is_err());
        let e: ModelConfig = serde_yaml::from_str("backbone: dieleman\ndense_units: 512").unwrap();
        assert_eq!(
            (e.dense_units, e.dense_layers, e.maxout_pieces),
            (512, 2, 2)
        );
    }
}
