//! The crowd experiment entry point: [`CrowdRunConfig`] and [`evaluate`], which samples a
//! universe and a crowd, simulates the clicks (fixed K, or online with SWAP retirement),
//! aggregates one question with the chosen strategy and scores it against the truth.
//!
//! Metric keys: `accuracy`, `f1` (macro), `brier`, `ece`, `clicks_per_galaxy`, `n_galaxies`,
//! `n_votes`, `baseline_accuracy_at_equal_clicks` (majority vote with a fixed
//! `round(clicks_per_galaxy)` votes per galaxy on the same galaxies and crowd),
//! `accuracy_gain_at_equal_clicks` (accuracy minus that baseline), `n_classes` (the answers the
//! scores are over: 3 for `smooth-or-featured`, 2 when binarised), and, when the expert panel
//! labels any galaxy, `expert_agreement` (share of the expert-labelled galaxies whose aggregated
//! label equals the panel's, see [`super::experts`]), `expert_accuracy` (the panel's labels
//! against the truth) and `n_expert_galaxies`.
//!
//! Gold galaxies (`gold_fraction > 0`) are never scored, whatever the strategy (their truth
//! trains `swap` and the gold-label strategies, and leaving them out of every strategy's scores
//! keeps strategies comparable on the same galaxies): every score above is over the `n_scored`
//! galaxies that reach the question and were never gold; `n_gold` were left out. Online runs
//! (SWAP retirement) are `swap_eval`'s, with its savings and calibration records.

use std::collections::BTreeMap;

use rand::Rng;

use super::metrics::{accuracy, score};
use super::volunteers::{Crowd, question_by_name, simulate_fixed, truth};
use super::{
    Aggregator, Classifications, Covariates, CrowdError, CrowdQuality, MajorityVote, QuestionVotes,
    Strategy, StrategyImpl,
};
use crate::rng::item_stream;
pub use crate::spec::CrowdRunConfig;
use crate::universe::{Galaxy, PopulationConfig, Question, sample_population};

/// The simulated world of one run.
pub(crate) struct World {
    pub(crate) galaxies: Vec<Galaxy>,
    pub(crate) crowd: Crowd,
    pub(crate) question: Question,
    pub(crate) truth: Vec<Option<u32>>,
    /// Answer map to binary (positive -> 0, rest -> 1) when the strategy needs it.
    binarize: Option<u32>,
    /// Gold galaxies: their truth may train the aggregation, so they are never scored.
    pub(crate) gold: Vec<bool>,
    /// The expert panel's label per galaxy (`None` outside its subset).
    expert: Vec<Option<u32>>,
}

impl World {
    /// An answer as the strategy sees it (binarised when the question has more than 2).
    pub(crate) fn map(&self, a: u32) -> u32 {
        match self.binarize {
            Some(p) => u32::from(a != p),
            None => a,
        }
    }

    /// Every galaxy's truth as the strategy sees it (binarised when it needs), `None` where the
    /// question is not reached.
    pub(crate) fn mapped_truth(&self) -> Vec<Option<u32>> {
        self.truth.iter().map(|t| t.map(|t| self.map(t))).collect()
    }

    /// Online SWAP with retirement over every galaxy, its volunteers trained by the gold
    /// galaxies' truth (none without gold galaxies).
    pub(crate) fn retiring_swap(&self) -> super::SwapState {
        let truth = self.mapped_truth();
        let gold: Option<Vec<Option<u32>>> = self.gold.iter().any(|&x| x).then(|| {
            self.gold
                .iter()
                .zip(&truth)
                .map(|(&g, &t)| if g { t } else { None })
                .collect()
        });
        let swap = super::Swap {
            retire: true,
            ..super::Swap::default()
        };
        super::SwapState::new(swap, self.galaxies.len(), self.crowd.len(), gold)
    }

    /// Per-question votes of a fixed-K stream with covariates and gold attached, and the truth
    /// to score them by: `None` for gold galaxies (never scored).
    pub(super) fn votes(
        &self,
        cls: &Classifications,
    ) -> Result<(QuestionVotes, Vec<Option<u32>>), CrowdError> {
        let mut v = cls.for_question(0)?;
        if self.binarize.is_some() {
            v.answer.iter_mut().for_each(|a| *a = self.map(*a));
            v = QuestionVotes::new(
                2,
                v.n_galaxies,
                v.n_volunteers,
                v.galaxy.clone(),
                v.volunteer.clone(),
                v.answer.clone(),
            )?
            .with_time(v.time.clone())
            .with_galaxy_index(v.galaxy_index.clone());
        }
        let truth: Vec<Option<u32>> = v
            .galaxy_index
            .iter()
            .map(|&g| self.truth[g as usize].map(|t| self.map(t)))
            .collect();
        v.covariates = Some(
            v.galaxy_index
                .iter()
                .map(|&g| {
                    let g = &self.galaxies[g as usize];
                    Covariates {
                        redshift: g.redshift,
                        surface_brightness: g.surface_brightness_r,
                    }
                })
                .collect(),
        );
        if self.gold.iter().any(|&x| x) {
            v.gold = Some(
                v.galaxy_index
                    .iter()
                    .zip(&truth)
                    .map(|(&g, &t)| if self.gold[g as usize] { t } else { None })
                    .collect(),
            );
        }
        let scored = v
            .galaxy_index
            .iter()
            .zip(truth)
            .map(|(&g, t)| t.filter(|_| !self.gold[g as usize]))
            .collect();
        Ok((v, scored))
    }
}

fn validate(cfg: &CrowdRunConfig) -> Result<(), CrowdError> {
    if cfg.n_galaxies == 0 {
        return Err(CrowdError::Config("n_galaxies = 0; expected >= 1".into()));
    }
    if cfg.votes_per_galaxy == 0 || cfg.votes_per_galaxy > cfg.n_volunteers {
        return Err(CrowdError::Config(format!(
            "votes_per_galaxy = {} with n_volunteers = {}; expected 1 <= votes_per_galaxy <= \
             n_volunteers (one vote per volunteer per galaxy)",
            cfg.votes_per_galaxy, cfg.n_volunteers
        )));
    }
    if let Some(a) = cfg.artifact_fraction
        && !(0.0..=1.0).contains(&a)
    {
        return Err(CrowdError::Config(format!(
            "artifact_fraction = {a}; expected a value in [0, 1]"
        )));
    }
    if !(0.0..1.0).contains(&cfg.gold_fraction) {
        return Err(CrowdError::Config(format!(
            "gold_fraction = {}; expected a value in [0, 1) (gold galaxies are never scored)",
            cfg.gold_fraction
        )));
    }
    if cfg.strategy.needs_gold() && cfg.gold_fraction == 0.0 {
        return Err(CrowdError::Config(format!(
            "strategy `{}` learns volunteer skills from gold galaxies; set gold_fraction > 0",
            cfg.strategy.name()
        )));
    }
    if cfg.online && cfg.strategy != Strategy::Swap {
        return Err(CrowdError::Config(format!(
            "online = true needs strategy `swap` (the retirement rule); got `{}`",
            cfg.strategy.name()
        )));
    }
    Ok(())
}

/// The universe's population with the run's share of artifacts.
pub(crate) fn population(cfg: &CrowdRunConfig) -> PopulationConfig {
    let mut pop = PopulationConfig::default();
    if let Some(a) = cfg.artifact_fraction {
        pop.artifact_fraction = a;
    }
    pop
}

pub(crate) fn world(cfg: &CrowdRunConfig, seed: u64) -> Result<World, CrowdError> {
    validate(cfg)?;
    let question = question_by_name(&cfg.question)?;
    let answers = question.answers();
    let binarize = if cfg.strategy.binary_only() && answers.len() > 2 {
        let name = cfg.positive_answer.clone().unwrap_or_else(|| {
            if question == Question::SmoothOrFeatured {
                "featured-or-disk".into()
            } else {
                answers[0].into()
            }
        });
        let p = answers.iter().position(|a| *a == name).ok_or_else(|| {
            CrowdError::Config(format!(
                "positive_answer `{name}` is not an answer of `{}`; expected one of {}",
                cfg.question,
                answers.join(", ")
            ))
        })?;
        Some(p as u32)
    } else {
        None
    };
    let galaxies = sample_population(seed, cfg.n_galaxies, &population(cfg));
    let crowd = Crowd::sample(seed, cfg.n_volunteers, &CrowdQuality::preset(cfg.crowd))?;
    let truth = truth(&galaxies, question);
    let gold = galaxies
        .iter()
        .map(|g| {
            cfg.gold_fraction > 0.0
                && item_stream(seed, "crowd/gold", g.id).random::<f64>() < cfg.gold_fraction
        })
        .collect();
    let expert = super::experts::expert_labels(
        seed,
        &galaxies,
        question,
        cfg.n_experts,
        cfg.expert_fraction,
    )?;
    Ok(World {
        galaxies,
        crowd,
        question,
        truth,
        binarize,
        gold,
        expert,
    })
}

/// Runs one crowd experiment; same config and seed give bit-identical metrics.
pub fn evaluate(cfg: &CrowdRunConfig, seed: u64) -> Result<BTreeMap<String, f64>, CrowdError> {
    let w = world(cfg, seed)?;
    let (agg, truth, n_votes, rows, online) = if cfg.online {
        let o = super::swap_eval::online(cfg, seed, &w)?;
        (o.agg, o.truth, o.n_votes, o.rows, Some(o.records))
    } else {
        let cls = simulate_fixed(
            seed,
            &w.galaxies,
            &w.crowd,
            w.question,
            cfg.votes_per_galaxy,
        )?;
        let (votes, truth) = w.votes(&cls)?;
        let agg = cfg.strategy.aggregator().aggregate(&votes)?;
        let rows = votes.galaxy_index.iter().map(|&g| g as usize).collect();
        (agg, truth, cls.len(), rows, None)
    };
    let mut m = score(&agg, &truth);
    m.insert("n_votes".into(), n_votes as f64);
    let expert: Vec<Option<u32>> = rows
        .iter()
        .map(|&g| w.expert[g].filter(|_| !w.gold[g]).map(|e| w.map(e)))
        .collect();
    if let Some(a) = super::experts::agreement(&agg.labels, &expert) {
        let n = expert.iter().filter(|e| e.is_some()).count();
        let right = expert
            .iter()
            .zip(&truth)
            .filter(|(e, t)| e.is_some() && e == t)
            .count();
        m.insert("expert_agreement".into(), a);
        m.insert("expert_accuracy".into(), right as f64 / n as f64);
        m.insert("n_expert_galaxies".into(), n as f64);
    }
    if let Some(records) = online {
        m.extend(records);
        return Ok(m);
    }
    let n_gold = rows.iter().filter(|&&g| w.gold[g]).count();
    m.insert("n_scored".into(), (rows.len() - n_gold) as f64);
    m.insert("n_gold".into(), n_gold as f64);
    let k_eq = (m["clicks_per_galaxy"].round() as usize).clamp(1, cfg.n_volunteers);
    let base = simulate_fixed(seed, &w.galaxies, &w.crowd, w.question, k_eq)?;
    let (bv, bt) = w.votes(&base)?;
    let b = accuracy(&MajorityVote.aggregate(&bv)?.labels, &bt);
    m.insert("baseline_accuracy_at_equal_clicks".into(), b);
    m.insert("accuracy_gain_at_equal_clicks".into(), m["accuracy"] - b);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowd::on_threads;
    use crate::spec::QualityPreset;

    fn small(strategy: Strategy) -> CrowdRunConfig {
        CrowdRunConfig {
            strategy,
            n_galaxies: 300,
            n_volunteers: 60,
            votes_per_galaxy: 7,
            ..CrowdRunConfig::default()
        }
    }

    #[test]
    fn every_strategy_runs_and_is_deterministic_across_threads() {
        for &s in crate::spec::all::<Strategy>() {
            let gold_fraction = if s.needs_gold() { 0.2 } else { 0.0 };
            let cfg = CrowdRunConfig {
                gold_fraction,
                ..small(s)
            };
            let a = on_threads(1, || evaluate(&cfg, 9)).unwrap();
            let b = on_threads(3, || evaluate(&cfg, 9)).unwrap();
            assert_eq!(a, b, "{}", s.name());
            for key in ["accuracy", "f1", "brier", "ece", "clicks_per_galaxy"] {
                assert!(a[key].is_finite(), "{} {key}", s.name());
            }
            if !s.aggregator().is_reference() {
                assert!(a["accuracy"] > 0.6, "{}: {a:?}", s.name());
                assert!(a["expert_agreement"] > 0.6, "{}: {a:?}", s.name());
            }
            let c = evaluate(&cfg, 10).unwrap();
            assert_ne!(a, c, "{}: seed must matter", s.name());
        }
        let online = CrowdRunConfig {
            online: true,
            votes_per_galaxy: 20,
            ..small(Strategy::Swap)
        };
        assert_eq!(evaluate(&online, 4).unwrap(), evaluate(&online, 4).unwrap());
    }

    #[test]
    fn config_serde_and_validation() {
        let cfg: CrowdRunConfig = serde_json::from_str(
            r#"{"strategy":"dawid-skene","votes_per_galaxy":5,"crowd":"noisy"}"#,
        )
        .unwrap();
        assert_eq!(cfg.strategy, Strategy::DawidSkene);
        assert_eq!(cfg.crowd, QualityPreset::Noisy);
        assert_eq!(cfg.n_galaxies, CrowdRunConfig::default().n_galaxies);
        let back: CrowdRunConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
        assert!(serde_json::from_str::<CrowdRunConfig>(r#"{"votes":5}"#).is_err());
        let bad = |c: CrowdRunConfig| evaluate(&c, 1).unwrap_err().to_string();
        assert!(
            bad(CrowdRunConfig {
                question: "nope".into(),
                ..small(Strategy::Wawa)
            })
            .contains("unknown question")
        );
        assert!(
            bad(CrowdRunConfig {
                online: true,
                ..small(Strategy::Wawa)
            })
            .contains("swap")
        );
        assert!(bad(small(Strategy::GoldMajorityVote)).contains("gold_fraction > 0"));
        assert!(
            bad(CrowdRunConfig {
                votes_per_galaxy: 61,
                ..small(Strategy::Wawa)
            })
            .contains("votes_per_galaxy")
        );
    }

    #[test]
    fn better_crowds_and_more_votes_help() {
        let acc = |crowd, k| {
            let cfg = CrowdRunConfig {
                crowd,
                votes_per_galaxy: k,
                n_galaxies: 800,
                ..CrowdRunConfig::default()
            };
            evaluate(&cfg, 3).unwrap()["accuracy"]
        };
        assert!(acc(QualityPreset::Good, 5) > acc(QualityPreset::Noisy, 5));
        assert!(acc(QualityPreset::Default, 15) > acc(QualityPreset::Default, 1));
    }
}
