//! Property-based fuzzing of every file reader (issue 22, "Fuzzing"): arbitrary bytes and
//! structured mutations of valid inputs (a line deleted, duplicated or swapped, a byte flipped,
//! a field replaced by a random string or number, a key renamed, the file truncated) fed to
//!
//! * [`spec`]: the experiment YAML loader (`spec::parse_str`, `with_profile`, `expand`, and
//!   `runner::plan` for a file on disk), seeded from the committed `experiments/*.yaml`;
//! * [`catalog`]: catalogue CSV / Parquet rows (`data::catalog::read_catalogue`), the images a
//!   catalogue references (PNG, JPEG, FITS through `data::catalog::load`), and the real clump
//!   catalogue (`data::clump_catalog`);
//! * [`fits`]: the FITS reader (`data::fits::read_fits`, `stretch`);
//! * [`crowd`]: the classification readers of `gzbench aggregate` (plain CSV, Panoptes flat
//!   JSON lines, Panoptes classification export, gold labels).
//!
//! Each property asserts that the reader does not panic and that every error is located: it
//! names the file and, where the format has lines or keys, the line (or key). The runs are
//! deterministic (fixed ChaCha seed, fixed case counts, no failure files) and bounded (all of
//! them take a few seconds on 2 cores); a failure prints the minimal input proptest shrank it
//! to. Run them with `cargo test --release fuzz_`; `fuzz/` holds the libFuzzer targets for long
//! runs.

mod catalog;
mod crowd;
mod fits;
mod mutate;
mod spec;

use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use std::path::{Path, PathBuf};

/// The fixed configuration of every property: `cases` cases from a fixed seed, no failure
/// persistence files, shrinking bounded in time. For a longer local search (never in CI),
/// `GZBENCH_FUZZ_SCALE=k` runs `k` times the cases and `GZBENCH_FUZZ_SEED=n` draws them from
/// another seed.
pub fn config(cases: u32) -> Config {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let scale = env("GZBENCH_FUZZ_SCALE").unwrap_or(1).max(1);
    Config {
        cases: cases.saturating_mul(u32::try_from(scale).unwrap_or(u32::MAX)),
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(env("GZBENCH_FUZZ_SEED").unwrap_or(0x677a_6265_6e63_6822)),
        failure_persistence: None,
        max_shrink_iters: 2048,
        max_shrink_time: 20_000,
        ..Config::default()
    }
}

/// A per-test temporary folder under the system temp dir, removed when dropped (also when the
/// test fails).
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("gzbench-fuzz-{test}-"))
            .tempdir()
            .expect("temp dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `bytes` to `name` inside the folder and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("scratch folder");
        }
        std::fs::write(&p, bytes).expect("scratch file");
        p
    }
}

/// Number of lines of `bytes` as a line-numbering reader counts them (a last line without a
/// line end counts; an empty file has none).
pub fn n_lines(bytes: &[u8]) -> usize {
    bytes.split(|&b| b == b'\n').count() - usize::from(bytes.is_empty() || bytes.ends_with(b"\n"))
}
