//! The unit of the sharing analysis: the host page, the granularity a scan
//! hashes at, and the analysis's errors, which name those limits.

use std::path::PathBuf;

use thiserror::Error;

/// Size of a host page: residency is known per page.
pub const PAGE_SIZE: usize = 4096;
/// Smallest granularity accepted.
pub const MIN_GRANULARITY: usize = 64;

/// Errors of the sharing analysis. Each names the input concerned.
#[derive(Debug, Error)]
pub enum SharingError {
    #[error(
        "granularity {given} bytes is not usable: it must be a power of two from {MIN_GRANULARITY} to {PAGE_SIZE} (it must divide the {PAGE_SIZE}-byte page)"
    )]
    Granularity { given: u64 },
    #[error("image {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    BadSource { path: PathBuf, problem: String },
    #[error("nothing could be scanned: {}", notes.join("; "))]
    NothingScanned { notes: Vec<String> },
    #[error("no sources given: name at least one process, image or bundle")]
    NoSources,
}

/// A validated granularity: a power of two in `MIN_GRANULARITY..=PAGE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granularity(usize);

impl Granularity {
    /// Validate a granularity in bytes.
    pub fn new(bytes: u64) -> Result<Self, SharingError> {
        if !(MIN_GRANULARITY as u64..=PAGE_SIZE as u64).contains(&bytes) || !bytes.is_power_of_two()
        {
            return Err(SharingError::Granularity { given: bytes });
        }
        Ok(Granularity(bytes as usize))
    }

    /// The granularity in bytes.
    pub fn bytes(self) -> usize {
        self.0
    }
}

impl Default for Granularity {
    fn default() -> Self {
        Granularity(PAGE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularity_must_be_a_power_of_two_dividing_the_page() {
        for ok in [64, 128, 256, 512, 1024, 2048, 4096] {
            assert_eq!(Granularity::new(ok).unwrap().bytes(), ok as usize);
        }
        for bad in [0, 1, 32, 63, 100, 3000, 8192, u64::MAX] {
            let err = Granularity::new(bad).unwrap_err().to_string();
            assert!(err.contains(&bad.to_string()), "{err}");
        }
    }
}
