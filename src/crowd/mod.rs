//! Simulated Galaxy Zoo volunteers and the strategies that aggregate their votes into labels.
//!
//! * [`volunteers`] simulates a crowd ([`CrowdQuality`] presets `good`, `default`, `noisy`, and
//!   the model regimes `class-confusion`, `galaxy-difficulty`, `spammers`)
//!   answering the decision tree for galaxies of the [`universe`](crate::universe), either with a
//!   fixed number of votes per galaxy or as an online stream served until retirement.
//! * [`classifications`] holds raw classifications as dense index arrays ([`Classifications`]) and the
//!   per-question view ([`QuestionVotes`]) every strategy consumes.
//! * One file per aggregation strategy, all behind [`Aggregator`], chosen by name through the
//!   [`Strategy`] registry (its variants are the list; `registry` says what adding one takes).
//!   `vote-fraction` was removed: the vote fractions are `majority-vote`'s probabilities.
//! * [`experts`] simulates a small expert panel labelling a subset of the galaxies (the
//!   `expert_agreement` metric, GZ2's ">90 % agreement with experts").
//! * [`metrics`] scores aggregated labels against the truth; [`run`] is the experiment entry
//!   point ([`evaluate`]); [`csv_io`] and [`exports`] read and write classification files.
//!
//! The module must not look at images or models (it sits left of `labels` in the data flow), and
//! every random draw comes from [`crate::rng`] streams named `crowd/...`.
//!
//! ```
//! use gzbench::crowd::{CrowdRunConfig, Strategy, evaluate};
//! let cfg = CrowdRunConfig { strategy: Strategy::DawidSkene, n_galaxies: 200, ..Default::default() };
//! let metrics = evaluate(&cfg, 1).unwrap();
//! assert!(metrics["accuracy"] > 0.5);
//! ```

pub mod classifications;
pub mod clicks;
pub mod clump_consensus;
mod conjugate_gradient;
mod csv_fast;
pub mod csv_io;
mod dawid_skene;
mod em;
mod error;
pub mod experts;
pub mod exports;
mod fast_math;
mod glad;
mod gold_majority_vote;
mod gz2_pipeline;
mod gz2_weighting;
mod kos;
mod m_msr;
mod m_msr_sign;
mod mace;
mod majority_class;
mod majority_vote;
pub mod metrics;
mod one_coin;
mod quality;
pub mod queue;
mod redshift_debias;
mod registry;
pub mod run;
mod swap;
pub(crate) mod swap_eval;
pub mod volunteers;
mod wawa;
mod zero_based_skill;

#[cfg(test)]
mod crowdkit_parity;
#[cfg(test)]
mod regime_tests;

pub use classifications::{Classifications, Covariates, QuestionInfo, QuestionVotes};
pub use dawid_skene::DawidSkene;
pub use error::CrowdError;
pub use glad::{Glad, GladFit};
pub use gold_majority_vote::GoldMajorityVote;
pub use gz2_pipeline::Gz2Pipeline;
pub use gz2_weighting::Gz2Weighting;
pub use kos::{Kos, KosFit};
pub use m_msr::{MMsr, MMsrFit};
pub use mace::{Mace, MaceFit, MaceInit};
pub use majority_class::MajorityClass;
pub use majority_vote::MajorityVote;
pub use one_coin::OneCoinDawidSkene;
pub use quality::{CrowdQuality, QualityPreset};
pub use redshift_debias::RedshiftDebias;
pub use registry::{Strategy, StrategyImpl};
pub use run::{CrowdRunConfig, evaluate};
pub use swap::{Swap, SwapState};
pub use wawa::Wawa;
pub use zero_based_skill::ZeroBasedSkill;

/// The result of aggregating one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub n_classes: usize,
    /// Per-galaxy class probabilities (or vote fractions), row-major `n_galaxies x n_classes`.
    pub probs: Vec<f64>,
    /// Per-galaxy label (argmax of `probs`, ties to the lowest class index unless the strategy
    /// says otherwise).
    pub labels: Vec<u32>,
    /// Per-galaxy number of votes the strategy used (SWAP with retirement stops early).
    pub clicks_used: Vec<u32>,
}

impl Aggregate {
    /// Probabilities of galaxy `g`.
    pub fn row(&self, g: usize) -> &[f64] {
        &self.probs[g * self.n_classes..(g + 1) * self.n_classes]
    }

    /// Builds labels as the row argmax (first maximum wins) and takes every vote as used.
    pub fn from_probs(votes: &QuestionVotes, probs: Vec<f64>) -> Aggregate {
        let k = votes.n_classes;
        let labels = probs.chunks(k).map(argmax).collect();
        let clicks_used = (0..votes.n_galaxies)
            .map(|g| votes.by_galaxy.row(g).len() as u32)
            .collect();
        Aggregate {
            n_classes: k,
            probs,
            labels,
            clicks_used,
        }
    }
}

/// Index of the first maximum (NaN never wins).
pub(crate) fn argmax(row: &[f64]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// An aggregation strategy: turns one question's votes into per-galaxy probabilities and labels.
/// Results must not depend on the number of rayon threads.
pub trait Aggregator {
    /// Registry name (kebab-case).
    fn name(&self) -> &'static str;
    /// Aggregates the votes of one question.
    fn aggregate(&self, votes: &QuestionVotes) -> Result<Aggregate, CrowdError>;
    /// Whether the strategy only handles binary questions (a question with more answers is
    /// binarized as "this answer vs the rest" by the crowd runner).
    fn binary_only(&self) -> bool {
        false
    }
    /// Whether the strategy needs gold galaxies (`crowd.gold_fraction > 0`).
    fn needs_gold(&self) -> bool {
        false
    }
    /// Whether it is a reference that ignores which galaxy a vote is on (`majority-class`), not
    /// an aggregation: the tests hold every other strategy to an accuracy floor.
    fn is_reference(&self) -> bool {
        false
    }
}

/// Runs `f` on a rayon pool of `threads` threads (the crowd tests' check that results do not
/// depend on the number of threads).
#[cfg(test)]
pub(crate) fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
        .install(f)
}
