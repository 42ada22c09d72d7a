//! `gold-majority-vote` (crowd-kit's `GoldMajorityVote`): each volunteer's skill is their
//! accuracy on the gold galaxies (`QuestionVotes::gold`, set by the runner when
//! `crowd.gold_fraction > 0`), then every galaxy, gold ones included, gets the skill-weighted
//! vote (probabilities = weighted vote fractions, label = their argmax, ties to the lowest class).
//!
//! crowd-kit refuses a volunteer without any vote on a gold galaxy; here such volunteers get the
//! mean skill of the volunteers who have one (crowd-kit's `on_missing_skill="value"` with that
//! value), so a small gold set never stops a run. Repeated (galaxy, volunteer, answer) rows count
//! each time (crowd-kit drops such duplicates; simulated streams never repeat). Without any gold
//! galaxy the strategy is an error.

use super::majority_vote::weighted_vote;
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// Gold majority vote (no parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GoldMajorityVote;

impl GoldMajorityVote {
    /// Per-volunteer accuracy on gold galaxies (the mean of those for volunteers without a gold
    /// vote).
    pub fn skills(&self, votes: &QuestionVotes) -> Result<Vec<f64>, CrowdError> {
        let err = |reason: String| CrowdError::Strategy {
            strategy: "gold-majority-vote",
            reason,
        };
        let Some(gold) = votes
            .gold
            .as_ref()
            .filter(|g| g.iter().any(Option::is_some))
        else {
            return Err(err(
                "no gold galaxy: the skills are accuracies on galaxies with known labels; \
                 in an experiment set crowd.gold_fraction > 0"
                    .into(),
            ));
        };
        if gold.len() != votes.n_galaxies {
            return Err(err(format!(
                "{} gold entries for {} galaxies; expected one per galaxy",
                gold.len(),
                votes.n_galaxies
            )));
        }
        let (mut hits, mut seen) = (
            vec![0.0f64; votes.n_volunteers],
            vec![0.0f64; votes.n_volunteers],
        );
        for i in 0..votes.len() {
            if let Some(t) = gold[votes.galaxy[i] as usize] {
                let v = votes.volunteer[i] as usize;
                seen[v] += 1.0;
                hits[v] += f64::from(u8::from(votes.answer[i] == t));
            }
        }
        let known: Vec<f64> = (0..votes.n_volunteers)
            .filter(|&v| seen[v] > 0.0)
            .map(|v| hits[v] / seen[v])
            .collect();
        if known.is_empty() {
            return Err(err(
                "no volunteer voted on a gold galaxy; raise crowd.gold_fraction".into(),
            ));
        }
        let fallback = known.iter().sum::<f64>() / known.len() as f64;
        Ok((0..votes.n_volunteers)
            .map(|v| {
                if seen[v] > 0.0 {
                    hits[v] / seen[v]
                } else {
                    fallback
                }
            })
            .collect())
    }
}

impl Aggregator for GoldMajorityVote {
    fn name(&self) -> &'static str {
        "gold-majority-vote"
    }

    fn needs_gold(&self) -> bool {
        true
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let skills = self.skills(votes)?;
        Ok(weighted_vote(votes, &skills))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_gold_skills() {
        // Gold: g0 = 1, g1 = 0. g0: v0 -> 1, v1 -> 1, v2 -> 0; g1: v0 -> 0, v1 -> 1, v2 -> 0;
        // g2: v1 -> 1, v2 -> 0, v3 -> 1. Skills: v0 = 2/2, v1 = 1/2, v2 = 1/2, and v3 (no gold
        // vote) = mean(1, 1/2, 1/2) = 2/3. g2: class 0 = 1/2, class 1 = 1/2 + 2/3 -> [0.3, 0.7].
        // g0: class 0 = 1/2 (v2), class 1 = 1 + 1/2 -> [0.25, 0.75]; g1: 1 + 1/2 vs 1/2.
        let mut v = QuestionVotes::new(
            2,
            3,
            4,
            vec![0, 0, 0, 1, 1, 1, 2, 2, 2],
            vec![0, 1, 2, 0, 1, 2, 1, 2, 3],
            vec![1, 1, 0, 0, 1, 0, 1, 0, 1],
        )
        .unwrap();
        v.gold = Some(vec![Some(1), Some(0), None]);
        let skills = GoldMajorityVote.skills(&v).unwrap();
        let want = [1.0, 0.5, 0.5, 2.0 / 3.0];
        for (g, w) in skills.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{skills:?}");
        }
        let a = GoldMajorityVote.aggregate(&v).unwrap();
        for (got, want) in a.probs.iter().zip([0.25, 0.75, 0.75, 0.25, 0.3, 0.7]) {
            assert!((got - want).abs() < 1e-12, "{:?}", a.probs);
        }
        assert_eq!(a.labels, vec![1, 0, 1]);
    }

    #[test]
    fn without_gold_is_a_clear_error() {
        let mut v = QuestionVotes::new(2, 2, 1, vec![0, 1], vec![0, 0], vec![0, 1]).unwrap();
        let msg = GoldMajorityVote.aggregate(&v).unwrap_err().to_string();
        assert!(msg.contains("gold_fraction"), "{msg}");
        v.gold = Some(vec![None, None]);
        assert!(GoldMajorityVote.aggregate(&v).is_err());
        v.gold = Some(vec![Some(0)]);
        assert!(
            GoldMajorityVote
                .aggregate(&v)
                .unwrap_err()
                .to_string()
                .contains("one per galaxy")
        );
    }
}
