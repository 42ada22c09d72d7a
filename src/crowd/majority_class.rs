//! `majority-class`: a reference, not an aggregation. Every galaxy gets the answer that is most
//! common over all votes of the question, and as probabilities the answer shares over all votes;
//! which galaxy a vote is on is ignored. Its scores are what a label set that ignores the
//! individual galaxies' votes achieves (accuracy = the share of galaxies whose truth is the
//! crowd's most common answer), the floor every real strategy must beat.

use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// The most common answer over all votes, for every galaxy.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MajorityClass;

impl Aggregator for MajorityClass {
    fn name(&self) -> &'static str {
        "majority-class"
    }

    fn is_reference(&self) -> bool {
        true
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        let k = votes.n_classes;
        let mut counts = vec![0.0; k];
        for &a in &votes.answer {
            counts[a as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum();
        let shares: Vec<f64> = if total > 0.0 {
            counts.iter().map(|c| c / total).collect()
        } else {
            vec![1.0 / k as f64; k]
        };
        let probs = (0..votes.n_galaxies).flat_map(|_| shares.clone()).collect();
        Ok(Aggregate::from_probs(votes, probs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_galaxy_gets_the_overall_most_common_answer() {
        // 3 galaxies, 3 answers. Votes: g0: 0, 0; g1: 2, 2; g2: 2, 1, 2. Overall counts
        // (2, 1, 4) of 7: every galaxy is labelled 2 with probabilities (2/7, 1/7, 4/7), although
        // g0's own votes say 0.
        let v = QuestionVotes::new(
            3,
            3,
            4,
            vec![0, 0, 1, 1, 2, 2, 2],
            vec![0, 1, 0, 1, 1, 2, 3],
            vec![0, 0, 2, 2, 2, 1, 2],
        )
        .unwrap();
        let a = MajorityClass.aggregate(&v).unwrap();
        assert_eq!(a.labels, vec![2, 2, 2]);
        for g in 0..3 {
            assert_eq!(a.row(g), &[2.0 / 7.0, 1.0 / 7.0, 4.0 / 7.0]);
        }
        assert_eq!(a.clicks_used, vec![2, 2, 3]);
    }
}
