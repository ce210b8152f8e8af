//! mapAS and its inverse: telling the platform [`AddressSpace`] about PMAs
//! (gVisor's `address_space.go`), and populate (getPMAs + mapAS for a range).

use crate::addr::Perms;
use crate::addr::Range;
use crate::mm::error::MmError;
use crate::mm::manager::MemoryManager;
use crate::mm::pma::Pma;
use crate::platform::AddressSpace;
use crate::probes::{probe_site, Site};

impl<A: AddressSpace> MemoryManager<A> {
    /// mapAS: maps new PMA runs (contiguous memory-file offsets) into the
    /// platform address space.
    #[inline(never)]
    pub(crate) fn map_as(&mut self, runs: &[(Range, Pma)]) -> Result<(), MmError> {
        for &(r, pma) in runs {
            self.space.map(r.start, r.len(), pma.offset, pma.perms)?;
        }
        Ok(())
    }

    /// Maps one run (used when PMAs move).
    pub(crate) fn map_run(&mut self, r: Range, pma: Pma) -> Result<(), MmError> {
        self.space.map(r.start, r.len(), pma.offset, pma.perms)?;
        Ok(())
    }

    /// Unmaps from the platform every run of PMAs intersecting `r`.
    pub(crate) fn unmap_as(&mut self, r: Range) -> Result<(), MmError> {
        for run in self.pma_runs(r) {
            self.space.unmap(run.start, run.len())?;
        }
        Ok(())
    }

    /// Changes the platform permissions of every PMA run intersecting `r`.
    pub(crate) fn protect_as(&mut self, r: Range, perms: Perms) -> Result<(), MmError> {
        for run in self.pma_runs(r) {
            self.space.protect(run.start, run.len(), perms)?;
        }
        Ok(())
    }

    /// Maximal address-contiguous runs of PMAs, clipped to `r`.
    fn pma_runs(&self, r: Range) -> Vec<Range> {
        let mut runs: Vec<Range> = Vec::new();
        for (pr, _) in self.pmas.intersecting(r) {
            let c = pr.intersect(&r);
            match runs.last_mut() {
                Some(last) if last.end == c.start => last.end = c.end,
                _ => runs.push(c),
            }
        }
        runs
    }

    /// Backs and maps every page of `r` (which lies in one VMA): getPMAs
    /// then mapAS, each probed.
    pub(crate) fn populate(&mut self, r: Range) -> Result<(), MmError> {
        let (vr, vma) = match self.vmas.lookup(r.start) {
            Some((vr, v)) => (vr, *v),
            None => {
                return Err(MmError::Fault {
                    addr: r.start,
                    reason: "no mapping to populate",
                })
            }
        };
        let r = r.intersect(&vr.intersect(&Range::new(vr.start, self.file_backed_end(vr, vma))));
        if r.is_empty() {
            return Ok(());
        }
        self.get_and_map(vr, vma, r)
    }

    /// getPMAs + mapAS for `r` inside the VMA `vr`, probed. On failure the
    /// PMAs made for `r` are dropped again (PMA present ⟺ mapped).
    pub(crate) fn get_and_map(
        &mut self,
        vr: Range,
        vma: crate::mm::vma::Vma,
        r: Range,
    ) -> Result<(), MmError> {
        let mut runs = std::mem::take(&mut self.scratch_runs);
        runs.clear();
        let got = probe_site!(
            self.probes,
            Site::GetPmas,
            self.get_pmas(vr, vma, r, &mut runs)
        );
        let mapped = match got {
            Ok(()) => probe_site!(self.probes, Site::MapAs, self.map_as(&runs)),
            Err(e) => Err(e),
        };
        if mapped.is_err() {
            for &(run, pma) in &runs {
                // Best effort: the original error is what the caller needs.
                let _ = self.space.unmap(run.start, run.len());
                for (piece, p) in self.pmas.remove_range(run) {
                    self.pma_bytes -= piece.len();
                    if p.owned {
                        let _ = self.pages.free(p.offset, piece.len());
                    }
                }
                let _ = pma;
            }
        }
        self.scratch_runs = runs;
        mapped
    }

    /// End of the part of VMA `vr` backed by its file (page-rounded file
    /// size); `vr.end` for anonymous VMAs. Accesses beyond it are SIGBUS.
    pub(crate) fn file_backed_end(&self, vr: Range, vma: crate::mm::vma::Vma) -> u64 {
        match vma.backing {
            crate::mm::vma::Backing::Anonymous => vr.end,
            crate::mm::vma::Backing::File { file, offset } => {
                let size = self.files.get(file).map(|f| f.size).unwrap_or(0);
                let size = crate::addr::page_round_up(size).unwrap_or(u64::MAX);
                if size <= offset {
                    vr.start
                } else {
                    vr.start.saturating_add(size - offset).min(vr.end)
                }
            }
        }
    }
}
