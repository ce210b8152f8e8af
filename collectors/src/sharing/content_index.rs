//! The index of distinct contents (the content index): one entry per distinct non-zero granule
//! value, keyed by its xxh3 hash, holding one *representative* location
//! where the content was first seen and how often and where it recurred.
//!
//! # Memory use
//! Memory grows with the number of distinct contents, not with the bytes
//! scanned: an entry is [`Content`] (48 bytes) plus its hash-index slot
//! (~13-26 bytes, the index doubling as it grows), plus 24 bytes per
//! remembered later location (at most `examples_per_content`, for duplicated
//! contents only). Granule bytes are not kept for contents seen once. When a
//! content is seen a second time its representative is compared byte for
//! byte (from the batch in hand, or re-read from its source); from its third
//! occurrence on, up to `cache_limit` bytes in all, its bytes are kept in a
//! cache so later copies compare without a re-read. Past the limit each
//! further copy costs one re-read (batched by the scanner). The trade-off: a bounded cache of duplicated contents instead of
//! a copy of every distinct granule (which would cost as much memory as the
//! unique part of the data) or a re-read per duplicate (a syscall each).
//!
//! # Invariants
//! - Every content reachable from `index[h]` through `next` has hash `h`.
//! - `count >= 1`; `sources >= 1`; `sources <= count`.
//! - A content's example list holds `min(count - 1, examples_per_content)`
//!   locations, all different from its representative.
//! - `cache != NONE` implies `cache_arena[cache*g..(cache+1)*g]` holds the
//!   content's bytes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Marks the absence of a link or cache slot.
const NONE: u32 = u32::MAX;

/// Where a granule is: source index, region index, byte offset in region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Location {
    pub source: u32,
    pub region: u32,
    pub offset: u64,
}

/// One distinct content.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub hash: u64,
    /// Where it was first seen.
    pub rep: Location,
    /// Occurrences over all sources.
    pub count: u32,
    /// Sources it occurs in (saturating).
    pub sources: u16,
    /// Last source it was seen in (sources are scanned one after another).
    last_source: u32,
    /// Next content with the same hash (a collision), or NONE.
    next: u32,
    /// Slot in the byte cache, or NONE.
    cache: u32,
    /// Head of its list of later locations in the example arena, or NONE.
    examples: u32,
    /// Mapping kind (index) of the first occurrence.
    pub first_kind: u8,
    /// The representative could not be re-read: never compared again.
    stale: bool,
}

/// One later location of a duplicated content.
#[derive(Debug, Clone, Copy)]
struct Example {
    loc: Location,
    next: u32,
}

/// The answer of a comparison against a representative read from its source.
pub(crate) enum Confirm {
    Equal,
    Different,
    /// The representative could not be read (its process exited).
    Unavailable,
}

/// What an observed granule turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First occurrence of this content.
    New,
    /// Content already seen in the same source.
    SelfDuplicate,
    /// Content seen before, only in other sources.
    CrossDuplicate,
}

/// Counters of the confirmation step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConfirmCounters {
    /// Hash matches confirmed equal byte for byte.
    pub confirmed: u64,
    /// Hash matches whose bytes differed (true collisions, or live memory
    /// that changed between hashing and comparing).
    pub rejected: u64,
    /// Hash matches that could not be compared (representative gone).
    pub unconfirmed: u64,
}

/// Identity hasher: keys are already xxh3 hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The table of distinct contents.
pub(crate) struct ContentTable {
    granularity: usize,
    index: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    contents: Vec<Content>,
    cache_arena: Vec<u8>,
    cache_limit: usize,
    /// Later locations of duplicated contents, linked per content (newest
    /// first): 24 bytes each, at most `examples_per_content` per content.
    example_arena: Vec<Example>,
    examples_per_content: usize,
    pub counters: ConfirmCounters,
}

impl ContentTable {
    /// An empty table for granules of `granularity` bytes, caching up to
    /// `cache_limit` bytes of duplicated contents and remembering up to
    /// `examples_per_content` further locations of each duplicated content.
    pub fn new(granularity: usize, cache_limit: usize, examples_per_content: usize) -> Self {
        ContentTable {
            granularity,
            index: HashMap::default(),
            contents: Vec::new(),
            cache_arena: Vec::new(),
            cache_limit,
            example_arena: Vec::new(),
            examples_per_content,
            counters: ConfirmCounters::default(),
        }
    }

    /// Record one granule `bytes` (hash `hash`, not all zero) found at `loc`
    /// in a region of kind index `kind`. `confirm` compares `bytes` with the
    /// representative at a location when its bytes are not cached.
    ///
    /// Preconditions: `bytes.len() == granularity`; `hash` is xxh3 of
    /// `bytes`; sources are observed in ascending order of `loc.source`.
    /// Postconditions: the content's count grows by one, or a new content
    /// is added with count one; the return says which, and whether the
    /// content was already seen in this source.
    pub fn observe(
        &mut self,
        hash: u64,
        bytes: &[u8],
        loc: Location,
        kind: u8,
        mut confirm: impl FnMut(&Location, &[u8]) -> Confirm,
    ) -> Seen {
        let mut last = NONE;
        if let Some(&head) = self.index.get(&hash) {
            let mut id = head;
            while id != NONE {
                let c = &self.contents[id as usize];
                let next = c.next;
                if !c.stale {
                    let equal = if c.cache != NONE {
                        self.cached(c.cache) == bytes
                    } else {
                        match confirm(&c.rep, bytes) {
                            Confirm::Equal => {
                                // Cache contents that recur a third time:
                                // a pair alone would never use the copy.
                                if self.contents[id as usize].count >= 2 {
                                    self.cache_bytes(id, bytes);
                                }
                                true
                            }
                            Confirm::Different => false,
                            Confirm::Unavailable => {
                                self.contents[id as usize].stale = true;
                                self.counters.unconfirmed += 1;
                                last = id;
                                id = next;
                                continue;
                            }
                        }
                    };
                    if equal {
                        self.counters.confirmed += 1;
                        return self.count_duplicate(id, loc);
                    }
                    self.counters.rejected += 1;
                }
                last = id;
                id = next;
            }
        }
        let id = self.contents.len() as u32;
        self.contents.push(Content {
            hash,
            rep: loc,
            count: 1,
            sources: 1,
            last_source: loc.source,
            next: NONE,
            cache: NONE,
            examples: NONE,
            first_kind: kind,
            stale: false,
        });
        if last == NONE {
            self.index.insert(hash, id);
        } else {
            self.contents[last as usize].next = id;
        }
        Seen::New
    }

    /// Append to `out` the representatives of the contents with hash `hash`
    /// that a comparison would have to read from their source (no cached
    /// bytes, not stale), so a caller can read them all in one batch.
    pub fn uncached_reps(&self, hash: u64, out: &mut Vec<Location>) {
        let Some(&head) = self.index.get(&hash) else {
            return;
        };
        let mut id = head;
        while id != NONE {
            let c = &self.contents[id as usize];
            if !c.stale && c.cache == NONE {
                out.push(c.rep);
            }
            id = c.next;
        }
    }

    fn count_duplicate(&mut self, id: u32, loc: Location) -> Seen {
        let c = &mut self.contents[id as usize];
        c.count = c.count.saturating_add(1);
        let seen = if c.last_source == loc.source {
            Seen::SelfDuplicate
        } else {
            c.last_source = loc.source;
            c.sources = c.sources.saturating_add(1);
            Seen::CrossDuplicate
        };
        if (c.count as usize) <= self.examples_per_content + 1 {
            let entry = self.example_arena.len() as u32;
            self.example_arena.push(Example {
                loc,
                next: c.examples,
            });
            c.examples = entry;
        }
        seen
    }

    fn cached(&self, slot: u32) -> &[u8] {
        let g = self.granularity;
        &self.cache_arena[slot as usize * g..(slot as usize + 1) * g]
    }

    fn cache_bytes(&mut self, id: u32, bytes: &[u8]) {
        if self.cache_arena.len() + bytes.len() > self.cache_limit {
            return;
        }
        let slot = (self.cache_arena.len() / self.granularity) as u32;
        self.cache_arena.extend_from_slice(bytes);
        self.contents[id as usize].cache = slot;
    }

    /// Every distinct content, in order of first occurrence.
    pub fn contents(&self) -> &[Content] {
        &self.contents
    }

    /// Cached bytes of content `id`, if any.
    pub fn cached_bytes(&self, id: usize) -> Option<&[u8]> {
        let c = self.contents.get(id)?;
        (c.cache != NONE).then(|| self.cached(c.cache))
    }

    /// Further locations of content `id` (beyond its representative), in
    /// scan order.
    pub fn examples(&self, id: usize) -> Vec<Location> {
        let mut out = Vec::new();
        let mut e = self.contents.get(id).map_or(NONE, |c| c.examples);
        while e != NONE {
            let ex = &self.example_arena[e as usize];
            out.push(ex.loc);
            e = ex.next;
        }
        out.reverse();
        out
    }

    /// Bytes of memory the table holds (entries, hash index, byte cache,
    /// examples): what grows with the number of distinct contents.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.contents.capacity() * size_of::<Content>()
            + self.index.capacity() * (size_of::<(u64, u32)>() + 1)
            + self.cache_arena.capacity()
            + self.example_arena.capacity() * size_of::<Example>()
    }

    /// Bytes held by the cache of duplicated contents.
    pub fn cache_bytes_used(&self) -> usize {
        self.cache_arena.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(source: u32, offset: u64) -> Location {
        Location {
            source,
            region: 0,
            offset,
        }
    }

    #[test]
    fn counts_self_and_cross_and_confirms_collisions() {
        let mut t = ContentTable::new(64, 1 << 20, 3);
        let a = [1u8; 64];
        let b = [2u8; 64];
        let store = |l: &Location| if l.offset == 0 { a } else { b };
        let mut confirm = |l: &Location, bytes: &[u8]| {
            if store(l) == bytes {
                Confirm::Equal
            } else {
                Confirm::Different
            }
        };
        // Same fake hash for a and b: a collision that must be told apart.
        assert_eq!(t.observe(7, &a, loc(0, 0), 0, &mut confirm), Seen::New);
        assert_eq!(t.observe(7, &b, loc(0, 64), 0, &mut confirm), Seen::New);
        assert_eq!(
            t.observe(7, &a, loc(0, 128), 0, &mut confirm),
            Seen::SelfDuplicate
        );
        assert_eq!(
            t.observe(7, &b, loc(1, 0), 0, &mut confirm),
            Seen::CrossDuplicate
        );
        assert_eq!(
            t.observe(7, &b, loc(1, 64), 0, &mut confirm),
            Seen::SelfDuplicate
        );
        assert_eq!(t.contents().len(), 2);
        assert_eq!(t.contents()[0].count, 2);
        assert_eq!(t.contents()[1].count, 3);
        assert_eq!(t.contents()[1].sources, 2);
        assert!(t.counters.rejected >= 1);
        assert_eq!(t.examples(1).len(), 2);
    }

    #[test]
    fn entries_stay_small() {
        // The memory-use figures in docs/sharing.md rely on these sizes.
        assert_eq!(std::mem::size_of::<Content>(), 48);
        assert_eq!(std::mem::size_of::<Example>(), 24);
    }

    #[test]
    fn unavailable_representative_goes_stale() {
        let mut t = ContentTable::new(64, 0, 0);
        let a = [3u8; 64];
        assert_eq!(
            t.observe(9, &a, loc(0, 0), 0, |_, _| Confirm::Equal),
            Seen::New
        );
        assert_eq!(
            t.observe(9, &a, loc(1, 0), 0, |_, _| Confirm::Unavailable),
            Seen::New
        );
        // The stale one is skipped; the new representative is compared.
        assert_eq!(
            t.observe(9, &a, loc(1, 64), 0, |l, _| if l.source == 1 {
                Confirm::Equal
            } else {
                Confirm::Unavailable
            }),
            Seen::SelfDuplicate
        );
        assert_eq!(t.counters.unconfirmed, 1);
    }
}
