//! The `eval:` section and the metrics a run can be scored by (what `eval` computes).

use serde::{Deserialize, Serialize};

/// Registry of evaluation metrics (implemented in `eval`); names as in the tables (`roc_auc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Accuracy,
    RocAuc,
    /// Area under the precision-recall curve (average precision): for imbalanced binary
    /// targets, where its chance level is the prevalence.
    PrAuc,
    F1,
    /// Completeness (recall) of the positive class at probability 0.5: the share of true
    /// positives predicted positive.
    Completeness,
    /// Purity (precision) of the positive class at probability 0.5: the share of predicted
    /// positives that are true positives; 0 when none is predicted (scikit-learn's
    /// `zero_division=0`).
    Purity,
    /// Mean binary cross-entropy of the predicted probabilities.
    LogLoss,
    /// Kaggle Galaxy Zoo RMSE: root of the mean over galaxies and answers of the squared error
    /// between predicted and target (weighted) vote fractions.
    Rmse,
    /// Rotation-equivariance spread, normalised: mean over test galaxies of the standard
    /// deviation, over the 8 exact rotations / flips of the input, of the predictions (averaged
    /// over outputs), divided by the standard deviation of the predictions across galaxies; in
    /// [0, 1], 0 = invariant; none (a failed metric) for a constant predictor. Needs the model,
    /// not only its predictions: `eval::rotation::dataset_equivariance_spread`.
    EquivarianceSpread,
    /// The `rmse` of a constant prediction, the mean training target of each answer: the floor a
    /// network must beat to have learned anything from the images. Needs the training targets:
    /// `eval::mean_baseline`.
    RmseMeanBaseline,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::RocAuc => "roc_auc",
            Metric::PrAuc => "pr_auc",
            Metric::F1 => "f1",
            Metric::Completeness => "completeness",
            Metric::Purity => "purity",
            Metric::LogLoss => "log_loss",
            Metric::Rmse => "rmse",
            Metric::EquivarianceSpread => "equivariance_spread",
            Metric::RmseMeanBaseline => "rmse_mean_baseline",
        }
    }

    /// Whether [`crate::eval::compute`] can score the metric from predictions and targets
    /// alone; `false` for metrics that must run the model on transformed inputs or need the
    /// training set.
    pub fn from_predictions(self) -> bool {
        !matches!(self, Metric::EquivarianceSpread | Metric::RmseMeanBaseline)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    #[serde(default = "d_metrics")]
    pub metrics: Vec<Metric>,
    /// Test-time augmentation: average the predictions over this many exact rotations/flips
    /// (4 or 8); absent = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tta_views: Option<usize>,
}

/// Empty: the target's defaults (`spec::task::default_metrics`), filled in when the grid expands.
fn d_metrics() -> Vec<Metric> {
    Vec::new()
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            metrics: d_metrics(),
            tta_views: None,
        }
    }
}
