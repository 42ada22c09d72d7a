//! `vote-fraction`: the raw Galaxy Zoo vote fractions as probabilities (labels = most voted
//! answer). Identical numbers to `majority-vote`; kept separate because experiments treat the
//! fractions as soft targets rather than as a hard label.

use super::majority_vote::weighted_fractions;
use super::{Aggregate, Aggregator, CrowdError, QuestionVotes};

/// Raw vote fractions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VoteFraction;

impl Aggregator for VoteFraction {
    fn name(&self) -> &'static str {
        "vote-fraction"
    }

    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError> {
        Ok(Aggregate::from_probs(
            votes,
            weighted_fractions(votes, None),
        ))
    }
}
