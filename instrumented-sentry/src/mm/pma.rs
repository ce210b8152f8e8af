//! Physical memory areas: which memory-file bytes back which application
//! addresses (gVisor's `pma.go`), and `getPMAs`.
//!
//! Invariant kept by the memory manager: every PMA lies inside a VMA, has
//! that VMA's permissions, and is mapped in the platform address space
//! (PMA present ⟺ reachable by the application). Pages with a VMA but no
//! PMA fault.

use crate::addr::Perms;
use crate::addr::Range;
use crate::segment::{SegmentFunctions, SegmentSet};

/// One PMA's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pma {
    /// Memory-file offset of the PMA's first byte.
    pub offset: u64,
    /// Permissions it is mapped with (the VMA's).
    pub perms: Perms,
    /// The pages belong to this mapping (anonymous memory, private copies)
    /// and are freed with it; false for a shared file's cached pages.
    pub owned: bool,
}

/// Merge policy of the PMA set: contiguous memory-file offsets, same
/// permissions and ownership. No max-gap tracking (the PMA set is never
/// searched for gaps).
pub struct PmaFunctions;

impl SegmentFunctions for PmaFunctions {
    type Value = Pma;
    const TRACK_MAX_GAP: bool = false;

    fn merge(left: Range, l: &Pma, _right: Range, r: &Pma) -> Option<Pma> {
        (l.perms == r.perms
            && l.owned == r.owned
            && l.offset.checked_add(left.len()) == Some(r.offset))
        .then_some(*l)
    }

    fn split(range: Range, v: &Pma, at: u64) -> (Pma, Pma) {
        let right = Pma {
            offset: v.offset + (at - range.start),
            ..*v
        };
        (*v, right)
    }
}

/// The PMA set type.
pub type PmaSet = SegmentSet<PmaFunctions>;

use crate::addr::PAGE_SIZE;
use crate::mm::error::MmError;
use crate::mm::manager::MemoryManager;
use crate::mm::vma::{Backing, Vma};
use crate::platform::AddressSpace;

impl<A: AddressSpace> MemoryManager<A> {
    /// getPMAs: backs every page of `r` that has no PMA with memory-file
    /// pages, and appends the new PMAs to `out` (for mapAS).
    ///
    /// - private anonymous: fresh zero pages, one contiguous allocation per
    ///   missing run;
    /// - private file: fresh pages with the file's bytes copied in
    ///   (copy-on-write done eagerly at first fault);
    /// - shared file: the file's cached pages (allocated zero on first use).
    ///
    /// Preconditions: `r` is page-aligned and inside the VMA `vr` (value
    /// `vma`), and inside the mapped file for file VMAs.
    /// Postconditions: every page of `r` has a PMA with `vma.perms`.
    #[inline(never)]
    pub(crate) fn get_pmas(
        &mut self,
        vr: Range,
        vma: Vma,
        r: Range,
        out: &mut Vec<(Range, Pma)>,
    ) -> Result<(), MmError> {
        // The unbacked runs of `r`: a walk bounded by `r` (as gVisor's
        // getPMAsLocked loop), so PMAs above the range cost nothing.
        let mut gaps = self.pmas.gaps_in(r);
        let missing: Vec<Range> = gaps.by_ref().collect();
        self.pma_walk_steps += gaps.steps();
        for m in missing {
            match (vma.backing, vma.shared) {
                (Backing::Anonymous, _) => {
                    let off = self.allocate_pages(m.len())?;
                    self.add_pma(
                        m,
                        Pma {
                            offset: off,
                            perms: vma.perms,
                            owned: true,
                        },
                        out,
                    )?;
                }
                (Backing::File { file, offset }, false) => {
                    let off = self.allocate_pages(m.len())?;
                    let file_start = offset + (m.start - vr.start);
                    for i in 0..m.len() / PAGE_SIZE {
                        let page = file_start / PAGE_SIZE + i;
                        let cached = self
                            .files
                            .get(file)
                            .and_then(|f| f.cache.get(&page).copied());
                        if let Some(src) = cached {
                            self.pages
                                .file_mut()
                                .copy(src, off + i * PAGE_SIZE, PAGE_SIZE)?;
                        }
                    }
                    self.add_pma(
                        m,
                        Pma {
                            offset: off,
                            perms: vma.perms,
                            owned: true,
                        },
                        out,
                    )?;
                }
                (Backing::File { file, offset }, true) => {
                    let first_page = (offset + (m.start - vr.start)) / PAGE_SIZE;
                    let pages = m.len() / PAGE_SIZE;
                    // Allocate the missing cache pages of this run in one
                    // block, so fresh files get contiguous offsets.
                    let f = self.files.get(file).ok_or(MmError::BadFile(file.get()))?;
                    let absent: Vec<u64> = (0..pages)
                        .filter(|i| !f.cache.contains_key(&(first_page + i)))
                        .collect();
                    if !absent.is_empty() {
                        let block = self.allocate_pages(absent.len() as u64 * PAGE_SIZE)?;
                        if let Some(f) = self.files.get_mut(file) {
                            for (k, i) in absent.iter().enumerate() {
                                f.cache.insert(first_page + i, block + k as u64 * PAGE_SIZE);
                            }
                        }
                    }
                    let f = self.files.get(file).ok_or(MmError::BadFile(file.get()))?;
                    let offs: Vec<u64> = (0..pages)
                        .map(|i| f.cache.get(&(first_page + i)).copied().unwrap_or(0))
                        .collect();
                    let mut i = 0u64;
                    while i < pages {
                        let mut j = i + 1;
                        while j < pages
                            && offs[j as usize] == offs[i as usize] + (j - i) * PAGE_SIZE
                        {
                            j += 1;
                        }
                        let run = Range::new(m.start + i * PAGE_SIZE, m.start + j * PAGE_SIZE);
                        self.add_pma(
                            run,
                            Pma {
                                offset: offs[i as usize],
                                perms: vma.perms,
                                owned: false,
                            },
                            out,
                        )?;
                        i = j;
                    }
                }
            }
        }
        Ok(())
    }

    fn add_pma(&mut self, r: Range, pma: Pma, out: &mut Vec<(Range, Pma)>) -> Result<(), MmError> {
        self.pmas
            .insert_with_merge(r, pma)
            .map_err(|_| MmError::NoMemory("PMA range not free"))?;
        self.pma_bytes += r.len();
        match out.last_mut() {
            Some((lr, lp))
                if lr.end == r.start
                    && lp.perms == pma.perms
                    && lp.offset + lr.len() == pma.offset =>
            {
                lr.end = r.end;
            }
            _ => out.push((r, pma)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::addr::Range;
    use crate::mm::memory_file::DEFAULT_CHUNK_SIZE;
    use crate::mm::{MemoryManager, MmConfig, MmapRequest};
    use crate::platform::inproc_address_space::InProcConfig;

    /// Exp2's anonymous pattern (populated top-down mmaps, never unmapped)
    /// leaves one PMA per memory-file chunk, and the chunk is gVisor's
    /// 1 GiB: 2,000 mappings of 1 MiB are 2 PMAs, as few as at 1 KiB give.
    /// With 64 MiB chunks this was 32 PMAs (391 at Exp2's 25,000 calls),
    /// and every getPMAs descended the deeper PMA tree twice.
    #[test]
    fn exp2_anonymous_pmas_break_only_at_gvisor_sized_chunks() {
        const CALLS: u64 = 2_000;
        for len in [1u64 << 10, 1 << 20] {
            let mut mm =
                MemoryManager::inproc(MmConfig::default(), &InProcConfig::default()).unwrap();
            assert_eq!(mm.memory_file().chunk_size(), DEFAULT_CHUNK_SIZE);
            assert_eq!(DEFAULT_CHUNK_SIZE, 1 << 30, "gVisor's pgalloc chunkSize");
            let req = MmapRequest::anonymous(len);
            for _ in 0..CALLS {
                mm.mmap(&req).unwrap();
            }
            let pmas: Vec<(Range, super::Pma)> = mm.pmas().collect();
            let mapped = CALLS * len.next_multiple_of(4096);
            let bound = mapped.div_ceil(DEFAULT_CHUNK_SIZE);
            assert!(
                pmas.len() as u64 <= bound,
                "len {len}: {} PMAs for {mapped} bytes, more than one per 1 GiB chunk ({bound})",
                pmas.len()
            );
            // Every break between address-adjacent PMAs is a chunk edge.
            for w in pmas.windows(2) {
                let ((lr, lp), (rr, rp)) = (w[0], w[1]);
                if lr.end == rr.start {
                    assert!(
                        lp.offset % DEFAULT_CHUNK_SIZE == 0
                            || (rp.offset + rr.len()) % DEFAULT_CHUNK_SIZE == 0,
                        "len {len}: PMA break at {:#x} inside a chunk ({lp:?} | {rp:?})",
                        lr.end
                    );
                }
            }
            mm.check_invariants().unwrap();
        }
    }
}
