//! The native platform: the workload made of real host system calls, no
//! sentry (the study's runc baseline).
//!
//! File-backed mappings map a real file created in the temporary directory
//! (unlinked at once, kept open). Only ranges this platform mapped itself
//! can be unmapped, protected or touched, so a workload cannot damage the
//! process it runs in; `MAP_FIXED`, `brk` and `mremap` are refused for the
//! same reason (trace replay runs in the sentry only). The malloc benchmark
//! calls the C library's real `malloc`.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::addr::{page_round_up, PAGE_SIZE};
use crate::host::{max_map_count, process_mappings};
use crate::runners::{PlatformRunner, PointError, TrialOutcome};
use crate::workload::exec::{run_mmap_trial, TimedCalls, TrialError, MALLOC_MMAP_THRESHOLD};
use crate::workload::spec::{PointSpec, PointWork};
use crate::workload::target::{
    Errno, FileHandle, MemoryTarget, MmapCall, TargetError, MAP_FIXED, MAP_FIXED_NOREPLACE,
};

/// The host limit error for `needed` VMAs against `limit`.
pub fn map_count_error(needed: u64, limit: u64, what: &str) -> TargetError {
    let suggested = (needed + needed / 4).next_power_of_two().max(1 << 20);
    TargetError::HostLimit {
        name: "vm.max_map_count".to_string(),
        limit,
        detail: format!("{what} needs about {needed} host mappings"),
        fix: format!("sysctl -w vm.max_map_count={suggested} (as root)"),
    }
}

/// Refuses a point whose file mappings would pass `vm.max_map_count`
/// (file mappings at offset 0 never merge: one host mapping each), with
/// the limit and the `sysctl` that raises it; the count of this process
/// (or of a fork of it, which starts with the same mappings) is the base.
pub fn check_map_count(spec: &PointSpec) -> Result<(), PointError> {
    let PointWork::Mmap { mapping } = &spec.work else {
        return Ok(());
    };
    if !mapping.is_file_backed() {
        return Ok(());
    }
    let (Some(limit), Some(now)) = (max_map_count(), process_mappings()) else {
        return Ok(());
    };
    let needed = now + spec.iterations + 16;
    if needed > limit {
        return Err(PointError::from_target(
            map_count_error(
                needed,
                limit,
                &format!("{} mmap x{}", mapping, spec.iterations),
            ),
            None,
        ));
    }
    Ok(())
}

/// A file of `size` bytes in the temporary directory, unlinked at once
/// (the open descriptor keeps it): what native file mappings map.
pub fn unlinked_temp_file(size: u64) -> Result<File, TargetError> {
    let dir: PathBuf = std::env::temp_dir();
    let seq = TEMP_FILE_SEQ.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(
        "sentryprof-native-{}-{seq}.data",
        std::process::id()
    ));
    let platform_err =
        |e: std::io::Error| TargetError::Platform(format!("{}: {e}", path.display()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(platform_err)?;
    // The open descriptor keeps the file; its name is not needed.
    std::fs::remove_file(&path).map_err(platform_err)?;
    file.set_len(size).map_err(platform_err)?;
    Ok(file)
}

/// Real host mmaps of this process, tracked so that only they are unmapped.
#[derive(Debug, Default)]
pub struct NativeTarget {
    files: Vec<File>,
    /// Start → length (page rounded) of every live mapping made here.
    live: HashMap<u64, u64>,
}

static TEMP_FILE_SEQ: AtomicU64 = AtomicU64::new(0);

impl NativeTarget {
    /// A target with no mappings.
    pub fn new() -> Self {
        Self::default()
    }

    fn tracked(&self, addr: u64, len: u64) -> Result<u64, TargetError> {
        let len = page_round_up(len).ok_or(TargetError::Errno(Errno::EINVAL))?;
        match self.live.get(&addr) {
            Some(&l) if len <= l && len > 0 => Ok(len),
            _ => Err(TargetError::Unsupported(format!(
                "native: {addr:#x}+{len:#x} is not a mapping this workload made; \
                 refusing to touch the rest of the process"
            ))),
        }
    }

    fn unmap_everything(&mut self) {
        for (addr, len) in self.live.drain() {
            // SAFETY: `addr..addr+len` is a mapping this target created with
            // mmap and nothing else refers to it (workloads only hold its
            // address as a number).
            unsafe {
                libc::munmap(addr as *mut libc::c_void, len as usize);
            }
        }
    }
}

impl Drop for NativeTarget {
    fn drop(&mut self) {
        self.unmap_everything();
    }
}

impl MemoryTarget for NativeTarget {
    fn create_file(&mut self, size: u64) -> Result<FileHandle, TargetError> {
        let file = unlinked_temp_file(size)?;
        let idx = u32::try_from(self.files.len()).map_err(|_| TargetError::Errno(Errno::EBADF))?;
        self.files.push(file);
        Ok(FileHandle(idx))
    }

    fn mmap(&mut self, call: &MmapCall) -> Result<u64, TargetError> {
        if call.flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
            return Err(TargetError::Unsupported(
                "native: MAP_FIXED would replace this process's own memory".to_string(),
            ));
        }
        let fd = match call.file {
            Some(FileHandle(i)) => self
                .files
                .get(i as usize)
                .ok_or(TargetError::Errno(Errno::EBADF))?
                .as_raw_fd(),
            None => -1,
        };
        let len = usize::try_from(call.len).map_err(|_| TargetError::Errno(Errno::ENOMEM))?;
        let offset =
            libc::off_t::try_from(call.offset).map_err(|_| TargetError::Errno(Errno::EINVAL))?;
        // SAFETY: without MAP_FIXED the kernel picks an address that does not
        // overlap any existing mapping, so no memory of this process changes;
        // `fd` is -1 or a file this target owns.
        let p = unsafe {
            libc::mmap(
                call.addr as *mut libc::c_void,
                len,
                call.prot as libc::c_int,
                call.flags as libc::c_int,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(TargetError::Errno(Errno(last_errno())));
        }
        let addr = p as u64;
        self.live
            .insert(addr, page_round_up(call.len).unwrap_or(call.len));
        Ok(addr)
    }

    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), TargetError> {
        let full = self.tracked(addr, len)?;
        let whole = self.live.get(&addr).copied() == Some(full);
        if !whole {
            return Err(TargetError::Unsupported(
                "native: only whole mappings made by the workload can be unmapped".to_string(),
            ));
        }
        // SAFETY: the range is exactly a mapping this target created.
        let r = unsafe { libc::munmap(addr as *mut libc::c_void, full as usize) };
        if r != 0 {
            return Err(TargetError::Errno(Errno(last_errno())));
        }
        self.live.remove(&addr);
        Ok(())
    }

    fn mprotect(&mut self, addr: u64, len: u64, prot: u32) -> Result<(), TargetError> {
        let len = self.tracked(addr, len)?;
        // SAFETY: the range lies inside a mapping this target created; no
        // Rust reference points into it.
        let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, prot as i32) };
        if r != 0 {
            return Err(TargetError::Errno(Errno(last_errno())));
        }
        Ok(())
    }

    fn brk(&mut self, _addr: u64) -> Result<u64, TargetError> {
        Err(TargetError::Unsupported(
            "native: brk would move this process's own heap".to_string(),
        ))
    }

    fn mremap(
        &mut self,
        _old_addr: u64,
        _old_len: u64,
        _new_len: u64,
        _flags: u32,
        _new_addr: u64,
    ) -> Result<u64, TargetError> {
        Err(TargetError::Unsupported(
            "native: mremap is not part of the native workloads".to_string(),
        ))
    }

    fn touch(&mut self, addr: u64, len: u64) -> Result<(), TargetError> {
        let len = self.tracked(addr, len)?;
        let mut a = addr;
        while a < addr + len {
            // SAFETY: `a` lies in a mapping this target created with
            // PROT_WRITE (the workloads map read-write) and is not aliased by
            // any Rust reference; a volatile write is a program's store.
            unsafe { std::ptr::write_volatile(a as *mut u8, 1) };
            a += PAGE_SIZE;
        }
        Ok(())
    }

    fn host_mappings(&self) -> u64 {
        self.live.len() as u64
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `M_MMAP_THRESHOLD` for `mallopt`.
const M_MMAP_THRESHOLD: libc::c_int = -3;

/// One trial of the malloc benchmark with the C library's real malloc:
/// `iterations` calls of `malloc(size)` (timed, never freed inside the
/// trial), each followed with `touch` by a one-byte write per page of the
/// returned block. Afterwards (untimed) everything is freed and the heap
/// trimmed, so the next trial starts alike.
///
/// The mmap threshold is pinned to glibc's default (128 KiB) with
/// `mallopt`, which also turns off glibc's dynamic threshold: otherwise the
/// first free of an mmapped block would raise it and later trials would
/// not cross from brk to mmap where the first did.
pub fn run_native_malloc_trial(
    touch: bool,
    iterations: u64,
    size: u64,
) -> Result<TimedCalls, TrialError> {
    // SAFETY: mallopt only changes malloc's tuning; it is thread-safe.
    unsafe {
        libc::mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD as libc::c_int);
    }
    let size_usize = usize::try_from(size).map_err(|_| TrialError {
        call: None,
        error: TargetError::Errno(Errno::ENOMEM),
    })?;
    let mut ptrs: Vec<*mut u8> = Vec::with_capacity(usize::try_from(iterations).unwrap_or(0));
    let start = Instant::now();
    let mut failure = None;
    for i in 0..iterations {
        // SAFETY: malloc with any size is sound; a null result is checked.
        let p = unsafe { libc::malloc(size_usize) } as *mut u8;
        if p.is_null() {
            failure = Some(TrialError {
                call: Some(i),
                error: TargetError::Errno(Errno::ENOMEM),
            });
            break;
        }
        ptrs.push(p);
        if touch {
            let mut off = 0usize;
            while off < size_usize {
                // SAFETY: `p` points to `size` bytes just allocated and owned
                // here; `off < size`.
                unsafe { std::ptr::write_volatile(p.add(off), 1) };
                off += PAGE_SIZE as usize;
            }
        }
    }
    let elapsed_ns = start.elapsed().as_nanos() as u64;
    let host_mappings = if size >= MALLOC_MMAP_THRESHOLD {
        ptrs.len() as u64
    } else {
        1
    };
    for p in ptrs {
        // SAFETY: every pointer came from malloc above and is freed once.
        unsafe { libc::free(p as *mut libc::c_void) };
    }
    // SAFETY: malloc_trim only returns free heap memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    match failure {
        Some(f) => Err(f),
        None => Ok(TimedCalls {
            elapsed_ns,
            calls: iterations,
            host_mappings,
        }),
    }
}

/// Runs points with real host syscalls.
#[derive(Debug, Default)]
pub struct NativeRunner;

impl NativeRunner {
    /// The native platform.
    pub fn new() -> Self {
        NativeRunner
    }
}

impl PlatformRunner for NativeRunner {
    fn platform(&self) -> &'static str {
        "native"
    }

    fn search(&self) -> Option<&'static str> {
        None
    }

    fn check_point(&mut self, spec: &PointSpec) -> Result<(), PointError> {
        match &spec.work {
            PointWork::Replay { .. } => Err(PointError::Unsupported(
                "native: trace replay runs in the sentry (inproc, kvm) only; replaying \
                 MAP_FIXED and brk calls natively would rewrite this process's own memory"
                    .to_string(),
            )),
            _ => check_map_count(spec),
        }
    }

    fn run_trial(&mut self, spec: &PointSpec) -> Result<TrialOutcome, PointError> {
        let timed = match &spec.work {
            PointWork::Mmap { mapping } => {
                let mut target = NativeTarget::new();
                run_mmap_trial(
                    &mut target,
                    *mapping,
                    spec.touch,
                    spec.iterations,
                    spec.size,
                    true,
                )
                .map_err(|e| explain_enomem(e, spec))?
            }
            PointWork::Malloc => run_native_malloc_trial(spec.touch, spec.iterations, spec.size)?,
            PointWork::Replay { .. } => {
                return Err(self
                    .check_point(spec)
                    .err()
                    .unwrap_or(PointError::Unsupported(
                        "native: trace replay is not supported".to_string(),
                    )))
            }
        };
        Ok(TrialOutcome {
            elapsed_ns: timed.elapsed_ns,
            calls: timed.calls,
            host_mappings: timed.host_mappings,
            extra: serde_json::Value::Null,
            probes: Vec::new(),
            guest: None,
            boundary: Vec::new(),
        })
    }
}

/// An ENOMEM from a host mmap near the host's mapping limit is that limit.
fn explain_enomem(e: TrialError, spec: &PointSpec) -> PointError {
    if e.error == TargetError::Errno(Errno::ENOMEM) {
        if let (Some(limit), Some(i)) = (max_map_count(), e.call) {
            // The trial's own mappings are gone by now: judge by how far
            // it got. A process holds a few hundred VMAs of its own.
            if i + 1024 >= limit {
                return PointError::from_target(
                    map_count_error(
                        spec.iterations + process_mappings().unwrap_or(0) + 16,
                        limit,
                        &format!("{} mmap x{}", spec.mapping_name(), spec.iterations),
                    ),
                    Some(i),
                );
            }
        }
    }
    e.into()
}
