//! Segment set: a B-tree of non-overlapping ranges with optional max-gap tracking.
//!
//! A [`SegmentSet`] maps disjoint, non-empty, half-open ranges `[start, end)`
//! of `u64` addresses ("segments") to values, in the manner of gVisor's
//! `pkg/segment`. The addresses between segments, inside the set's bounds,
//! are "gaps". The memory manager keeps its VMAs, its PMAs and the page
//! allocator's used ranges in such sets.
//!
//! # Invariants
//!
//! With `t` the set's minimum degree (`t >= 2`):
//!
//! 1. Every segment is non-empty and lies inside the set bounds.
//! 2. Segments are disjoint and, in in-order traversal of the tree, sorted
//!    by start address (so also by end address).
//! 3. Every node other than the root holds between `t - 1` and `2t - 1`
//!    segments; the root holds at most `2t - 1` (and at least 1 unless the
//!    set is empty, in which case the root is an empty leaf).
//! 4. An internal node with `k` segments has exactly `k + 1` children, and
//!    every leaf is at the same depth.
//! 5. Every child records its parent and its index among the parent's
//!    children correctly.
//! 6. Gaps live in leaves: leaf slot `i` (`0 <= i <= k`) stands for the gap
//!    between the in-order predecessor of the leaf's segment `i` and that
//!    segment (the set bounds stand in for a missing neighbour). Each gap of
//!    the set, including empty ones between adjacent segments, has exactly
//!    one slot.
//! 7. If `F::TRACK_MAX_GAP`, every node caches the length of the largest gap
//!    among the slots of its subtree (`max_gap`); otherwise the cache is
//!    never read or written.
//! 8. The cached count of segments and the cached sum of their lengths are
//!    exact.
//!
//! [`SegmentSet::check_invariants`] verifies all of them from scratch.
//!
//! Values are not required to be maximally merged: adjacent segments whose
//! values could merge may coexist (gVisor's sets work the same way); the
//! merging operations ([`SegmentSet::insert_with_merge`],
//! [`SegmentSet::merge_range`], [`SegmentSet::update_range`]) merge when
//! the policy agrees.
//!
//! # Gap searches
//!
//! Two strategies answer the same questions ([`GapSearch`]):
//! `Linear` steps from gap to gap (gVisor before the max-gap fix, O(n));
//! `MaxGap` descends only into subtrees whose cached max gap is large enough
//! (gVisor's `NextLargeEnoughGap` / `PrevLargeEnoughGap`, O(t log n)). The
//! strategy-dispatching searches only compile for set types with
//! `TRACK_MAX_GAP = true`; every set has the `*_linear` searches.

mod check;
mod error;
mod iter;
mod search;
mod set;
mod tree;

pub use error::{InvariantError, ParseGapSearchError, SegmentError};
pub use iter::{Gaps, GapsIn, GapsRev, Segments, SegmentsRev};
pub use set::SegmentSet;

use crate::addr::Range;
use std::fmt;
use std::str::FromStr;

/// The per-set-type policy of a [`SegmentSet`], like gVisor's `Functions`.
///
/// Implement it on a zero-sized marker type and use
/// `SegmentSet<MyFunctions>`.
pub trait SegmentFunctions {
    /// The value stored with each segment.
    type Value;

    /// Whether nodes cache the largest gap below them. Sets that never run
    /// [`GapSearch::MaxGap`] set this to `false` and pay nothing for it
    /// (every use is behind this compile-time constant).
    const TRACK_MAX_GAP: bool;

    /// Decides whether two adjacent segments may merge.
    ///
    /// Preconditions: `left.end == right.start`.
    ///
    /// Postconditions: `Some(v)` means the set may replace both segments by
    /// one segment `[left.start, right.end)` with value `v`; `None` keeps
    /// them apart.
    fn merge(
        left: Range,
        left_value: &Self::Value,
        right: Range,
        right_value: &Self::Value,
    ) -> Option<Self::Value>;

    /// Splits a segment's value at an address.
    ///
    /// Preconditions: `range.start < at < range.end`.
    ///
    /// Postconditions: returns the values for `[range.start, at)` and
    /// `[at, range.end)`.
    fn split(range: Range, value: &Self::Value, at: u64) -> (Self::Value, Self::Value);
}

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
