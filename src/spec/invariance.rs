//! The rotation-handling names of the `model:` section (`model.invariance`, `model.cyclic_pool`,
//! the allowed `model.views`). Only names live here; `model::invariance`, `model::parts` and
//! `data::augment` implement them.

use serde::{Deserialize, Serialize};

/// Registry of rotation handling (implemented in `model::invariance` and `data::augment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Invariance {
    /// The plain backbone; no augmentation.
    #[default]
    None,
    /// The plain backbone trained on Dieleman-style augmented images (random rotation, flip,
    /// translation, zoom; `data::augment`).
    Augment,
    /// Dieleman's multi-view network: every exact view goes through one shared backbone and the
    /// features are concatenated (`views x F`) before the head.
    Multiview,
    /// Like `multiview`, but the per-view features are pooled (`cyclic_pool`: mean or max), so
    /// the model is exactly invariant to the views' rotations / flips.
    CyclicPool,
}

impl Invariance {
    pub fn is_none(&self) -> bool {
        *self == Invariance::None
    }
}

/// Pooling over views of `invariance: cyclic-pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CyclicPool {
    #[default]
    Mean,
    Max,
}

impl CyclicPool {
    pub fn is_mean(&self) -> bool {
        *self == CyclicPool::Mean
    }
}

/// Values `model.views` may take: 8 (rotations x flip), 4 (rotations only) or 16 (Dieleman's
/// parts).
pub const SUPPORTED_VIEWS: [usize; 3] = [4, 8, 16];
