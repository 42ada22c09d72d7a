//! Crowd quality: the knobs of the simulated volunteer population ([`CrowdQuality`]) and the
//! named presets ([`QualityPreset`]): the Galaxy Zoo-like mixture `good` / `default` / `noisy`,
//! and the regimes that each match one aggregation model's assumption, `class-confusion`
//! (Dawid-Skene), `galaxy-difficulty` (GLAD) and `spammers` (MACE). Owns no sampling; the answer
//! model these knobs parameterise is documented in [`volunteers`](super::volunteers).

use serde::{Deserialize, Serialize};

use super::CrowdError;
pub use crate::spec::QualityPreset;

/// How galaxy difficulty enters a genuine volunteer's answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DifficultyModel {
    /// A share `difficulty_scale * d` of the answers follows the typical confusions instead of
    /// the volunteer's own confusion matrix (the Galaxy Zoo-like mixture).
    #[default]
    Blend,
    /// GLAD's model (Whitehill et al. 2009): `P(correct) = sigmoid(alpha_v * beta_g)` with ability
    /// `alpha_v = logit(skill of v on the true class)` and inverse difficulty
    /// `beta_g = ((1 - d) / d)^difficulty_scale` (1 at `d = 0.5`, where the skill is the accuracy);
    /// the errors are spread uniformly over the wrong answers.
    Sigmoid,
}

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
    /// Fraction of volunteers who deliberately avoid the true answer (uniform over the wrong
    /// answers); drawn after the spammers, so `spammer_fraction + adversary_fraction <= 1`.
    pub adversary_fraction: f64,
    /// Spread (standard deviation) of a genuine volunteer's skill across the true classes: their
    /// accuracy on class `t` is `skill + class_skill_sd * z_t`, clamped to [0.1, 0.995] (0: the
    /// same accuracy on every class). Makes confusion matrices class-conditional.
    pub class_skill_sd: f64,
    /// How galaxy difficulty enters the answers.
    pub difficulty_model: DifficultyModel,
}

impl Default for CrowdQuality {
    fn default() -> Self {
        CrowdQuality::preset(QualityPreset::Default)
    }
}

impl CrowdQuality {
    /// The parameters of a named preset (documented on [`QualityPreset`]).
    pub fn preset(p: QualityPreset) -> CrowdQuality {
        let mixture = |spam, mean, sd, diff| CrowdQuality {
            spammer_fraction: spam,
            random_spammer_share: 0.5,
            skill_mean: mean,
            skill_sd: sd,
            bias_concentration: 5.0,
            difficulty_scale: diff,
            activity_sigma: 1.0,
            adversary_fraction: 0.0,
            class_skill_sd: 0.0,
            difficulty_model: DifficultyModel::Blend,
        };
        match p {
            QualityPreset::Good => mixture(0.02, 0.92, 0.04, 0.3),
            QualityPreset::Default => mixture(0.10, 0.85, 0.08, 0.5),
            QualityPreset::Noisy => mixture(0.25, 0.72, 0.12, 0.7),
            QualityPreset::ClassConfusion => CrowdQuality {
                class_skill_sd: 0.3,
                bias_concentration: 0.2,
                ..mixture(0.0, 0.65, 0.1, 0.0)
            },
            QualityPreset::GalaxyDifficulty => CrowdQuality {
                bias_concentration: 0.0,
                difficulty_model: DifficultyModel::Sigmoid,
                ..mixture(0.0, 0.7, 0.15, 1.0)
            },
            QualityPreset::Spammers => CrowdQuality {
                random_spammer_share: 0.25,
                adversary_fraction: 0.05,
                ..mixture(0.4, 0.9, 0.05, 0.0)
            },
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
        unit("adversary_fraction", self.adversary_fraction)?;
        if self.spammer_fraction + self.adversary_fraction > 1.0 {
            return Err(CrowdError::Config(format!(
                "spammer_fraction + adversary_fraction = {}; expected <= 1",
                self.spammer_fraction + self.adversary_fraction
            )));
        }
        for (n, x) in [
            ("skill_sd", self.skill_sd),
            ("bias_concentration", self.bias_concentration),
            ("activity_sigma", self.activity_sigma),
            ("class_skill_sd", self.class_skill_sd),
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
