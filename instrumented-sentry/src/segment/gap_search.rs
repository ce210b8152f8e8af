//! Which gap search to run ([`GapSearch`]), by name.

use super::error::ParseGapSearchError;
use std::fmt;
use std::str::FromStr;

/// Which gap search to run. Both return identical results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GapSearch {
    /// Step gap by gap (gVisor before the max-gap fix): O(n).
    Linear,
    /// Skip subtrees whose cached max gap is too small: O(t log n).
    MaxGap,
}

impl GapSearch {
    /// The stable lower-case name: `linear` or `maxgap`.
    pub const fn name(self) -> &'static str {
        match self {
            GapSearch::Linear => "linear",
            GapSearch::MaxGap => "maxgap",
        }
    }
}

impl fmt::Display for GapSearch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GapSearch {
    type Err = ParseGapSearchError;

    /// Parses `linear` or `maxgap` (also `max-gap`, `max_gap`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linear" => Ok(GapSearch::Linear),
            "maxgap" | "max-gap" | "max_gap" => Ok(GapSearch::MaxGap),
            other => Err(ParseGapSearchError {
                input: other.to_string(),
            }),
        }
    }
}
