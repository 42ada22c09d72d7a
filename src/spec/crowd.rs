//! The `crowd:` section of an experiment: which aggregation strategy, how many votes per galaxy,
//! which simulated crowd. Only names and numbers live here; `crowd` implements them (the
//! strategy registry maps each [`Strategy`] to its implementation, matched exhaustively).

use serde::{Deserialize, Serialize};

/// An aggregation strategy by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The most common answer (ties to the first answer).
    #[default]
    MajorityVote,
    /// Raw vote fractions (the Galaxy Zoo catalogue columns); label = largest fraction.
    VoteFraction,
    /// Worker agreement with aggregate: majority vote weighted by each volunteer's agreement.
    Wawa,
    /// Willett et al. 2013 consistency weighting, w = min(1, (kappa / 0.6)^8.5), iterated.
    #[serde(rename = "gz2-weighting")]
    Gz2Weighting,
    /// Dawid & Skene 1979: EM over per-volunteer confusion matrices.
    DawidSkene,
    /// Dawid-Skene with one accuracy per volunteer.
    OneCoinDawidSkene,
    /// Space Warps / Galaxy Zoo Express Bayesian retirement (binary questions).
    Swap,
    /// Vote fractions mapped to the low-redshift baseline per redshift and brightness bin.
    RedshiftDebias,
    /// Whitehill et al. 2009 GLAD: per-volunteer ability x per-galaxy inverse difficulty.
    Glad,
}

impl Strategy {
    pub const ALL: [Strategy; 9] = [
        Strategy::MajorityVote,
        Strategy::VoteFraction,
        Strategy::Wawa,
        Strategy::Gz2Weighting,
        Strategy::DawidSkene,
        Strategy::OneCoinDawidSkene,
        Strategy::Swap,
        Strategy::RedshiftDebias,
        Strategy::Glad,
    ];
}

/// Named crowd-quality presets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QualityPreset {
    /// Experienced crowd: 2 % spammers, mean accuracy 0.92.
    Good,
    /// Typical Galaxy Zoo crowd: 10 % spammers, mean accuracy 0.85.
    #[default]
    Default,
    /// Poor crowd: 25 % spammers, mean accuracy 0.72.
    Noisy,
}

/// One crowd experiment. Defaults: majority vote, 10 votes per galaxy, `default` crowd, 2,000
/// galaxies, 300 volunteers, question `smooth-or-featured` (answers smooth / featured-or-disk /
/// artifact; asked of every galaxy), fixed-K stream, no gold subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrowdRunConfig {
    pub strategy: Strategy,
    /// K: votes per galaxy (fixed stream), or the per-galaxy cap of the online stream.
    pub votes_per_galaxy: usize,
    pub crowd: QualityPreset,
    pub n_galaxies: usize,
    pub n_volunteers: usize,
    /// A Galaxy Zoo DECaLS question name (see `universe::Question::name`).
    pub question: String,
    /// Binary-only strategies (`swap`) on a question with more answers use "this answer vs the
    /// rest" (answer 0 = positive). Default: `featured-or-disk` for `smooth-or-featured`, else
    /// the first answer.
    pub positive_answer: Option<String>,
    /// SWAP only: serve galaxies online until SWAP retires them (or the cap is reached).
    pub online: bool,
    /// Fraction of galaxies whose truth SWAP may use to train volunteers (gold subjects).
    pub gold_fraction: f64,
}

impl Default for CrowdRunConfig {
    fn default() -> Self {
        CrowdRunConfig {
            strategy: Strategy::MajorityVote,
            votes_per_galaxy: 10,
            crowd: QualityPreset::Default,
            n_galaxies: 2000,
            n_volunteers: 300,
            question: "smooth-or-featured".into(),
            positive_answer: None,
            online: false,
            gold_fraction: 0.0,
        }
    }
}
