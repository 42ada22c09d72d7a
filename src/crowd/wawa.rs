//! `wawa` (Worker Agreement With Aggregate, as crowd-kit's `Wawa`): majority vote, then each
//! volunteer's skill = share of their votes agreeing with the majority label, then a
//! skill-weighted vote. crowd-kit drops duplicate (galaxy, volunteer, answer) rows when scoring
//! skills; our simulated streams never repeat a volunteer on a galaxy, and here duplicates count.

use rayon::prelude::*;

use super::majority_vote::{weighted_fractions, weighted_vote};
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes, argmax};

/// Wawa.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Wawa;

/// Share of each volunteer's votes equal to `labels[galaxy]` (0 for volunteers without votes).
pub(crate) fn agreement(votes: &QuestionVotes, labels: &[u32]) -> Vec<f64> {
    (0..votes.n_volunteers)
        .into_par_iter()
        .map(|v| {
            let row = votes.by_volunteer.row(v);
            if row.is_empty() {
                return 0.0;
            }
            let hits = row
                .iter()
                .filter(|&&i| votes.answer[i as usize] == labels[votes.galaxy[i as usize] as usize])
                .count();
            hits as f64 / row.len() as f64
        })
        .collect()
}

impl Aggregator for Wawa {
    fn name(&self) -> &'static str {
        "wawa"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let mv = weighted_fractions(votes, None);
        let labels: Vec<u32> = mv.chunks(votes.n_classes).map(argmax).collect();
        let skills = agreement(votes, &labels);
        Ok(weighted_vote(votes, &skills))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_wawa() {
        // Majority labels: g0 -> 0 (0,0,1), g1 -> 1 (1,1,0).
        // Skills: v0 voted 0 on g0 (agree), 1 on g1 (agree) -> 1; v1: 0 on g0, 1 on g1 -> 1;
        // v2: 1 on g0 (disagree), 0 on g1 (disagree) -> 0.
        let v = QuestionVotes::new(
            2,
            2,
            3,
            vec![0, 0, 0, 1, 1, 1],
            vec![0, 1, 2, 0, 1, 2],
            vec![0, 0, 1, 1, 1, 0],
        )
        .unwrap();
        let a = Wawa.aggregate(&v).unwrap();
        assert_eq!(a.labels, vec![0, 1]);
        assert_eq!(a.row(0), &[1.0, 0.0]);
        assert_eq!(a.row(1), &[0.0, 1.0]);
    }
}
