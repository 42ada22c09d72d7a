//! `zero-based-skill` (crowd-kit's `ZeroBasedSkill`): every volunteer starts with skill
//! `1 / L + eps` (`L` = number of distinct answers given); each of `n_iter` rounds takes the
//! skill-weighted majority vote and moves each skill towards the volunteer's agreement with it,
//! `skill += lr * (agreement - skill)`, the learning rate halved every 20th round (rounds counted
//! from 1, so rounds 20, 40, ... already use the halved rate). The result is the weighted vote
//! with the final skills. No convergence test (crowd-kit's `eps` only offsets the start).
//! Like [`Wawa`](super::Wawa), repeated (galaxy, volunteer, answer) rows count each time
//! (crowd-kit drops such duplicates when scoring agreement; simulated streams never repeat).

use super::majority_vote::{weighted_fractions, weighted_vote};
use super::wawa::agreement;
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes, argmax};

/// Zero-based skill with crowd-kit's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroBasedSkill {
    pub n_iter: usize,
    pub lr_init: f64,
    /// The learning rate is multiplied by `lr_reduce_factor` in every round divisible by this.
    pub lr_steps_to_reduce: usize,
    pub lr_reduce_factor: f64,
    /// Offset of the initial skill `1 / L + eps`.
    pub eps: f64,
}

impl Default for ZeroBasedSkill {
    fn default() -> Self {
        ZeroBasedSkill {
            n_iter: 100,
            lr_init: 1.0,
            lr_steps_to_reduce: 20,
            lr_reduce_factor: 0.5,
            eps: 1e-5,
        }
    }
}

/// Number of distinct answers among the votes.
pub(crate) fn distinct_answers(votes: &QuestionVotes) -> usize {
    let mut seen = vec![false; votes.n_classes];
    votes.answer.iter().for_each(|&a| seen[a as usize] = true);
    seen.iter().filter(|&&s| s).count()
}

impl ZeroBasedSkill {
    /// The per-volunteer skills after `n_iter` rounds.
    pub fn skills(&self, votes: &QuestionVotes) -> Result<Vec<f64>, CrowdError> {
        if votes.is_empty() {
            return Err(CrowdError::Strategy {
                strategy: "zero-based-skill",
                reason: "no votes to aggregate".into(),
            });
        }
        if self.lr_steps_to_reduce == 0 {
            return Err(CrowdError::Config(
                "zero-based-skill: lr_steps_to_reduce = 0; expected >= 1".into(),
            ));
        }
        let start = 1.0 / distinct_answers(votes) as f64 + self.eps;
        let mut skills = vec![start; votes.n_volunteers];
        let mut lr = self.lr_init;
        for round in 1..=self.n_iter {
            if round % self.lr_steps_to_reduce == 0 {
                lr *= self.lr_reduce_factor;
            }
            let labels: Vec<u32> = weighted_fractions(votes, Some(&skills))
                .chunks(votes.n_classes)
                .map(argmax)
                .collect();
            let acc = agreement(votes, &labels);
            for (s, a) in skills.iter_mut().zip(acc) {
                *s += lr * (a - *s);
            }
        }
        Ok(skills)
    }
}

impl Aggregator for ZeroBasedSkill {
    fn name(&self) -> &'static str {
        "zero-based-skill"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let skills = self.skills(votes)?;
        Ok(weighted_vote(votes, &skills))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> QuestionVotes {
        // g0: v0 -> 0, v1 -> 0, v2 -> 1; g1: v0 -> 1, v1 -> 1, v2 -> 0; g2: v1 -> 0, v2 -> 1.
        QuestionVotes::new(
            2,
            3,
            3,
            vec![0, 0, 0, 1, 1, 1, 2, 2],
            vec![0, 1, 2, 0, 1, 2, 1, 2],
            vec![0, 0, 1, 1, 1, 0, 0, 1],
        )
        .unwrap()
    }

    #[test]
    fn hand_computed_skills_and_schedule() {
        // Round 1 (lr 0.5): equal skills, labels g0 -> 0, g1 -> 1, g2 tie -> 0, so agreement
        // v0 = 2/2, v1 = 3/3, v2 = 0/3, and s1 = s0 + 0.5 (acc - s0) with s0 = 0.5 + 1e-5.
        // Round 2 is divisible by lr_steps_to_reduce = 2: lr 0.25; labels unchanged (v2 now
        // weighs less), so s2 = s1 + 0.25 (acc - s1), s3 = s2 + 0.25 (acc - s2).
        let z = ZeroBasedSkill {
            n_iter: 3,
            lr_init: 0.5,
            lr_steps_to_reduce: 2,
            ..ZeroBasedSkill::default()
        };
        let s0 = 0.5 + 1e-5;
        let step = |acc: f64| {
            let s1 = s0 + 0.5 * (acc - s0);
            let s2 = s1 + 0.25 * (acc - s1);
            s2 + 0.25 * (acc - s2)
        };
        let (good, bad) = (step(1.0), step(0.0));
        assert!((good - 0.859_377_812_5).abs() < 1e-12 && (bad - 0.140_627_812_5).abs() < 1e-12);
        let v = tiny();
        let skills = z.skills(&v).unwrap();
        for (got, want) in skills.iter().zip([good, good, bad]) {
            assert!((got - want).abs() < 1e-12, "{skills:?}");
        }
        let a = z.aggregate(&v).unwrap();
        // g0: class 0 from v0 + v1, class 1 from v2; g2: class 0 from v1, class 1 from v2.
        let g0 = [2.0 * good / (2.0 * good + bad), bad / (2.0 * good + bad)];
        let g2 = [good / (good + bad), bad / (good + bad)];
        for (got, want) in a.row(0).iter().chain(a.row(2)).zip(g0.iter().chain(&g2)) {
            assert!((got - want).abs() < 1e-12, "{:?}", a.probs);
        }
        assert_eq!(a.labels, vec![0, 1, 0]);
    }

    #[test]
    fn defaults_converge_to_agreement_and_reject_bad_input() {
        // With lr 1 the first round sets skills to the agreement, which is then a fixed point.
        let skills = ZeroBasedSkill::default().skills(&tiny()).unwrap();
        assert_eq!(skills, vec![1.0, 1.0, 0.0]);
        let empty = QuestionVotes::new(2, 1, 1, vec![], vec![], vec![]).unwrap();
        assert!(
            ZeroBasedSkill::default()
                .aggregate(&empty)
                .unwrap_err()
                .to_string()
                .contains("no votes")
        );
        let bad = ZeroBasedSkill {
            lr_steps_to_reduce: 0,
            ..ZeroBasedSkill::default()
        };
        assert!(bad.skills(&tiny()).is_err());
    }
}
