//! Errors of the segment set: caller misuse (returned, never panicked on)
//! and invariant violations found by `check_invariants`.

use crate::addr::Range;
use thiserror::Error;

/// A segment-set operation that the caller asked for but that the set's
/// rules forbid. The set is left unchanged when one of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SegmentError {
    /// The node degree given to a constructor is too small.
    #[error("segment set min degree {degree} is too small (must be at least 2)")]
    DegreeTooSmall {
        /// The degree that was asked for.
        degree: usize,
    },
    /// The set bounds are empty or inverted.
    #[error("segment set bounds {bounds} are empty")]
    EmptyBounds {
        /// The bounds that were asked for.
        bounds: Range,
    },
    /// A range to insert is empty or inverted.
    #[error("range {range} is empty")]
    EmptyRange {
        /// The offending range.
        range: Range,
    },
    /// A range lies (partly) outside the set's bounds.
    #[error("range {range} lies outside the set bounds {bounds}")]
    OutOfBounds {
        /// The offending range.
        range: Range,
        /// The set's bounds.
        bounds: Range,
    },
    /// A range to insert overlaps a segment already in the set.
    #[error("range {range} overlaps existing segment {existing}")]
    Overlap {
        /// The range the caller tried to insert.
        range: Range,
        /// The first existing segment it overlaps.
        existing: Range,
    },
}

/// A broken structural invariant, reported by `check_invariants`.
///
/// Any of these is a bug in the segment set itself, never caller misuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvariantError {
    /// A stored segment is empty or inverted.
    #[error("segment {range} is empty")]
    EmptySegment {
        /// The offending segment.
        range: Range,
    },
    /// Two segments overlap or are out of order.
    #[error("segment {next} is out of order after {prev}")]
    Order {
        /// The earlier segment (in traversal order).
        prev: Range,
        /// The later segment.
        next: Range,
    },
    /// A segment lies outside the set bounds.
    #[error("segment {range} lies outside bounds {bounds}")]
    OutOfBounds {
        /// The offending segment.
        range: Range,
        /// The set bounds.
        bounds: Range,
    },
    /// A node holds too few or too many segments for the degree.
    #[error("node {node} holds {count} segments; allowed {min}..={max}")]
    Fill {
        /// Arena index of the node.
        node: u32,
        /// Number of segments it holds.
        count: usize,
        /// Minimum allowed.
        min: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// An internal node's child count is not its segment count plus one,
    /// keys and values differ in number, or (if tracked) the node's copies
    /// of its children's max gaps differ in number from its children.
    #[error("node {node} has {children} children for {segments} segments")]
    Shape {
        /// Arena index of the node.
        node: u32,
        /// Number of children.
        children: usize,
        /// Number of segments.
        segments: usize,
    },
    /// Leaves at different depths.
    #[error("leaf {node} at depth {depth}, expected {expected}")]
    LeafDepth {
        /// Arena index of the leaf.
        node: u32,
        /// Its depth.
        depth: usize,
        /// The depth of the first leaf seen.
        expected: usize,
    },
    /// A child's parent link or index in its parent is wrong.
    #[error("node {node}: parent link ({parent}, {index}) expected ({want_parent}, {want_index})")]
    ParentLink {
        /// Arena index of the child.
        node: u32,
        /// Stored parent.
        parent: u32,
        /// Stored index in the parent.
        index: u32,
        /// Actual parent.
        want_parent: u32,
        /// Actual index.
        want_index: u32,
    },
    /// The cached segment count differs from the number of segments.
    #[error("cached length {cached} but {counted} segments found")]
    Length {
        /// The cached count.
        cached: usize,
        /// The counted number.
        counted: usize,
    },
    /// The arena's live-node count disagrees with the reachable nodes.
    #[error("{reachable} nodes reachable but {live} live in the arena")]
    Arena {
        /// Nodes reachable from the root.
        reachable: usize,
        /// Nodes not on the free list.
        live: usize,
    },
    /// A node's cached max gap (or its parent's copy of it) differs from
    /// recomputation.
    #[error("node {node}: cached max gap {cached:#x}, recomputed {recomputed:#x}")]
    MaxGap {
        /// Arena index of the node.
        node: u32,
        /// The cached value.
        cached: u64,
        /// The recomputed value.
        recomputed: u64,
    },
    /// The cached total of segment lengths differs from the sum.
    #[error("cached segment total {cached:#x}, recomputed {recomputed:#x}")]
    SpanTotal {
        /// The cached total.
        cached: u64,
        /// The recomputed total.
        recomputed: u64,
    },
}

/// An unknown gap-search name (expected `linear` or `maxgap`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown gap search {input:?} (expected linear or maxgap)")]
pub struct ParseGapSearchError {
    /// The text that was given.
    pub input: String,
}
