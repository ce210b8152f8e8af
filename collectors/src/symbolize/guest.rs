//! Guest addresses → names through a symbol map supplied by the platform
//! that loaded the guest code (the KVM platform knows where it put each
//! routine).

use bundle::GUEST_FRAME_SUFFIX;
use serde::{Deserialize, Serialize};

/// The folded frame name of guest address `addr`: the routine `map` names
/// with the guest suffix (`b_[g]`), or `[guest 0x…]_[g]` when no routine
/// holds it. One rule for perf's guest samples and the VMM's guest sampler.
pub fn guest_frame_name(map: Option<&GuestSymbolMap>, addr: u64) -> String {
    match map.and_then(|g| g.find(addr)) {
        Some(n) => format!("{}{GUEST_FRAME_SUFFIX}", n.replace(';', ":")),
        None => format!("[guest {addr:#x}]{GUEST_FRAME_SUFFIX}"),
    }
}

/// One guest routine: `[start, end)` in guest virtual addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSymbol {
    pub start: u64,
    pub end: u64,
    pub name: String,
}

/// Guest symbols, sorted by start once built with [`GuestSymbolMap::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSymbolMap {
    pub entries: Vec<GuestSymbol>,
}

impl GuestSymbolMap {
    /// Build from `(start, end, name)` entries in any order. Empty ranges
    /// are dropped.
    pub fn new(entries: impl IntoIterator<Item = (u64, u64, String)>) -> Self {
        let mut entries: Vec<GuestSymbol> = entries
            .into_iter()
            .filter(|(s, e, _)| e > s)
            .map(|(start, end, name)| GuestSymbol { start, end, name })
            .collect();
        entries.sort_by_key(|e| e.start);
        GuestSymbolMap { entries }
    }

    /// The routine holding `addr`.
    ///
    /// Preconditions: `entries` sorted by start (as `new` leaves them).
    pub fn find(&self, addr: u64) -> Option<&str> {
        let i = self.entries.partition_point(|e| e.start <= addr);
        let e = self.entries.get(i.checked_sub(1)?)?;
        (addr < e.end).then_some(e.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_in_ranges() {
        let m = GuestSymbolMap::new([
            (0x2000, 0x2100, "guest_fault".to_string()),
            (0x1000, 0x1010, "guest_loop".to_string()),
            (0x3000, 0x3000, "empty".to_string()),
        ]);
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.find(0x1008), Some("guest_loop"));
        assert_eq!(m.find(0x1010), None);
        assert_eq!(m.find(0x20ff), Some("guest_fault"));
        assert_eq!(m.find(0x10), None);
    }
}
