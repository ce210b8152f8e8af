//! Kernel addresses → names through `/proc/kallsyms` (binary search over
//! the sorted text symbols).

use std::sync::{Arc, OnceLock};

/// Kernel text symbols, sorted by address.
#[derive(Debug, Clone, Default)]
pub struct Kallsyms {
    addrs: Vec<u64>,
    names: Vec<String>,
}

impl Kallsyms {
    /// Read `/proc/kallsyms`. None when it cannot be read or when every
    /// address is zero (hidden by `kernel.kptr_restrict`).
    pub fn load() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
        Self::parse(&text)
    }

    /// Parse kallsyms text ("ADDR TYPE NAME [MODULE]"). None when no text
    /// symbol has a non-zero address.
    pub fn parse(text: &str) -> Option<Self> {
        let mut syms: Vec<(u64, &str)> = Vec::new();
        for line in text.lines() {
            let mut it = line.split_ascii_whitespace();
            let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if !matches!(ty, "t" | "T" | "w" | "W") {
                continue;
            }
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if addr != 0 {
                syms.push((addr, name));
            }
        }
        if syms.is_empty() {
            return None;
        }
        syms.sort_by_key(|s| s.0);
        Some(Kallsyms {
            addrs: syms.iter().map(|s| s.0).collect(),
            names: syms.iter().map(|s| s.1.to_string()).collect(),
        })
    }

    /// The symbol whose start is the greatest one at or below `addr`.
    pub fn find(&self, addr: u64) -> Option<&str> {
        let i = self.addrs.partition_point(|&a| a <= addr);
        Some(self.names.get(i.checked_sub(1)?)?.as_str())
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

/// `/proc/kallsyms`, read and parsed once per process: the capability
/// check and every [`crate::symbolize::Symbolizer`] of a run share it (a
/// read and parse of its ~120,000 lines takes ~50 ms of CPU here).
pub fn shared() -> Option<Arc<Kallsyms>> {
    static SHARED: OnceLock<Option<Arc<Kallsyms>>> = OnceLock::new();
    SHARED
        .get_or_init(|| Kallsyms::load().map(Arc::new))
        .clone()
}

/// Whether `/proc/kallsyms` shows real (non-zero) addresses to us.
pub fn kallsyms_readable() -> bool {
    shared().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_search() {
        let k = Kallsyms::parse(
            "ffffffff81000000 T _stext\nffffffff81000100 t do_thing\nffffffff81000050 D data_x\nffffffff81000200 T mod_fn\t[mymod]\n",
        )
        .unwrap();
        assert_eq!(k.len(), 3);
        assert_eq!(k.find(0xffffffff81000150), Some("do_thing"));
        assert_eq!(k.find(0xffffffff81000000), Some("_stext"));
        assert_eq!(k.find(0xffffffff81000250), Some("mod_fn"));
        assert_eq!(k.find(0x10), None);
        assert!(Kallsyms::parse("0000000000000000 T _stext\n").is_none());
    }
}
