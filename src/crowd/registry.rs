//! The strategy registry: each [`Strategy`] (one kebab-case name in YAML and on the command
//! line) mapped to its implementation with default parameters, in one exhaustive match.
//!
//! Adding a strategy takes exactly: its file `crowd/<name>.rs` implementing [`Aggregator`] (with
//! `binary_only` / `needs_gold` / `is_reference` there when they apply); its `mod <name>;` and
//! `pub use <name>::<Type>;` lines in `crowd/mod.rs`; a variant of [`Strategy`] in
//! `spec/crowd.rs`; and its arm in [`StrategyImpl::aggregator`] below. The list of strategies is
//! the enum itself (`clap::ValueEnum::value_variants()`, derived), so there is no list to forget:
//! a variant without an arm does not compile, `tests/registries.rs` runs every variant through
//! `gzbench validate`, a smoke crowd run and `gzbench aggregate`, and the crowd tests hold every
//! non-reference strategy to an accuracy floor. `Aggregator::aggregate` is not given the
//! experiment's seed: a randomised strategy draws from a stream named for itself (one sequence
//! for every seed), a limit of the interface.

pub use crate::spec::Strategy;

use super::Aggregator;

/// The implementation side of the [`Strategy`] registry (the names live in `spec`).
pub trait StrategyImpl: Sized {
    /// The implementation with default parameters.
    fn aggregator(self) -> Box<dyn Aggregator + Send + Sync>;
    /// The registry name, e.g. `dawid-skene`.
    fn name(self) -> &'static str;
    /// Parses a registry name.
    fn from_name(name: &str) -> Option<Self>;
    /// Whether the strategy only handles binary questions.
    fn binary_only(self) -> bool;
    /// Whether the strategy needs gold galaxies (`crowd.gold_fraction > 0`).
    fn needs_gold(self) -> bool;
}

impl StrategyImpl for Strategy {
    fn aggregator(self) -> Box<dyn Aggregator + Send + Sync> {
        use super::*;
        match self {
            Strategy::MajorityVote => Box::new(MajorityVote),
            Strategy::Wawa => Box::new(Wawa),
            Strategy::Gz2Weighting => Box::new(Gz2Weighting::default()),
            Strategy::DawidSkene => Box::new(DawidSkene::default()),
            Strategy::OneCoinDawidSkene => Box::new(OneCoinDawidSkene::default()),
            Strategy::Swap => Box::new(Swap::default()),
            Strategy::RedshiftDebias => Box::new(RedshiftDebias::default()),
            Strategy::Gz2Pipeline => Box::new(Gz2Pipeline::default()),
            Strategy::MajorityClass => Box::new(MajorityClass),
            Strategy::Mace => Box::new(Mace::default()),
            Strategy::ZeroBasedSkill => Box::new(ZeroBasedSkill::default()),
            Strategy::MMsr => Box::new(MMsr::default()),
            Strategy::Kos => Box::new(Kos::default()),
            Strategy::GoldMajorityVote => Box::new(GoldMajorityVote),
            Strategy::Glad => Box::new(Glad::default()),
        }
    }

    fn name(self) -> &'static str {
        self.aggregator().name()
    }

    fn from_name(name: &str) -> Option<Strategy> {
        crate::spec::all::<Strategy>()
            .iter()
            .copied()
            .find(|s| s.name() == name)
    }

    fn binary_only(self) -> bool {
        self.aggregator().binary_only()
    }

    fn needs_gold(self) -> bool {
        self.aggregator().needs_gold()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::all;

    #[test]
    fn names_round_trip_through_serde_and_clap() {
        for &s in all::<Strategy>() {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
            assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), s);
            assert_eq!(Strategy::from_name(s.name()), Some(s));
            let clap = clap::ValueEnum::to_possible_value(&s).unwrap();
            assert_eq!(clap.get_name(), s.name());
        }
        assert!(serde_json::from_str::<Strategy>("\"nope\"").is_err());
        // at least the strategies of today (adding one needs no edit here)
        assert!(all::<Strategy>().len() >= 15);
        let flagged = |f: fn(Strategy) -> bool| -> Vec<&str> {
            all::<Strategy>()
                .iter()
                .filter(|&&s| f(s))
                .map(|s| s.name())
                .collect()
        };
        assert_eq!(flagged(Strategy::binary_only), ["swap", "kos"]);
        assert_eq!(flagged(Strategy::needs_gold), ["gold-majority-vote"]);
    }
}
