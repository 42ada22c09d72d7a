//! Vote arithmetic on a [`Tree`]: per-question vote fractions, Kaggle-style weighted
//! targets (fraction x probability of reaching the question), vote-count checks against
//! the tree, consistency of a per-question "true answer" path, and simulated vote counts.
//!
//! Simulated votes ([`Tree::vote_counts`]) follow the tree the way volunteers do: `votes`
//! volunteers answer the first question, each later question is answered by exactly the
//! volunteers whose answer led to it, and each question's votes are a multinomial draw from
//! the galaxy's true vote probabilities.
//!
//! Vote rule used by [`Tree::check_votes`]: every count is finite and >= 0, and a
//! question reached via answers can have *at most* as many votes as those answers
//! received in total (`child_total <= sum(parent answer counts) + VOTE_TOLERANCE`).
//! Fewer is allowed: volunteers can leave a classification part-way. On the real DECaLS
//! DR5 table (1,618 rows) this rule finds no violations.

use super::{Tree, TreeError};
use rand::Rng;

/// Absolute slack when comparing vote totals (counts are whole numbers stored as `f64`;
/// this only absorbs rounding when counts have been rescaled).
pub const VOTE_TOLERANCE: f64 = 1e-9;

impl Tree {
    fn assert_answers_len(&self, v: &[f64], what: &str) {
        assert_eq!(
            v.len(),
            self.n_answers(),
            "{what}: expected one value per answer of tree `{}`",
            self.name()
        );
    }

    /// Simulated vote counts of one galaxy over the answers of this tree (column order):
    /// `votes` volunteers answer the first question, drawing each answer from `fractions`
    /// (true vote probabilities, one per answer) with `rng`.
    pub fn vote_counts(&self, fractions: &[f64], votes: usize, rng: &mut impl Rng) -> Vec<f32> {
        let slices = self.question_slices();
        let mut counts = vec![0f32; self.n_answers()];
        for (qi, q) in self.questions().iter().enumerate() {
            let n = if q.requires.is_empty() {
                votes
            } else {
                q.requires
                    .iter()
                    .map(|&r| counts[self.flat_index(r)] as usize)
                    .sum()
            };
            let s = slices[qi].clone();
            for _ in 0..n {
                let mut u: f64 = rng.random();
                let mut pick = s.end - 1;
                for i in s.clone() {
                    if u < fractions[i] {
                        pick = i;
                        break;
                    }
                    u -= fractions[i];
                }
                counts[pick] += 1.0;
            }
        }
        counts
    }

    /// Per-question vote fractions: `count / question total`; a question with no votes
    /// gets all-zero fractions. Panics if `counts.len() != n_answers()`.
    pub fn fractions(&self, counts: &[f64]) -> Vec<f64> {
        self.assert_answers_len(counts, "fractions");
        let mut out = vec![0.0; counts.len()];
        for s in self.question_slices() {
            let total: f64 = counts[s.clone()].iter().sum();
            if total > 0.0 {
                for i in s {
                    out[i] = counts[i] / total;
                }
            }
        }
        out
    }

    /// Probability of reaching each question given per-question fractions: 1 for
    /// questions asked of everyone, else the parent's reach probability times the summed
    /// fractions of the required answers. Panics on a length mismatch.
    pub fn reach_probabilities(&self, fractions: &[f64]) -> Vec<f64> {
        self.assert_answers_len(fractions, "reach_probabilities");
        let mut reach = vec![1.0; self.n_questions()];
        for (qi, q) in self.questions().iter().enumerate() {
            if let Some(parent) = self.parent_of(qi) {
                let f: f64 = q
                    .requires
                    .iter()
                    .map(|&r| fractions[self.flat_index(r)])
                    .sum();
                // Parents are earlier questions, so reach[parent] is final.
                reach[qi] = reach[parent] * f;
            }
        }
        reach
    }

    /// Kaggle weighting: each answer's fraction times the probability of reaching its
    /// question (product of the required-answer fractions along the path). For
    /// [`Tree::gz2`] this reproduces the Galaxy Challenge training targets.
    pub fn weighted_targets(&self, fractions: &[f64]) -> Vec<f64> {
        let reach = self.reach_probabilities(fractions);
        let mut out = fractions.to_vec();
        for (qi, s) in self.question_slices().into_iter().enumerate() {
            for v in &mut out[s] {
                *v *= reach[qi];
            }
        }
        out
    }

    /// Checks one vote-count vector against the tree (rule in the module docs).
    pub fn check_votes(&self, counts: &[f64]) -> Result<(), TreeError> {
        if counts.len() != self.n_answers() {
            return Err(TreeError::Length {
                what: "vote counts",
                tree: self.name().to_string(),
                per: "answer",
                expected: self.n_answers(),
                found: counts.len(),
            });
        }
        for (i, &value) in counts.iter().enumerate() {
            let problem = if value.is_nan() {
                "is NaN"
            } else if value.is_infinite() {
                "is infinite"
            } else if value < 0.0 {
                "is negative"
            } else {
                continue;
            };
            let a = &self.answers()[i];
            return Err(TreeError::BadCount {
                column: a.column.clone(),
                value,
                problem,
            });
        }
        let slices = self.question_slices();
        for (qi, q) in self.questions().iter().enumerate() {
            if q.requires.is_empty() {
                continue;
            }
            let total: f64 = counts[slices[qi].clone()].iter().sum();
            let parent_votes: f64 = q.requires.iter().map(|&r| counts[self.flat_index(r)]).sum();
            if total > parent_votes + VOTE_TOLERANCE {
                return Err(TreeError::Dependency {
                    question: q.name.clone(),
                    total,
                    parents: self.requires_label(qi),
                    parent_votes,
                });
            }
        }
        Ok(())
    }

    /// Whether a per-question chosen answer (`None` = question not reached) follows the
    /// tree: each question has an answer iff it is asked of everyone or one of its
    /// required answers was chosen, and every chosen answer index exists.
    pub fn true_answers_consistent(&self, chosen: &[Option<usize>]) -> bool {
        if chosen.len() != self.n_questions() {
            return false;
        }
        self.questions().iter().zip(chosen).all(|(q, c)| {
            let reached = q.requires.is_empty()
                || q.requires
                    .iter()
                    .any(|r| chosen[r.question] == Some(r.answer));
            match c {
                Some(a) => reached && *a < q.answers.len(),
                None => !reached,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small GZ2 vote vector (counts per Kaggle answer column).
    /// Q1 10/28/2 (40), Q2 7/21 (28), Q3 5/15 (20, one volunteer skipped), Q4 16/4 (20),
    /// Q5 2/8/6/4 (20), Q6 8/32 (40), Q7 5/3/2 (10), Q8 4/0/0/0/0/4/0 (8),
    /// Q9 0/0/0 (0 votes although 7 said edge-on), Q10 4/8/4 (16), Q11 0/12/0/0/0/4 (16).
    const COUNTS: [f64; 37] = [
        10., 28., 2., 7., 21., 5., 15., 16., 4., 2., 8., 6., 4., 8., 32., 5., 3., 2., 4., 0., 0.,
        0., 0., 4., 0., 0., 0., 0., 4., 8., 4., 0., 12., 0., 0., 0., 4.,
    ];

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < 1e-12, "index {i}: {x} vs {y}");
        }
    }

    #[test]
    fn gz2_fractions_and_weighted_targets_by_hand() {
        let t = Tree::gz2();
        let f = t.fractions(&COUNTS);
        // Fractions: count / question total; Q9 has 0 votes -> all 0.
        #[rustfmt::skip]
        let expect_f = [
            0.25, 0.7, 0.05,          0.25, 0.75,   0.25, 0.75,   0.8, 0.2,
            0.1, 0.4, 0.3, 0.2,       0.2, 0.8,     0.5, 0.3, 0.2,
            0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0,      0.0, 0.0, 0.0,
            0.25, 0.5, 0.25,          0.0, 0.75, 0.0, 0.0, 0.0, 0.25,
        ];
        close(&f, &expect_f);
        // Reach: p1 = 1; p2 = f1.2 = 0.7; p3 = p4 = p5 = p2 * f2.2 = 0.7 * 0.75 = 0.525;
        // p6 = 1 (Kaggle); p7 = f1.1 = 0.25; p8 = p6 * f6.1 = 0.2; p9 = p2 * f2.1 = 0.175;
        // p10 = p11 = p4 * f4.1 = 0.525 * 0.8 = 0.42.
        let reach = [
            1.0, 0.7, 0.525, 0.525, 0.525, 1.0, 0.25, 0.2, 0.175, 0.42, 0.42,
        ];
        close(&t.reach_probabilities(&f), &reach);
        // Weighted = fraction * reach, e.g. Class3.1 = 0.25 * 0.525 = 0.13125,
        // Class5.3 = 0.3 * 0.525 = 0.1575, Class8.6 = 0.5 * 0.2 = 0.1,
        // Class11.2 = 0.75 * 0.42 = 0.315, Class10.1 = 0.25 * 0.42 = 0.105.
        #[rustfmt::skip]
        let expect_w = [
            0.25, 0.7, 0.05,          0.175, 0.525,   0.13125, 0.39375,   0.42, 0.105,
            0.0525, 0.21, 0.1575, 0.105,              0.2, 0.8,   0.125, 0.075, 0.05,
            0.1, 0.0, 0.0, 0.0, 0.0, 0.1, 0.0,        0.0, 0.0, 0.0,
            0.105, 0.21, 0.105,       0.0, 0.315, 0.0, 0.0, 0.0, 0.105,
        ];
        let w = t.weighted_targets(&f);
        close(&w, &expect_w);
        // Kaggle / Dieleman constraints: Q2 sums to Class1.2, Q3-Q5 to Class2.2,
        // Q7 to Class1.1, Q8 to Class6.1, Q10-Q11 to Class4.1, Q1 and Q6 to 1.
        let sum = |r: std::ops::Range<usize>| w[r].iter().sum::<f64>();
        assert!((sum(3..5) - w[1]).abs() < 1e-12);
        assert!((sum(9..13) - w[4]).abs() < 1e-12);
        assert!((sum(13..15) - 1.0).abs() < 1e-12);
        assert!((sum(31..37) - w[7]).abs() < 1e-12);
    }

    #[test]
    fn check_votes_accepts_valid_and_rejects_bad_counts() {
        let t = Tree::gz2();
        t.check_votes(&COUNTS).unwrap();

        let mut c = COUNTS;
        c[28] += 1.0; // Q10: 17 votes but only 16 said Class4.1
        let e = t.check_votes(&c).unwrap_err().to_string();
        assert!(
            e.contains("`spiral-winding` has 17 votes") && e.contains("Class4.1"),
            "{e}"
        );

        let mut c = COUNTS;
        c[5] = -1.0;
        let e = t.check_votes(&c).unwrap_err().to_string();
        assert!(e.contains("Class3.1") && e.contains("negative"), "{e}");

        let mut c = COUNTS;
        c[0] = f64::NAN;
        assert!(t.check_votes(&c).unwrap_err().to_string().contains("NaN"));
        let e = t.check_votes(&COUNTS[..36]).unwrap_err().to_string();
        assert!(e.contains("got 36 values, expected 37"), "{e}");
    }

    #[test]
    fn decals_merging_reach_is_one_minus_artifact() {
        let t = Tree::decals();
        let mut counts = vec![0.0; t.n_answers()];
        counts[0] = 6.0; // smooth
        counts[1] = 2.0; // featured-or-disk
        counts[2] = 2.0; // artifact
        let m = t.question_index("merging").unwrap();
        let s = t.question_slices()[m].clone();
        counts[s.end - 1] = 8.0; // merging_none from all 8 non-artifact volunteers
        t.check_votes(&counts).unwrap();
        let reach = t.reach_probabilities(&t.fractions(&counts));
        assert!((reach[m] - 0.8).abs() < 1e-12);
        counts[s.end - 1] = 9.0;
        assert!(t.check_votes(&counts).is_err());
    }

    #[test]
    fn true_answers_consistency() {
        let t = Tree::gz2();
        // Features -> not edge-on -> bar -> spiral -> obvious bulge; odd: no;
        // spiral: tight, 2 arms.
        let mut path = vec![None; 11];
        for (q, a) in [
            (0, 1),
            (1, 1),
            (2, 0),
            (3, 0),
            (4, 2),
            (5, 1),
            (9, 0),
            (10, 1),
        ] {
            path[q] = Some(a);
        }
        assert!(t.true_answers_consistent(&path));
        // Answer to an unreached question: Q7 (how rounded) needs Class1.1 (smooth).
        let mut bad = path.clone();
        bad[6] = Some(0);
        assert!(!t.true_answers_consistent(&bad));
        // Reached question left unanswered: Q3 after Class2.2.
        let mut bad = path.clone();
        bad[2] = None;
        assert!(!t.true_answers_consistent(&bad));
        // Out-of-range answer and wrong length.
        let mut bad = path.clone();
        bad[1] = Some(2);
        assert!(!t.true_answers_consistent(&bad));
        assert!(!t.true_answers_consistent(&path[..10]));
        // A smooth galaxy with something odd (a ring).
        let mut smooth = vec![None; 11];
        for (q, a) in [(0, 0), (5, 0), (6, 1), (7, 0)] {
            smooth[q] = Some(a);
        }
        assert!(t.true_answers_consistent(&smooth));
    }
}
