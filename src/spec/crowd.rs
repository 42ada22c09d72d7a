//! The `crowd:` section of an experiment: which aggregation strategy, how many votes per galaxy,
//! which simulated crowd. Only names and numbers live here; `crowd` implements them (the
//! strategy registry maps each [`Strategy`] to its implementation, matched exhaustively).

use serde::{Deserialize, Deserializer, Serialize};

/// An aggregation strategy by name: the strategy registry. Every variant is registered by being
/// here: `clap::ValueEnum::value_variants()` lists them all (derived, never written by hand), the
/// serde name is the YAML and CLI name, and `crowd::registry` maps each variant to its
/// implementation in an exhaustive match. Adding a strategy = its file in `crowd/` (plus its
/// `mod` line in `crowd/mod.rs`), a variant here and its match arm in `crowd/registry.rs`; the
/// compiler refuses the variant without the arm, and `tests/registries.rs` runs every variant
/// through `validate` and `aggregate`. Deserialized by [`Strategy::parse`]; `vote-fraction`,
/// removed, is refused with a pointer to `majority-vote`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The most common answer (ties to the first answer).
    #[default]
    MajorityVote,
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
    /// GZ2's published reduction: `gz2-weighting`'s weighted fractions, then `redshift-debias`.
    #[serde(rename = "gz2-pipeline")]
    Gz2Pipeline,
    /// Reference, not an aggregation: every galaxy gets the answer most common over all votes
    /// (ignores which galaxy a vote is on).
    MajorityClass,
    /// Hovy et al. 2013 MACE: each volunteer spams with some probability, else answers the truth.
    Mace,
    /// Skill-weighted vote, skills moved towards agreement with the vote (crowd-kit ZBS).
    ZeroBasedSkill,
    /// Ma & Olshevsky 2020 M-MSR: skills from a robust rank-one fit of volunteer covariances.
    #[serde(rename = "m-msr")]
    MMsr,
    /// Karger, Oh & Shah message passing (binary questions).
    Kos,
    /// Majority vote weighted by each volunteer's accuracy on gold galaxies (needs gold).
    GoldMajorityVote,
    /// Whitehill et al. 2009 GLAD: per-volunteer ability x per-galaxy inverse difficulty.
    Glad,
}

impl Strategy {
    /// Parses a serde (kebab-case) name, with a clear error for unknown and removed names.
    pub fn parse(name: &str) -> Result<Strategy, String> {
        let key = |s: Strategy| serde_json::to_value(s).ok();
        let all = super::all::<Strategy>();
        if let Some(&s) = all
            .iter()
            .find(|&&s| key(s).as_ref().and_then(|v| v.as_str()) == Some(name))
        {
            return Ok(s);
        }
        if name == "vote-fraction" {
            return Err(
                "strategy `vote-fraction` was removed: it computed exactly what `majority-vote` \
                 computes; use `majority-vote`, whose probabilities are the vote fractions"
                    .into(),
            );
        }
        let names: Vec<String> = all
            .iter()
            .filter_map(|&s| key(s).and_then(|v| v.as_str().map(String::from)))
            .collect();
        Err(format!(
            "unknown strategy `{name}`; expected one of {}",
            names.join(", ")
        ))
    }
}

impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Strategy::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// Named crowd-quality presets (`crowd.crowd:`). `good`, `default` and `noisy` are the Galaxy
/// Zoo-like mixture (skill spread, spammers, a confusion pattern that grows with galaxy
/// difficulty); the other three are regimes that each match one aggregation model's assumption
/// (parameters in `crowd::CrowdQuality::preset`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum QualityPreset {
    /// Experienced crowd: 2 % spammers, mean accuracy 0.92.
    Good,
    /// Typical Galaxy Zoo crowd: 10 % spammers, mean accuracy 0.85; on hard (high-redshift, low
    /// surface brightness) galaxies up to half the answers follow the typical confusions
    /// (featured sent to smooth). No single model's assumption.
    #[default]
    Default,
    /// Poor crowd: 25 % spammers, mean accuracy 0.72.
    Noisy,
    /// Dawid-Skene's assumption: every volunteer has their own full, asymmetric,
    /// class-conditional confusion matrix and galaxy difficulty plays no part. Skill 0.65 ± 0.1
    /// per volunteer, spread ± 0.3 across the true classes (clamped to [0.1, 0.995]: a volunteer
    /// may be right on smooth galaxies and wrong on most featured ones), errors sent to the wrong
    /// answers in personal proportions (Dirichlet concentration 0.2 around the typical
    /// confusions, so each volunteer mostly confuses a class with one other); no spammers.
    ClassConfusion,
    /// GLAD's assumption: `P(correct) = sigmoid(alpha_v * beta_g)`, volunteer ability
    /// `alpha_v = logit(skill)` with skill 0.7 ± 0.15 (clamped to [0.4, 0.995]; below 0.5 the
    /// ability is negative), inverse difficulty `beta_g = (1 - d) / d` from the galaxy's
    /// difficulty `d` (redshift, surface brightness); errors uniform over the wrong answers, no
    /// class-conditional structure, no spammers.
    GalaxyDifficulty,
    /// MACE's assumption: 40 % spammers who answer regardless of the image (a quarter of them
    /// uniformly at random, the rest always one answer), 5 % adversaries who avoid the true
    /// answer (outside MACE's model, which takes them for spammers), the rest reliable (skill
    /// 0.9 ± 0.05, errors around the typical confusions, no difficulty effect).
    Spammers,
}

/// One crowd experiment. Defaults: majority vote, 10 votes per galaxy, `default` crowd, 2,000
/// galaxies, 300 volunteers, question `smooth-or-featured` (answers smooth / featured-or-disk /
/// artifact; asked of every galaxy), fixed-K stream, no gold subjects, a panel of 5 simulated
/// experts labelling 15 % of the galaxies.
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
    /// Size of the simulated expert panel (0: none); the panel's majority labels a subset of the
    /// galaxies, scored as `expert_agreement` (see `crowd::experts`).
    pub n_experts: usize,
    /// Fraction of galaxies the expert panel labels.
    pub expert_fraction: f64,
    /// Share of image artifacts in the synthetic sky (default: the universe's 1 %, with which
    /// `smooth-or-featured` is about 65 % smooth, 34 % featured, 1 % artifact). 0.33 makes every
    /// answer common (about 44 / 23 / 33 %): the sky GLAD and MACE assume, both taking the true
    /// answer to be uniform a priori.
    pub artifact_fraction: Option<f32>,
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
            n_experts: 5,
            expert_fraction: 0.15,
            artifact_fraction: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_and_unknown_strategies_are_refused_clearly() {
        let err = serde_yaml::from_str::<Strategy>("vote-fraction")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("removed") && err.contains("use `majority-vote`"),
            "{err}"
        );
        let err = serde_yaml::from_str::<Strategy>("nope")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown strategy `nope`") && err.contains("dawid-skene"),
            "{err}"
        );
        let s: Strategy = serde_yaml::from_str("gz2-pipeline").unwrap();
        assert_eq!(s, Strategy::Gz2Pipeline);
        let p: QualityPreset = serde_yaml::from_str("galaxy-difficulty").unwrap();
        assert_eq!(p, QualityPreset::GalaxyDifficulty);
    }
}
