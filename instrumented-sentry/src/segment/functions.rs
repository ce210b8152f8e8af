//! The per-set-type policy of a segment set ([`SegmentFunctions`]).

use crate::addr::Range;

/// The per-set-type policy of a [`SegmentSet`](super::SegmentSet), like gVisor's `Functions`.
///
/// Implement it on a zero-sized marker type and use
/// `SegmentSet<MyFunctions>`.
pub trait SegmentFunctions {
    /// The value stored with each segment.
    type Value;

    /// Whether nodes cache the largest gap below them. Sets that never run
    /// [`GapSearch::MaxGap`](super::GapSearch::MaxGap) set this to `false` and pay nothing for it
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
