//! `Tree::gz2()`: the Galaxy Zoo 2 decision tree in Kaggle Galaxy Challenge order
//! (11 questions, 37 answers, columns `Class1.1` .. `Class11.6`).
//!
//! Dependencies follow the Kaggle weighting as implemented by the winning solution
//! (benanne/kaggle-galaxies: `check_label_constraints.py` sums and the output-layer
//! `scaling_sequence` — "I: rescale Q2 by A1.2, II: Q3, Q4, Q5 by A2.2, III: Q7 by A1.1,
//! IV: Q8 by A6.1, V: Q9 by A2.1, VI: Q10, Q11 by A4.1", with Q1 and Q6 summing to 1):
//!
//! | question | reached via |
//! |---|---|
//! | Q1 smooth / features / star | everyone |
//! | Q2 edge-on | A1.2 |
//! | Q3 bar, Q4 spiral, Q5 bulge prominence | A2.2 |
//! | Q6 anything odd | everyone (Kaggle: 6.1 + 6.2 = 1) |
//! | Q7 how rounded | A1.1 |
//! | Q8 odd feature | A6.1 |
//! | Q9 bulge shape | A2.1 |
//! | Q10 arm winding, Q11 arm count | A4.1 |
//!
//! In the GZ2 interface Q5 follows both answers of Q4 and Q11 follows Q10, but Q4 and
//! Q10 are themselves reached only via A2.2 and A4.1, so the reach condition is the same;
//! using the root answer also matches Kaggle's weights when the intermediate question
//! has no votes. The GZ2 site skipped Q6 after A1.3 (star/artifact), but Kaggle's
//! published targets treat Q6 as asked of everyone, so that is what `weighted_targets`
//! reproduces.

use super::{AnswerRef, ColumnStyle, Question, Tree};

/// (name, answers, required answers as 1-based Kaggle `(question, answer)` pairs).
type Spec = (
    &'static str,
    &'static [&'static str],
    &'static [(usize, usize)],
);

const GZ2: [Spec; 11] = [
    (
        "smooth-or-featured",
        &["smooth", "features-or-disk", "star-or-artifact"],
        &[],
    ),
    ("disk-edge-on", &["yes", "no"], &[(1, 2)]),
    ("bar", &["yes", "no"], &[(2, 2)]),
    ("has-spiral-arms", &["yes", "no"], &[(2, 2)]),
    (
        "bulge-size",
        &["no-bulge", "just-noticeable", "obvious", "dominant"],
        &[(2, 2)],
    ),
    ("something-odd", &["yes", "no"], &[]),
    (
        "how-rounded",
        &["completely-round", "in-between", "cigar-shaped"],
        &[(1, 1)],
    ),
    (
        "odd-feature",
        &[
            "ring",
            "lens-or-arc",
            "disturbed",
            "irregular",
            "other",
            "merger",
            "dust-lane",
        ],
        &[(6, 1)],
    ),
    ("bulge-shape", &["rounded", "boxy", "no-bulge"], &[(2, 1)]),
    ("spiral-winding", &["tight", "medium", "loose"], &[(4, 1)]),
    (
        "spiral-arm-count",
        &["1", "2", "3", "4", "more-than-4", "cant-tell"],
        &[(4, 1)],
    ),
];

impl Tree {
    /// The Galaxy Zoo 2 tree in Kaggle Galaxy Challenge column order (`Class1.1`..).
    pub fn gz2() -> Tree {
        let questions = GZ2
            .iter()
            .map(|(name, answers, requires)| Question {
                name: name.to_string(),
                answers: answers.iter().map(|a| a.to_string()).collect(),
                requires: requires
                    .iter()
                    .map(|&(q, a)| AnswerRef {
                        question: q - 1,
                        answer: a - 1,
                    })
                    .collect(),
            })
            .collect();
        Tree::new("gz2", ColumnStyle::Kaggle, questions).expect("built-in GZ2 tree is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gz2_has_kaggle_shape_and_order() {
        let t = Tree::gz2();
        assert_eq!(t.n_questions(), 11);
        assert_eq!(t.n_answers(), 37);
        let per_q: Vec<usize> = t.questions().iter().map(|q| q.answers.len()).collect();
        assert_eq!(per_q, [3, 2, 2, 2, 4, 2, 3, 7, 3, 3, 6]);
        let expected: Vec<String> = per_q
            .iter()
            .enumerate()
            .flat_map(|(q, &n)| (1..=n).map(move |a| format!("Class{}.{a}", q + 1)))
            .collect();
        assert_eq!(t.answer_columns(), expected);
        assert_eq!(t.answer_columns()[0], "Class1.1");
        assert_eq!(t.answer_columns()[36], "Class11.6");
        // Dieleman's question_slices.
        let slices = [
            0..3,
            3..5,
            5..7,
            7..9,
            9..13,
            13..15,
            15..18,
            18..25,
            25..28,
        ];
        assert_eq!(t.question_slices()[..9], slices);
        assert_eq!(t.question_slices()[9..], [28..31, 31..37]);
    }

    #[test]
    fn gz2_dependencies_match_dieleman_scaling_sequence() {
        let t = Tree::gz2();
        // (question slice, flat index of the scaling answer), from kaggle-galaxies.
        let seq = [
            (3..5, 1),
            (5..13, 4),
            (15..18, 0),
            (18..25, 13),
            (25..28, 3),
        ];
        let slices = t.question_slices();
        for (range, scale) in seq.into_iter().chain([(28..37, 7)]) {
            for (qi, s) in slices.iter().enumerate() {
                if s.start >= range.start && s.end <= range.end {
                    let req = &t.questions()[qi].requires;
                    assert_eq!(req.len(), 1, "Q{}", qi + 1);
                    assert_eq!(t.flat_index(req[0]), scale, "Q{}", qi + 1);
                }
            }
        }
        assert!(t.questions()[0].requires.is_empty());
        assert!(t.questions()[5].requires.is_empty());
        assert_eq!(t.parent_of(4), Some(1));
        assert_eq!(t.parent_of(10), Some(3));
        assert_eq!(t.requires_label(7), "Class6.1");
    }
}
