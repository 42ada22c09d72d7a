//! `TreeError`: every failure of this module (invalid tree definitions, malformed vote
//! vectors, vote counts that break the decision tree, and vote-table loading problems).
//! Each message says what went wrong, where (tree/question, or `file:line` and column),
//! and what was expected.

use std::path::PathBuf;

/// Errors from building trees, checking votes and loading vote tables.
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

    /// The vote file could not be opened.
    #[error("{}: cannot open vote table: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The CSV itself is malformed (e.g. a row with the wrong number of fields).
    #[error("{}:{line}: malformed CSV: {source}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        #[source]
        source: csv::Error,
    },

    /// The first column is not a recognised id column.
    #[error(
        "{}:1: first column is `{found}`; expected an id column named one of {expected}",
        path.display()
    )]
    IdColumn {
        path: PathBuf,
        found: String,
        expected: String,
    },

    /// A count column of the tree is absent from the header.
    #[error(
        "{}:1: missing column `{column}`; expected the header to contain every answer \
         column of tree `{tree}` ({n_columns} columns)",
        path.display()
    )]
    MissingColumn {
        path: PathBuf,
        column: String,
        tree: String,
        n_columns: usize,
    },

    /// A count cell is not a usable vote count.
    #[error(
        "{}:{line}: column `{column}`: value `{value}` {problem}; expected a finite, \
         non-negative vote count",
        path.display()
    )]
    BadCell {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        problem: &'static str,
    },

    /// A row-level check failed; wraps the underlying error with its location.
    #[error("{}:{line} (id `{id}`): {source}", path.display())]
    Row {
        path: PathBuf,
        line: u64,
        id: String,
        #[source]
        source: Box<TreeError>,
    },
}
