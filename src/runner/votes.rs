//! Kind `votes`: statistics of one question of a real vote table (a `data.source: catalog`
//! with `catalog.votes`), for `task.question`: how many galaxies were asked it, how many
//! volunteers answered, and how much they agreed. Reads the table only; no images, no model.
//!
//! Metrics: `galaxies_asked` (galaxies with at least one vote on the question),
//! `asked_fraction` (of all galaxies in the table), `mean_votes` (mean votes per asked
//! galaxy), `agreement` (mean over asked galaxies of the largest answer's vote fraction),
//! `consensus_80` (share of asked galaxies where one answer has at least 80% of the votes) and
//! `entropy` (mean over asked galaxies of the vote fractions' entropy divided by its maximum,
//! `ln(answers)`: 0 = unanimous, 1 = evenly split).

use crate::spec::RunSpec;
use crate::store::Metrics;
use crate::tree::Tree;

pub fn run(spec: &RunSpec) -> anyhow::Result<Metrics> {
    let c = spec
        .data
        .catalog
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("votes run without data.catalog"))?;
    let question = spec
        .task
        .question
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("votes run without task.question"))?;
    let (rows, _) = crate::data::catalog_rows(spec, c)?;
    let counts: Vec<&[f32]> = rows.iter().map(|r| r.target.as_slice()).collect();
    question_stats(&Tree::decals(), question, &counts)
}

/// The module's metrics for `question` of `tree` over galaxies' vote counts (one slice of
/// `tree.n_answers()` counts per galaxy).
pub fn question_stats(tree: &Tree, question: &str, counts: &[&[f32]]) -> anyhow::Result<Metrics> {
    let q = tree.question_index(question).ok_or_else(|| {
        anyhow::anyhow!(
            "task.question `{question}` is not a question of the {} tree",
            tree.name()
        )
    })?;
    let slice = tree.question_slices()[q].clone();
    let k = slice.len() as f64;
    let (mut asked, mut votes, mut agree, mut consensus, mut entropy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for row in counts {
        let v: Vec<f64> = row[slice.clone()].iter().map(|&x| x as f64).collect();
        let total: f64 = v.iter().sum();
        if total <= 0.0 {
            continue;
        }
        asked += 1.0;
        votes += total;
        let top = v.iter().cloned().fold(0.0, f64::max) / total;
        agree += top;
        if top >= 0.8 {
            consensus += 1.0;
        }
        let h: f64 = v
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|&x| -(x / total) * (x / total).ln())
            .sum();
        entropy += if k > 1.0 { h / k.ln() } else { 0.0 };
    }
    let mut m = Metrics::new();
    m.insert("galaxies_asked".into(), asked);
    m.insert(
        "asked_fraction".into(),
        asked / (counts.len().max(1) as f64),
    );
    if asked > 0.0 {
        m.insert("mean_votes".into(), votes / asked);
        m.insert("agreement".into(), agree / asked);
        m.insert("consensus_80".into(), consensus / asked);
        m.insert("entropy".into(), entropy / asked);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_statistics() {
        let tree = Tree::decals();
        let n = tree.n_answers();
        let row = |smooth: f32, featured: f32, artifact: f32| {
            let mut r = vec![0f32; n];
            r[..3].copy_from_slice(&[smooth, featured, artifact]);
            r
        };
        // galaxy 1: 9 / 1 / 0 -> top 0.9, consensus; galaxy 2: 2 / 2 / 0 -> top 0.5
        // galaxy 3: not asked
        let rows = [row(9.0, 1.0, 0.0), row(2.0, 2.0, 0.0), row(0.0, 0.0, 0.0)];
        let refs: Vec<&[f32]> = rows.iter().map(|r| r.as_slice()).collect();
        let m = question_stats(&tree, "smooth-or-featured", &refs).unwrap();
        assert_eq!(m["galaxies_asked"], 2.0);
        assert!((m["asked_fraction"] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m["mean_votes"], 7.0);
        assert!((m["agreement"] - 0.7).abs() < 1e-12);
        assert_eq!(m["consensus_80"], 0.5);
        // entropies / ln 3: (-(0.9 ln 0.9 + 0.1 ln 0.1)) and ln 2
        let h1 = -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln());
        let want = (h1 + 2f64.ln()) / 2.0 / 3f64.ln();
        assert!((m["entropy"] - want).abs() < 1e-12);
        // a question nobody was asked has counts but no averages
        let m = question_stats(&tree, "bar", &refs).unwrap();
        assert_eq!(m["galaxies_asked"], 0.0);
        assert!(!m.contains_key("agreement"));
        let e = question_stats(&tree, "colour", &refs).unwrap_err();
        assert!(
            e.to_string()
                .contains("`colour` is not a question of the decals-dr5 tree")
        );
    }
}
