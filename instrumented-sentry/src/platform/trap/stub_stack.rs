//! The stub's stack at a trapped call, for boundary windows: from the
//! call's `rip`/`rbp`/`rsp` (ptrace: `PTRACE_GETREGS`; systrap: the SIGSYS
//! handler's ucontext, posted in the shared header) the frame-pointer
//! chain is walked in the stub, up to its outermost frame of its own
//! (`child_main`'s, posted in the header at start): one `process_vm_readv`
//! of the stack between, frames outside it read one by one, at most
//! [`STUB_MAX_DEPTH`] frames. The stub is a fork of this process, so its
//! addresses are this process's code.
//!
//! Under systrap the stub walks its own chain in its SIGSYS/SIGSEGV
//! handler when the sentry asked for stacks (`want_stack` in the shared
//! header), after posting the request (while the sentry serves it), into
//! one of two header slots; the sentry reads it when it closes the window,
//! after the reply ([`open_posted`], [`close`]): no system call, and a
//! slot not yet written (its `seq`) gives the call's `rip` alone, marked
//! "not posted". The sentry reads the stub's memory
//! ([`open`]) under ptrace, whose stub is stopped anyway, and for a
//! systrap call trapped before the stub saw the request.
//!
//! Only done when the log is on.

use super::process::read_words;
use super::shared::{get, Header};
use crate::platform::boundary::{
    break_reason, monotonic_ns, this_tid, walk_frame_pointers_into, BoundaryLog, BoundaryWindow,
    StackSpace, STUB_MAX_DEPTH,
};
use std::sync::atomic::Ordering;

/// The sentry function from which a trapped call is served (both
/// platforms' loop is named `serve`).
const SERVE_FROM: &str = "serve";
/// The stub's first function of its own after the fork: its stack outer
/// of it is the sentry's at the fork.
const WORKLOAD_FROM: &str = "child_main";

/// A window opened when the sentry saw a call, closed when it resumes the
/// stub. systrap: no allocation while the stub waits ([`close`] copies the
/// posted stack into the log).
#[derive(Debug)]
pub struct OpenWindow {
    start_ns: u64,
    kind: &'static str,
    stack: Stack,
}

/// Where an open window's stack is.
#[derive(Debug)]
enum Stack {
    /// Walked by the sentry (the stub stopped or waiting): the addresses
    /// and why the walk broke, if it did.
    Walked(Vec<u64>, Option<&'static str>),
    /// Posted by the stub in the header's `stacks[i]` under number `seq`,
    /// read at close.
    Posted { i: usize, seq: u64, rip: u64 },
}

/// Words of the stub's stack read at once (4 KiB): the stub's frames
/// between the trapped call and `child_main` fit; frames beyond are read
/// one by one.
const CHUNK_WORDS: usize = 512;

/// Opens a window for a call of stub `pid` stopped at `rip`/`rbp`/`rsp`
/// (`None` when `log` is off: no walk, no clock read). The walk stops at
/// `stack_base`, the stub's outermost frame of its own (0: unknown).
pub fn open(
    log: &BoundaryLog,
    pid: i32,
    kind: &'static str,
    regs: [u64; 3],
    stack_base: u64,
) -> Option<OpenWindow> {
    if !log.on() {
        return None;
    }
    let start_ns = monotonic_ns();
    let rsp = regs[2];
    // One read of the stack from rsp up to the stub's base frame.
    let mut chunk = [0u64; CHUNK_WORDS];
    let want = if stack_base > rsp {
        (((stack_base - rsp) / 8) as usize).clamp(2, CHUNK_WORDS)
    } else {
        CHUNK_WORDS
    };
    let got = read_words(pid, rsp, &mut chunk[..want]);
    let mut read = |a: u64| {
        let i = a.checked_sub(rsp)? / 8;
        match (chunk.get(i as usize), chunk.get(i as usize + 1)) {
            (Some(&next), Some(&ret)) if (i as usize) + 1 < got => Some([next, ret]),
            _ => {
                let mut w = [0u64; 2];
                (read_words(pid, a, &mut w) == 2).then_some(w)
            }
        }
    };
    let stop_at = if stack_base == 0 {
        u64::MAX
    } else {
        stack_base
    };
    let mut pcs = [0u64; STUB_MAX_DEPTH];
    let (n, broken) = walk_frame_pointers_into(regs, stop_at, &mut pcs, &mut read);
    Some(OpenWindow {
        start_ns,
        kind,
        stack: Stack::Walked(pcs[..n].to_vec(), broken),
    })
}

/// Opens a window for a systrap call whose stack the stub posted in
/// `h` (`stack_slot`: read at [`close`], after the reply); falls back to
/// [`open`] (reading the stub's memory) when it did not. `None` when
/// `log` is off.
pub fn open_posted(
    log: &BoundaryLog,
    pid: i32,
    kind: &'static str,
    h: &Header,
) -> Option<OpenWindow> {
    if !log.on() {
        return None;
    }
    let slot = get(&h.stack_slot) as usize;
    if !(1..=2).contains(&slot) {
        let regs = [get(&h.rip), get(&h.rbp), get(&h.rsp)];
        return open(log, pid, kind, regs, get(&h.stack_base));
    }
    Some(OpenWindow {
        start_ns: monotonic_ns(),
        kind,
        stack: Stack::Posted {
            i: slot - 1,
            seq: get(&h.stack_seq),
            rip: get(&h.rip),
        },
    })
}

/// Closes `w` (if any) now, on the serving thread, into `log`. systrap
/// closes right after posting the reply, so the clock read and the copy
/// into the log overlap the stub's resumption instead of delaying it.
pub fn close(log: &mut BoundaryLog, w: Option<OpenWindow>, h: &Header) {
    if let Some(w) = w {
        let end_ns = monotonic_ns();
        let (pcs, broken) = match w.stack {
            Stack::Walked(pcs, broken) => (pcs, broken),
            Stack::Posted { i, seq, rip } => {
                let posted = &h.stacks[i];
                if posted.seq.load(Ordering::Acquire) == seq {
                    let n = (get(&posted.n) as usize).min(STUB_MAX_DEPTH);
                    let pcs = posted.pcs[..n].iter().map(get).collect();
                    (pcs, break_reason(get(&posted.broken)))
                } else {
                    // The stub had not finished its walk when the reply
                    // went out: the call's own address only.
                    (vec![rip], Some("not posted"))
                }
            }
        };
        log.push(BoundaryWindow {
            tid: this_tid(),
            start_ns: w.start_ns,
            end_ns,
            kind: w.kind,
            space: StackSpace::Stub,
            pcs,
            broken,
            serve_from: SERVE_FROM,
            workload_from: WORKLOAD_FROM,
            run: None,
        });
    }
}
