//! Gap searches: linear (gap by gap) and max-gap (skip small subtrees).
//!
//! Semantics shared by both strategies (and tested to be identical):
//!
//! - forwards, `first_large_enough_gap(from, min_len)`: the lowest gap `g`
//!   with `g.end > from` whose part at or above `from`,
//!   `[max(g.start, from), g.end)`, is at least `min_len` long;
//! - backwards, `last_large_enough_gap(before, min_len)`: the highest gap
//!   `g` with `g.start < before` whose part below `before`,
//!   `[g.start, min(g.end, before))`, is at least `min_len` long.
//!
//! Both return the whole gap (bounded by its neighbouring segments or the
//! set bounds), so the caller can place a mapping anywhere inside the
//! clipped part. `min_len == 0` is treated as 1: only non-empty gaps are
//! returned.

use super::functions::SegmentFunctions;
use super::gap_search::GapSearch;
use super::set::SegmentSet;
use super::tree::{Found, Pos, NIL};
use crate::addr::Range;

/// Length of the part of `g` at or above `from`.
fn len_from(g: Range, from: u64) -> u64 {
    g.end.saturating_sub(g.start.max(from))
}

/// Length of the part of `g` below `before`.
fn len_before(g: Range, before: u64) -> u64 {
    g.end.min(before).saturating_sub(g.start)
}

impl<F: SegmentFunctions> SegmentSet<F> {
    /// A compile-time assertion: naming it in a function makes that
    /// function compile only for set types with `TRACK_MAX_GAP = true`.
    const MAX_GAP_TRACKED: () = assert!(
        F::TRACK_MAX_GAP,
        "max-gap search needs a SegmentFunctions type with TRACK_MAX_GAP = true"
    );

    /// Forward gap search with the strategy chosen at run time.
    ///
    /// Only compiles for set types with `TRACK_MAX_GAP = true` (a
    /// compile-time assertion); other sets use
    /// [`SegmentSet::first_large_enough_gap_linear`].
    ///
    /// Postconditions: see the module docs; both strategies return the
    /// same gap.
    pub fn first_large_enough_gap(
        &self,
        from: u64,
        min_len: u64,
        strategy: GapSearch,
    ) -> Option<Range> {
        let () = Self::MAX_GAP_TRACKED;
        match strategy {
            GapSearch::Linear => self.first_large_enough_gap_linear(from, min_len),
            GapSearch::MaxGap => self.first_large_enough_gap_max_gap(from, min_len),
        }
    }

    /// Backward gap search with the strategy chosen at run time.
    ///
    /// Only compiles for set types with `TRACK_MAX_GAP = true`; other sets
    /// use [`SegmentSet::last_large_enough_gap_linear`].
    ///
    /// Postconditions: see the module docs; both strategies return the
    /// same gap.
    pub fn last_large_enough_gap(
        &self,
        before: u64,
        min_len: u64,
        strategy: GapSearch,
    ) -> Option<Range> {
        let () = Self::MAX_GAP_TRACKED;
        match strategy {
            GapSearch::Linear => self.last_large_enough_gap_linear(before, min_len),
            GapSearch::MaxGap => self.last_large_enough_gap_max_gap(before, min_len),
        }
    }

    /// Forward search stepping gap by gap (gVisor's `NextGap` loop): O(n).
    /// Available on every set.
    pub fn first_large_enough_gap_linear(&self, from: u64, min_len: u64) -> Option<Range> {
        let min_len = min_len.max(1);
        if from >= self.bounds.end {
            return None;
        }
        let (mut gap_start, mut next) = match self.find(from.max(self.bounds.start)) {
            Found::Seg(p) => (self.key(p).end, self.next_seg(p)),
            Found::Gap(slot) => (self.gap_range(slot).start, self.gap_next_seg(slot)),
        };
        loop {
            let end = next.map_or(self.bounds.end, |p| self.key(p).start);
            let gap = Range::new(gap_start, end);
            if len_from(gap, from) >= min_len {
                return Some(gap);
            }
            let p = next?;
            gap_start = self.key(p).end;
            next = self.next_seg(p);
        }
    }

    /// Backward search stepping gap by gap (gVisor's `PrevGap` loop): O(n).
    /// Available on every set.
    pub fn last_large_enough_gap_linear(&self, before: u64, min_len: u64) -> Option<Range> {
        let min_len = min_len.max(1);
        if before <= self.bounds.start {
            return None;
        }
        let (mut gap_end, mut prev) = match self.find(before.min(self.bounds.end) - 1) {
            Found::Seg(p) => (self.key(p).start, self.prev_seg(p)),
            Found::Gap(slot) => (self.gap_range(slot).end, self.gap_prev_seg(slot)),
        };
        loop {
            let start = prev.map_or(self.bounds.start, |p| self.key(p).end);
            let gap = Range::new(start, gap_end);
            if len_before(gap, before) >= min_len {
                return Some(gap);
            }
            let p = prev?;
            gap_end = self.key(p).start;
            prev = self.prev_seg(p);
        }
    }

    /// Forward search descending only into subtrees whose max gap is at
    /// least `min_len` (gVisor's `LowerBoundLargeEnoughGap` /
    /// `NextLargeEnoughGap`): O(t log n).
    ///
    /// Only compiles for set types with `TRACK_MAX_GAP = true`.
    pub fn first_large_enough_gap_max_gap(&self, from: u64, min_len: u64) -> Option<Range> {
        let () = Self::MAX_GAP_TRACKED;
        let min_len = min_len.max(1);
        if from >= self.bounds.end {
            return None;
        }
        let slot = match self.find(from.max(self.bounds.start)) {
            Found::Seg(p) => self.gap_after(p),
            Found::Gap(slot) => slot,
        };
        // Only this first gap can be clipped by `from`; every later gap
        // lies wholly at or above it.
        let gap = self.gap_range(slot);
        if len_from(gap, from) >= min_len {
            return Some(gap);
        }
        // Rest of this leaf.
        let leaf = self.node(slot.node);
        if leaf.max_gap >= min_len {
            for j in slot.idx + 1..=leaf.keys.len() {
                let g = self.gap_range(Pos {
                    node: slot.node,
                    idx: j,
                });
                if g.len() >= min_len {
                    return Some(g);
                }
            }
        }
        // Climb, trying the right siblings of each node on the path.
        let mut c = slot.node;
        loop {
            let node = self.node(c);
            let parent = node.parent;
            if parent == NIL {
                return None;
            }
            let p = self.node(parent);
            let first = node.index as usize + 1;
            if let Some(k) = p.child_gaps[first..].iter().position(|&g| g >= min_len) {
                return self.descend_first(p.children[first + k], min_len);
            }
            c = parent;
        }
    }

    /// Backward search descending only into subtrees whose max gap is at
    /// least `min_len` (gVisor's `UpperBoundLargeEnoughGap` /
    /// `PrevLargeEnoughGap`): O(t log n).
    ///
    /// Only compiles for set types with `TRACK_MAX_GAP = true`.
    pub fn last_large_enough_gap_max_gap(&self, before: u64, min_len: u64) -> Option<Range> {
        let () = Self::MAX_GAP_TRACKED;
        let min_len = min_len.max(1);
        if before <= self.bounds.start {
            return None;
        }
        let slot = match self.find(before.min(self.bounds.end) - 1) {
            Found::Seg(p) => self.gap_before(p),
            Found::Gap(slot) => slot,
        };
        let gap = self.gap_range(slot);
        if len_before(gap, before) >= min_len {
            return Some(gap);
        }
        let leaf = self.node(slot.node);
        if leaf.max_gap >= min_len {
            for j in (0..slot.idx).rev() {
                let g = self.gap_range(Pos {
                    node: slot.node,
                    idx: j,
                });
                if g.len() >= min_len {
                    return Some(g);
                }
            }
        }
        let mut c = slot.node;
        loop {
            let node = self.node(c);
            let parent = node.parent;
            if parent == NIL {
                return None;
            }
            let p = self.node(parent);
            if let Some(k) = p.child_gaps[..node.index as usize]
                .iter()
                .rposition(|&g| g >= min_len)
            {
                return self.descend_last(p.children[k], min_len);
            }
            c = parent;
        }
    }

    /// The first gap of at least `min_len` among slots `lo..=k` of leaf
    /// `leaf`. Inner slots are read straight from the leaf's keys; only the
    /// two end slots look outside the leaf for their bounding segment.
    fn leaf_first_fit(&self, leaf: u32, lo: usize, min_len: u64) -> Option<Range> {
        let keys = &self.node(leaf).keys;
        let k = keys.len();
        if lo > k {
            return None;
        }
        let mut start = if lo == 0 {
            self.gap_prev_seg(Pos { node: leaf, idx: 0 })
                .map_or(self.bounds.start, |p| self.key(p).end)
        } else {
            keys[lo - 1].end
        };
        for key in &keys[lo..] {
            if key.start - start >= min_len {
                return Some(Range::new(start, key.start));
            }
            start = key.end;
        }
        let end = self
            .gap_next_seg(Pos { node: leaf, idx: k })
            .map_or(self.bounds.end, |p| self.key(p).start);
        (end - start >= min_len).then_some(Range::new(start, end))
    }

    /// The last gap of at least `min_len` among slots `0..=hi` of leaf
    /// `leaf` (`hi <= k`).
    fn leaf_last_fit(&self, leaf: u32, hi: usize, min_len: u64) -> Option<Range> {
        let keys = &self.node(leaf).keys;
        let k = keys.len();
        let mut end = if hi == k {
            self.gap_next_seg(Pos { node: leaf, idx: k })
                .map_or(self.bounds.end, |p| self.key(p).start)
        } else {
            keys[hi].start
        };
        for key in keys[..hi].iter().rev() {
            if end - key.end >= min_len {
                return Some(Range::new(key.end, end));
            }
            end = key.start;
        }
        let start = self
            .gap_prev_seg(Pos { node: leaf, idx: 0 })
            .map_or(self.bounds.start, |p| self.key(p).end);
        (end - start >= min_len).then_some(Range::new(start, end))
    }

    /// The first gap of at least `min_len` in subtree `n`.
    ///
    /// Preconditions: `n`'s max gap is at least `min_len`.
    fn descend_first(&self, mut n: u32, min_len: u64) -> Option<Range> {
        loop {
            let node = self.node(n);
            if node.is_leaf() {
                let found = self.leaf_first_fit(n, 0, min_len);
                debug_assert!(found.is_some(), "max-gap cache promised a gap");
                return found;
            }
            let k = node.child_gaps.iter().position(|&g| g >= min_len)?;
            n = node.children[k];
        }
    }

    /// The last gap of at least `min_len` in subtree `n`.
    ///
    /// Preconditions: `n`'s max gap is at least `min_len`.
    fn descend_last(&self, mut n: u32, min_len: u64) -> Option<Range> {
        loop {
            let node = self.node(n);
            if node.is_leaf() {
                let found = self.leaf_last_fit(n, node.keys.len(), min_len);
                debug_assert!(found.is_some(), "max-gap cache promised a gap");
                return found;
            }
            let k = node.child_gaps.iter().rposition(|&g| g >= min_len)?;
            n = node.children[k];
        }
    }
}
