//! The set's public operations, built on the tree primitives of `tree.rs`.
//!
//! See the module documentation (`segment/mod.rs`) for the invariants every
//! public operation preserves.

use super::error::SegmentError;
use super::functions::SegmentFunctions;
use super::tree::{Found, Node, Pos, NIL};
use crate::addr::Range;
use std::fmt;
use std::marker::PhantomData;

/// A B-tree of non-overlapping half-open ranges with values; see the module
/// documentation for its invariants.
pub struct SegmentSet<F: SegmentFunctions> {
    pub(super) nodes: Vec<Node<F::Value>>,
    pub(super) free: Vec<u32>,
    pub(super) root: u32,
    pub(super) min_degree: usize,
    pub(super) bounds: Range,
    pub(super) len: usize,
    pub(super) span: u64,
    /// Nodes whose cached max gap must be recomputed before the current
    /// public operation returns (only used if `F::TRACK_MAX_GAP`).
    pub(super) dirty: Vec<u32>,
    _functions: PhantomData<fn() -> F>,
}

impl<F: SegmentFunctions> SegmentSet<F> {
    /// Creates an empty set over `bounds` whose nodes hold between
    /// `min_degree - 1` and `2 * min_degree - 1` segments.
    ///
    /// Preconditions: none (bad arguments are returned as errors).
    ///
    /// Postconditions: on success the set is empty and its only gap is
    /// `bounds`. Errors: [`SegmentError::DegreeTooSmall`] if
    /// `min_degree < 2`, [`SegmentError::EmptyBounds`] if `bounds` is empty.
    pub fn new(bounds: Range, min_degree: usize) -> Result<Self, SegmentError> {
        if min_degree < 2 {
            return Err(SegmentError::DegreeTooSmall { degree: min_degree });
        }
        if bounds.is_empty() {
            return Err(SegmentError::EmptyBounds { bounds });
        }
        let mut set = SegmentSet {
            nodes: Vec::new(),
            free: Vec::new(),
            root: 0,
            min_degree,
            bounds,
            len: 0,
            span: 0,
            dirty: Vec::new(),
            _functions: PhantomData,
        };
        set.root = set.alloc(NIL, 0, Vec::new(), Vec::new(), Vec::new());
        set.nodes[set.root as usize].max_gap = if F::TRACK_MAX_GAP { bounds.len() } else { 0 };
        Ok(set)
    }

    /// The address range the set covers (segments and gaps tile it).
    pub fn bounds(&self) -> Range {
        self.bounds
    }

    /// The minimum degree `t` given at construction.
    pub fn min_degree(&self) -> usize {
        self.min_degree
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the set holds no segment.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of node levels (1 for a set whose root is a leaf). Every
    /// search and update visits O(height) nodes.
    pub fn height(&self) -> usize {
        let mut levels = 1;
        let mut n = self.root;
        while let Some(&c) = self.node(n).children.first() {
            levels += 1;
            n = c;
        }
        levels
    }

    /// Sum of the lengths of all segments.
    pub fn total_segment_len(&self) -> u64 {
        self.span
    }

    /// Sum of the lengths of all gaps: `bounds().len() - total_segment_len()`.
    pub fn total_gap_len(&self) -> u64 {
        self.bounds.len() - self.span
    }

    /// Removes every segment.
    ///
    /// Postconditions: the set is empty; bounds and degree are unchanged.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.free.clear();
        self.dirty.clear();
        self.len = 0;
        self.span = 0;
        self.root = self.alloc(NIL, 0, Vec::new(), Vec::new(), Vec::new());
        self.nodes[self.root as usize].max_gap = if F::TRACK_MAX_GAP {
            self.bounds.len()
        } else {
            0
        };
    }

    /// The segment containing `addr` and its value.
    ///
    /// Postconditions: `Some((r, v))` with `r.contains(addr)`, or `None` if
    /// `addr` lies in a gap or outside the bounds.
    pub fn lookup(&self, addr: u64) -> Option<(Range, &F::Value)> {
        match self.find(addr) {
            Found::Seg(p) => Some((self.key(p), self.value(p))),
            Found::Gap(_) => None,
        }
    }

    /// Like [`SegmentSet::lookup`], with mutable access to the value.
    ///
    /// Postconditions: changing the value never breaks a structural
    /// invariant (sets need not be maximally merged); call
    /// [`SegmentSet::merge_range`] afterwards to merge segments the change
    /// made mergeable.
    pub fn lookup_mut(&mut self, addr: u64) -> Option<(Range, &mut F::Value)> {
        match self.find(addr) {
            Found::Seg(p) => {
                let r = self.key(p);
                Some((r, &mut self.nodes[p.node as usize].values[p.idx]))
            }
            Found::Gap(_) => None,
        }
    }

    /// True if `addr` lies in some segment.
    pub fn contains(&self, addr: u64) -> bool {
        matches!(self.find(addr), Found::Seg(_))
    }

    /// The non-empty gap containing `addr`.
    ///
    /// Postconditions: `Some(g)` with `g.contains(addr)`, `g` bounded by the
    /// neighbouring segments (or the set bounds); `None` if `addr` lies in a
    /// segment or outside the bounds.
    pub fn find_gap(&self, addr: u64) -> Option<Range> {
        if !self.bounds.contains(addr) {
            return None;
        }
        match self.find(addr) {
            Found::Seg(_) => None,
            Found::Gap(slot) => Some(self.gap_range(slot)),
        }
    }

    /// The first segment (lowest addresses).
    pub fn first(&self) -> Option<(Range, &F::Value)> {
        self.first_pos().map(|p| (self.key(p), self.value(p)))
    }

    /// The last segment (highest addresses).
    pub fn last(&self) -> Option<(Range, &F::Value)> {
        self.last_pos().map(|p| (self.key(p), self.value(p)))
    }

    /// Inserts `range` with `value` as its own segment, without merging.
    ///
    /// Preconditions: none (misuse is returned as an error).
    ///
    /// Postconditions: on success, `lookup(range.start)` returns
    /// `(range, value)` and `len()` grew by one. Errors (set unchanged):
    /// [`SegmentError::EmptyRange`], [`SegmentError::OutOfBounds`],
    /// [`SegmentError::Overlap`].
    pub fn insert(&mut self, range: Range, value: F::Value) -> Result<(), SegmentError> {
        let slot = self.slot_for_insert(range)?;
        self.insert_at_slot(slot, range, value);
        self.flush_dirty();
        Ok(())
    }

    /// Inserts `range` with `value`, merging it with its left and/or right
    /// neighbour when adjacent and `F::merge` agrees (left first, then the
    /// result with the right, as gVisor does).
    ///
    /// Preconditions: none (misuse is returned as an error).
    ///
    /// Postconditions: on success returns the range of the segment that now
    /// holds `range` (a superset of it). Errors as [`SegmentSet::insert`].
    pub fn insert_with_merge(
        &mut self,
        range: Range,
        value: F::Value,
    ) -> Result<Range, SegmentError> {
        let slot = self.slot_for_insert(range)?;
        let prev = self
            .gap_prev_seg(slot)
            .filter(|&p| self.key(p).end == range.start);
        let next = self
            .gap_next_seg(slot)
            .filter(|&p| self.key(p).start == range.end);
        let mut cur_range = range;
        let mut cur_value = value;
        let mut merged_prev = None;
        if let Some(pp) = prev {
            if let Some(m) = F::merge(self.key(pp), self.value(pp), range, &cur_value) {
                cur_value = m;
                cur_range = Range::new(self.key(pp).start, range.end);
                merged_prev = Some(pp);
            }
        }
        if let Some(np) = next {
            let next_range = self.key(np);
            if let Some(m) = F::merge(cur_range, &cur_value, next_range, self.value(np)) {
                let result = Range::new(cur_range.start, next_range.end);
                match merged_prev {
                    Some(_) => {
                        self.remove_at(np);
                        let pp = self.seg_at(cur_range.start);
                        self.set_value(pp, m);
                        self.set_range(pp, result);
                    }
                    None => {
                        self.set_value(np, m);
                        self.set_range(np, result);
                    }
                }
                self.flush_dirty();
                return Ok(result);
            }
        }
        match merged_prev {
            Some(pp) => {
                self.set_value(pp, cur_value);
                self.set_range(pp, cur_range);
            }
            None => self.insert_at_slot(slot, range, cur_value),
        }
        self.flush_dirty();
        Ok(cur_range)
    }

    /// Removes the segment containing `addr`.
    ///
    /// Postconditions: returns the removed segment and its value, or `None`
    /// (set unchanged) if `addr` lies in no segment. The removed range
    /// becomes part of a gap.
    pub fn remove(&mut self, addr: u64) -> Option<(Range, F::Value)> {
        match self.find(addr) {
            Found::Seg(p) => {
                let out = self.remove_at(p);
                self.flush_dirty();
                Some(out)
            }
            Found::Gap(_) => None,
        }
    }

    /// Removes every address of `range` from the set, splitting segments
    /// that straddle its ends (with `F::split`).
    ///
    /// Postconditions: no segment intersects `range`; the parts of
    /// straddling segments outside `range` remain; returns the removed
    /// pieces (each inside `range`) in address order.
    pub fn remove_range(&mut self, range: Range) -> Vec<(Range, F::Value)> {
        let range = range.intersect(&self.bounds);
        let mut removed = Vec::new();
        if range.is_empty() {
            return removed;
        }
        self.isolate(range);
        while let Some(p) = self.lower_bound_seg(range.start) {
            if self.key(p).start >= range.end {
                break;
            }
            removed.push(self.remove_at(p));
            self.flush_dirty();
        }
        removed
    }

    /// Splits the segment containing `addr` into `[start, addr)` and
    /// `[addr, end)`, with values from `F::split`.
    ///
    /// Postconditions: returns true if a split happened; false (set
    /// unchanged) if `addr` lies in no segment or is a segment's start.
    pub fn split_at(&mut self, addr: u64) -> bool {
        let p = match self.find(addr) {
            Found::Seg(p) => p,
            Found::Gap(_) => return false,
        };
        let r = self.key(p);
        if r.start == addr {
            return false;
        }
        let (left, right) = F::split(r, self.value(p), addr);
        self.set_value(p, left);
        self.set_range(p, Range::new(r.start, addr));
        let slot = self.gap_after(p);
        self.insert_at_slot(slot, Range::new(addr, r.end), right);
        self.flush_dirty();
        true
    }

    /// Splits segments so that every segment intersecting `range` lies
    /// entirely inside it (gVisor's `Isolate`).
    ///
    /// Postconditions: no segment contains both an address in `range` and
    /// one outside it; the union of segments is unchanged.
    pub fn isolate(&mut self, range: Range) {
        if range.is_empty() {
            return;
        }
        self.split_at(range.start);
        self.split_at(range.end);
    }

    /// Isolates `range`, calls `f` on every segment inside it (in address
    /// order), then merges around it with [`SegmentSet::merge_range`].
    /// This is the mprotect pattern.
    ///
    /// Postconditions: the union of segments is unchanged; returns the
    /// number of segments `f` was called on.
    pub fn update_range(&mut self, range: Range, mut f: impl FnMut(Range, &mut F::Value)) -> usize {
        if range.is_empty() {
            return 0;
        }
        self.isolate(range);
        let mut count = 0;
        let mut cur = self.lower_bound_seg(range.start);
        while let Some(p) = cur {
            let r = self.key(p);
            if r.start >= range.end {
                break;
            }
            f(r, &mut self.nodes[p.node as usize].values[p.idx]);
            count += 1;
            cur = self.next_seg(p);
        }
        self.merge_range(range);
        count
    }

    /// Merges adjacent segments whose shared boundary lies in
    /// `[range.start, range.end]` (both ends included, so the neighbours
    /// just outside `range` are considered) when `F::merge` agrees; like
    /// gVisor's `MergeRange` plus `MergeAdjacent`.
    ///
    /// Postconditions: the union of segments is unchanged; returns the
    /// number of merges done.
    pub fn merge_range(&mut self, range: Range) -> usize {
        let mut merges = 0;
        // First segment with end >= range.start.
        let mut cur = self.lower_bound_seg(range.start.saturating_sub(1));
        while let Some(p) = cur {
            let a = self.key(p);
            if a.end > range.end {
                break;
            }
            let Some(q) = self.next_seg(p) else { break };
            let b = self.key(q);
            if b.start == a.end {
                if let Some(m) = F::merge(a, self.value(p), b, self.value(q)) {
                    self.remove_at(q);
                    let pp = self.seg_at(a.start);
                    self.set_value(pp, m);
                    self.set_range(pp, Range::new(a.start, b.end));
                    self.flush_dirty();
                    merges += 1;
                    cur = Some(pp);
                    continue;
                }
            }
            cur = Some(q);
        }
        merges
    }

    /// Merges the segments on either side of `addr` if they are adjacent
    /// there and `F::merge` agrees.
    ///
    /// Postconditions: returns true if a merge happened.
    pub fn merge_at(&mut self, addr: u64) -> bool {
        self.merge_range(Range::new(addr, addr)) > 0
    }

    // ---- internal: checks ------------------------------------------------

    /// The gap slot where `range` can be inserted, or why it cannot.
    fn slot_for_insert(&self, range: Range) -> Result<Pos, SegmentError> {
        if range.is_empty() {
            return Err(SegmentError::EmptyRange { range });
        }
        if !self.bounds.is_superset_of(&range) {
            return Err(SegmentError::OutOfBounds {
                range,
                bounds: self.bounds,
            });
        }
        match self.find(range.start) {
            Found::Seg(p) => Err(SegmentError::Overlap {
                range,
                existing: self.key(p),
            }),
            Found::Gap(slot) => match self.gap_next_seg(slot) {
                Some(n) if self.key(n).start < range.end => Err(SegmentError::Overlap {
                    range,
                    existing: self.key(n),
                }),
                _ => Ok(slot),
            },
        }
    }
}

impl<F: SegmentFunctions> Clone for SegmentSet<F>
where
    F::Value: Clone,
{
    fn clone(&self) -> Self {
        SegmentSet {
            nodes: self
                .nodes
                .iter()
                .map(|n| Node {
                    parent: n.parent,
                    index: n.index,
                    keys: n.keys.clone(),
                    values: n.values.clone(),
                    children: n.children.clone(),
                    max_gap: n.max_gap,
                    child_gaps: n.child_gaps.clone(),
                    live: n.live,
                })
                .collect(),
            free: self.free.clone(),
            root: self.root,
            min_degree: self.min_degree,
            bounds: self.bounds,
            len: self.len,
            span: self.span,
            dirty: Vec::new(),
            _functions: PhantomData,
        }
    }
}

impl<F: SegmentFunctions> fmt::Debug for SegmentSet<F>
where
    F::Value: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
