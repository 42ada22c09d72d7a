//! The `stream:` section of a `stream` experiment (Galaxy Zoo Express, `gzx`): which arm
//! classifies the galaxies (fixed-K majority vote, SWAP alone, SWAP with a machine), how fast
//! volunteers click and how often the machine is retrained. Only names and numbers live here;
//! `gzx` implements them. The crowd (regime, galaxies, volunteers, question, gold) is the
//! `crowd:` section; the machine's images are the `data:` section's `image_size` and `survey`
//! (the universe's galaxies rendered), its network and training the `model:`, `pretrain:` and
//! `train:` sections.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How the galaxies of the stream are classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// Galaxy Zoo's fixed K votes per galaxy, labelled by majority vote (`majority-vote-K`).
    MajorityVote(usize),
    /// SWAP retirement alone (`swap`).
    Swap,
    /// SWAP, plus a logistic regression on morphology measurements of the images (Beck et al.
    /// used a random forest on such measurements) that retires the queue's confident galaxies
    /// (`swap-measurements`).
    SwapMeasurements,
    /// SWAP, plus a CNN (the `model:` backbone) fine-tuned on the retired galaxies (`swap-cnn`).
    SwapCnn,
}

impl Arm {
    /// The YAML name.
    pub fn name(self) -> String {
        match self {
            Arm::MajorityVote(k) => format!("majority-vote-{k}"),
            Arm::Swap => "swap".into(),
            Arm::SwapMeasurements => "swap-measurements".into(),
            Arm::SwapCnn => "swap-cnn".into(),
        }
    }

    /// Parses a YAML name, with the list of names in the error.
    pub fn parse(s: &str) -> Result<Arm, String> {
        match s {
            "swap" => return Ok(Arm::Swap),
            "swap-measurements" => return Ok(Arm::SwapMeasurements),
            "swap-cnn" => return Ok(Arm::SwapCnn),
            _ => {}
        }
        if let Some(k) = s.strip_prefix("majority-vote-")
            && let Ok(k) = k.parse::<usize>()
            && k >= 1
        {
            return Ok(Arm::MajorityVote(k));
        }
        Err(format!(
            "unknown arm `{s}`; expected majority-vote-K (K >= 1 votes per galaxy, e.g. \
             majority-vote-40), swap, swap-measurements or swap-cnn"
        ))
    }

    /// Whether a machine retires galaxies beside SWAP.
    pub fn has_machine(self) -> bool {
        matches!(self, Arm::SwapMeasurements | Arm::SwapCnn)
    }
}

impl Serialize for Arm {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Arm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Arm::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One stream. Defaults: SWAP alone with a cap of 40 votes per galaxy, 300 clicks per simulated
/// day, the machine retrained every 7 days once SWAP has retired 100 galaxies, retiring the
/// queue's galaxies whose score passes thresholds at which 99 % of the held-out retired
/// galaxies (a fifth of them) agree with their SWAP label, and a triage set of 1,000 further
/// galaxies for the machine's accuracy against coverage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    pub arm: Arm,
    /// SWAP arms: votes a galaxy gets at most before it leaves the queue unretired.
    pub cap: usize,
    /// Volunteer clicks per simulated day (the whole crowd).
    pub clicks_per_day: f64,
    /// Machine arms: simulated days between two trainings of the machine.
    pub cadence_days: f64,
    /// Machine arms: galaxies SWAP must have retired before the machine is first trained.
    pub min_retired: usize,
    /// Machine arms: share of the retired galaxies held out to choose the machine's thresholds
    /// (and to stop its training early).
    pub val_fraction: f64,
    /// Machine arms: the agreement with SWAP's labels the held-out retired galaxies above (or
    /// below) a threshold must reach for the machine to retire galaxies there.
    pub machine_precision: f64,
    /// Machine arms: further galaxies (not in the stream), each with 40 volunteer votes, on which
    /// the final machine's accuracy against coverage and volunteer agreement is measured.
    pub triage_size: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            arm: Arm::Swap,
            cap: 40,
            clicks_per_day: 300.0,
            cadence_days: 7.0,
            min_retired: 100,
            val_fraction: 0.2,
            machine_precision: 0.99,
            triage_size: 1000,
        }
    }
}

impl StreamConfig {
    /// The first value out of range, as `(key, message)`; the message starts `key = value`.
    pub fn check(&self) -> Option<(&'static str, String)> {
        let bad = [
            (
                "cap",
                self.cap == 0,
                "cap must be at least 1 vote".to_string(),
            ),
            (
                "clicks_per_day",
                !(self.clicks_per_day.is_finite() && self.clicks_per_day > 0.0),
                format!("clicks_per_day = {}; expected > 0", self.clicks_per_day),
            ),
            (
                "cadence_days",
                !(self.cadence_days.is_finite() && self.cadence_days > 0.0),
                format!("cadence_days = {}; expected > 0", self.cadence_days),
            ),
            (
                "val_fraction",
                !(self.val_fraction > 0.0 && self.val_fraction < 1.0),
                format!("val_fraction = {}; expected in (0, 1)", self.val_fraction),
            ),
            (
                "machine_precision",
                !(self.machine_precision > 0.5 && self.machine_precision <= 1.0),
                format!(
                    "machine_precision = {}; expected in (0.5, 1]",
                    self.machine_precision
                ),
            ),
        ];
        bad.into_iter().find(|(_, b, _)| *b).map(|(k, _, m)| (k, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_round_trip_and_bad_names_list_the_known_ones() {
        for a in [
            Arm::MajorityVote(5),
            Arm::MajorityVote(40),
            Arm::Swap,
            Arm::SwapMeasurements,
            Arm::SwapCnn,
        ] {
            let y = serde_yaml::to_string(&a).unwrap();
            assert_eq!(serde_yaml::from_str::<Arm>(&y).unwrap(), a);
        }
        for bad in ["majority-vote-0", "majority-vote-x", "swap-rf", "mv-40"] {
            let e = serde_yaml::from_str::<Arm>(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("swap-cnn"), "{e}");
        }
        let c = StreamConfig {
            val_fraction: 1.0,
            ..StreamConfig::default()
        };
        assert_eq!(c.check().map(|(k, _)| k), Some("val_fraction"));
        assert!(StreamConfig::default().check().is_none());
    }
}
