//! `TreeError`: every failure of this module (invalid tree definitions, malformed vote
//! vectors, vote counts that break the decision tree). Each message says what went wrong,
//! where (tree, question or column), and what was expected.

/// Errors from building trees and checking votes.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A tree definition breaks an invariant (see [`super::Tree::new`]).
    #[error("invalid tree `{tree}`, question `{question}`: {reason}")]
    InvalidTree {
        tree: String,
        question: String,
        reason: String,
    },

    /// A per-answer or per-question vector has the wrong length for the tree.
    #[error("{what}: got {found} values, expected {expected} (one per {per} of tree `{tree}`)")]
    Length {
        what: &'static str,
        tree: String,
        per: &'static str,
        expected: usize,
        found: usize,
    },

    /// A vote count is negative, NaN or infinite.
    #[error("column `{column}`: vote count {value} {problem}; expected a finite count >= 0")]
    BadCount {
        column: String,
        value: f64,
        problem: &'static str,
    },

    /// A question received more votes than the answers that lead to it.
    #[error(
        "question `{question}` has {total} votes but the answer(s) leading to it ({parents}) \
         received only {parent_votes}; expected total <= {parent_votes}"
    )]
    Dependency {
        question: String,
        total: f64,
        parents: String,
        parent_votes: f64,
    },
}
