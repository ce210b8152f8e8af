//! Page faults and application memory access: `handle_fault` (the entry
//! the KVM platform calls when the guest faults), `touch` (a workload's
//! loads/stores, one per page, faulting as needed) and `read`/`write`
//! (copy-in/copy-out of application memory, like gVisor's `CopyIn`/`CopyOut`).

use crate::addr::Range;
use crate::addr::{page_round_down, page_round_up, Access, Perms, HUGE_PAGE_SIZE, PAGE_SIZE};
use crate::mm::error::MmError;
use crate::mm::manager::MemoryManager;
use crate::mm::vma::Backing;
use crate::platform::AddressSpace;
use crate::probes::{probe_site, Site};

fn allows(perms: Perms, access: Access) -> bool {
    match access {
        // x86 cannot map write-only pages: writable implies readable.
        Access::Read => perms.read() || perms.write(),
        Access::Write => perms.write(),
    }
}

impl<A: AddressSpace> MemoryManager<A> {
    /// Handles a fault at `addr`: checks the VMA and its permissions, then
    /// getPMAs + mapAS for a window around the page (private anonymous:
    /// the 2 MiB-aligned window, as gVisor's `privateAllocUnit`; file
    /// backed: `file_fault_window`, clipped to the end of the file). A
    /// fault on a page that already has a PMA with sufficient permissions
    /// returns Ok (spurious; e.g. a stale guest translation).
    ///
    /// Errors: EFAULT-like `Fault` (no VMA, or the access is not allowed),
    /// `Bus` (beyond the end of the mapped file), platform/memory-file errors.
    #[inline(never)]
    pub fn handle_fault(&mut self, addr: u64, access: Access) -> Result<(), MmError> {
        self.faults += 1;
        probe_site!(self.probes, Site::Fault, self.fault_locked(addr, access))
    }

    fn fault_locked(&mut self, addr: u64, access: Access) -> Result<(), MmError> {
        let page = page_round_down(addr);
        let (vr, vma) = match self.vmas.lookup(page) {
            Some((vr, v)) => (vr, *v),
            None => {
                return Err(MmError::Fault {
                    addr,
                    reason: "no mapping",
                })
            }
        };
        if !allows(vma.perms, access) {
            return Err(MmError::Fault {
                addr,
                reason: "access not allowed by the mapping's permissions",
            });
        }
        if self.pmas.contains(page) {
            return Ok(());
        }
        let backed_end = self.file_backed_end(vr, vma);
        if page >= backed_end {
            return Err(MmError::Bus { addr });
        }
        let window = match (vma.backing, vma.shared) {
            (Backing::Anonymous, false) => HUGE_PAGE_SIZE,
            _ => self
                .config
                .file_fault_window
                .max(PAGE_SIZE)
                .next_power_of_two(),
        };
        let wstart = page & !(window - 1);
        let wend = wstart.saturating_add(window);
        let r = Range::new(wstart.max(vr.start), wend.min(backed_end));
        self.get_and_map(vr, vma, r)
    }

    /// Accesses every page of `[addr, addr + len)` once, as a workload's
    /// loop of loads or stores would: pages without a PMA fault first
    /// (each fault maps its window), then one byte per page is really read
    /// or written (through the platform's mapping when it offers one, so
    /// the in-process platform exercises the real host mapping; otherwise
    /// through the memory file). Writes store `value`. Returns the number
    /// of faults taken.
    ///
    /// Errors: EINVAL for an empty or overflowing range; `Fault`/`Bus` as
    /// [`MemoryManager::handle_fault`] (pages before the failing one have
    /// been accessed).
    pub fn touch(
        &mut self,
        addr: u64,
        len: u64,
        access: Access,
        value: u8,
    ) -> Result<u64, MmError> {
        if len == 0 {
            return Err(MmError::InvalidArgument("length is zero"));
        }
        let end = addr
            .checked_add(len)
            .and_then(page_round_up)
            .ok_or(MmError::InvalidArgument("address + length overflows"))?;
        let mut page = page_round_down(addr);
        let mut faults = 0u64;
        let mut byte = [value];
        while page < end {
            let (pr, pma) = match self.pmas.lookup(page) {
                Some((pr, p)) => (pr, *p),
                None => {
                    self.handle_fault(page, access)?;
                    faults += 1;
                    continue;
                }
            };
            if !allows(pma.perms, access) {
                return Err(MmError::Fault {
                    addr: page,
                    reason: "access not allowed by the mapping's permissions",
                });
            }
            let stop = pr.end.min(end);
            while page < stop {
                let mf_off = pma.offset + (page - pr.start);
                match access {
                    Access::Write => {
                        if !self.space.write(page, &byte)? {
                            self.pages.file_mut().write(mf_off, &byte)?;
                        }
                    }
                    Access::Read => {
                        if !self.space.read(page, &mut byte)? {
                            self.pages.file().read(mf_off, &mut byte)?;
                        }
                    }
                }
                page += PAGE_SIZE;
            }
        }
        Ok(faults)
    }

    /// Copies application memory at `addr` into `buf`, faulting pages in as
    /// needed (copy-out of the application's view).
    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), MmError> {
        self.copy(
            addr,
            buf.len() as u64,
            Access::Read,
            |space, pages, at, off, pos, n| {
                let dst = &mut buf[pos..pos + n];
                if !space.read(at, dst)? {
                    pages.file().read(off, dst)?;
                }
                Ok(())
            },
        )
    }

    /// Copies `data` into application memory at `addr`, faulting pages in
    /// as needed. Needs write permission on every page.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MmError> {
        self.copy(
            addr,
            data.len() as u64,
            Access::Write,
            |space, pages, at, off, pos, n| {
                let src = &data[pos..pos + n];
                if !space.write(at, src)? {
                    pages.file_mut().write(off, src)?;
                }
                Ok(())
            },
        )
    }

    fn copy<F>(&mut self, addr: u64, len: u64, access: Access, mut step: F) -> Result<(), MmError>
    where
        F: FnMut(
            &mut A,
            &mut crate::mm::page_allocator::PageAllocator,
            u64,
            u64,
            usize,
            usize,
        ) -> Result<(), MmError>,
    {
        let end = addr
            .checked_add(len)
            .ok_or(MmError::InvalidArgument("address + length overflows"))?;
        let mut at = addr;
        while at < end {
            let (pr, pma) = match self.pmas.lookup(at) {
                Some((pr, p)) => (pr, *p),
                None => {
                    self.handle_fault(at, access)?;
                    continue;
                }
            };
            if !allows(pma.perms, access) {
                return Err(MmError::Fault {
                    addr: at,
                    reason: "access not allowed by the mapping's permissions",
                });
            }
            let stop = pr.end.min(end);
            let n = (stop - at) as usize;
            step(
                &mut self.space,
                &mut self.pages,
                at,
                pma.offset + (at - pr.start),
                (at - addr) as usize,
                n,
            )?;
            at = stop;
        }
        Ok(())
    }
}
