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
mod functions;
mod gap_search;
mod iter;
mod search;
mod set;
mod tree;

pub use error::{InvariantError, ParseGapSearchError, SegmentError};
pub use functions::SegmentFunctions;
pub use gap_search::GapSearch;
pub use iter::{Gaps, GapsIn, GapsRev, Segments, SegmentsRev};
pub use set::SegmentSet;
