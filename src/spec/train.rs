//! The `train:` section of a `train` experiment: optimizer, learning-rate schedule, epochs and
//! the step budget, early stopping, checkpoints, head-only or full fine-tuning with Zoobot's
//! per-layer rates. Only names and numbers live here; `train` implements them.

use serde::{Deserialize, Serialize};

/// Registry of optimizers (implemented in `train`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's `AdamW` update.
    #[default]
    Adamw,
    /// Stochastic gradient descent with `momentum` (Nesterov if `nesterov`), PyTorch's `SGD`.
    Sgd,
}

/// Registry of learning-rate schedules (implemented in `train`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    #[default]
    Constant,
    /// Cosine decay from `lr` to 0 over all steps.
    Cosine,
    /// Multiply the rate by `step_gamma` every `step_every` epochs.
    Step,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default)]
    pub optimizer: Optimizer,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default)]
    pub schedule: Schedule,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// `sgd`: momentum factor.
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    /// `sgd`: Nesterov momentum.
    #[serde(default = "d_true")]
    pub nesterov: bool,
    /// `step` schedule: epochs between rate drops.
    #[serde(default = "d_step_every")]
    pub step_every: usize,
    /// `step` schedule: factor applied at each drop.
    #[serde(default = "d_step_gamma")]
    pub step_gamma: f64,
    /// Stop when the validation loss has not improved for this many validation rounds, and
    /// keep the best round's weights (needs a validation set: `data.val_fraction` > 0 or
    /// `data.val_size` > 0). A round is one epoch, or several when `min_steps` stretches
    /// training (then there are still about `epochs` rounds). Never stops before `min_steps`.
    /// Absent: train every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping_patience: Option<usize>,
    /// At least this many optimizer steps, whatever the training-set size: small training sets
    /// run more epochs (`max(epochs, ceil(min_steps / steps_per_epoch))`), so a 25-galaxy arm
    /// is not starved of updates. 0 = exactly `epochs` epochs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_steps: usize,
    /// At most this many optimizer steps (whole epochs, at least one); absent = no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Full fine-tuning (Zoobot's option): the backbone's learning rate is `lr` times this
    /// factor (the head keeps `lr`). Absent = 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backbone_lr_factor: Option<f64>,
    /// Full fine-tuning (Zoobot's option): layer-wise learning-rate decay: the backbone stage
    /// `d` stages below the head trains at `lr * layer_decay^d` (times `backbone_lr_factor`).
    /// Absent = no decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_decay: Option<f64>,
    /// Write a checkpoint (weights + optimizer state) after every epoch into the run directory,
    /// and resume from it if the run was interrupted.
    #[serde(default)]
    pub checkpoint: bool,
    /// Head-only fine-tuning: train only the `head.` parameters; the backbone runs in evaluation
    /// mode, gets no gradient and no optimizer state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub freeze_backbone: bool,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn d_momentum() -> f64 {
    0.9
}
fn d_true() -> bool {
    true
}
fn d_step_every() -> usize {
    10
}
fn d_step_gamma() -> f64 {
    0.1
}

pub(super) fn d_lr() -> f64 {
    3e-3
}
pub(super) fn d_epochs() -> usize {
    5
}
pub(super) fn d_batch() -> usize {
    32
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: Optimizer::default(),
            lr: d_lr(),
            weight_decay: 0.0,
            schedule: Schedule::default(),
            epochs: d_epochs(),
            batch_size: d_batch(),
            momentum: d_momentum(),
            nesterov: true,
            step_every: d_step_every(),
            step_gamma: d_step_gamma(),
            early_stopping_patience: None,
            min_steps: 0,
            max_steps: None,
            backbone_lr_factor: None,
            layer_decay: None,
            checkpoint: false,
            freeze_backbone: false,
        }
    }
}
