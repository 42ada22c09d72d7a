//! Which code computed a run: `provenance.json` beside its metrics. It records the results
//! schema ([`RUN_FORMAT_VERSION`], also part of the run id), the gzbench version, the git
//! revision the binary was built from and whether the compiled sources differed from it (see
//! `build.rs`), and the device. Not deterministic (the revision moves with every commit), so
//! byte-identity checks compare `metrics.json`, never this file.
//!
//! Runs recorded before the file existed got one from git history: the commit that recorded
//! their `metrics.json` (results are committed with the code that computed them); `source`
//! says so.

use crate::spec::{DeviceKind, RUN_FORMAT_VERSION};
use serde::{Deserialize, Serialize};

/// The provenance of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The run format (results schema) the run was computed under.
    pub results_schema: u32,
    /// The gzbench version.
    pub gzbench: String,
    /// Git revision of the code, or "unknown" (a build outside a git checkout).
    pub code_rev: String,
    /// Whether the compiled sources differed from `code_rev`; `None` when unknown.
    pub code_dirty: Option<bool>,
    /// The device kind, as in the run id.
    pub device: DeviceKind,
    /// The device in words (e.g. `cpu (2 threads)`).
    pub device_detail: String,
    /// How the record was made, when not by the run itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The git revision this binary was built from.
pub const CODE_REV: &str = env!("GZBENCH_GIT_REV");

/// Whether the compiled sources differed from [`CODE_REV`].
pub fn code_dirty() -> Option<bool> {
    match env!("GZBENCH_GIT_DIRTY") {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

impl Provenance {
    /// The provenance of a run this binary computes on `device`.
    pub fn of_this_build(device: &candle_core::Device) -> Self {
        Provenance {
            results_schema: RUN_FORMAT_VERSION,
            gzbench: env!("CARGO_PKG_VERSION").to_string(),
            code_rev: CODE_REV.to_string(),
            code_dirty: code_dirty(),
            device: DeviceKind::of(device),
            device_detail: crate::engine::describe(device),
            source: None,
        }
    }

    /// `abc1234`, `abc1234+dirty` or `unknown`: the revision for a table cell.
    pub fn short_rev(&self) -> String {
        let rev: String = self.code_rev.chars().take(10).collect();
        match self.code_dirty {
            Some(true) => format!("{rev}+dirty"),
            _ => rev,
        }
    }
}

/// `<version> (<rev>[+dirty])`, as `--version` prints it.
pub const VERSION_LINE: &str = env!("GZBENCH_VERSION_LINE");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_build_knows_its_revision() {
        let p = Provenance::of_this_build(&candle_core::Device::Cpu);
        assert_eq!(p.results_schema, RUN_FORMAT_VERSION);
        assert_eq!(p.device, DeviceKind::Cpu);
        // the tests run from a git checkout: a 40-digit hex revision and a known dirty flag
        assert_eq!(p.code_rev.len(), 40, "{}", p.code_rev);
        assert!(p.code_rev.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(p.code_dirty.is_some());
    }

    #[test]
    fn round_trips_through_json() {
        let mut p = Provenance::of_this_build(&candle_core::Device::Cpu);
        p.code_dirty = Some(true);
        let text = serde_json::to_string(&p).unwrap();
        let back: Provenance = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        assert!(back.short_rev().ends_with("+dirty"));
    }
}
