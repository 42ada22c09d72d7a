//! `Tree::decals()`: the Galaxy Zoo DECaLS DR5 decision tree, with question and answer
//! names and order exactly as the count columns of the real vote table
//! (`gz-decals-votes/decals_votes_1618.csv`, columns `<question>_<answer>`).
//!
//! Dependencies are zoobot's `decals_ortho_dependencies` (dr5 entries, in
//! `label_metadata.py`) with one correction forced by the data: zoobot lists
//! `merging: None`, but in the vote table `merging_total-votes` equals smooth +
//! featured-or-disk votes in 1,579 of 1,618 rows and never exceeds it (it is *not*
//! asked after `artifact`), so `merging` requires smooth OR featured-or-disk.
//!
//! | question | reached via |
//! |---|---|
//! | smooth-or-featured | everyone |
//! | how-rounded | smooth-or-featured_smooth |
//! | disk-edge-on | smooth-or-featured_featured-or-disk |
//! | edge-on-bulge | disk-edge-on_yes |
//! | bar, has-spiral-arms, bulge-size | disk-edge-on_no |
//! | spiral-winding, spiral-arm-count | has-spiral-arms_yes |
//! | merging | smooth-or-featured_smooth or _featured-or-disk |
//!
//! `merging` keeps all seven answers of the CSV: the DR5 campaign changed the question
//! part-way (`tidal-debris-v1`, `both-v1`, `neither-v1` are the old answers) and the
//! table's `merging_total-votes` counts both versions together.

use super::{AnswerRef, ColumnStyle, Question, Tree};

/// (name, answers, required answers as `(question name, answer name)`).
type Spec = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const DECALS: [Spec; 10] = [
    (
        "smooth-or-featured",
        &["smooth", "featured-or-disk", "artifact"],
        &[],
    ),
    (
        "how-rounded",
        &["round", "in-between", "cigar-shaped"],
        &[("smooth-or-featured", "smooth")],
    ),
    (
        "disk-edge-on",
        &["yes", "no"],
        &[("smooth-or-featured", "featured-or-disk")],
    ),
    (
        "edge-on-bulge",
        &["rounded", "boxy", "none"],
        &[("disk-edge-on", "yes")],
    ),
    ("bar", &["strong", "weak", "no"], &[("disk-edge-on", "no")]),
    ("has-spiral-arms", &["yes", "no"], &[("disk-edge-on", "no")]),
    (
        "spiral-winding",
        &["tight", "medium", "loose"],
        &[("has-spiral-arms", "yes")],
    ),
    (
        "spiral-arm-count",
        &["1", "2", "3", "4", "more-than-4", "cant-tell"],
        &[("has-spiral-arms", "yes")],
    ),
    (
        "bulge-size",
        &["none", "small", "moderate", "large", "dominant"],
        &[("disk-edge-on", "no")],
    ),
    (
        "merging",
        &[
            "merger",
            "tidal-debris-v1",
            "both-v1",
            "neither-v1",
            "major-disturbance",
            "minor-disturbance",
            "none",
        ],
        &[
            ("smooth-or-featured", "smooth"),
            ("smooth-or-featured", "featured-or-disk"),
        ],
    ),
];

impl Tree {
    /// The GZ DECaLS DR5 tree, named and ordered as the `decals_votes_1618.csv` columns.
    pub fn decals() -> Tree {
        let find = |q: &str, a: &str| {
            let question = DECALS
                .iter()
                .position(|s| s.0 == q)
                .expect("known question");
            let answer = DECALS[question].1.iter().position(|&x| x == a);
            AnswerRef {
                question,
                answer: answer.expect("known answer"),
            }
        };
        let questions = DECALS
            .iter()
            .map(|(name, answers, requires)| Question {
                name: name.to_string(),
                answers: answers.iter().map(|a| a.to_string()).collect(),
                requires: requires.iter().map(|(q, a)| find(q, a)).collect(),
            })
            .collect();
        Tree::new("decals-dr5", ColumnStyle::QuestionAnswer, questions)
            .expect("built-in DECaLS tree is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared_data::require_or_skip;

    /// `(question, [answers])` from a vote-table header: every `<q>_<a>` column that has
    /// a matching `<q>_total-votes` column, excluding derived columns.
    fn questions_in_header(header: &[String]) -> Vec<(String, Vec<String>)> {
        let derived = [
            "_fraction",
            "_min",
            "_max",
            "_prediction",
            "_prediction-conf",
        ];
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for col in header {
            let Some((q, a)) = col.split_once('_') else {
                continue;
            };
            let col_derived = derived.iter().any(|d| col.ends_with(d));
            if col_derived || a == "total-votes" || a == "prediction-encoded" {
                continue;
            }
            if !header.contains(&format!("{q}_total-votes")) {
                continue;
            }
            match out.iter_mut().find(|(name, _)| name == q) {
                Some((_, answers)) => answers.push(a.to_string()),
                None => out.push((q.to_string(), vec![a.to_string()])),
            }
        }
        out
    }

    #[test]
    fn decals_names_match_real_csv_header() {
        let Some(path) = require_or_skip("gz-decals-votes/decals_votes_1618.csv") else {
            return;
        };
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let from_csv = questions_in_header(&header);
        let t = Tree::decals();
        let ours: Vec<(String, Vec<String>)> = t
            .questions()
            .iter()
            .map(|q| (q.name.clone(), q.answers.clone()))
            .collect();
        assert_eq!(ours, from_csv);
        // The count columns are the first columns after the id, in tree order.
        assert_eq!(header[1..=t.n_answers()], t.answer_columns()[..]);
        for qi in 0..t.n_questions() {
            assert!(header.contains(&t.total_column(qi).unwrap()));
        }
    }

    #[test]
    fn decals_dependencies() {
        let t = Tree::decals();
        assert_eq!(t.n_questions(), 10);
        assert_eq!(t.n_answers(), 3 + 3 + 2 + 3 + 3 + 2 + 3 + 6 + 5 + 7);
        let label = |name: &str| t.requires_label(t.question_index(name).unwrap());
        assert_eq!(label("smooth-or-featured"), "(everyone)");
        assert_eq!(label("how-rounded"), "smooth-or-featured_smooth");
        assert_eq!(label("disk-edge-on"), "smooth-or-featured_featured-or-disk");
        assert_eq!(label("edge-on-bulge"), "disk-edge-on_yes");
        for q in ["bar", "has-spiral-arms", "bulge-size"] {
            assert_eq!(label(q), "disk-edge-on_no");
        }
        for q in ["spiral-winding", "spiral-arm-count"] {
            assert_eq!(label(q), "has-spiral-arms_yes");
        }
        assert_eq!(
            label("merging"),
            "smooth-or-featured_smooth | smooth-or-featured_featured-or-disk"
        );
    }
}
