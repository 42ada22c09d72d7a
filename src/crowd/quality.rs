//! Crowd quality: the knobs of the simulated volunteer population ([`CrowdQuality`]) and the
//! named presets `good`, `default`, `noisy` ([`QualityPreset`]). Owns no sampling.

use serde::{Deserialize, Serialize};

use super::CrowdError;
pub use crate::spec::QualityPreset;

/// Parameters of the simulated crowd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrowdQuality {
    /// Fraction of volunteers who ignore the image (spammers / careless).
    pub spammer_fraction: f64,
    /// Of the spammers, the share answering uniformly at random (the rest always give one fixed,
    /// per-question answer).
    pub random_spammer_share: f64,
    /// Mean probability that a genuine volunteer gives the true answer on an easy galaxy.
    pub skill_mean: f64,
    /// Spread (standard deviation) of that probability across volunteers.
    pub skill_sd: f64,
    /// Dirichlet concentration of each volunteer's personal error pattern around the typical
    /// confusions (smaller = more idiosyncratic confusion matrices).
    pub bias_concentration: f64,
    /// How strongly galaxy difficulty (redshift, surface brightness) pulls answers towards the
    /// typical confusions: at difficulty `d`, a share `difficulty_scale * d` of a genuine
    /// volunteer's answers follows the confusion pattern instead of their own skill.
    pub difficulty_scale: f64,
    /// Log-normal sigma of volunteer activity (a few volunteers do most of the clicks).
    pub activity_sigma: f64,
}

impl Default for CrowdQuality {
    fn default() -> Self {
        CrowdQuality::preset(QualityPreset::Default)
    }
}

impl CrowdQuality {
    /// The parameters of a named preset.
    pub fn preset(p: QualityPreset) -> CrowdQuality {
        let (spam, mean, sd, diff) = match p {
            QualityPreset::Good => (0.02, 0.92, 0.04, 0.3),
            QualityPreset::Default => (0.10, 0.85, 0.08, 0.5),
            QualityPreset::Noisy => (0.25, 0.72, 0.12, 0.7),
        };
        CrowdQuality {
            spammer_fraction: spam,
            random_spammer_share: 0.5,
            skill_mean: mean,
            skill_sd: sd,
            bias_concentration: 5.0,
            difficulty_scale: diff,
            activity_sigma: 1.0,
        }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), CrowdError> {
        let unit = |name: &str, x: f64| {
            if (0.0..=1.0).contains(&x) {
                Ok(())
            } else {
                Err(CrowdError::Config(format!(
                    "{name} = {x}; expected a value in [0, 1]"
                )))
            }
        };
        unit("spammer_fraction", self.spammer_fraction)?;
        unit("random_spammer_share", self.random_spammer_share)?;
        unit("skill_mean", self.skill_mean)?;
        unit("difficulty_scale", self.difficulty_scale)?;
        for (n, x) in [
            ("skill_sd", self.skill_sd),
            ("bias_concentration", self.bias_concentration),
            ("activity_sigma", self.activity_sigma),
        ] {
            if !(x.is_finite() && x >= 0.0) {
                return Err(CrowdError::Config(format!(
                    "{n} = {x}; expected a finite value >= 0"
                )));
            }
        }
        Ok(())
    }
}
