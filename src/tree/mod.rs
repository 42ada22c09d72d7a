//! Galaxy Zoo decision trees as data (after zoobot's `schemas.py`).
//!
//! A [`Tree`] is a list of [`Question`]s, each with its answer names and the answer(s)
//! that lead to it. Everything else — the flat answer list, label column names, the
//! per-question index ranges used for softmax / Dirichlet groups, parents — is derived
//! from that one definition and never listed twice.
//!
//! # Dependency model
//! `Question::requires` is an *any-of* list of [`AnswerRef`]s:
//! - empty: the question is asked of everyone (GZ2 Q1 and, in the Kaggle weighting, Q6);
//! - non-empty: the question is reached iff one of the listed answers was chosen.
//!
//! All listed answers must belong to one single, earlier question (checked by
//! [`Tree::new`]). Answers of one question are mutually exclusive, so the probability of
//! reaching a question is the *sum* of the weighted fractions of its required answers,
//! and the parent question ([`Tree::parent_of`]) is well defined. A list (rather than an
//! `Option`) is needed by the real DECaLS DR5 data: `merging` is asked after both
//! `smooth-or-featured_smooth` and `smooth-or-featured_featured-or-disk` but not after
//! `_artifact` (in `decals_votes_1618.csv`, `merging_total-votes` equals smooth +
//! featured-or-disk votes in 1,579 of 1,618 rows and never exceeds it).
//!
//! Sub-modules: [`error`] (`TreeError`), `gz2` (`Tree::gz2`), `decals` (`Tree::decals`),
//! `votes` (fractions, weighted targets, vote checks).

mod decals;
pub mod error;
mod gz2;
mod votes;

use std::ops::Range;

use serde::{Deserialize, Serialize};

pub use error::TreeError;
pub use votes::VOTE_TOLERANCE;

/// One answer of one question, by position: `question` indexes [`Tree::questions`],
/// `answer` indexes that question's `answers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AnswerRef {
    pub question: usize,
    pub answer: usize,
}

/// One question of a decision tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// Question name, e.g. `smooth-or-featured`.
    pub name: String,
    /// Answer names in column order, e.g. `["smooth", "featured-or-disk", "artifact"]`.
    pub answers: Vec<String>,
    /// Any-of: the answers that lead to this question (empty = asked of everyone).
    pub requires: Vec<AnswerRef>,
}

/// How answer columns are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnStyle {
    /// Kaggle Galaxy Challenge: `Class{q}.{a}`, both 1-based (e.g. `Class1.2`).
    Kaggle,
    /// Zooniverse / zoobot: `{question}_{answer}` (e.g. `smooth-or-featured_smooth`),
    /// with the per-question total in `{question}_total-votes`.
    QuestionAnswer,
}

/// A flattened answer: global index plus its position in the tree and its column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub index: usize,
    pub question: usize,
    pub answer: usize,
    pub column: String,
}

/// A validated decision tree. Construct with [`Tree::new`], [`Tree::gz2`] or
/// [`Tree::decals`]; deserialisation validates too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TreeDef")]
pub struct Tree {
    name: String,
    columns: ColumnStyle,
    questions: Vec<Question>,
}

/// Unvalidated serde mirror of [`Tree`].
#[derive(Deserialize)]
struct TreeDef {
    name: String,
    columns: ColumnStyle,
    questions: Vec<Question>,
}

impl TryFrom<TreeDef> for Tree {
    type Error = TreeError;
    fn try_from(d: TreeDef) -> Result<Self, TreeError> {
        Tree::new(d.name, d.columns, d.questions)
    }
}

impl Tree {
    /// Builds a tree, checking: at least one question; unique, non-empty question names;
    /// every question has at least one answer, with unique non-empty names; every
    /// `requires` entry points at an existing answer of an *earlier* question, all
    /// entries of one question point at the same parent question, without duplicates.
    pub fn new(
        name: impl Into<String>,
        columns: ColumnStyle,
        questions: Vec<Question>,
    ) -> Result<Tree, TreeError> {
        let name = name.into();
        let invalid = |question: &str, reason: String| TreeError::InvalidTree {
            tree: name.clone(),
            question: question.to_string(),
            reason,
        };
        if questions.is_empty() {
            return Err(invalid(
                "-",
                "tree has no questions; expected at least one".into(),
            ));
        }
        for (qi, q) in questions.iter().enumerate() {
            if q.name.is_empty() {
                return Err(invalid(&format!("#{qi}"), "empty question name".into()));
            }
            if questions[..qi].iter().any(|p| p.name == q.name) {
                return Err(invalid(&q.name, "duplicate question name".into()));
            }
            if q.answers.is_empty() {
                return Err(invalid(&q.name, "no answers; expected at least one".into()));
            }
            for (ai, a) in q.answers.iter().enumerate() {
                if a.is_empty() || q.answers[..ai].contains(a) {
                    return Err(invalid(
                        &q.name,
                        format!("answer `{a}` empty or duplicated"),
                    ));
                }
            }
            for (ri, r) in q.requires.iter().enumerate() {
                if r.question >= qi {
                    return Err(invalid(
                        &q.name,
                        format!(
                            "requires question #{} which is not earlier; expected a parent \
                             question index < {qi}",
                            r.question
                        ),
                    ));
                }
                let n = questions[r.question].answers.len();
                if r.answer >= n {
                    return Err(invalid(
                        &q.name,
                        format!(
                            "requires answer #{} of `{}` which has only {n} answers",
                            r.answer, questions[r.question].name
                        ),
                    ));
                }
                if r.question != q.requires[0].question || q.requires[..ri].contains(r) {
                    return Err(invalid(
                        &q.name,
                        "requires answers from different questions or duplicates; expected \
                         distinct answers of one parent question"
                            .into(),
                    ));
                }
            }
        }
        Ok(Tree {
            name,
            columns,
            questions,
        })
    }

    /// Tree name, e.g. `gz2` or `decals-dr5`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Column naming style.
    pub fn column_style(&self) -> ColumnStyle {
        self.columns
    }

    /// The questions, in column order.
    pub fn questions(&self) -> &[Question] {
        &self.questions
    }

    /// Number of questions.
    pub fn n_questions(&self) -> usize {
        self.questions.len()
    }

    /// Number of answers over all questions (length of every per-answer vector).
    pub fn n_answers(&self) -> usize {
        self.questions.iter().map(|q| q.answers.len()).sum()
    }

    /// Index of the question with this name.
    pub fn question_index(&self, name: &str) -> Option<usize> {
        self.questions.iter().position(|q| q.name == name)
    }

    /// Flat index range of each question's answers, in question order (for per-question
    /// softmax / Dirichlet-multinomial groups).
    pub fn question_slices(&self) -> Vec<Range<usize>> {
        let mut start = 0;
        self.questions
            .iter()
            .map(|q| {
                let r = start..start + q.answers.len();
                start = r.end;
                r
            })
            .collect()
    }

    /// Flat (global) index of an answer. Panics if `r` is out of range for this tree.
    pub fn flat_index(&self, r: AnswerRef) -> usize {
        let offset: usize = self.questions[..r.question]
            .iter()
            .map(|q| q.answers.len())
            .sum();
        assert!(r.answer < self.questions[r.question].answers.len());
        offset + r.answer
    }

    /// Column name of answer `answer` of question `question`.
    pub fn column_name(&self, question: usize, answer: usize) -> String {
        let q = &self.questions[question];
        match self.columns {
            ColumnStyle::Kaggle => format!("Class{}.{}", question + 1, answer + 1),
            ColumnStyle::QuestionAnswer => format!("{}_{}", q.name, q.answers[answer]),
        }
    }

    /// Per-question total-vote column (`{question}_total-votes`), if the style has one.
    pub fn total_column(&self, question: usize) -> Option<String> {
        match self.columns {
            ColumnStyle::Kaggle => None,
            ColumnStyle::QuestionAnswer => {
                Some(format!("{}_total-votes", self.questions[question].name))
            }
        }
    }

    /// All answers, flattened in column order.
    pub fn answers(&self) -> Vec<Answer> {
        let mut out = Vec::with_capacity(self.n_answers());
        for (qi, q) in self.questions.iter().enumerate() {
            for ai in 0..q.answers.len() {
                out.push(Answer {
                    index: out.len(),
                    question: qi,
                    answer: ai,
                    column: self.column_name(qi, ai),
                });
            }
        }
        out
    }

    /// Answer (label) column names in flat order.
    pub fn answer_columns(&self) -> Vec<String> {
        self.answers().into_iter().map(|a| a.column).collect()
    }

    /// Flat index of the answer with this column name.
    pub fn column_index(&self, column: &str) -> Option<usize> {
        self.answers().iter().position(|a| a.column == column)
    }

    /// The parent question (the question whose answers lead to `question`); `None` for
    /// questions asked of everyone.
    pub fn parent_of(&self, question: usize) -> Option<usize> {
        self.questions[question]
            .requires
            .first()
            .map(|r| r.question)
    }

    /// Human-readable list of the answers leading to `question`, e.g. `Class1.2` or
    /// `smooth-or-featured_smooth | smooth-or-featured_featured-or-disk`.
    pub fn requires_label(&self, question: usize) -> String {
        let names: Vec<String> = self.questions[question]
            .requires
            .iter()
            .map(|r| self.column_name(r.question, r.answer))
            .collect();
        if names.is_empty() {
            "(everyone)".to_string()
        } else {
            names.join(" | ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, answers: &[&str], requires: Vec<AnswerRef>) -> Question {
        Question {
            name: name.into(),
            answers: answers.iter().map(|s| s.to_string()).collect(),
            requires,
        }
    }

    const A: fn(usize, usize) -> AnswerRef = |question, answer| AnswerRef { question, answer };

    #[test]
    fn derived_structure_of_small_tree() {
        let t = Tree::new(
            "toy",
            ColumnStyle::QuestionAnswer,
            vec![
                q("first", &["a", "b", "c"], vec![]),
                q("second", &["y", "n"], vec![A(0, 0), A(0, 1)]),
            ],
        )
        .unwrap();
        assert_eq!(t.n_answers(), 5);
        assert_eq!(t.question_slices(), vec![0..3, 3..5]);
        assert_eq!(t.answer_columns()[3], "second_y");
        assert_eq!(t.flat_index(A(1, 1)), 4);
        assert_eq!(t.column_index("first_c"), Some(2));
        assert_eq!(t.parent_of(0), None);
        assert_eq!(t.parent_of(1), Some(0));
        assert_eq!(t.requires_label(1), "first_a | first_b");
        assert_eq!(t.total_column(1).as_deref(), Some("second_total-votes"));
    }

    #[test]
    fn invalid_trees_are_rejected() {
        let bad = [
            vec![q("x", &[], vec![])],
            vec![q("x", &["a"], vec![A(0, 0)])],
            vec![q("x", &["a", "a"], vec![])],
            vec![q("x", &["a"], vec![]), q("x", &["b"], vec![])],
            vec![q("x", &["a"], vec![]), q("y", &["b"], vec![A(0, 3)])],
            vec![
                q("x", &["a"], vec![]),
                q("y", &["b"], vec![A(0, 0)]),
                q("z", &["c"], vec![A(0, 0), A(1, 0)]),
            ],
        ];
        for qs in bad {
            let err = Tree::new("bad", ColumnStyle::Kaggle, qs).unwrap_err();
            assert!(err.to_string().starts_with("invalid tree `bad`"), "{err}");
        }
    }
}
