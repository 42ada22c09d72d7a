//! `majority-vote`: the label with most votes (ties to the lowest class index, as crowd-kit's
//! `MajorityVote`, whose `idxmax` picks the first of the sorted label columns); probabilities are
//! the (optionally weighted) vote fractions. Also hosts the weighted vote used by Wawa and GZ2.

use rayon::prelude::*;

use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// Plain majority vote.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MajorityVote;

impl Aggregator for MajorityVote {
    fn name(&self) -> &'static str {
        "majority-vote"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        Ok(Aggregate::from_probs(
            votes,
            weighted_fractions(votes, None),
        ))
    }
}

/// The weighted vote: probabilities = vote fractions with each vote weighted by its volunteer's
/// weight, labels their argmax (the last step of Wawa, GZ2 weighting, ZeroBasedSkill and gold
/// majority vote).
pub(crate) fn weighted_vote(votes: &QuestionVotes, weights: &[f64]) -> Aggregate {
    Aggregate::from_probs(votes, weighted_fractions(votes, Some(weights)))
}

/// Per-galaxy vote fractions, each vote weighted by `weights[volunteer]` (1 when `None`).
/// A galaxy whose weights sum to zero gets the uniform distribution.
pub(crate) fn weighted_fractions(votes: &QuestionVotes, weights: Option<&[f64]>) -> Vec<f64> {
    let k = votes.n_classes;
    let mut out = vec![0.0; votes.n_galaxies * k];
    out.par_chunks_mut(k).enumerate().for_each(|(g, row)| {
        for &i in votes.by_galaxy.row(g) {
            let i = i as usize;
            let w = weights.map_or(1.0, |w| w[votes.volunteer[i] as usize]);
            row[votes.answer[i] as usize] += w;
        }
        let s: f64 = row.iter().sum();
        if s > 0.0 {
            row.iter_mut().for_each(|x| *x /= s);
        } else {
            row.iter_mut().for_each(|x| *x = 1.0 / k as f64);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_majority() {
        // galaxy 0: answers 1,1,0 -> label 1; galaxy 1: 0,2 tie -> lowest index 0.
        let v = QuestionVotes::new(
            3,
            2,
            3,
            vec![0, 0, 0, 1, 1],
            vec![0, 1, 2, 0, 1],
            vec![1, 1, 0, 0, 2],
        )
        .unwrap();
        let a = MajorityVote.aggregate(&v).unwrap();
        assert_eq!(a.labels, vec![1, 0]);
        assert_eq!(a.row(0), &[1.0 / 3.0, 2.0 / 3.0, 0.0]);
        assert_eq!(a.row(1), &[0.5, 0.0, 0.5]);
        assert_eq!(a.clicks_used, vec![3, 2]);
    }
}
