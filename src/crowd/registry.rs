//! The strategy registry: one serde name (kebab-case) per aggregation strategy, mapped to its
//! implementation with default parameters. Adding a strategy = one file + one line here.

pub use crate::spec::Strategy;

use super::{
    Aggregator, DawidSkene, Gz2Weighting, MajorityVote, OneCoinDawidSkene, RedshiftDebias, Swap,
    VoteFraction, Wawa,
};
use super::Glad;

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
}

impl StrategyImpl for Strategy {
    fn aggregator(self) -> Box<dyn Aggregator + Send + Sync> {
        match self {
            Strategy::MajorityVote => Box::new(MajorityVote),
            Strategy::VoteFraction => Box::new(VoteFraction),
            Strategy::Wawa => Box::new(Wawa),
            Strategy::Gz2Weighting => Box::new(Gz2Weighting::default()),
            Strategy::DawidSkene => Box::new(DawidSkene::default()),
            Strategy::OneCoinDawidSkene => Box::new(OneCoinDawidSkene::default()),
            Strategy::Swap => Box::new(Swap::default()),
            Strategy::RedshiftDebias => Box::new(RedshiftDebias::default()),
            Strategy::Glad => Box::new(Glad::default()),
        }
    }

    fn name(self) -> &'static str {
        self.aggregator().name()
    }

    fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }

    fn binary_only(self) -> bool {
        self == Strategy::Swap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        for s in Strategy::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
            assert_eq!(serde_json::from_str::<Strategy>(&json).unwrap(), s);
            assert_eq!(Strategy::from_name(s.name()), Some(s));
        }
        assert!(serde_json::from_str::<Strategy>("\"nope\"").is_err());
    }
}
