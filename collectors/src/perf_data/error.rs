//! Why a perf.data file could not be imported.

use thiserror::Error;

/// A perf.data import failure; every one is the input's fault except
/// [`PerfDataError::Read`] of a file that exists but cannot be read.
#[derive(Debug, Error)]
pub enum PerfDataError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file's structure is wrong at a known byte offset.
    #[error("{path}: {problem} (at byte {offset})")]
    Corrupt {
        path: String,
        offset: u64,
        problem: String,
    },
    /// The file is well formed but holds nothing to fold.
    #[error("{path}: no samples with a call stack found")]
    Empty { path: String },
    #[error("{path}: the sum of the sample periods passes 2^64")]
    WeightOverflow { path: String },
}
