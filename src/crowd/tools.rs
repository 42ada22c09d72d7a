//! The crowd side of the command line: simulate a classification CSV (`gzbench crowd-sim`) and
//! aggregate any classification CSV with a registered strategy (`gzbench aggregate`), optionally
//! timing only the aggregation (what `benches/peers/crowdkit_speed.py` compares with crowd-kit).

use std::path::Path;
use std::time::Instant;

use super::csv_io::{read_csv, write_csv, write_labels_csv};
use super::volunteers::{Crowd, question_by_name, simulate_fixed};
use super::{CrowdError, CrowdQuality, QualityPreset, Strategy, StrategyImpl};
use crate::universe::{PopulationConfig, sample_population};

/// Simulate `votes` votes per galaxy on `question` for `galaxies` synthetic galaxies from a
/// crowd of `volunteers`, and write them to `out`. Returns the number of classifications.
pub fn simulate_to_csv(
    out: &Path,
    question: &str,
    galaxies: usize,
    votes: usize,
    volunteers: usize,
    crowd: QualityPreset,
    seed: u64,
) -> Result<usize, CrowdError> {
    let q = question_by_name(question)?;
    let pop = sample_population(seed, galaxies, &PopulationConfig::default());
    let crowd = Crowd::sample(seed, volunteers, &CrowdQuality::preset(crowd))?;
    let cls = simulate_fixed(seed, &pop, &crowd, q, votes)?;
    write_csv(out, &cls)?;
    Ok(cls.len())
}

/// What `aggregate` did.
pub struct Aggregated {
    pub galaxies: usize,
    pub votes: usize,
    /// Best wall-clock seconds of the aggregation alone over the repeats.
    pub seconds: f64,
}

/// Aggregate question `question` (default: the file's only question) of the classification CSV
/// `input` with `strategy`, `repeats` times; write labels to `out` if given.
pub fn aggregate_csv(
    input: &Path,
    question: Option<&str>,
    strategy: Strategy,
    repeats: usize,
    out: Option<&Path>,
) -> Result<Aggregated, CrowdError> {
    let cls = read_csv(input)?;
    let q = match question {
        Some(name) => cls.question_id(name).ok_or_else(|| {
            CrowdError::Config(format!(
                "{}: no question `{name}`; expected one of {}",
                input.display(),
                cls.questions
                    .iter()
                    .map(|q| format!("`{}`", q.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
        None if cls.questions.len() == 1 => 0,
        None => {
            return Err(CrowdError::Config(format!(
                "{} holds {} questions; choose one with --question",
                input.display(),
                cls.questions.len()
            )));
        }
    };
    let votes = cls.for_question(q)?;
    let agg = strategy.aggregator();
    let mut best = f64::INFINITY;
    let mut result = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let a = agg.aggregate(&votes)?;
        best = best.min(t.elapsed().as_secs_f64());
        result = Some(a);
    }
    let result = result.expect("at least one repeat");
    if let Some(out) = out {
        let names: Vec<String> = votes
            .galaxy_index
            .iter()
            .map(|&g| cls.galaxy_names[g as usize].clone())
            .collect();
        write_labels_csv(out, &names, &cls.questions[q as usize].answers, &result)?;
    }
    Ok(Aggregated {
        galaxies: votes.n_galaxies,
        votes: votes.len(),
        seconds: best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulate_then_aggregate_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("votes.csv");
        let n = simulate_to_csv(
            &csv,
            "smooth-or-featured",
            50,
            5,
            20,
            QualityPreset::Good,
            1,
        )
        .unwrap();
        assert_eq!(n, 250);
        let labels = dir.path().join("labels.csv");
        let a = aggregate_csv(&csv, None, Strategy::DawidSkene, 1, Some(&labels)).unwrap();
        assert_eq!((a.galaxies, a.votes), (50, 250));
        let text = std::fs::read_to_string(&labels).unwrap();
        assert_eq!(text.lines().count(), 51);
        assert!(text.starts_with("galaxy,label,p_"), "{text}");
        let e = aggregate_csv(&csv, Some("bar"), Strategy::Wawa, 1, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no question `bar`"), "{e}");
    }
}
