//! What a parsed trace holds: its calls ([`TraceCall`], [`TraceOp`],
//! [`TraceResult`]) and the counts of everything else ([`Trace`]).

use std::collections::{BTreeMap, BTreeSet};

/// One memory system call as the trace recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceOp {
    /// `mmap(addr, len, prot, flags, fd, offset)`; `fd` is `None` for -1.
    Mmap {
        addr: u64,
        len: u64,
        prot: u32,
        flags: u32,
        fd: Option<i32>,
        offset: u64,
    },
    /// `munmap(addr, len)`.
    Munmap { addr: u64, len: u64 },
    /// `mprotect(addr, len, prot)`.
    Mprotect { addr: u64, len: u64, prot: u32 },
    /// `brk(addr)`; `addr == 0` for `brk(NULL)`.
    Brk { addr: u64 },
    /// `mremap(old_addr, old_len, new_len, flags[, new_addr])`.
    Mremap {
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: u64,
    },
}

impl TraceOp {
    /// The syscall's name as strace prints it.
    pub fn name(&self) -> &'static str {
        match self {
            TraceOp::Mmap { .. } => "mmap",
            TraceOp::Munmap { .. } => "munmap",
            TraceOp::Mprotect { .. } => "mprotect",
            TraceOp::Brk { .. } => "brk",
            TraceOp::Mremap { .. } => "mremap",
        }
    }
}

/// What the call returned in the traced run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceResult {
    /// A non-negative return value (an address, or 0).
    Value(u64),
    /// `-1` with the errno name strace printed (`ENOMEM`).
    Error(String),
    /// `= ?`: the process went away before the call returned.
    Unknown,
}

/// One parsed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceCall {
    /// 1-based line of the trace where the call (or its resumption) ended.
    pub line: usize,
    /// Process id from a `-f` prefix; `None` without `-f`.
    pub pid: Option<u32>,
    /// The call and its arguments.
    pub op: TraceOp,
    /// What it returned when traced.
    pub result: TraceResult,
}

/// A parsed trace: the calls to replay and counts of everything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// Where the trace came from (file path), for messages.
    pub source: String,
    /// Replayable calls, in trace order.
    pub calls: Vec<TraceCall>,
    /// Syscalls the trace holds that are not replayed (madvise, ...), by name.
    pub unknown_syscalls: BTreeMap<String, u64>,
    /// Signal (`--- SIG... ---`), exit (`+++ ... +++`) and blank lines.
    pub other_lines: u64,
    /// `<... resumed>` lines whose start the trace does not hold.
    pub orphan_resumed: u64,
    /// Calls left `<unfinished ...>` at the end of the trace.
    pub unfinished_at_end: u64,
    /// Process ids seen (empty for traces without `-f`).
    pub pids: BTreeSet<u32>,
}

impl Trace {
    /// Number of replayable calls of each syscall, by name.
    pub fn calls_by_syscall(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for c in &self.calls {
            *m.entry(c.op.name()).or_insert(0) += 1;
        }
        m
    }

    /// Total of unknown syscall lines.
    pub fn unknown_total(&self) -> u64 {
        self.unknown_syscalls.values().sum()
    }

    /// The largest length a single mmap or mremap of the trace asks for,
    /// a bound used to check that a replay fits the address space.
    pub fn largest_mapped_bytes(&self) -> u64 {
        self.calls
            .iter()
            .map(|c| match c.op {
                TraceOp::Mmap { len, .. } => len,
                TraceOp::Mremap { new_len, .. } => new_len,
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// The first file-backed mmap whose `offset + len`, rounded up to a
    /// page, does not fit in 64 bits: its file cannot be made.
    pub fn overflowing_file_mapping(&self) -> Option<&TraceCall> {
        self.calls.iter().find(|c| match c.op {
            TraceOp::Mmap {
                len,
                offset,
                fd: Some(_),
                flags,
                ..
            } if flags & crate::workload::target::MAP_ANONYMOUS == 0 => offset
                .checked_add(len)
                .and_then(crate::addr::page_round_up)
                .is_none(),
            _ => false,
        })
    }

    /// For every fd that file-backed mmaps use, the file size the replay
    /// needs: the largest `offset + len` mapped from it.
    pub fn file_sizes(&self) -> BTreeMap<i32, u64> {
        let mut m: BTreeMap<i32, u64> = BTreeMap::new();
        for c in &self.calls {
            if let TraceOp::Mmap {
                len,
                offset,
                fd: Some(fd),
                flags,
                ..
            } = c.op
            {
                if flags & crate::workload::target::MAP_ANONYMOUS == 0 {
                    let end = offset.saturating_add(len);
                    let e = m.entry(fd).or_insert(0);
                    *e = (*e).max(end);
                }
            }
        }
        m
    }
}
