//! The strategy registry: one serde name (kebab-case) per aggregation strategy, mapped to its
//! implementation with default parameters. Adding a strategy = one file + one line here.

pub use crate::spec::Strategy;

use super::Glad;
use super::{
    Aggregator, DawidSkene, Gz2Pipeline, Gz2Weighting, MajorityClass, MajorityVote,
    OneCoinDawidSkene, RedshiftDebias, Swap, Wawa,
};
use super::{GoldMajorityVote, Kos, MMsr, Mace, ZeroBasedSkill};

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
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }

    fn binary_only(self) -> bool {
        matches!(self, Strategy::Swap | Strategy::Kos)
    }

    fn needs_gold(self) -> bool {
        self == Strategy::GoldMajorityVote
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
