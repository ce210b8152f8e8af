//! Half-open address ranges `[start, end)` over `u64`.

use std::fmt;

/// A half-open range of addresses `[start, end)`.
///
/// A `Range` with `start >= end` is empty. Segment sets only store
/// non-empty ranges; gap searches only return non-empty gaps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Range {
    /// First address in the range.
    pub start: u64,
    /// One past the last address in the range.
    pub end: u64,
}

impl Range {
    /// Builds `[start, end)`. No check is made; see [`Range::is_valid`].
    pub const fn new(start: u64, end: u64) -> Self {
        Range { start, end }
    }

    /// Builds `[start, start + len)`, or `None` if the end would overflow.
    pub fn from_start_len(start: u64, len: u64) -> Option<Self> {
        start.checked_add(len).map(|end| Range { start, end })
    }

    /// `end - start`, or 0 for an empty or inverted range.
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True if the range holds no address.
    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// True if `start <= end` (an empty range at one point is valid).
    pub const fn is_valid(&self) -> bool {
        self.start <= self.end
    }

    /// True if `addr` lies in the range.
    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// True if the two ranges share at least one address.
    pub const fn overlaps(&self, other: &Range) -> bool {
        self.start < other.end && other.start < self.end && !self.is_empty() && !other.is_empty()
    }

    /// True if every address of `other` lies in `self` (an empty `other`
    /// counts if its start lies within `[self.start, self.end]`).
    pub const fn is_superset_of(&self, other: &Range) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The addresses in both ranges (possibly empty, with `start >= end`
    /// normalised to `start == end`).
    pub fn intersect(&self, other: &Range) -> Range {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        if start >= end {
            Range { start, end: start }
        } else {
            Range { start, end }
        }
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_predicates() {
        let r = Range::new(10, 20);
        assert_eq!(r.len(), 10);
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert!(r.overlaps(&Range::new(19, 30)));
        assert!(!r.overlaps(&Range::new(20, 30)));
        assert!(!r.overlaps(&Range::new(15, 15)));
        assert_eq!(r.intersect(&Range::new(15, 40)), Range::new(15, 20));
        assert!(r.intersect(&Range::new(30, 40)).is_empty());
        assert!(Range::new(5, 5).is_empty());
        assert!(Range::from_start_len(u64::MAX, 1).is_none());
        assert_eq!(Range::from_start_len(4, 4), Some(Range::new(4, 8)));
    }
}
