//! Walks a stopped guest's frame-pointer chain.
//!
//! The guest programs keep frame pointers (`push rbp; mov rbp, rsp` in
//! every function), so at any stop `rbp` points at a frame holding the
//! caller's `rbp` and, above it, the return address. The walk reads guest
//! memory through a reader the VMM gives (which translates guest-virtual
//! addresses through the page tables it wrote). It is bounded and never
//! fails: a frame pointer that is misaligned, not above the previous one,
//! or unmapped ends the stack and says why.

/// Frames kept at most (the leaf's RIP included).
pub const MAX_DEPTH: usize = 64;

/// Why a chain ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokenChain {
    /// A frame pointer not 8-byte aligned.
    Misaligned,
    /// A frame pointer below the stack pointer or not above the previous
    /// frame.
    NotMonotonic,
    /// A frame whose words are not mapped user memory.
    Unmapped,
    /// More than [`MAX_DEPTH`] frames.
    TooDeep,
}

impl BrokenChain {
    /// A short name for a marker frame ("unmapped").
    pub fn name(self) -> &'static str {
        match self {
            BrokenChain::Misaligned => "misaligned",
            BrokenChain::NotMonotonic => "not monotonic",
            BrokenChain::Unmapped => "unmapped",
            BrokenChain::TooDeep => "too deep",
        }
    }
}

/// A guest stack: instruction pointers, leaf first (the leaf's RIP, then
/// return addresses), and whether the chain broke.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuestStack {
    /// The leaf's RIP, then each caller's return address.
    pub pcs: Vec<u64>,
    /// Set when the walk stopped before the outermost frame.
    pub broken: Option<BrokenChain>,
}

/// Walks from `rip`/`rbp`/`rsp`; `read` gives the u64 at a guest-virtual
/// address (`None`: not mapped). The outermost frame is `_start`'s: it
/// saved `rbp` = 0 (the guest is entered with `rbp` = 0) and, as it was
/// jumped to rather than called, the word above it is no return address;
/// the walk ends there.
pub fn unwind(
    rip: u64,
    rbp: u64,
    rsp: u64,
    read: &mut dyn FnMut(u64) -> Option<u64>,
) -> GuestStack {
    let mut pcs = vec![rip];
    let mut fp = rbp;
    let mut lowest = rsp;
    loop {
        if fp == 0 {
            return GuestStack { pcs, broken: None };
        }
        let broken = if pcs.len() >= MAX_DEPTH {
            Some(BrokenChain::TooDeep)
        } else if fp % 8 != 0 {
            Some(BrokenChain::Misaligned)
        } else if fp < lowest {
            Some(BrokenChain::NotMonotonic)
        } else {
            match (read(fp), fp.checked_add(8).and_then(&mut *read)) {
                (Some(0), Some(_)) => return GuestStack { pcs, broken: None },
                (Some(next), Some(ret)) => {
                    pcs.push(ret);
                    lowest = fp.saturating_add(16);
                    fp = next;
                    None
                }
                _ => Some(BrokenChain::Unmapped),
            }
        };
        if broken.is_some() {
            return GuestStack { pcs, broken };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn reader(words: &HashMap<u64, u64>) -> impl FnMut(u64) -> Option<u64> + '_ {
        move |a| words.get(&a).copied()
    }

    #[test]
    fn a_good_chain_is_walked_to_the_outermost_frame() {
        // frames at 0x1000 (b) -> 0x1020 (a) -> 0x1040 (_start, saved
        // rbp 0: the word above it is no return address)
        let words = HashMap::from([
            (0x1000, 0x1020),
            (0x1008, 0xa0),
            (0x1020, 0x1040),
            (0x1028, 0xb0),
            (0x1040, 0),
            (0x1048, 0xc0),
        ]);
        let s = unwind(0x10, 0x1000, 0xff0, &mut reader(&words));
        assert_eq!(s.pcs, vec![0x10, 0xa0, 0xb0]);
        assert_eq!(s.broken, None);
    }

    #[test]
    fn broken_chains_end_with_the_reason() {
        let words = HashMap::from([(0x1000, 0x0ff8), (0x1008, 0xa0)]);
        let s = unwind(0x10, 0x1000, 0xff0, &mut reader(&words));
        assert_eq!(s.pcs, vec![0x10, 0xa0]);
        assert_eq!(s.broken, Some(BrokenChain::NotMonotonic));
        let s = unwind(0x10, 0x1003, 0xff0, &mut reader(&words));
        assert_eq!(s.broken, Some(BrokenChain::Misaligned));
        let s = unwind(0x10, 0x5000, 0xff0, &mut reader(&words));
        assert_eq!((s.pcs.len(), s.broken), (1, Some(BrokenChain::Unmapped)));
    }

    #[test]
    fn a_cycle_is_refused_and_depth_is_bounded() {
        // Each frame points 16 bytes higher, forever.
        let mut read = |a: u64| Some(if a % 16 == 0 { a + 16 } else { 0xa0 });
        let s = unwind(0x10, 0x1000, 0xff0, &mut read);
        assert_eq!(s.pcs.len(), MAX_DEPTH);
        assert_eq!(s.broken, Some(BrokenChain::TooDeep));
        let mut self_loop = |a: u64| Some(if a == 0x1000 { 0x1000 } else { 0xa0 });
        let s = unwind(0x10, 0x1000, 0xff0, &mut self_loop);
        assert_eq!(s.broken, Some(BrokenChain::NotMonotonic));
    }
}
