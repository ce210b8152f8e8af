//! Address → mapped object: the executable mappings of one address space,
//! from `/proc/PID/maps` (parsed by [`crate::proc_maps`]) or from MMAP2
//! records.

use crate::proc_maps::parse_maps_line;

/// One executable mapping of a file (or a pseudo-file like `[vdso]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub pgoff: u64,
    pub path: String,
}

/// The executable mappings of one address space, non-overlapping and
/// sorted by start once [`MemoryMap::finish`] has run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryMap {
    /// In insertion order until `finish`, then sorted.
    mappings: Vec<Mapping>,
    finished: bool,
}

impl MemoryMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse the text of `/proc/PID/maps`, keeping executable mappings.
    pub fn from_proc_maps(text: &str) -> Self {
        let mut m = MemoryMap::new();
        // Lines that do not parse are skipped: symbolization does without.
        for e in text.lines().filter_map(|l| parse_maps_line(l).ok()) {
            if e.perms.as_bytes().get(2) != Some(&b'x') {
                continue;
            }
            m.push(Mapping {
                start: e.start,
                end: e.end,
                pgoff: e.file_offset,
                path: e.path,
            });
        }
        m.finish();
        m
    }

    /// Read `/proc/self/maps`.
    pub fn this_process() -> std::io::Result<Self> {
        Ok(Self::from_proc_maps(&std::fs::read_to_string(
            "/proc/self/maps",
        )?))
    }

    /// Add a mapping; a later mapping hides earlier ones where they overlap.
    pub fn push(&mut self, m: Mapping) {
        if m.end > m.start {
            self.mappings.push(m);
            self.finished = false;
        }
    }

    /// Make the mappings non-overlapping (later ones win) and sorted.
    ///
    /// Postconditions: mappings sorted by start, pairwise disjoint.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        let mut out: Vec<Mapping> = Vec::with_capacity(self.mappings.len());
        for m in self.mappings.drain(..) {
            // Trim or split every earlier mapping that overlaps `m`.
            let mut kept = Vec::with_capacity(out.len() + 1);
            for old in out.drain(..) {
                if old.end <= m.start || old.start >= m.end {
                    kept.push(old);
                    continue;
                }
                if old.start < m.start {
                    kept.push(Mapping {
                        end: m.start,
                        ..old.clone()
                    });
                }
                if old.end > m.end {
                    kept.push(Mapping {
                        start: m.end,
                        pgoff: old.pgoff + (m.end - old.start),
                        ..old.clone()
                    });
                }
            }
            kept.push(m);
            out = kept;
        }
        out.sort_by_key(|m| m.start);
        self.mappings = out;
        self.finished = true;
    }

    /// The mapping holding `addr`.
    ///
    /// Preconditions: [`finish`](Self::finish) ran after the last push.
    pub fn find(&self, addr: u64) -> Option<&Mapping> {
        let i = self.mappings.partition_point(|m| m.start <= addr);
        let m = self.mappings.get(i.checked_sub(1)?)?;
        (addr < m.end).then_some(m)
    }

    pub fn len(&self) -> usize {
        self.mappings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.mappings.is_empty()
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_maps_keep_exec_and_find() {
        let text = "\
55d0c0000000-55d0c0001000 r--p 00000000 08:01 123 /usr/bin/prog
55d0c0001000-55d0c0005000 r-xp 00001000 08:01 123 /usr/bin/prog
7f0000000000-7f0000002000 r-xp 00002000 08:01 456 /usr/lib/lib with space.so
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0 [vdso]
";
        let m = MemoryMap::from_proc_maps(text);
        assert_eq!(m.len(), 3);
        let hit = m.find(0x55d0c0001010).unwrap();
        assert_eq!((hit.path.as_str(), hit.pgoff), ("/usr/bin/prog", 0x1000));
        assert_eq!(
            m.find(0x7f0000000001).unwrap().path,
            "/usr/lib/lib with space.so"
        );
        assert!(m.find(0x55d0c0000010).is_none());
        assert!(m.find(0x55d0c0005000).is_none());
    }

    #[test]
    fn later_mappings_hide_earlier_ones() {
        let mut m = MemoryMap::new();
        m.push(Mapping {
            start: 0,
            end: 100,
            pgoff: 0,
            path: "a".into(),
        });
        m.push(Mapping {
            start: 40,
            end: 60,
            pgoff: 0,
            path: "b".into(),
        });
        m.finish();
        let got: Vec<_> = m
            .mappings()
            .iter()
            .map(|x| (x.start, x.end, x.pgoff, x.path.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![(0, 40, 0, "a"), (40, 60, 0, "b"), (60, 100, 60, "a")]
        );
        assert_eq!(m.find(50).unwrap().path, "b");
        assert_eq!(m.find(70).unwrap().pgoff, 60);
    }
}
