//! Trace ranges → replay ranges, page granular: where the replay has what
//! the traced program mapped ([`AddrMap`]). The replay's side of a range
//! is a [`Place`]: an address (inproc, kvm: the replay's own result) or a
//! call's result plus an offset (the stub: results are known only when the
//! stub runs).

use std::collections::BTreeMap;

/// Where the replay has the start of a range; `shifted(d)` is `d` bytes
/// further.
pub trait Place: Copy {
    /// The place `d` bytes further.
    fn shifted(self, d: u64) -> Self;
}

impl Place for u64 {
    fn shifted(self, d: u64) -> Self {
        self.wrapping_add(d)
    }
}

/// The result of call `call` of a replay, plus `offset` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultOf {
    /// Index of the call.
    pub call: usize,
    /// Bytes past its result.
    pub offset: u64,
}

impl Place for ResultOf {
    fn shifted(self, d: u64) -> Self {
        ResultOf {
            call: self.call,
            offset: self.offset.wrapping_add(d),
        }
    }
}

/// Trace ranges → replay places, page granular.
#[derive(Debug)]
pub struct AddrMap<P> {
    /// trace start → (length, replay place); ranges never overlap.
    ranges: BTreeMap<u64, (u64, P)>,
}

impl<P> Default for AddrMap<P> {
    fn default() -> Self {
        AddrMap {
            ranges: BTreeMap::new(),
        }
    }
}

impl<P: Place> AddrMap<P> {
    /// Where the replay has trace address `addr`; `None` when the trace
    /// never mapped it (or unmapped it since).
    pub fn lookup(&self, addr: u64) -> Option<P> {
        let (&start, &(len, to)) = self.ranges.range(..=addr).next_back()?;
        (addr - start < len).then(|| to.shifted(addr - start))
    }

    /// Forget `[start, start + len)` of the trace.
    ///
    /// Postconditions: no range overlaps it; parts of ranges outside it stay.
    pub fn remove(&mut self, start: u64, len: u64) {
        let end = start.saturating_add(len);
        let overlapping: Vec<(u64, (u64, P))> = self
            .ranges
            .range(..end)
            .rev()
            .take_while(|(&s, &(l, _))| s.saturating_add(l) > start)
            .map(|(&s, &v)| (s, v))
            .collect();
        for (s, (l, to)) in overlapping {
            self.ranges.remove(&s);
            let e = s.saturating_add(l);
            if s < start {
                self.ranges.insert(s, (start - s, to));
            }
            if e > end {
                self.ranges.insert(end, (e - end, to.shifted(end - s)));
            }
        }
    }

    /// Record that trace range `[start, start + len)` is at `to` in the replay.
    pub fn insert(&mut self, start: u64, len: u64, to: P) {
        if len == 0 {
            return;
        }
        self.remove(start, len);
        self.ranges.insert(start, (len, to));
    }
}

impl AddrMap<u64> {
    /// Where the replay has trace address `addr`; `addr` itself when the
    /// trace never mapped it.
    pub fn translate(&self, addr: u64) -> u64 {
        self.lookup(addr).unwrap_or(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_map_translates_splits_and_forgets() {
        let mut m = AddrMap::default();
        m.insert(0x10000, 0x4000, 0x90000u64);
        assert_eq!(m.translate(0x11000), 0x91000);
        assert_eq!(m.translate(0x14000), 0x14000, "end is exclusive");
        m.remove(0x11000, 0x1000);
        assert_eq!(m.translate(0x11000), 0x11000);
        assert_eq!(m.translate(0x10000), 0x90000);
        assert_eq!(m.translate(0x12000), 0x92000);
        m.insert(0x10000, 0x3000, 0x50000);
        assert_eq!(m.translate(0x12000), 0x52000);
        assert_eq!(m.translate(0x13000), 0x93000);
    }

    #[test]
    fn result_places_keep_their_call_and_shift_the_offset() {
        let mut m = AddrMap::default();
        m.insert(0x10000, 0x4000, ResultOf { call: 3, offset: 0 });
        m.remove(0x11000, 0x1000);
        assert_eq!(
            m.lookup(0x12800),
            Some(ResultOf {
                call: 3,
                offset: 0x2800
            })
        );
        assert_eq!(m.lookup(0x11000), None);
    }
}
