//! The work behind `gzbench crowd-sim` and `gzbench aggregate`, built from `crowd`'s functions:
//! simulate a classification CSV, and aggregate one question of a classification file (the plain
//! CSV or a Zooniverse export, format told from the first line) with a registered strategy: the
//! question by `--question`, the positive class of binary strategies by answer name
//! (`--positive`), optional gold labels (`--gold`), the labels written to `--out`, and the
//! aggregation optionally repeated to time it alone and the read (what
//! `benches/peers/crowdkit_speed.py` compares with crowd-kit). Errors name the flags; printing is
//! `tools`'s. `crowd` itself knows nothing of the command line.

use std::path::Path;
use std::time::Instant;

use crate::crowd::csv_io::{read_gold, write_csv, write_labels_csv};
use crate::crowd::exports::{InputFormat, read_classifications};
use crate::crowd::volunteers::{Crowd, question_by_name, simulate_fixed};
use crate::crowd::{
    Aggregator, CrowdError, CrowdQuality, QualityPreset, Strategy, StrategyImpl, Swap,
};
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

/// The answers a binary-only strategy takes as positive without `--positive`.
const POSITIVE_NAMES: [&str; 3] = ["yes", "true", "1"];

/// The positive class of a binary question: the answer named `positive`, else the one answer
/// named `yes`, `true` or `1` (case-insensitive), else (`None`) an error when `required`.
/// Errors name the answers found.
pub fn positive_class(
    strategy: &str,
    answers: &[String],
    positive: Option<&str>,
    required: bool,
) -> Result<Option<u32>, CrowdError> {
    let err = |reason: String| CrowdError::Config(format!("--strategy {strategy}: {reason}"));
    let list = answers
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if answers.len() != 2 {
        return Err(err(format!(
            "needs a question with exactly 2 answers; this one has {}: {list}",
            answers.len()
        )));
    }
    match positive {
        Some(p) => answers
            .iter()
            .position(|a| a == p)
            .map(|i| Some(i as u32))
            .ok_or_else(|| {
                err(format!(
                    "--positive `{p}` is not an answer of this question; expected one of {list}"
                ))
            }),
        None => {
            let named: Vec<usize> = (0..2)
                .filter(|&i| {
                    POSITIVE_NAMES
                        .iter()
                        .any(|n| answers[i].eq_ignore_ascii_case(n))
                })
                .collect();
            match named[..] {
                [i] => Ok(Some(i as u32)),
                _ if !required => Ok(None),
                _ => Err(err(format!(
                    "which answer is the positive class? Give --positive with one of {list}"
                ))),
            }
        }
    }
}

/// What `aggregate` reads and does besides the input file and the strategy.
#[derive(Debug, Clone)]
pub struct AggregateOptions<'a> {
    /// Question (Zooniverse: task id such as `T0`); needed when the file holds several.
    pub question: Option<&'a str>,
    /// Positive answer of a binary-only strategy (see [`positive_class`]).
    pub positive: Option<&'a str>,
    pub format: InputFormat,
    /// Known labels (`galaxy,answer`) for strategies that use gold galaxies.
    pub gold: Option<&'a Path>,
    /// Times the aggregation is repeated (the best time is reported).
    pub repeats: usize,
    /// Where to write `galaxy,label,p_<answer>...`.
    pub out: Option<&'a Path>,
}

impl Default for AggregateOptions<'_> {
    fn default() -> Self {
        AggregateOptions {
            question: None,
            positive: None,
            format: InputFormat::Auto,
            gold: None,
            repeats: 1,
            out: None,
        }
    }
}

/// What `aggregate` did.
#[derive(Debug, Clone)]
pub struct Aggregated {
    pub galaxies: usize,
    pub votes: usize,
    /// Best wall-clock seconds of the aggregation alone over the repeats.
    pub seconds: f64,
    /// Wall-clock seconds from the file to the question's votes (read, intern, index).
    pub read_seconds: f64,
    /// `csv`, `panoptes-csv` or `panoptes-flat`.
    pub format: &'static str,
    pub question: String,
    pub answers: Vec<String>,
    /// The positive answer, for binary-only strategies.
    pub positive: Option<String>,
}

/// Aggregates one question of the classification file `input` with `strategy` (see
/// [`AggregateOptions`]).
pub fn aggregate_file(
    input: &Path,
    strategy: Strategy,
    opts: &AggregateOptions,
) -> Result<Aggregated, CrowdError> {
    let t0 = Instant::now();
    let (cls, format) = read_classifications(input, opts.format)?;
    let list = || {
        cls.questions
            .iter()
            .map(|q| format!("`{}`", q.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let q = match opts.question {
        Some(name) => cls.question_id(name).ok_or_else(|| {
            CrowdError::Config(format!(
                "{}: no question `{name}`; expected one of {}",
                input.display(),
                list()
            ))
        })?,
        None if cls.questions.len() == 1 => 0,
        None => {
            return Err(CrowdError::Config(format!(
                "{} holds {} questions ({}); choose one with --question",
                input.display(),
                cls.questions.len(),
                list()
            )));
        }
    };
    // a file whose question has one answer is refused here: say which file and question
    let mut votes = cls.for_question(q).map_err(|e| match e {
        CrowdError::Config(m) => CrowdError::Config(format!(
            "{}: question `{}`: {m}",
            input.display(),
            cls.questions[q as usize].name
        )),
        e => e,
    })?;
    let read_seconds = t0.elapsed().as_secs_f64();
    let info = &cls.questions[q as usize];
    if let Some(gold) = opts.gold {
        votes.gold = Some(read_gold(gold, &cls, q, &votes)?);
    }
    // Only SWAP's result depends on which class is positive (KOS is symmetric).
    let positive = if strategy.binary_only() {
        let required = strategy == Strategy::Swap;
        positive_class(strategy.name(), &info.answers, opts.positive, required)?
    } else if let Some(p) = opts.positive {
        return Err(CrowdError::Config(format!(
            "--positive {p}: `{}` does not use a positive class (only binary strategies do: {})",
            strategy.name(),
            crate::spec::all::<Strategy>()
                .iter()
                .filter(|s| s.binary_only())
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    } else {
        None
    };
    let agg: Box<dyn Aggregator + Send + Sync> = match (strategy, positive) {
        (Strategy::Swap, Some(p)) => Box::new(Swap::with_positive_answer(
            &info.answers,
            &info.answers[p as usize],
        )?),
        _ => strategy.aggregator(),
    };
    let mut best = f64::INFINITY;
    let mut result = None;
    for _ in 0..opts.repeats.max(1) {
        let t = Instant::now();
        let a = agg.aggregate(&votes)?;
        best = best.min(t.elapsed().as_secs_f64());
        result = Some(a);
    }
    let result = result.expect("at least one repeat");
    if let Some(out) = opts.out {
        let names: Vec<String> = votes
            .galaxy_index
            .iter()
            .map(|&g| cls.galaxy_names[g as usize].clone())
            .collect();
        write_labels_csv(out, &names, &info.answers, &result)?;
    }
    Ok(Aggregated {
        galaxies: votes.n_galaxies,
        votes: votes.len(),
        seconds: best,
        read_seconds,
        format,
        question: info.name.clone(),
        answers: info.answers.clone(),
        positive: positive.map(|p| info.answers[p as usize].clone()),
    })
}

#[cfg(test)]
#[path = "crowd_tests.rs"]
mod tests;
