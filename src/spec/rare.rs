//! The `rare:` section of a `train` experiment on a rare binary class (GalaxySD, Ma et al.
//! 2025): where the extra positive training images come from (`source`), how many (`extra`),
//! the class-conditional diffusion model of the `generated` arm, and the backbone whose features
//! measure how close generated galaxies are to real ones. `generative` implements it.
//!
//! Absent from an experiment, the section is absent from its runs (their ids are unchanged).

use super::PretrainConfig;
use serde::{Deserialize, Serialize};

/// Where the extra positive training images of a run come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ExtraSource {
    /// None: the real training set alone (the reference arm).
    #[default]
    RealOnly,
    /// Copies of the real training positives, each under its own random rotation, flip, shift
    /// and zoom (classic augmentation of the rare class).
    Classic,
    /// Samples of a class-conditional diffusion model trained on the real training set,
    /// conditioned on the Galaxy Zoo answers of the real training positives.
    Generated,
    /// New positives rendered by the universe (what a perfect generator would give: the upper
    /// bound).
    Oracle,
}

/// What the network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    /// The noise `eps` (Ho et al. 2020).
    #[default]
    Epsilon,
    /// The velocity `sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0` (Salimans & Ho 2022): at high
    /// noise it is nearly `-x_0`, so the first sampling steps see the image's mean (a dark sky)
    /// that an `eps` model, whose `x_0` there is its error divided by `sqrt(alpha_bar) ~ 0.01`,
    /// loses.
    V,
}

/// The diffusion model of the `generated` arm and how it is trained and sampled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffusionConfig {
    /// Channels of the U-Net's first level.
    pub base: usize,
    /// Channel multiplier per level (one down-sampling between consecutive levels).
    pub mults: Vec<usize>,
    /// Group-norm groups.
    pub groups: usize,
    /// Noise steps `T` of the schedule.
    pub noise_steps: usize,
    /// What the network predicts: `v` (the default; see `diffusion::Prediction`) or `epsilon`.
    pub prediction: Prediction,
    /// Optimizer steps of training.
    pub train_steps: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Probability that a training example's condition is dropped (classifier-free guidance).
    pub p_uncond: f64,
    /// Share of each training batch drawn from the rare class's positives (they are oversampled:
    /// the model must learn the class from a few dozen examples).
    pub positive_share: f64,
    /// DDIM steps per sample.
    pub sample_steps: usize,
    /// Classifier-free guidance weight (1 = the plain conditional model).
    pub guidance: f64,
    /// Decay of the moving average of the weights that samples are drawn from (0 = sample from
    /// the trained weights).
    pub ema: f64,
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        DiffusionConfig {
            base: 32,
            mults: vec![1, 2, 2],
            groups: 8,
            noise_steps: 1000,
            prediction: Prediction::V,
            train_steps: 2000,
            batch_size: 32,
            lr: 1e-3,
            p_uncond: 0.1,
            positive_share: 0.5,
            sample_steps: 50,
            guidance: 2.0,
            ema: 0.999,
        }
    }
}

/// One run's rare-class augmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RareConfig {
    pub source: ExtraSource,
    /// Extra positive training images (every arm but `real-only` adds this many).
    pub extra: usize,
    /// The `generated` arm's diffusion model.
    pub diffusion: DiffusionConfig,
    /// The galaxy-pretrained backbone (the run's `model:`) whose features the Fréchet distance
    /// between generated and real positives is measured in (`generated` arm).
    pub features: PretrainConfig,
}

impl Default for RareConfig {
    fn default() -> Self {
        RareConfig {
            source: ExtraSource::RealOnly,
            extra: 300,
            diffusion: DiffusionConfig::default(),
            features: PretrainConfig {
                source: super::PretrainSource::Astro,
                ..PretrainConfig::default()
            },
        }
    }
}

impl RareConfig {
    /// The first value out of range, as `(key, message)`; the message starts `key = value`.
    pub fn check(&self) -> Option<(&'static str, String)> {
        let d = &self.diffusion;
        let bad = [
            (
                "extra",
                self.extra == 0 && self.source != ExtraSource::RealOnly,
                format!("extra = {}; expected >= 1", self.extra),
            ),
            (
                "base",
                d.base == 0 || d.mults.is_empty() || d.mults.contains(&0),
                format!(
                    "diffusion.base = {} with mults {:?}; expected positive channel counts",
                    d.base, d.mults
                ),
            ),
            (
                "noise_steps",
                d.noise_steps < 2,
                format!("diffusion.noise_steps = {}; expected >= 2", d.noise_steps),
            ),
            (
                "train_steps",
                d.train_steps == 0 || d.batch_size == 0,
                format!(
                    "diffusion.train_steps = {}, batch_size = {}; expected >= 1",
                    d.train_steps, d.batch_size
                ),
            ),
            (
                "lr",
                !(d.lr > 0.0 && d.lr.is_finite()),
                format!("diffusion.lr = {}; expected a positive number", d.lr),
            ),
            (
                "p_uncond",
                !(0.0..1.0).contains(&d.p_uncond),
                format!("diffusion.p_uncond = {}; expected in [0, 1)", d.p_uncond),
            ),
            (
                "positive_share",
                !(0.0..=1.0).contains(&d.positive_share),
                format!(
                    "diffusion.positive_share = {}; expected in [0, 1]",
                    d.positive_share
                ),
            ),
            (
                "sample_steps",
                d.sample_steps == 0 || d.sample_steps > d.noise_steps,
                format!(
                    "diffusion.sample_steps = {}; expected 1 ..= noise_steps ({})",
                    d.sample_steps, d.noise_steps
                ),
            ),
            (
                "ema",
                !(0.0..1.0).contains(&d.ema),
                format!("diffusion.ema = {}; expected in [0, 1)", d.ema),
            ),
            (
                "guidance",
                !(d.guidance >= 0.0 && d.guidance.is_finite()),
                format!("diffusion.guidance = {}; expected >= 0", d.guidance),
            ),
            (
                "source",
                !self.features.pretrains(),
                "features.source must be `astro` or `terrestrial` (a pretrained backbone to \
                 measure generated galaxies in)"
                    .to_string(),
            ),
        ];
        bad.into_iter().find(|(_, b, _)| *b).map(|(k, _, m)| (k, m))
    }
}
