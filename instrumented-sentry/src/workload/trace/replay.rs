//! Replaying a parsed trace into a platform.
//!
//! Address spaces: `strace -f` prints thread ids and process ids alike, and
//! `trace=memory` holds no clone or execve, so which ids share an address
//! space is inferred: a program image starts with `brk(NULL)` (the dynamic
//! loader's first memory call), so an id whose first call is `brk(NULL)`
//! gets a fresh address space (a target from the factory); any other new id
//! is taken to be a thread (or a forked child that did not exec) and shares
//! the address space of the id that made the previous call. A forked child
//! shares rather than copies, so its calls on its own copy show up as
//! mismatches where they differ. Every fd that a file-backed mmap uses
//! becomes one file of each address space, sized to the largest
//! `offset + len` mapped from that fd anywhere in the trace.
//!
//! Addresses differ between the traced run and the replay (the sentry
//! chooses its own), so the replay keeps a translation from traced ranges
//! to replayed ones: a later `mmap(MAP_FIXED)`, `munmap`, `mprotect` or
//! `mremap` inside a range the trace mapped is redirected to where the
//! replay put that range. Addresses outside every known range are passed
//! through unchanged. `brk` addresses are translated relative to the first
//! program break each side reported.

use std::collections::{BTreeMap, HashMap};

use std::time::Instant;

use serde::Serialize;

use super::addr_map::AddrMap;
use super::model::{Trace, TraceCall, TraceOp, TraceResult};
use crate::addr::page_round_up;
use crate::workload::target::{
    Errno, FileHandle, MemoryTarget, MmapCall, TargetError, MAP_ANONYMOUS, MREMAP_DONTUNMAP,
    MREMAP_FIXED,
};

/// Counts of one syscall over a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyscallCounts {
    /// Calls replayed.
    pub calls: u64,
    /// Succeeded in the trace and in the replay.
    pub ok_both: u64,
    /// Failed in the trace and in the replay.
    pub failed_both: u64,
    /// Succeeded in the trace, failed in the replay.
    pub trace_ok_replay_failed: u64,
    /// Failed in the trace, succeeded in the replay.
    pub trace_failed_replay_ok: u64,
    /// The trace holds no result (`= ?`); only the replay's is known.
    pub trace_result_unknown: u64,
}

/// One call whose outcome differed from the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Line of the trace.
    pub line: usize,
    /// Syscall name.
    pub syscall: String,
    /// What the trace recorded (`0x7f..` or `ENOMEM`).
    pub traced: String,
    /// What the replay got.
    pub replayed: String,
}

/// What a replay did, recorded in the point's `extra`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayCounts {
    /// The trace file.
    pub trace: String,
    /// Calls replayed.
    pub calls: u64,
    /// Calls whose success or failure matched the trace.
    pub matched: u64,
    /// Calls whose success or failure differed from the trace.
    pub mismatched: u64,
    /// Per syscall.
    pub by_syscall: BTreeMap<String, SyscallCounts>,
    /// Errors the replay got, by errno name.
    pub replay_errors: BTreeMap<String, u64>,
    /// Syscalls in the trace that are not replayed, by name.
    pub unknown_syscalls: BTreeMap<String, u64>,
    /// Signal, exit and blank lines.
    pub other_lines: u64,
    /// `resumed` lines without their start, and calls never resumed.
    pub orphan_resumed: u64,
    /// Calls still unfinished at the end of the trace.
    pub unfinished_at_end: u64,
    /// Address spaces replayed (program images, see the module docs).
    pub processes: u64,
    /// Process and thread ids of the trace (1 without `-f`).
    pub threads: u64,
    /// Files created for file-backed mappings.
    pub files: u64,
    /// The first mismatches (at most 20), with line numbers.
    pub first_mismatches: Vec<Mismatch>,
}

/// The result of one replay trial.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// Time spent inside the replayed calls, in ns.
    pub elapsed_ns: u64,
    /// Counts for `extra`.
    pub counts: ReplayCounts,
    /// Host mappings all the replay's targets held at the end.
    pub host_mappings: u64,
}

/// The replay state of one traced address space.
struct Process<T> {
    target: T,
    files: HashMap<i32, FileHandle>,
    map: AddrMap<u64>,
    /// (first traced break, first replayed break).
    brk_bases: Option<(u64, u64)>,
}

/// Replay every call of `trace`, making one target per traced address
/// space with `new_target`. Only the calls themselves are timed; creating
/// the targets and their files is not. Returns the counts and the targets
/// (in the order they were made), whose state the caller may inspect.
///
/// Errors: a [`TargetError`] other than an errno (a host limit, an
/// unsupported operation) stops the replay.
pub fn replay_trace<T: MemoryTarget>(
    trace: &Trace,
    new_target: &mut dyn FnMut() -> Result<T, TargetError>,
) -> Result<(ReplayOutcome, Vec<T>), TargetError> {
    let file_sizes = trace.file_sizes();
    let plan = assign_spaces(trace);
    let mut counts = ReplayCounts::for_trace(trace);
    if let Some(c) = trace.overflowing_file_mapping() {
        return Err(overflow_error(trace, c));
    }
    // Set-up, untimed: an address space per program image, and its files.
    let mut spaces: Vec<Process<T>> = Vec::new();
    for _ in 0..plan.count {
        let mut target = new_target()?;
        let mut files = HashMap::new();
        for (&fd, &size) in &file_sizes {
            files.insert(fd, target.create_file(file_size(size)?)?);
            counts.files += 1;
        }
        spaces.push(Process {
            target,
            files,
            map: AddrMap::default(),
            brk_bases: None,
        });
    }
    counts.processes = plan.count as u64;
    counts.threads = plan.threads;

    let mut elapsed_ns: u64 = 0;
    for (call, &space) in trace.calls.iter().zip(&plan.of_call) {
        let Some(proc_) = spaces.get_mut(space) else {
            continue;
        };
        let start = Instant::now();
        let outcome = replay_one(proc_, call);
        elapsed_ns += start.elapsed().as_nanos() as u64;
        let replayed = match outcome {
            Ok(v) => Ok(v),
            Err(TargetError::Errno(e)) => Err(e),
            Err(other) => return Err(other),
        };
        counts.record(call, &replayed);
    }
    let host_mappings = spaces.iter().map(|p| p.target.host_mappings()).sum();
    Ok((
        ReplayOutcome {
            elapsed_ns,
            counts,
            host_mappings,
        },
        spaces.into_iter().map(|p| p.target).collect(),
    ))
}

/// Replay one call; returns the replay's return value.
fn replay_one<T: MemoryTarget>(p: &mut Process<T>, call: &TraceCall) -> Result<u64, TargetError> {
    match call.op {
        TraceOp::Mmap {
            addr,
            len,
            prot,
            flags,
            fd,
            offset,
        } => {
            let file = if flags & MAP_ANONYMOUS != 0 {
                None
            } else {
                match fd {
                    Some(fd) => Some(*p.files.get(&fd).ok_or(TargetError::Errno(Errno::EBADF))?),
                    None => None,
                }
            };
            let got = p.target.mmap(&MmapCall {
                addr: if addr == 0 { 0 } else { p.map.translate(addr) },
                len,
                prot,
                flags,
                file,
                offset,
            })?;
            if let TraceResult::Value(traced) = call.result {
                if let Some(rlen) = page_round_up(len) {
                    p.map.insert(traced, rlen, got);
                }
            }
            Ok(got)
        }
        TraceOp::Munmap { addr, len } => {
            let r = p.target.munmap(p.map.translate(addr), len);
            if r.is_ok() {
                if let Some(rlen) = page_round_up(len) {
                    p.map.remove(addr, rlen);
                }
            }
            r.map(|()| 0)
        }
        TraceOp::Mprotect { addr, len, prot } => p
            .target
            .mprotect(p.map.translate(addr), len, prot)
            .map(|()| 0),
        TraceOp::Brk { addr } => {
            let bases = match p.brk_bases {
                Some(b) => Some(b),
                None => {
                    let replay_base = p.target.brk(0)?;
                    match call.result {
                        TraceResult::Value(v) if addr == 0 => {
                            p.brk_bases = Some((v, replay_base));
                            p.brk_bases
                        }
                        _ => None,
                    }
                }
            };
            let translated = match bases {
                Some((traced, replayed)) if addr >= traced => replayed + (addr - traced),
                _ => addr,
            };
            let got = p.target.brk(translated)?;
            // brk reports failure by returning the old break.
            if addr != 0 && got != translated {
                return Err(TargetError::Errno(Errno::ENOMEM));
            }
            Ok(got)
        }
        TraceOp::Mremap {
            old_addr,
            old_len,
            new_len,
            flags,
            new_addr,
        } => {
            let fixed = flags & MREMAP_FIXED != 0;
            let got = p.target.mremap(
                p.map.translate(old_addr),
                old_len,
                new_len,
                flags,
                if fixed { p.map.translate(new_addr) } else { 0 },
            )?;
            if let TraceResult::Value(traced) = call.result {
                if let (Some(ol), Some(nl)) = (page_round_up(old_len), page_round_up(new_len)) {
                    if flags & MREMAP_DONTUNMAP == 0 {
                        p.map.remove(old_addr, ol);
                    }
                    p.map.insert(traced, nl, got);
                }
            }
            Ok(got)
        }
    }
}

fn trace_succeeded(call: &TraceCall) -> Option<bool> {
    match (&call.op, &call.result) {
        (_, TraceResult::Unknown) => None,
        (_, TraceResult::Error(_)) => Some(false),
        (TraceOp::Brk { addr }, TraceResult::Value(v)) => Some(*addr == 0 || v == addr),
        (_, TraceResult::Value(_)) => Some(true),
    }
}

impl ReplayCounts {
    /// Counts of a replay of `trace` before any call: the trace's own
    /// counts (unknown syscalls, other lines, orphans).
    pub fn for_trace(trace: &Trace) -> ReplayCounts {
        ReplayCounts {
            trace: trace.source.clone(),
            unknown_syscalls: trace.unknown_syscalls.clone(),
            other_lines: trace.other_lines,
            orphan_resumed: trace.orphan_resumed,
            unfinished_at_end: trace.unfinished_at_end,
            ..ReplayCounts::default()
        }
    }

    /// Counts one replayed call against what the trace recorded for it
    /// (every platform counts with this: matched when success or failure
    /// agree).
    pub fn record(&mut self, call: &TraceCall, replayed: &Result<u64, Errno>) {
        record(self, call, replayed)
    }
}

/// The address space of each call (index into a replay's spaces), how
/// many spaces, how many process and thread ids: the rule of the module
/// documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpacePlan {
    /// For each call of the trace, its address space.
    pub of_call: Vec<usize>,
    /// Address spaces.
    pub count: usize,
    /// Process and thread ids.
    pub threads: u64,
}

/// Assigns the trace's calls to address spaces (see the module docs).
pub fn assign_spaces(trace: &Trace) -> SpacePlan {
    let mut space_of: HashMap<Option<u32>, usize> = HashMap::new();
    let mut plan = SpacePlan::default();
    let mut previous: Option<usize> = None;
    for call in &trace.calls {
        let idx = match space_of.get(&call.pid) {
            Some(&i) => i,
            None => {
                let starts_image = matches!(call.op, TraceOp::Brk { addr: 0 });
                let idx = match previous {
                    Some(prev) if !starts_image => prev,
                    _ => {
                        plan.count += 1;
                        plan.count - 1
                    }
                };
                space_of.insert(call.pid, idx);
                idx
            }
        };
        plan.of_call.push(idx);
        previous = Some(idx);
    }
    plan.threads = space_of.len() as u64;
    plan
}

/// The error of a trace whose file mmap `c` overflows.
pub fn overflow_error(trace: &Trace, c: &TraceCall) -> TargetError {
    TargetError::Unsupported(format!(
        "{}:{}: EOVERFLOW: this mmap's offset + length passes 2^64, so its file cannot be made for the replay",
        trace.source, c.line
    ))
}

/// The size of a replay's file that the trace maps up to `size` bytes of.
pub fn file_size(size: u64) -> Result<u64, TargetError> {
    page_round_up(size.max(1)).ok_or(TargetError::Errno(Errno::EOVERFLOW))
}

fn record(counts: &mut ReplayCounts, call: &TraceCall, replayed: &Result<u64, Errno>) {
    counts.calls += 1;
    let c = counts
        .by_syscall
        .entry(call.op.name().to_string())
        .or_default();
    c.calls += 1;
    if let Err(e) = replayed {
        *counts.replay_errors.entry(e.name()).or_insert(0) += 1;
    }
    let replay_ok = replayed.is_ok();
    match trace_succeeded(call) {
        None => {
            c.trace_result_unknown += 1;
            return;
        }
        Some(true) if replay_ok => c.ok_both += 1,
        Some(false) if !replay_ok => c.failed_both += 1,
        Some(true) => c.trace_ok_replay_failed += 1,
        Some(false) => c.trace_failed_replay_ok += 1,
    }
    if trace_succeeded(call) == Some(replay_ok) {
        counts.matched += 1;
    } else {
        counts.mismatched += 1;
        if counts.first_mismatches.len() < 20 {
            counts.first_mismatches.push(Mismatch {
                line: call.line,
                syscall: call.op.name().to_string(),
                traced: match &call.result {
                    TraceResult::Value(v) => format!("{v:#x}"),
                    TraceResult::Error(e) => e.clone(),
                    TraceResult::Unknown => "?".to_string(),
                },
                replayed: match replayed {
                    Ok(v) => format!("{v:#x}"),
                    Err(e) => e.name(),
                },
            });
        }
    }
}
