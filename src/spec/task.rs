//! What each target kind may be scored by: the kind of each target ([`TargetKind`]), its valid
//! and default `eval.metrics`, and the names a run of each experiment kind records (what
//! `report.metrics` may ask for).
//!
//! Only names live here, so `validate` can reject `eval.metrics: [accuracy]` for vote fractions
//! or a misspelt `report.metrics` entry with file:line:col before anything runs; the runners
//! record exactly these names (their tests check it). What a kind computes (head, loss, outputs,
//! metrics, baseline) is its `runner::task::Task`, matched on the same [`TargetKind`].
//!
//! ```
//! use gzbench::spec::{Metric, Target, task};
//! assert!(task::valid_metrics(Target::Ring).contains(&Metric::PrAuc));
//! assert!(!task::valid_metrics(Target::Gz2Answers).contains(&Metric::Accuracy));
//! assert_eq!(task::default_metrics(Target::Votes), vec![Metric::Rmse, Metric::RmseMeanBaseline]);
//! ```

use super::{ExperimentKind, Metric, Target};

/// What kind of prediction a target asks for. Every target has one kind, and each kind is one
/// `runner::task::Task` (head, loss, outputs, metrics, baseline); the matches on it here and
/// there are exhaustive, so a new kind cannot be half-implemented (and `runner::task`'s tests
/// score every valid metric of every kind, listed by `spec::all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// One binary label (one logit).
    Binary,
    /// The 37 weighted GZ2 vote fractions (the Kaggle Galaxy Challenge targets).
    Gz2Answers,
    /// Vote counts of every answer of the GZ DECaLS tree.
    Votes,
    /// One of several classes.
    Class,
}

impl Target {
    /// The kind of prediction the target asks for.
    pub fn kind(self) -> TargetKind {
        match self {
            Target::Elongated
            | Target::Ring
            | Target::RingPhysical
            | Target::Bar
            | Target::BarPhysical
            | Target::EdgeOn
            | Target::Featured
            | Target::Merger
            | Target::Clumpy
            | Target::ClumpyPhysical
            | Target::Label => TargetKind::Binary,
            Target::Gz2Answers => TargetKind::Gz2Answers,
            Target::Votes => TargetKind::Votes,
            Target::Class => TargetKind::Class,
        }
    }
}

impl TargetKind {
    /// The metrics a target of this kind can be scored by.
    pub fn valid_metrics(self) -> &'static [Metric] {
        use Metric::*;
        match self {
            TargetKind::Class => &[Accuracy],
            TargetKind::Gz2Answers => &[Rmse, RmseMeanBaseline, EquivarianceSpread],
            TargetKind::Votes => &[Rmse, RmseMeanBaseline],
            TargetKind::Binary => &[
                Accuracy,
                RocAuc,
                PrAuc,
                F1,
                Completeness,
                Purity,
                LogLoss,
                EquivarianceSpread,
            ],
        }
    }

    /// The metrics of a target of this kind when `eval.metrics` is not given.
    pub fn default_metrics(self) -> Vec<Metric> {
        use Metric::*;
        match self {
            TargetKind::Class => vec![Accuracy],
            TargetKind::Gz2Answers | TargetKind::Votes => vec![Rmse, RmseMeanBaseline],
            TargetKind::Binary => vec![Accuracy, RocAuc],
        }
    }
}

/// The metrics a target can be scored by.
pub fn valid_metrics(target: Target) -> &'static [Metric] {
    target.kind().valid_metrics()
}

/// The metrics of a target when `eval.metrics` is not given.
pub fn default_metrics(target: Target) -> Vec<Metric> {
    target.kind().default_metrics()
}

/// What a `train` run records besides its metrics: the reference levels of a constant guess
/// and how training (or the probe, or the pretraining) went.
pub const TRAIN_RECORDS: &[&str] = &[
    "majority_accuracy",
    "prevalence",
    "train_loss",
    "val_loss",
    "epochs_trained",
    "steps_trained",
    "best_step",
    "stopped_early",
    "probe_lambda",
    "probe_grad_norm",
    "pretrain_train_loss",
    "pretrain_val_loss",
    "pretrain_val_score",
    "train_positives",
    "n_extra",
    "diffusion_loss",
    "diffusion_steps",
    "fid",
    "fid_real",
    "fid_classic",
    "condition_accuracy",
    "condition_accuracy_real",
];

/// What a `crowd` run records.
pub const CROWD_RECORDS: &[&str] = &[
    "accuracy",
    "f1",
    "brier",
    "ece",
    "clicks_per_galaxy",
    "n_galaxies",
    "n_votes",
    "baseline_accuracy_at_equal_clicks",
    "accuracy_gain_at_equal_clicks",
    "n_scored",
    "n_gold",
    "n_classes",
    "expert_agreement",
    "expert_accuracy",
    "n_expert_galaxies",
];

/// What an online SWAP `crowd` run records besides [`CROWD_RECORDS`] (defined in
/// `crowd::swap_eval`): savings against fixed-K majority vote, retirement and the reliability
/// bins of its posterior (counts and sums per tenth of P(positive)).
pub const SWAP_RECORDS: &[&str] = &[
    "mv_accuracy_at_40",
    "k_matched",
    "swap_beats_mv_at_40",
    "savings_factor",
    "savings_vs_40",
    "accuracy_gap_vs_40",
    "retired_share",
    "retired_confidence",
    "retired_accuracy",
    "retired_ece",
    "reliability_bin0_n",
    "reliability_bin0_pos",
    "reliability_bin0_p",
    "reliability_bin1_n",
    "reliability_bin1_pos",
    "reliability_bin1_p",
    "reliability_bin2_n",
    "reliability_bin2_pos",
    "reliability_bin2_p",
    "reliability_bin3_n",
    "reliability_bin3_pos",
    "reliability_bin3_p",
    "reliability_bin4_n",
    "reliability_bin4_pos",
    "reliability_bin4_p",
    "reliability_bin5_n",
    "reliability_bin5_pos",
    "reliability_bin5_p",
    "reliability_bin6_n",
    "reliability_bin6_pos",
    "reliability_bin6_p",
    "reliability_bin7_n",
    "reliability_bin7_pos",
    "reliability_bin7_p",
    "reliability_bin8_n",
    "reliability_bin8_pos",
    "reliability_bin8_p",
    "reliability_bin9_n",
    "reliability_bin9_pos",
    "reliability_bin9_p",
];

/// What a `votes` run records.
pub const VOTES_RECORDS: &[&str] = &[
    "galaxies_asked",
    "asked_fraction",
    "mean_votes",
    "agreement",
    "consensus_80",
    "entropy",
];

/// What a `stream` run records (defined in `gzx::score` and `gzx::triage`), besides the
/// curve records `classified_share_t{i}` and `machine_share_t{i}` (i = 0..=40) of its figure.
pub const STREAM_RECORDS: &[&str] = &[
    "accuracy",
    "completeness",
    "purity",
    "clicks_per_galaxy",
    "total_clicks",
    "n_galaxies",
    "n_scored",
    "n_gold",
    "days_to_all",
    "days_to_90",
    "days_mv40",
    "savings_vs_40",
    "accuracy_gap_vs_40",
    "mv_accuracy_at_40",
    "k_matched",
    "savings_factor",
    "swap_beats_mv_at_40",
    "baseline_accuracy_at_equal_clicks",
    "accuracy_gain_at_equal_clicks",
    "machine_rounds",
    "first_round_day",
    "curve_days_per_point",
    "swap_share",
    "swap_accuracy",
    "machine_share",
    "machine_accuracy",
    "capped_share",
    "triage_accuracy",
    "triage_consensus_accuracy",
    "triage_volunteer_accuracy",
    "triage_accuracy_cov25",
    "triage_accuracy_cov50",
    "triage_accuracy_cov75",
    "triage_accuracy_cov90",
    "triage_coverage_at_95",
    "triage_coverage_at_99",
    "triage_retired_share",
    "triage_retired_accuracy",
    "triage_share_high",
    "triage_share_mid",
    "triage_share_low",
    "triage_consensus_accuracy_high",
    "triage_consensus_accuracy_mid",
    "triage_consensus_accuracy_low",
    "triage_accuracy_high",
    "triage_accuracy_mid",
    "triage_accuracy_low",
    "triage_volunteer_accuracy_high",
    "triage_volunteer_accuracy_mid",
    "triage_volunteer_accuracy_low",
    "pretrain_train_loss",
    "pretrain_val_loss",
    "pretrain_val_score",
];

/// What a `representations` run records (defined in `repr::run`).
pub const REPR_RECORDS: &[&str] = &[
    "embedding_dim",
    "n_galaxies",
    "retrieval_precision",
    "retrieval_chance",
    "tag_precision",
    "tag_chance",
    "index_recall",
    "anomaly_prevalence",
    "anomaly_precision_knn",
    "anomaly_auc_knn",
    "anomaly_precision_iforest",
    "anomaly_auc_iforest",
    "anomaly_precision_gaussian",
    "anomaly_auc_gaussian",
    "interesting_prevalence",
    "personal_top100",
    "base_top100",
    "ratings",
    "pretrain_train_loss",
    "pretrain_val_loss",
    "pretrain_val_score",
];

/// What a `detection` run records (`clumps::run`): the detector's catalogue on the test
/// galaxies (no prefix) and the volunteers' consensus, reliability-weighted (`crowd_`) and by
/// plain share (`crowd_share_`); training; the real set (`real_`).
pub const DETECT_RECORDS: &[&str] = &[
    "completeness",
    "purity",
    "completeness_contrast_low",
    "completeness_contrast_mid",
    "completeness_contrast_high",
    "completeness_z_low",
    "completeness_z_mid",
    "completeness_z_high",
    "crowd_completeness",
    "crowd_purity",
    "crowd_completeness_contrast_low",
    "crowd_completeness_contrast_mid",
    "crowd_completeness_contrast_high",
    "crowd_completeness_z_low",
    "crowd_completeness_z_mid",
    "crowd_completeness_z_high",
    "crowd_share_completeness",
    "crowd_share_purity",
    "crowd_share_completeness_contrast_low",
    "crowd_share_completeness_contrast_mid",
    "crowd_share_completeness_contrast_high",
    "crowd_share_completeness_z_low",
    "crowd_share_completeness_z_mid",
    "crowd_share_completeness_z_high",
    "ap50",
    "ap50_clump",
    "ap50_odd",
    "train_boxes_per_galaxy",
    "train_galaxies",
    "val_galaxies",
    "steps",
    "epochs",
    "best_epoch",
    "val_ap50",
    "train_loss",
    "visible_clumps_per_galaxy",
    "real_completeness",
    "real_purity",
    "real_detections_per_galaxy",
    "real_clumps_in_view",
    "pretrain_train_loss",
    "pretrain_val_loss",
    "pretrain_val_score",
];

/// Every name a run of `kind` on `target` can record (metrics and records).
pub fn recorded(kind: ExperimentKind, target: Target) -> Vec<&'static str> {
    match kind {
        ExperimentKind::Train => valid_metrics(target)
            .iter()
            .map(|m| m.as_str())
            .chain(TRAIN_RECORDS.iter().copied())
            .collect(),
        ExperimentKind::Crowd => CROWD_RECORDS.iter().chain(SWAP_RECORDS).copied().collect(),
        ExperimentKind::Votes => VOTES_RECORDS.to_vec(),
        ExperimentKind::Stream => STREAM_RECORDS.to_vec(),
        ExperimentKind::Representations => REPR_RECORDS.to_vec(),
        ExperimentKind::Detection => DETECT_RECORDS.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "name: m\nkind: train\ndata: { source: synthetic }\ntask:\n  target: gz2-answers\neval:\n  metrics: [rmse, accuracy]\n";

    #[test]
    fn a_metric_the_target_cannot_have_is_rejected_where_it_is_written() {
        let e = crate::spec::parse_str(YAML, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.yaml:7:19"), "{e}");
        assert!(
            e.contains("`accuracy` does not apply to task.target `gz2-answers`"),
            "{e}"
        );
        let ok = YAML.replace("rmse, accuracy", "rmse");
        assert!(crate::spec::parse_str(&ok, "t.yaml").is_ok());
    }

    #[test]
    fn defaults_follow_the_target_and_report_metrics_are_checked() {
        let text = "name: m\nkind: train\ndata: { source: synthetic }\ntask: { target: gz2-answers }\nreport:\n  metrics: [rmse, acuracy]\n";
        let e = crate::spec::parse_str(text, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.yaml:6:19") && e.contains("`acuracy` is not recorded"),
            "{e}"
        );
        let text = text.replace("acuracy", "rmse_mean_baseline");
        let exp = crate::spec::parse_str(&text, "t.yaml").unwrap();
        let runs = crate::spec::expand(&exp, &text, "t.yaml").unwrap();
        assert_eq!(runs[0].eval.metrics, default_metrics(Target::Gz2Answers));
    }
}
