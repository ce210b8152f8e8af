//! Iteration over segments and gaps, forwards and backwards.
//!
//! Iterators borrow the set, so it cannot change while they live.

use super::functions::SegmentFunctions;
use super::set::SegmentSet;
use super::tree::{Found, Pos};
use crate::addr::Range;

/// Segments in increasing address order, up to an end address.
pub struct Segments<'a, F: SegmentFunctions> {
    set: &'a SegmentSet<F>,
    cur: Option<Pos>,
    /// Stop before the first segment starting at or after this address.
    until: u64,
}

impl<'a, F: SegmentFunctions> Iterator for Segments<'a, F> {
    type Item = (Range, &'a F::Value);

    fn next(&mut self) -> Option<Self::Item> {
        let p = self.cur?;
        let r = self.set.key(p);
        if r.start >= self.until {
            self.cur = None;
            return None;
        }
        self.cur = self.set.next_seg(p);
        Some((r, self.set.value(p)))
    }
}

/// Segments in decreasing address order.
pub struct SegmentsRev<'a, F: SegmentFunctions> {
    set: &'a SegmentSet<F>,
    cur: Option<Pos>,
}

impl<'a, F: SegmentFunctions> Iterator for SegmentsRev<'a, F> {
    type Item = (Range, &'a F::Value);

    fn next(&mut self) -> Option<Self::Item> {
        let p = self.cur?;
        self.cur = self.set.prev_seg(p);
        Some((self.set.key(p), self.set.value(p)))
    }
}

/// Non-empty gaps in increasing address order, to the end of the set.
///
/// To walk only the gaps of one range, use [`SegmentSet::gaps_in`]: this
/// iterator skips empty gaps, so producing the first non-empty gap past a
/// range can step over every adjacent segment above it.
pub struct Gaps<'a, F: SegmentFunctions> {
    set: &'a SegmentSet<F>,
    /// Start of the next gap to consider; `None` when finished.
    gap_start: Option<u64>,
    /// The segment that ends that gap (`None`: the set bounds end it).
    next: Option<Pos>,
    /// Segments stepped over so far (see [`Gaps::steps`]).
    steps: u64,
}

impl<F: SegmentFunctions> Gaps<'_, F> {
    /// Number of segments this iterator has stepped over so far (one per
    /// gap considered, empty or not): a deterministic measure of its cost.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

impl<F: SegmentFunctions> Iterator for Gaps<'_, F> {
    type Item = Range;

    fn next(&mut self) -> Option<Range> {
        loop {
            let start = self.gap_start?;
            let gap = match self.next {
                Some(p) => {
                    let r = self.set.key(p);
                    self.gap_start = Some(r.end);
                    self.next = self.set.next_seg(p);
                    self.steps += 1;
                    Range::new(start, r.start)
                }
                None => {
                    self.gap_start = None;
                    Range::new(start, self.set.bounds().end)
                }
            };
            if !gap.is_empty() {
                return Some(gap);
            }
        }
    }
}

/// The non-empty parts of the gaps inside one range, in increasing address
/// order, each clipped to the range (from [`SegmentSet::gaps_in`]).
///
/// It stops as soon as the next gap would start at or past the range's
/// end, so its cost is one step per segment intersecting the range plus
/// the initial lookup, whatever lies above the range (gVisor's
/// `getPMAsLocked` loop, which ends at the end of the range).
pub struct GapsIn<'a, F: SegmentFunctions> {
    set: &'a SegmentSet<F>,
    /// The range the gaps are clipped to.
    range: Range,
    /// Start of the next gap to consider; `None` when finished.
    gap_start: Option<u64>,
    /// The segment that ends that gap (`None`: the set bounds end it).
    next: Option<Pos>,
    /// Segments stepped over so far (see [`GapsIn::steps`]).
    steps: u64,
}

impl<F: SegmentFunctions> GapsIn<'_, F> {
    /// Number of segments this iterator has stepped over so far (one per
    /// gap considered, empty or not): a deterministic measure of its cost.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

impl<F: SegmentFunctions> Iterator for GapsIn<'_, F> {
    type Item = Range;

    fn next(&mut self) -> Option<Range> {
        loop {
            let start = self.gap_start?;
            if start >= self.range.end {
                self.gap_start = None;
                return None;
            }
            let end = match self.next {
                Some(p) => {
                    let r = self.set.key(p);
                    if r.end >= self.range.end {
                        // The gap after `p` starts at or past the end.
                        self.gap_start = None;
                    } else {
                        self.gap_start = Some(r.end);
                        self.next = self.set.next_seg(p);
                        self.steps += 1;
                    }
                    r.start
                }
                None => {
                    self.gap_start = None;
                    self.set.bounds().end
                }
            };
            let gap = Range::new(start, end).intersect(&self.range);
            if !gap.is_empty() {
                return Some(gap);
            }
        }
    }
}

/// Non-empty gaps in decreasing address order.
pub struct GapsRev<'a, F: SegmentFunctions> {
    set: &'a SegmentSet<F>,
    /// End of the next gap to consider; `None` when finished.
    gap_end: Option<u64>,
    /// The segment that starts that gap (`None`: the set bounds start it).
    prev: Option<Pos>,
}

impl<F: SegmentFunctions> Iterator for GapsRev<'_, F> {
    type Item = Range;

    fn next(&mut self) -> Option<Range> {
        loop {
            let end = self.gap_end?;
            let gap = match self.prev {
                Some(p) => {
                    let r = self.set.key(p);
                    self.gap_end = Some(r.start);
                    self.prev = self.set.prev_seg(p);
                    Range::new(r.end, end)
                }
                None => {
                    self.gap_end = None;
                    Range::new(self.set.bounds().start, end)
                }
            };
            if !gap.is_empty() {
                return Some(gap);
            }
        }
    }
}

impl<F: SegmentFunctions> SegmentSet<F> {
    /// All segments, lowest first.
    pub fn iter(&self) -> Segments<'_, F> {
        Segments {
            set: self,
            cur: self.first_pos(),
            until: u64::MAX,
        }
    }

    /// All segments, highest first.
    pub fn iter_rev(&self) -> SegmentsRev<'_, F> {
        SegmentsRev {
            set: self,
            cur: self.last_pos(),
        }
    }

    /// Segments whose end is greater than `addr` (the one containing
    /// `addr`, if any, comes first), lowest first.
    pub fn iter_from(&self, addr: u64) -> Segments<'_, F> {
        Segments {
            set: self,
            cur: self.lower_bound_seg(addr),
            until: u64::MAX,
        }
    }

    /// Segments whose start is less than `addr`, highest first.
    pub fn iter_rev_before(&self, addr: u64) -> SegmentsRev<'_, F> {
        SegmentsRev {
            set: self,
            cur: self.upper_bound_seg(addr),
        }
    }

    /// Segments that share at least one address with `range`, lowest
    /// first (segments straddling its ends are included whole).
    pub fn intersecting(&self, range: Range) -> Segments<'_, F> {
        Segments {
            set: self,
            cur: if range.is_empty() {
                None
            } else {
                self.lower_bound_seg(range.start)
            },
            until: range.end,
        }
    }

    /// All non-empty gaps, lowest first.
    pub fn gaps(&self) -> Gaps<'_, F> {
        Gaps {
            set: self,
            gap_start: Some(self.bounds().start),
            next: self.first_pos(),
            steps: 0,
        }
    }

    /// All non-empty gaps, highest first.
    pub fn gaps_rev(&self) -> GapsRev<'_, F> {
        GapsRev {
            set: self,
            gap_end: Some(self.bounds().end),
            prev: self.last_pos(),
        }
    }

    /// Non-empty gaps whose end is greater than `addr` (the gap containing
    /// `addr` comes first, whole), lowest first.
    pub fn gaps_from(&self, addr: u64) -> Gaps<'_, F> {
        if addr >= self.bounds().end {
            return Gaps {
                set: self,
                gap_start: None,
                next: None,
                steps: 0,
            };
        }
        let (gap_start, next) = match self.find(addr.max(self.bounds().start)) {
            Found::Seg(p) => (self.key(p).end, self.next_seg(p)),
            Found::Gap(slot) => (self.gap_range(slot).start, self.gap_next_seg(slot)),
        };
        Gaps {
            set: self,
            gap_start: Some(gap_start),
            next,
            steps: 0,
        }
    }

    /// The gaps inside `range`, each clipped to it, lowest first: the
    /// addresses of `range` that no segment covers, as maximal runs.
    ///
    /// Preconditions: none (an empty range, or one outside the bounds,
    /// yields nothing; a range straddling the bounds is clipped to them).
    ///
    /// Postconditions: the yielded ranges are non-empty, disjoint, in
    /// increasing order and inside `range ∩ bounds`; together with the
    /// segments intersecting `range` (clipped to it) they tile
    /// `range ∩ bounds` exactly. The walk stops before the first gap that
    /// starts at or past `range.end`, so it steps over no segment above
    /// the range ([`GapsIn::steps`] counts one step per segment crossed).
    pub fn gaps_in(&self, range: Range) -> GapsIn<'_, F> {
        let range = range.intersect(&self.bounds());
        let mut it = GapsIn {
            set: self,
            range,
            gap_start: None,
            next: None,
            steps: 0,
        };
        if range.is_empty() {
            return it;
        }
        match self.find(range.start) {
            Found::Seg(p) => {
                let r = self.key(p);
                if r.end < range.end {
                    it.gap_start = Some(r.end);
                    it.next = self.next_seg(p);
                    it.steps = 1;
                }
            }
            Found::Gap(slot) => {
                it.gap_start = Some(self.gap_range(slot).start);
                it.next = self.gap_next_seg(slot);
            }
        }
        it
    }

    /// Non-empty gaps whose start is less than `addr` (the gap containing
    /// `addr - 1` comes first, whole), highest first.
    pub fn gaps_rev_before(&self, addr: u64) -> GapsRev<'_, F> {
        if addr <= self.bounds().start {
            return GapsRev {
                set: self,
                gap_end: None,
                prev: None,
            };
        }
        let (gap_end, prev) = match self.find(addr.min(self.bounds().end) - 1) {
            Found::Seg(p) => (self.key(p).start, self.prev_seg(p)),
            Found::Gap(slot) => (self.gap_range(slot).end, self.gap_prev_seg(slot)),
        };
        GapsRev {
            set: self,
            gap_end: Some(gap_end),
            prev,
        }
    }
}
