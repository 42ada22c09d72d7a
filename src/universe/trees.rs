//! The universe's true answers and vote probabilities expressed in a real Galaxy Zoo decision
//! tree ([`Tree::gz2`] or [`Tree::decals`]): per-question chosen answers (for the tree's own
//! consistency check) and per-answer vote fractions (Kaggle-style targets, simulated counts).
//!
//! The universe asks its questions in DECaLS form ([`Question`]); each tree question is linked to
//! one universe question with an answer map (many universe answers may fold into one tree answer,
//! e.g. GZ2 Q3 "bar? yes" = DECaLS "strong" + "weak"). Two GZ2 rules need the galaxy itself:
//! Q6 "anything odd" is asked of everyone (Kaggle convention), so an artifact answers "no"; and
//! GZ2 Q8 has a "merger" answer, which is what a true merger's "disturbed" odd feature becomes.
//!
//! Vote fractions for a question the true path does not reach (a volunteer who wrongly answered
//! "featured" for a smooth galaxy still answers the featured branch) are uniform over its answers:
//! those volunteers have nothing to see. Weighted targets multiply them by the small probability
//! of reaching the question.

use super::answers::{Merging, Question, TrueAnswers, VoteProbabilities};
use crate::tree::Tree;

/// `(tree question, universe question, [(universe answer, tree answer)])`; an empty answer list
/// means the answers correspond by name.
type Link = (
    &'static str,
    Question,
    &'static [(&'static str, &'static str)],
);

const DECALS_LINKS: &[Link] = &[
    ("smooth-or-featured", Question::SmoothOrFeatured, &[]),
    ("how-rounded", Question::HowRounded, &[]),
    ("disk-edge-on", Question::DiskEdgeOn, &[]),
    ("edge-on-bulge", Question::EdgeOnBulge, &[]),
    ("bar", Question::Bar, &[]),
    ("has-spiral-arms", Question::HasSpiralArms, &[]),
    ("spiral-winding", Question::SpiralWinding, &[]),
    ("spiral-arm-count", Question::SpiralArmCount, &[]),
    ("bulge-size", Question::BulgeSize, &[]),
    ("merging", Question::Merging, &[]),
];

const GZ2_LINKS: &[Link] = &[
    (
        "smooth-or-featured",
        Question::SmoothOrFeatured,
        &[
            ("smooth", "smooth"),
            ("featured-or-disk", "features-or-disk"),
            ("artifact", "star-or-artifact"),
        ],
    ),
    ("disk-edge-on", Question::DiskEdgeOn, &[]),
    (
        "bar",
        Question::Bar,
        &[("strong", "yes"), ("weak", "yes"), ("no", "no")],
    ),
    ("has-spiral-arms", Question::HasSpiralArms, &[]),
    (
        "bulge-size",
        Question::BulgeSize,
        &[
            ("none", "no-bulge"),
            ("small", "just-noticeable"),
            ("moderate", "obvious"),
            ("large", "obvious"),
            ("dominant", "dominant"),
        ],
    ),
    ("something-odd", Question::AnythingOdd, &[]),
    (
        "how-rounded",
        Question::HowRounded,
        &[
            ("round", "completely-round"),
            ("in-between", "in-between"),
            ("cigar-shaped", "cigar-shaped"),
        ],
    ),
    ("odd-feature", Question::OddFeature, &[]),
    (
        "bulge-shape",
        Question::EdgeOnBulge,
        &[
            ("rounded", "rounded"),
            ("boxy", "boxy"),
            ("none", "no-bulge"),
        ],
    ),
    ("spiral-winding", Question::SpiralWinding, &[]),
    ("spiral-arm-count", Question::SpiralArmCount, &[]),
];

/// Errors when a tree has a question the universe cannot answer.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TreeLinkError {
    #[error(
        "tree `{tree}` is not linked to the synthetic universe; expected `gz2` or `decals-dr5`"
    )]
    UnknownTree { tree: String },
    #[error("tree `{tree}`: question `{question}` answer `{answer}` has no universe counterpart")]
    Answer {
        tree: String,
        question: String,
        answer: String,
    },
}

/// For each tree question: the universe question and, per universe answer, the tree answer index.
pub struct TreeLink {
    questions: Vec<(Question, Vec<usize>)>,
    gz2: bool,
}

impl TreeLink {
    /// Link `tree` (GZ2 or GZ DECaLS DR5) to the universe's questions.
    pub fn new(tree: &Tree) -> Result<TreeLink, TreeLinkError> {
        let (links, gz2) = match tree.name() {
            "gz2" => (GZ2_LINKS, true),
            "decals-dr5" => (DECALS_LINKS, false),
            other => {
                return Err(TreeLinkError::UnknownTree { tree: other.into() });
            }
        };
        let mut questions = Vec::new();
        for tq in tree.questions() {
            let Some((_, uq, pairs)) = links.iter().find(|l| l.0 == tq.name) else {
                return Err(TreeLinkError::UnknownTree {
                    tree: tree.name().into(),
                });
            };
            let map = uq
                .answers()
                .iter()
                .map(|ua| {
                    let target = pairs.iter().find(|p| p.0 == *ua).map_or(*ua, |p| p.1);
                    tq.answers.iter().position(|a| a == target).ok_or_else(|| {
                        TreeLinkError::Answer {
                            tree: tree.name().into(),
                            question: tq.name.clone(),
                            answer: ua.to_string(),
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            questions.push((*uq, map));
        }
        Ok(TreeLink { questions, gz2 })
    }

    /// The true answer to each tree question (`None` where the true path does not reach it).
    pub fn answers(&self, a: &TrueAnswers) -> Vec<Option<usize>> {
        let merger = a.merging == Some(Merging::Merger);
        self.questions
            .iter()
            .map(|(uq, map)| match a.get(*uq) {
                Some(i) => Some(self.remap(merger, *uq, map, i)),
                None if self.gz2 && *uq == Question::AnythingOdd => Some(1),
                None => None,
            })
            .collect()
    }

    /// Per-answer vote fractions in tree column order (each question's entries sum to 1).
    pub fn fractions(&self, a: &TrueAnswers, p: &VoteProbabilities) -> Vec<f64> {
        let merger = a.merging == Some(Merging::Merger);
        let mut out = Vec::new();
        for (uq, map) in &self.questions {
            let k = map.iter().max().map_or(0, |m| m + 1);
            let start = out.len();
            out.resize(start + k, 0.0);
            match p.get(*uq) {
                Some(probs) => {
                    for (i, &pr) in probs.iter().enumerate() {
                        out[start + self.remap(merger, *uq, map, i)] += pr as f64;
                    }
                }
                None if self.gz2 && *uq == Question::AnythingOdd => out[start + 1] = 1.0,
                None => out[start..].iter_mut().for_each(|v| *v = 1.0 / k as f64),
            }
        }
        out
    }

    /// The tree answer for universe answer `i` of `uq`; `merger`: the galaxy is a true merger.
    fn remap(&self, merger: bool, uq: Question, map: &[usize], i: usize) -> usize {
        if self.gz2 && uq == Question::OddFeature && merger && uq.answers()[i] == "disturbed" {
            return GZ2_MERGER_ANSWER;
        }
        map[i]
    }
}

/// Index of "merger" among GZ2 Q8's answers.
const GZ2_MERGER_ANSWER: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::{PopulationConfig, sample_population};

    #[test]
    fn true_answers_obey_both_trees_and_fractions_sum_to_one() {
        let pop = sample_population(11, 3000, &PopulationConfig::default());
        for tree in [Tree::gz2(), Tree::decals()] {
            let link = TreeLink::new(&tree).unwrap();
            let slices = tree.question_slices();
            for g in &pop {
                let a = TrueAnswers::from_galaxy(g);
                let chosen = link.answers(&a);
                assert!(
                    tree.true_answers_consistent(&chosen),
                    "{} galaxy {}: {chosen:?}",
                    tree.name(),
                    g.id
                );
                let f = link.fractions(&a, &VoteProbabilities::from_answers(&a, g.difficulty));
                assert_eq!(f.len(), tree.n_answers());
                for s in &slices {
                    let sum: f64 = f[s.clone()].iter().sum();
                    assert!((sum - 1.0).abs() < 1e-5, "{sum}");
                }
                // the true answer gets the largest share of its question's votes
                for (qi, c) in chosen.iter().enumerate() {
                    if let Some(c) = c {
                        let s = &f[slices[qi].clone()];
                        let best = s.iter().cloned().fold(0.0, f64::max);
                        assert_eq!(s[*c], best, "{} q{qi} galaxy {}", tree.name(), g.id);
                    }
                }
            }
        }
    }

    #[test]
    fn gz2_merger_and_bar_fold_as_documented() {
        let pop = sample_population(5, 4000, &PopulationConfig::default());
        let tree = Tree::gz2();
        let link = TreeLink::new(&tree).unwrap();
        let merger = pop
            .iter()
            .find(|g| TrueAnswers::from_galaxy(g).merging == Some(Merging::Merger))
            .expect("population has mergers");
        let chosen = link.answers(&TrueAnswers::from_galaxy(merger));
        assert_eq!(chosen[7], Some(GZ2_MERGER_ANSWER));
        assert_eq!(tree.questions()[7].answers[GZ2_MERGER_ANSWER], "merger");
        let weak = pop
            .iter()
            .map(TrueAnswers::from_galaxy)
            .find(|a| a.bar == Some(crate::universe::BarStrength::Weak))
            .expect("population has weak bars");
        let chosen = link.answers(&weak);
        assert_eq!(chosen[2], Some(0), "weak bar is GZ2 `bar: yes`");
    }
}
