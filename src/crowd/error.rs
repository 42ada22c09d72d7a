//! `CrowdError`: every failure of the crowd module (bad input files, bad configs, strategies
//! given data they cannot handle). Owns no logic.

use std::path::PathBuf;

/// Errors of the crowd module. Messages say what went wrong, where, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum CrowdError {
    /// Reading a file failed.
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A row / line of an input file could not be parsed.
    #[error("{path}:{line}: {reason}")]
    Parse {
        path: PathBuf,
        /// 1-based line (JSON lines) or row number (CSV, header = line 1).
        line: u64,
        reason: String,
    },
    /// Writing a file failed.
    #[error("writing {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    /// A configuration value is invalid.
    #[error("invalid crowd config: {0}")]
    Config(String),
    /// The strategy cannot handle this data.
    #[error("strategy `{strategy}`: {reason}")]
    Strategy {
        strategy: &'static str,
        reason: String,
    },
}
