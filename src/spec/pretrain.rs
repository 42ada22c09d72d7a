//! The `pretrain:` section of a `train` experiment: which source the backbone is pretrained on
//! before the task, and how. Only names and numbers live here; `train::pretrain` implements them.

use super::{d_batch, d_epochs, d_lr};
use serde::{Deserialize, Serialize};

/// Registry of pretraining sources (implemented in `train::pretrain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PretrainSource {
    /// Random initialisation.
    #[default]
    None,
    /// Zoobot-style: predict every GZ DECaLS answer of `n` synthetic galaxies from simulated
    /// vote counts with the Dirichlet-multinomial loss.
    Astro,
    /// ImageNet-style: classify `n` terrestrial proxy images (dead-leaves scenes, 8 classes)
    /// with cross-entropy.
    Terrestrial,
}

/// How the backbone is pretrained before the task. The pretrained weights are cached in the
/// store under `pretrained/<hash of this section, the model and the image size>`, so a sweep
/// pretrains each backbone once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    #[serde(default)]
    pub source: PretrainSource,
    /// Pretraining images.
    #[serde(default = "d_pretrain_n")]
    pub n: usize,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// `astro`: volunteer votes on the first question (later questions get the votes that
    /// reach them), drawn from each galaxy's true vote probabilities.
    #[serde(default = "d_votes")]
    pub votes: usize,
    /// Seed of the pretraining data and initialisation (not the run seed: one pretraining
    /// serves every seed of the downstream sweep).
    #[serde(default)]
    pub seed: u64,
}

fn d_pretrain_n() -> usize {
    2000
}
fn d_votes() -> usize {
    40
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            source: PretrainSource::None,
            n: d_pretrain_n(),
            epochs: d_epochs(),
            lr: d_lr(),
            batch_size: d_batch(),
            votes: d_votes(),
            seed: 0,
        }
    }
}

impl PretrainConfig {
    pub fn is_none(&self) -> bool {
        self.source == PretrainSource::None
    }
}
