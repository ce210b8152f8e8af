//! The guest's 4-level x86-64 page tables, written by the VMM.
//!
//! Table pages come from a pool in the system region (never mapped into the
//! guest). Intermediate entries are present, writable and user-accessible;
//! permissions are enforced at the leaf (4 KiB) entries only.
//!
//! Invariants:
//! - every present intermediate entry points at a pool page that holds a
//!   table of the next level;
//! - `mapped` equals the number of present leaf entries.
//!
//! The guest's TLB (on this machine: the hypervisor's shadow of these
//! tables) is *not* updated when an entry is removed or changed; the caller
//! must make the guest flush (see `exits`). Added entries are seen.

use super::host_mapping::{HostMapping, HostMappingError};
use super::layout::{PAGE_SIZE, PT_POOL_OFF, PT_POOL_SIZE, SYS_GPA};

/// Leaf entry bit: present.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Leaf entry bit: writable.
pub const PTE_WRITABLE: u64 = 1 << 1;
/// Leaf entry bit: user-accessible.
pub const PTE_USER: u64 = 1 << 2;
/// Leaf entry bit: no-execute (EFER.NXE is set).
pub const PTE_NX: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Errors editing the page tables.
#[derive(Debug, thiserror::Error)]
pub enum PageTableError {
    /// The table pool has no free page.
    #[error("guest page-table pool exhausted ({pages} pages in use)")]
    PoolExhausted {
        /// Pages in use.
        pages: u64,
    },
    /// The address is not canonical lower-half or not page aligned.
    #[error("guest virtual address {gva:#x} is not a page-aligned lower-half address")]
    BadAddress {
        /// The address.
        gva: u64,
    },
    /// Host memory access failed.
    #[error(transparent)]
    Memory(#[from] HostMappingError),
}

/// Permissions of a leaf mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PteAccess {
    /// Writes allowed.
    pub write: bool,
    /// Instruction fetches allowed.
    pub execute: bool,
    /// Accessible from CPL 3.
    pub user: bool,
}

impl PteAccess {
    /// The leaf entry bits for this access (present included).
    pub fn bits(self) -> u64 {
        let mut bits = PTE_PRESENT;
        if self.write {
            bits |= PTE_WRITABLE;
        }
        if self.user {
            bits |= PTE_USER;
        }
        if !self.execute {
            bits |= PTE_NX;
        }
        bits
    }
}

/// The page tables of one guest address space.
#[derive(Debug)]
pub struct PageTables {
    pml4_off: u64,
    next_free: u64,
    free: Vec<u64>,
    mapped: u64,
}

impl PageTables {
    /// Creates empty tables: allocates and zeroes the PML4.
    pub fn new(mem: &HostMapping) -> Result<Self, PageTableError> {
        let mut pt = Self {
            pml4_off: 0,
            next_free: PT_POOL_OFF,
            free: Vec::new(),
            mapped: 0,
        };
        pt.pml4_off = pt.alloc_table(mem)?;
        Ok(pt)
    }

    /// Guest-physical address of the PML4 (the value for CR3).
    pub fn cr3(&self) -> u64 {
        SYS_GPA + self.pml4_off
    }

    /// Number of present leaf entries.
    pub fn mapped_pages(&self) -> u64 {
        self.mapped
    }

    /// Pool pages used by tables.
    pub fn table_pages(&self) -> u64 {
        (self.next_free - PT_POOL_OFF) / PAGE_SIZE - self.free.len() as u64
    }

    fn alloc_table(&mut self, mem: &HostMapping) -> Result<u64, PageTableError> {
        let off = if let Some(off) = self.free.pop() {
            off
        } else {
            if self.next_free + PAGE_SIZE > PT_POOL_OFF + PT_POOL_SIZE {
                return Err(PageTableError::PoolExhausted {
                    pages: PT_POOL_SIZE / PAGE_SIZE,
                });
            }
            let off = self.next_free;
            self.next_free += PAGE_SIZE;
            off
        };
        mem.write_bytes(off, &[0u8; PAGE_SIZE as usize])?;
        Ok(off)
    }

    fn check_gva(gva: u64) -> Result<(), PageTableError> {
        if gva % PAGE_SIZE != 0 || gva >= (1 << 47) {
            return Err(PageTableError::BadAddress { gva });
        }
        Ok(())
    }

    fn index(gva: u64, level: u32) -> u64 {
        (gva >> (12 + 9 * level)) & 0x1ff
    }

    /// Offset (in the system region) of the leaf entry for `gva`, creating
    /// missing tables when `create`.
    fn leaf_slot(
        &mut self,
        mem: &HostMapping,
        gva: u64,
        create: bool,
    ) -> Result<Option<u64>, PageTableError> {
        let mut table = self.pml4_off;
        for level in (1..=3).rev() {
            let slot = table + Self::index(gva, level) * 8;
            let entry = mem.read_u64(slot)?;
            if entry & PTE_PRESENT == 0 {
                if !create {
                    return Ok(None);
                }
                let next = self.alloc_table(mem)?;
                mem.write_u64(
                    slot,
                    (SYS_GPA + next) | PTE_PRESENT | PTE_WRITABLE | PTE_USER,
                )?;
                table = next;
            } else {
                table = (entry & ADDR_MASK) - SYS_GPA;
            }
        }
        Ok(Some(table + Self::index(gva, 0) * 8))
    }

    /// Maps the 4 KiB page at `gva` to guest-physical `gpa`.
    ///
    /// Preconditions: `gva` and `gpa` page aligned, `gva` lower-half.
    /// Postconditions: the leaf entry is present with `access`; returns the
    /// previous entry (0 if there was none). A previous present entry to a
    /// different frame or with more permissions needs a guest flush.
    pub fn map(
        &mut self,
        mem: &HostMapping,
        gva: u64,
        gpa: u64,
        access: PteAccess,
    ) -> Result<u64, PageTableError> {
        Self::check_gva(gva)?;
        let Some(slot) = self.leaf_slot(mem, gva, true)? else {
            return Err(PageTableError::BadAddress { gva });
        };
        let old = mem.read_u64(slot)?;
        mem.write_u64(slot, (gpa & ADDR_MASK) | access.bits())?;
        if old & PTE_PRESENT == 0 {
            self.mapped += 1;
        }
        Ok(old)
    }

    /// Removes the leaf entry for `gva`.
    ///
    /// Postconditions: no present leaf entry for `gva`; returns the previous
    /// entry (0 if there was none). A previous present entry needs a guest
    /// flush before the guest can no longer reach the page.
    pub fn unmap(&mut self, mem: &HostMapping, gva: u64) -> Result<u64, PageTableError> {
        Self::check_gva(gva)?;
        let Some(slot) = self.leaf_slot(mem, gva, false)? else {
            return Ok(0);
        };
        let old = mem.read_u64(slot)?;
        if old & PTE_PRESENT != 0 {
            mem.write_u64(slot, 0)?;
            self.mapped -= 1;
        }
        Ok(old)
    }

    /// The leaf entry for `gva` (0 if none).
    pub fn lookup(&mut self, mem: &HostMapping, gva: u64) -> Result<u64, PageTableError> {
        Self::check_gva(gva)?;
        match self.leaf_slot(mem, gva, false)? {
            Some(slot) => Ok(mem.read_u64(slot)?),
            None => Ok(0),
        }
    }

    /// Guest-physical frame of a leaf entry.
    pub fn frame(entry: u64) -> u64 {
        entry & ADDR_MASK
    }

    /// Whether a leaf entry allows an access of the given kind.
    pub fn allows(entry: u64, write: bool, execute: bool) -> bool {
        entry & PTE_PRESENT != 0
            && entry & PTE_USER != 0
            && (!write || entry & PTE_WRITABLE != 0)
            && (!execute || entry & PTE_NX == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::kvm::vmm::layout::SYS_SIZE;

    const RW: PteAccess = PteAccess {
        write: true,
        execute: false,
        user: true,
    };

    #[test]
    fn map_lookup_unmap_keep_the_count_and_share_tables() {
        let mem = HostMapping::anonymous(SYS_SIZE).unwrap();
        let mut pt = PageTables::new(&mem).unwrap();
        assert_eq!(pt.table_pages(), 1);
        let base = 0x10_0000_0000;
        for i in 0..600u64 {
            let old = pt
                .map(
                    &mem,
                    base + i * PAGE_SIZE,
                    0x1_0000_0000 + i * PAGE_SIZE,
                    RW,
                )
                .unwrap();
            assert_eq!(old, 0);
        }
        assert_eq!(pt.mapped_pages(), 600);
        // PML4 + PDPT + PD + two page tables (600 entries span two).
        assert_eq!(pt.table_pages(), 5);
        let e = pt.lookup(&mem, base + 599 * PAGE_SIZE).unwrap();
        assert_eq!(PageTables::frame(e), 0x1_0000_0000 + 599 * PAGE_SIZE);
        assert!(PageTables::allows(e, true, false));
        assert!(!PageTables::allows(e, false, true), "NX set");
        // Remapping read-only reports the old entry and keeps the count.
        let ro = PteAccess { write: false, ..RW };
        let old = pt.map(&mem, base, 0x1_0000_0000, ro).unwrap();
        assert!(PageTables::allows(old, true, false));
        assert!(!PageTables::allows(
            pt.lookup(&mem, base).unwrap(),
            true,
            false
        ));
        assert_eq!(pt.mapped_pages(), 600);
        assert_ne!(pt.unmap(&mem, base).unwrap() & PTE_PRESENT, 0);
        assert_eq!(
            pt.unmap(&mem, base).unwrap(),
            0,
            "second unmap finds nothing"
        );
        assert_eq!(pt.lookup(&mem, base).unwrap(), 0);
        assert_eq!(pt.mapped_pages(), 599);
        assert_eq!(
            pt.unmap(&mem, 0x7000_0000_0000).unwrap(),
            0,
            "no tables there"
        );
    }

    #[test]
    fn rejects_unaligned_and_upper_half_addresses() {
        let mem = HostMapping::anonymous(SYS_SIZE).unwrap();
        let mut pt = PageTables::new(&mem).unwrap();
        assert!(matches!(
            pt.map(&mem, 0x1001, 0, RW),
            Err(PageTableError::BadAddress { .. })
        ));
        assert!(matches!(
            pt.map(&mem, 1 << 47, 0, RW),
            Err(PageTableError::BadAddress { .. })
        ));
    }
}
