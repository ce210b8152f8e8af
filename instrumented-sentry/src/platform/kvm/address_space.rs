//! The KVM platform's [`AddressSpace`]: `mapAS` writes the guest's page
//! tables; memory-file offset `o` is guest-physical `MEMFILE_GPA + o`, in
//! memory slots that map the page allocator's memfd.
//!
//! Removals and downgrades (munmap, mprotect, MAP_FIXED replacement, a page
//! remapped to another frame) make the VMM drop the guest's translations
//! before it runs again ([`Machine::request_flush`]): the guest keeps stale
//! translations otherwise.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::vmm::host_mapping::HostMapping;
use super::vmm::layout::{MEMFILE_GPA, PAGE_SIZE, USER_MAX, USER_MIN};
use super::vmm::machine::Machine;
use super::vmm::page_tables::{PageTables, PteAccess, PTE_PRESENT};
use crate::addr::Perms;
use crate::addr::Range;
use crate::platform::{AddressSpace, PlatformError};

const NAME: &str = "kvm";

/// Base of the application range the memory manager manages in the guest.
pub const APP_BASE: u64 = 0x10_0000_0000;
const _: () = assert!(APP_BASE >= USER_MIN);

/// Pages whose old translations the guest must drop.
#[derive(Debug, Default)]
struct FlushRuns {
    pages: u64,
}

impl FlushRuns {
    /// Notes a page; `stale` says whether its old translation must go.
    fn page(&mut self, stale: bool) {
        self.pages += u64::from(stale);
    }

    /// Asks for the translations to be dropped before the guest resumes.
    fn request(self, machine: &mut Machine) -> Result<(), PlatformError> {
        if self.pages > 0 {
            machine.request_flush(self.pages);
        }
        Ok(())
    }
}

/// The guest address space of one memory manager: the machine it maps into
/// and the memory file's descriptor (a duplicate, for adding slots).
#[derive(Debug)]
pub struct KvmAddressSpace {
    machine: Machine,
    memfd: OwnedFd,
    range: Range,
    pte_writes: u64,
}

fn host_error(op: &'static str, addr: u64, len: u64, e: impl std::fmt::Display) -> PlatformError {
    PlatformError::Unavailable {
        platform: NAME,
        reason: format!("{op} at {addr:#x}+{len:#x}: {e}"),
    }
}

impl KvmAddressSpace {
    /// An address space over `machine` for the memory file whose descriptor
    /// is `memfd` (duplicated) and whose length is `file_size`, managing
    /// `[APP_BASE, APP_BASE + size)` of the guest.
    ///
    /// Errors: the memfd cannot be duplicated, or the range does not fit
    /// below the system region.
    pub fn new(
        machine: Machine,
        memfd: BorrowedFd<'_>,
        file_size: u64,
        size: u64,
    ) -> Result<Self, PlatformError> {
        let end = APP_BASE
            .checked_add(size)
            .filter(|&e| e <= USER_MAX && size > 0 && size % PAGE_SIZE == 0)
            .ok_or(PlatformError::Unavailable {
                platform: NAME,
                reason: format!("application range of {size:#x} bytes does not fit the guest"),
            })?;
        let memfd = memfd
            .try_clone_to_owned()
            .map_err(|e| PlatformError::Host {
                platform: NAME,
                op: "dup (memory file)",
                addr: 0,
                len: 0,
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            })?;
        let mut space = Self {
            machine,
            memfd,
            range: Range::new(APP_BASE, end),
            pte_writes: 0,
        };
        space.memory_file_grown(file_size)?;
        Ok(space)
    }

    /// The guest machine.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The guest machine, mutably (to run it).
    pub fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// Leaf page-table entries written so far.
    pub fn pte_writes(&self) -> u64 {
        self.pte_writes
    }

    fn check(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        let ok = len > 0
            && addr % PAGE_SIZE == 0
            && len % PAGE_SIZE == 0
            && addr >= self.range.start
            && addr.checked_add(len).is_some_and(|e| e <= self.range.end);
        if ok {
            Ok(())
        } else {
            Err(PlatformError::OutOfRange {
                platform: NAME,
                addr,
                len,
                range: self.range,
            })
        }
    }

    fn access(perms: Perms) -> Option<PteAccess> {
        // x86 pages are always readable when present: write or exec implies
        // read, as on Linux.
        if perms == Perms::NONE {
            return None;
        }
        Some(PteAccess {
            write: perms.write(),
            execute: perms.contains(Perms::EXEC),
            user: true,
        })
    }

    /// Whether replacing `old` with `new` (0 = none) can leave a stale
    /// translation that grants more than `new`.
    /// Edits the leaf entry of every page of `[addr, addr + len)` with
    /// `edit` (given the system memory, the page tables and the page's
    /// address; it answers whether the page's old translation must go),
    /// counts the entries as written, and asks for the stale translations
    /// to be dropped before the guest resumes. Stops at the first error.
    fn edit_pages(
        &mut self,
        addr: u64,
        len: u64,
        mut edit: impl FnMut(&HostMapping, &mut PageTables, u64) -> Result<bool, PlatformError>,
    ) -> Result<(), PlatformError> {
        let mut flush = FlushRuns::default();
        {
            let (vm, pt) = self.machine.vm_and_tables();
            let mut page = 0;
            while page < len {
                flush.page(edit(vm.sys(), pt, addr + page)?);
                page += PAGE_SIZE;
            }
        }
        self.pte_writes += len / PAGE_SIZE;
        flush.request(&mut self.machine)
    }

    fn needs_flush(old: u64, new: u64) -> bool {
        if old & PTE_PRESENT == 0 {
            return false;
        }
        if new & PTE_PRESENT == 0 || PageTables::frame(old) != PageTables::frame(new) {
            return true;
        }
        // Same frame: a flush is needed if any permission was taken away.
        let lost_write =
            PageTables::allows(old, true, false) && !PageTables::allows(new, true, false);
        let lost_exec =
            PageTables::allows(old, false, true) && !PageTables::allows(new, false, true);
        lost_write || lost_exec
    }
}

impl AddressSpace for KvmAddressSpace {
    fn name(&self) -> &'static str {
        NAME
    }

    fn app_range(&self) -> Range {
        self.range
    }

    fn map(
        &mut self,
        addr: u64,
        len: u64,
        file_offset: u64,
        perms: Perms,
    ) -> Result<(), PlatformError> {
        self.check(addr, len)?;
        if file_offset
            .checked_add(len)
            .is_none_or(|e| e > self.machine.vm().memfile_end())
        {
            return Err(PlatformError::OutOfRange {
                platform: NAME,
                addr: file_offset,
                len,
                range: Range::new(0, self.machine.vm().memfile_end().max(PAGE_SIZE)),
            });
        }
        let access = Self::access(perms);
        self.edit_pages(addr, len, |mem, pt, gva| {
            let (old, new) = match access {
                Some(a) => {
                    let gpa = MEMFILE_GPA + file_offset + (gva - addr);
                    let old = pt
                        .map(mem, gva, gpa, a)
                        .map_err(|e| host_error("page-table map", gva, PAGE_SIZE, e))?;
                    (old, gpa | a.bits())
                }
                None => (
                    pt.unmap(mem, gva)
                        .map_err(|e| host_error("page-table unmap", gva, PAGE_SIZE, e))?,
                    0,
                ),
            };
            Ok(Self::needs_flush(old, new))
        })
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.check(addr, len)?;
        self.edit_pages(addr, len, |mem, pt, gva| {
            let old = pt
                .unmap(mem, gva)
                .map_err(|e| host_error("page-table unmap", gva, PAGE_SIZE, e))?;
            Ok(old & PTE_PRESENT != 0)
        })
    }

    fn protect(&mut self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        self.check(addr, len)?;
        let access = Self::access(perms);
        self.edit_pages(addr, len, |mem, pt, gva| {
            let old = pt
                .lookup(mem, gva)
                .map_err(|e| host_error("page-table lookup", gva, PAGE_SIZE, e))?;
            if old & PTE_PRESENT == 0 {
                return Ok(false);
            }
            let new = match access {
                Some(a) => {
                    let frame = PageTables::frame(old);
                    pt.map(mem, gva, frame, a)
                        .map_err(|e| host_error("page-table protect", gva, PAGE_SIZE, e))?;
                    frame | a.bits()
                }
                None => {
                    pt.unmap(mem, gva)
                        .map_err(|e| host_error("page-table protect", gva, PAGE_SIZE, e))?;
                    0
                }
            };
            Ok(Self::needs_flush(old, new))
        })
    }

    fn host_mappings(&self) -> u64 {
        // One host mmap per memory slot: the system region and each range
        // of the memory file.
        1 + self.machine.vm().memfile_slots() as u64
    }

    fn memory_file_grown(&mut self, new_size: u64) -> Result<(), PlatformError> {
        let fd = self.memfd.as_raw_fd();
        self.machine
            .vm_mut()
            .grow_memfile(fd, new_size)
            .map_err(|e| PlatformError::Unavailable {
                platform: NAME,
                reason: format!("cannot add a memory slot for the memory file: {e}"),
            })
    }
}
