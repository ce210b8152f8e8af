//! The workloads' trial bodies, written once against [`MemoryTarget`]:
//! the mmap experiments (Exp1, Exp2) and the malloc model used where the
//! C library's malloc cannot run (the sentry).

use std::time::Instant;

use super::spec::Mapping;
use super::target::{
    Errno, MemoryTarget, MmapCall, TargetError, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ,
    PROT_WRITE,
};
use crate::addr::{page_round_up, PAGE_SIZE};

/// What one trial of a workload measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedCalls {
    /// Nanoseconds spent in the timed region (the calls, and touching when
    /// asked), measured with the monotonic clock around the whole loop.
    pub elapsed_ns: u64,
    /// Calls made in the timed region.
    pub calls: u64,
    /// Host mappings the target held at the end of the timed region.
    pub host_mappings: u64,
}

/// Why a trial stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialError {
    /// 0-based index of the call that failed (`None`: during set-up).
    pub call: Option<u64>,
    /// What failed.
    pub error: TargetError,
}

impl std::fmt::Display for TrialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.call {
            Some(i) => write!(f, "call {} failed: {}", i + 1, self.error),
            None => write!(f, "set-up failed: {}", self.error),
        }
    }
}

fn setup(error: TargetError) -> TrialError {
    TrialError { call: None, error }
}

/// The `mmap` arguments of one experiment call.
pub fn experiment_call(
    mapping: Mapping,
    size: u64,
    file: Option<super::target::FileHandle>,
) -> MmapCall {
    let flags = match mapping {
        Mapping::Anon => MAP_PRIVATE | MAP_ANONYMOUS,
        Mapping::Private => MAP_PRIVATE,
        Mapping::Shared => MAP_SHARED,
    };
    MmapCall {
        addr: 0,
        len: size,
        prot: PROT_READ | PROT_WRITE,
        flags,
        file,
        offset: 0,
    }
}

/// One trial of Exp1/Exp2: `iterations` calls of
/// `mmap(NULL, size, PROT_READ|PROT_WRITE, flags, fd, 0)`, each followed,
/// with `touch`, by a one-byte write to every page of the new mapping. The
/// file of file-backed mappings is created before the timed region, `size`
/// bytes rounded up to a page. With `unmap_after`, everything mapped is
/// unmapped after the timed region (untimed), so the target is as it was,
/// less the file; without, the mappings stay (a sentry that is dropped
/// after the trial, or kept for its memory image).
///
/// Postconditions: on success, `calls == iterations`.
pub fn run_mmap_trial(
    target: &mut dyn MemoryTarget,
    mapping: Mapping,
    touch: bool,
    iterations: u64,
    size: u64,
    unmap_after: bool,
) -> Result<TimedCalls, TrialError> {
    let file_size = page_round_up(size).ok_or(setup(TargetError::Errno(Errno::EOVERFLOW)))?;
    let file = if mapping.is_file_backed() {
        Some(target.create_file(file_size).map_err(setup)?)
    } else {
        None
    };
    let call = experiment_call(mapping, size, file);
    let mut addrs = Vec::with_capacity(usize::try_from(iterations).unwrap_or(0));
    let start = Instant::now();
    let mut failure = None;
    for i in 0..iterations {
        match target.mmap(&call) {
            Ok(addr) => {
                addrs.push(addr);
                if touch {
                    if let Err(error) = target.touch(addr, size) {
                        failure = Some(TrialError {
                            call: Some(i),
                            error,
                        });
                        break;
                    }
                }
            }
            Err(error) => {
                failure = Some(TrialError {
                    call: Some(i),
                    error,
                });
                break;
            }
        }
    }
    let elapsed_ns = start.elapsed().as_nanos() as u64;
    let host_mappings = target.host_mappings();
    let cleanup = if unmap_after {
        unmap_all(target, &addrs, size)
    } else {
        Ok(())
    };
    if let Some(f) = failure {
        return Err(f);
    }
    cleanup.map_err(setup)?;
    Ok(TimedCalls {
        elapsed_ns,
        calls: iterations,
        host_mappings,
    })
}

fn unmap_all(target: &mut dyn MemoryTarget, addrs: &[u64], size: u64) -> Result<(), TargetError> {
    let mut first_err = None;
    for &a in addrs {
        if let Err(e) = target.munmap(a, size) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// glibc's default `M_MMAP_THRESHOLD`: requests at least this large are
/// served by their own mmap.
pub const MALLOC_MMAP_THRESHOLD: u64 = 128 * 1024;
/// glibc's default `M_TOP_PAD`: extra bytes asked of brk when the heap grows.
pub const MALLOC_TOP_PAD: u64 = 128 * 1024;
/// glibc's per-chunk header on 64-bit (`SIZE_SZ`).
const MALLOC_SIZE_SZ: u64 = 8;
/// glibc's chunk alignment and minimum chunk size on 64-bit.
const MALLOC_ALIGN: u64 = 16;
const MALLOC_MIN_CHUNK: u64 = 32;

/// glibc's malloc reduced to the system calls it makes, for platforms
/// where the C library's malloc cannot run (the sentry):
///
/// - a request below [`MALLOC_MMAP_THRESHOLD`] takes a chunk of
///   `max(size + 8, 32)` bytes rounded up to 16 from the top of the brk
///   heap; when the top has no room, the heap grows with
///   `brk(end + round_up(need + M_TOP_PAD, 4096))`;
/// - a request at or above the threshold is its own
///   `mmap(NULL, round_up(size + 16, 4096), PROT_READ|PROT_WRITE,
///   MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)`;
/// - malloc writes chunk headers, as glibc does: the size word of an
///   mmapped chunk (its first page) and, on the heap, the header of the new
///   top chunk right after the chunk handed out. These stores fault pages
///   in even when the benchmark does not touch its blocks, as they do
///   natively (each is one [`MemoryTarget::touch`] of the header's page,
///   made only when the header lands on a page not written before);
/// - nothing is freed (the benchmark's nofree case).
#[derive(Debug, Clone, Default)]
pub struct MallocModel {
    /// Start of the heap (the first program break), once known.
    heap_start: u64,
    /// Bytes of the heap handed out.
    used: u64,
    /// Current program break.
    brk_end: u64,
    /// The heap page holding the last header written (0: none yet).
    header_page: u64,
}

impl MallocModel {
    /// A model with an empty heap.
    pub fn new() -> Self {
        Self::default()
    }

    /// `malloc(size)`: returns the address of the user region.
    pub fn malloc(&mut self, target: &mut dyn MemoryTarget, size: u64) -> Result<u64, TargetError> {
        let overflow = TargetError::Errno(Errno::ENOMEM);
        if size >= MALLOC_MMAP_THRESHOLD {
            let len = page_round_up(
                size.checked_add(2 * MALLOC_SIZE_SZ)
                    .ok_or(overflow.clone())?,
            )
            .ok_or(overflow)?;
            let base = target.mmap(&MmapCall {
                addr: 0,
                len,
                prot: PROT_READ | PROT_WRITE,
                flags: MAP_PRIVATE | MAP_ANONYMOUS,
                file: None,
                offset: 0,
            })?;
            // The chunk's size word.
            target.touch(base, MALLOC_SIZE_SZ)?;
            return Ok(base + 2 * MALLOC_SIZE_SZ);
        }
        if self.brk_end == 0 {
            let b = target.brk(0)?;
            self.heap_start = b;
            self.brk_end = b;
        }
        let chunk = (size + MALLOC_SIZE_SZ)
            .max(MALLOC_MIN_CHUNK)
            .div_ceil(MALLOC_ALIGN)
            * MALLOC_ALIGN;
        let top = self.heap_start + self.used;
        // Room for the chunk and the header of the top chunk after it.
        if top + chunk + MALLOC_MIN_CHUNK > self.brk_end {
            let grow =
                page_round_up(top + chunk + MALLOC_MIN_CHUNK - self.brk_end + MALLOC_TOP_PAD)
                    .ok_or(overflow)?;
            let want = self.brk_end + grow;
            let got = target.brk(want)?;
            if got != want {
                return Err(TargetError::Errno(Errno::ENOMEM));
            }
            self.brk_end = got;
        }
        self.used += chunk;
        // The new top chunk's header (and, for the first chunk, the page
        // of its own header).
        for header in [top, top + chunk] {
            let page = header & !(PAGE_SIZE - 1);
            if page != self.header_page {
                target.touch(header, MALLOC_SIZE_SZ)?;
                self.header_page = page;
            }
        }
        Ok(top + MALLOC_SIZE_SZ)
    }
}

/// One trial of the malloc benchmark through [`MallocModel`]: `iterations`
/// calls of `malloc(size)`, never freed, each followed with `touch` by a
/// one-byte write to every page of the returned region.
pub fn run_malloc_model_trial(
    target: &mut dyn MemoryTarget,
    touch: bool,
    iterations: u64,
    size: u64,
) -> Result<TimedCalls, TrialError> {
    let mut model = MallocModel::new();
    let start = Instant::now();
    for i in 0..iterations {
        let at = |error| TrialError {
            call: Some(i),
            error,
        };
        let p = model.malloc(target, size).map_err(at)?;
        if touch {
            // The user region need not be page aligned: touch every page it
            // overlaps.
            let first = p & !(PAGE_SIZE - 1);
            let last = (p + size.max(1) - 1) & !(PAGE_SIZE - 1);
            target.touch(first, last - first + PAGE_SIZE).map_err(at)?;
        }
    }
    Ok(TimedCalls {
        elapsed_ns: start.elapsed().as_nanos() as u64,
        calls: iterations,
        host_mappings: target.host_mappings(),
    })
}
