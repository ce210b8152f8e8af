//! The in-process platform as a workload target and runner: the sentry's
//! memory manager, in this process, with `mapAS` mapping real memfd pages
//! into a reserved arena.
//!
//! Every trial starts from a fresh [`MemoryManager`] (fresh VMA set,
//! memory file and arena), so trials are independent; its probes are
//! handed to the run loop in the trial's outcome.

use std::path::Path;

use crate::addr::{Access, Perms};
use crate::mm::{FileId, MemoryManager, MmConfig, MmError, MmapRequest, MremapFlags};
use crate::platform::inproc_address_space::{InProcAddressSpace, InProcConfig};
use crate::probes::ProbeConfig;
use crate::segment::GapSearch;

use crate::runners::{PlatformRunner, PointError, TrialOutcome};
use crate::workload::exec::{run_malloc_model_trial, run_mmap_trial, TimedCalls};
use crate::workload::memory_image::write_sparse_copy;
use crate::workload::spec::{PointSpec, PointWork};
use crate::workload::target::{Errno, FileHandle, MemoryTarget, MmapCall, TargetError};
use crate::workload::trace::replay_trace;

/// The sentry on the in-process platform.
pub type InprocMm = MemoryManager<InProcAddressSpace>;

/// Turn a memory-manager error into what a program (or the run) sees.
pub fn target_error(e: MmError) -> TargetError {
    if e.is_environment() {
        // Host limits and host failures stop the point; they are not the
        // application's errno.
        let text = e.to_string();
        if text.contains("max_map_count") {
            return TargetError::HostLimit {
                name: "vm.max_map_count".to_string(),
                limit: crate::host::max_map_count().unwrap_or(0),
                detail: text,
                fix: "sysctl -w vm.max_map_count=1048576 (as root)".to_string(),
            };
        }
        return TargetError::Platform(text);
    }
    TargetError::Errno(Errno(e.errno()))
}

/// A [`MemoryTarget`] over the in-process sentry.
#[derive(Debug)]
pub struct InprocTarget {
    mm: InprocMm,
    files: Vec<FileId>,
}

impl InprocTarget {
    /// A fresh sentry with the given settings.
    pub fn new(config: MmConfig, inproc: &InProcConfig) -> Result<Self, TargetError> {
        let mm = MemoryManager::inproc(config, inproc).map_err(target_error)?;
        Ok(InprocTarget {
            mm,
            files: Vec::new(),
        })
    }

    /// The memory manager.
    pub fn mm(&self) -> &InprocMm {
        &self.mm
    }

    /// Give up the target, keeping the memory manager.
    pub fn into_mm(self) -> InprocMm {
        self.mm
    }
}

impl MemoryTarget for InprocTarget {
    fn create_file(&mut self, size: u64) -> Result<FileHandle, TargetError> {
        let id = self.mm.create_file(size).map_err(target_error)?;
        let idx = u32::try_from(self.files.len()).map_err(|_| TargetError::Errno(Errno::EBADF))?;
        self.files.push(id);
        Ok(FileHandle(idx))
    }

    fn mmap(&mut self, call: &MmapCall) -> Result<u64, TargetError> {
        let file = match call.file {
            Some(FileHandle(i)) => Some(
                *self
                    .files
                    .get(i as usize)
                    .ok_or(TargetError::Errno(Errno::EBADF))?,
            ),
            None => None,
        };
        let prot = i32::try_from(call.prot).map_err(|_| TargetError::Errno(Errno::EINVAL))?;
        let flags = i32::try_from(call.flags).map_err(|_| TargetError::Errno(Errno::EINVAL))?;
        if file.is_none() && call.flags & crate::workload::target::MAP_ANONYMOUS == 0 {
            return Err(TargetError::Errno(Errno::EBADF));
        }
        let req = MmapRequest::from_linux(call.addr, call.len, prot, flags, file, call.offset)
            .map_err(target_error)?;
        self.mm.mmap(&req).map_err(target_error)
    }

    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), TargetError> {
        self.mm.munmap(addr, len).map_err(target_error)
    }

    fn mprotect(&mut self, addr: u64, len: u64, prot: u32) -> Result<(), TargetError> {
        let perms = i32::try_from(prot)
            .ok()
            .and_then(Perms::from_prot)
            .ok_or(TargetError::Errno(Errno::EINVAL))?;
        self.mm.mprotect(addr, len, perms).map_err(target_error)
    }

    fn brk(&mut self, addr: u64) -> Result<u64, TargetError> {
        self.mm.brk(addr).map_err(target_error)
    }

    fn mremap(
        &mut self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: u64,
    ) -> Result<u64, TargetError> {
        let flags = i32::try_from(flags).map_err(|_| TargetError::Errno(Errno::EINVAL))?;
        let f = MremapFlags::from_linux(flags, new_addr).map_err(target_error)?;
        self.mm
            .mremap(old_addr, old_len, new_len, f)
            .map_err(target_error)
    }

    fn touch(&mut self, addr: u64, len: u64) -> Result<(), TargetError> {
        self.mm
            .touch(addr, len, Access::Write, 1)
            .map(|_| ())
            .map_err(target_error)
    }

    fn host_mappings(&self) -> u64 {
        self.mm.host_mappings()
    }
}

/// Settings of the in-process runner.
#[derive(Debug, Clone, Copy, Default)]
pub struct InprocOptions {
    /// Record rdtsc probes.
    pub probes: bool,
    /// Subtract the probe's own cost from every sample.
    pub subtract_probe_cost: bool,
    /// Time one call in this many at each site (0 or 1: every call).
    pub probe_every: u32,
    /// Keep the memory manager of the last trial (for `--keep-memory`).
    pub keep_last: bool,
}

/// Smallest arena the runner reserves (address space only).
const MIN_ARENA: u64 = 64 << 30;
/// Largest arena the runner reserves.
const MAX_ARENA: u64 = 16 << 40;
/// Arena of a trace replay's address spaces.
const REPLAY_ARENA: u64 = 1 << 40;

/// Runs points on the in-process sentry.
#[derive(Debug)]
pub struct InprocRunner {
    search: GapSearch,
    options: InprocOptions,
    last: Option<InprocMm>,
}

impl InprocRunner {
    /// A runner with the given gap search.
    pub fn new(search: GapSearch, options: InprocOptions) -> Self {
        InprocRunner {
            search,
            options,
            last: None,
        }
    }

    /// The memory manager settings of every trial.
    pub fn mm_config(&self) -> MmConfig {
        MmConfig {
            probes: ProbeConfig::for_run(
                self.options.probes,
                self.options.subtract_probe_cost,
                self.options.probe_every,
            ),
            ..MmConfig::with_search(self.search)
        }
    }

    /// Arena for the point (address space only): twice what a trial maps,
    /// at least 64 GiB, at most 16 TiB; 1 TiB for a trace replay (a traced
    /// program's own reservations, not the largest call it tried, decide).
    fn inproc_config(spec: &PointSpec) -> InProcConfig {
        let arena = match spec.work {
            PointWork::Replay { .. } => REPLAY_ARENA,
            _ => spec
                .mapped_bytes()
                .and_then(|b| b.checked_mul(2))
                .unwrap_or(u64::MAX)
                .clamp(MIN_ARENA, MAX_ARENA)
                .next_power_of_two()
                .min(MAX_ARENA),
        };
        InProcConfig {
            arena_size: arena,
            ..InProcConfig::default()
        }
    }

    fn new_target(&self, spec: &PointSpec) -> Result<InprocTarget, TargetError> {
        let mut config = self.mm_config();
        let inproc = Self::inproc_config(spec);
        config.memory_file.max_size = config.memory_file.max_size.max(
            inproc
                .arena_size
                .div_ceil(config.memory_file.chunk_size)
                .saturating_mul(config.memory_file.chunk_size),
        );
        InprocTarget::new(config, &inproc)
    }
}

impl PlatformRunner for InprocRunner {
    fn platform(&self) -> &'static str {
        "inproc"
    }

    fn search(&self) -> Option<&'static str> {
        Some(self.search.name())
    }

    fn check_point(&mut self, spec: &PointSpec) -> Result<(), PointError> {
        // Make one sentry for the point up front, so a platform that cannot
        // be set up fails the point before any trial.
        self.new_target(spec)
            .map(drop)
            .map_err(|e| PointError::from_target(e, None))
    }

    fn run_trial(&mut self, spec: &PointSpec) -> Result<TrialOutcome, PointError> {
        // The previous trial's sentry goes first: its arena and memory file
        // are released before the next is made.
        self.last = None;
        let mut extra = serde_json::Value::Null;
        let mut replay_probes = Vec::new();
        let (timed, mm): (TimedCalls, Option<InprocMm>) = match &spec.work {
            PointWork::Mmap { mapping } => {
                let mut t = self
                    .new_target(spec)
                    .map_err(|e| PointError::from_target(e, None))?;
                let timed = run_mmap_trial(
                    &mut t,
                    *mapping,
                    spec.touch,
                    spec.iterations,
                    spec.size,
                    false,
                )?;
                (timed, Some(t.into_mm()))
            }
            PointWork::Malloc => {
                let mut t = self
                    .new_target(spec)
                    .map_err(|e| PointError::from_target(e, None))?;
                let timed = run_malloc_model_trial(&mut t, spec.touch, spec.iterations, spec.size)?;
                (timed, Some(t.into_mm()))
            }
            PointWork::Replay { trace } => {
                let mut factory = || self.new_target(spec);
                let (out, targets) = replay_trace(trace, &mut factory)
                    .map_err(|e| PointError::from_target(e, None))?;
                extra = serde_json::to_value(&out.counts).unwrap_or(serde_json::Value::Null);
                let mut mms: Vec<InprocMm> =
                    targets.into_iter().map(InprocTarget::into_mm).collect();
                replay_probes = mms.iter().skip(1).map(|m| m.probes().clone()).collect();
                (
                    TimedCalls {
                        elapsed_ns: out.elapsed_ns,
                        calls: trace.calls.len() as u64,
                        host_mappings: out.host_mappings,
                    },
                    if mms.is_empty() {
                        None
                    } else {
                        Some(mms.swap_remove(0))
                    },
                )
            }
        };
        let mut probes: Vec<_> = mm
            .as_ref()
            .map(|m| m.probes().clone())
            .into_iter()
            .collect();
        probes.extend(replay_probes);
        if self.options.keep_last {
            self.last = mm;
        }
        Ok(TrialOutcome {
            elapsed_ns: timed.elapsed_ns,
            calls: timed.calls,
            host_mappings: timed.host_mappings,
            extra,
            probes,
            guest: None,
            boundary: Vec::new(),
        })
    }

    fn save_memory(&mut self, path: &Path) -> Result<Option<u64>, PointError> {
        let Some(mm) = &self.last else {
            return Ok(None);
        };
        let file = mm.memory_file();
        write_sparse_copy(file.fd(), file.size(), path)
            .map(Some)
            .map_err(|e| PointError::Failed(format!("{}: {e}", path.display())))
    }
}
