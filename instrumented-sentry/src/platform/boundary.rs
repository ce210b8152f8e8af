//! Boundary windows: while the sentry serves one trapped call or VM exit,
//! which thread serves it, from when to when, and the workload's stack at
//! that call.
//!
//! A platform records one [`BoundaryWindow`] per call it serves when asked
//! to ([`BoundaryLog::new`] with `on`: only while perf samples, because the
//! stack walk costs a few system calls per call). The collectors join the
//! windows with perf samples at fold time: a sample of the window's thread
//! taken inside it gets the workload's stack in front of the sentry's own
//! frames, e.g.
//! `[guest];_start;mmap_loop;sys_call;[exit: io];run_until_stop;dispatch;mmap`.
//!
//! Times are `CLOCK_MONOTONIC` nanoseconds ([`monotonic_ns`]), the clock
//! perf samples carry when the sampler opens its events with
//! `use_clockid`.

/// Whose addresses a window's stack holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StackSpace {
    /// Guest-virtual addresses of the KVM guest (named by the guest
    /// symbol map), rooted at `[guest]`.
    Guest,
    /// Addresses in the stub process, which is forked from this one: its
    /// code is this process's code, named with this process's symbols;
    /// rooted at `[stub]`.
    Stub,
}

/// The `KVM_RUN` that ended in a window's exit, on the thread that
/// called it: from its entry to its return the guest ran and then took the
/// exit, so that thread's host samples in it (not guest mode: the host
/// kernel's way out of the guest and back in, interrupts while the guest
/// ran) are the exit's round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunSpan {
    /// Thread id of the thread that called `KVM_RUN` (the vCPU thread).
    pub tid: u32,
    /// `CLOCK_MONOTONIC` ns when `KVM_RUN` was entered.
    pub entered_ns: u64,
    /// `CLOCK_MONOTONIC` ns when it returned with the exit.
    pub left_ns: u64,
}

/// One served call or exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundaryWindow {
    /// Thread id of the sentry thread that served it.
    pub tid: u32,
    /// `CLOCK_MONOTONIC` ns when serving started (the exit or stop seen).
    pub start_ns: u64,
    /// `CLOCK_MONOTONIC` ns when the workload was resumed.
    pub end_ns: u64,
    /// The marker frame between the two stacks: "exit: io", "exit: mmio",
    /// "exit: fault", "trap: ptrace", "trap: seccomp".
    pub kind: &'static str,
    pub space: StackSpace,
    /// The workload's instruction pointers at the call, leaf first.
    pub pcs: Vec<u64>,
    /// Why the walk stopped early ("misaligned", "unmapped", ...), if it did.
    pub broken: Option<&'static str>,
    /// The sentry frame where serving starts ("run_until_stop", "serve"):
    /// the sentry's frames outer of it are dropped after the marker.
    pub serve_from: &'static str,
    /// The workload's outermost frame of its own ("child_main" for the
    /// stub, whose stack outer of it is the sentry's, copied at the fork;
    /// "" to keep the whole walk): outer frames, and a break beyond it,
    /// are dropped.
    pub workload_from: &'static str,
    /// The `KVM_RUN` that ended in this exit (kvm only; `None` elsewhere
    /// or where it was not stamped).
    pub run: Option<RunSpan>,
}

/// The windows of one trial, recorded only when on.
#[derive(Debug, Clone, Default)]
pub struct BoundaryLog {
    on: bool,
    windows: Vec<BoundaryWindow>,
}

impl BoundaryLog {
    /// A log that records (`on`) or ignores every window.
    pub fn new(on: bool) -> Self {
        BoundaryLog {
            on,
            windows: Vec::new(),
        }
    }

    /// Whether windows are recorded (callers skip the stack walk if not).
    pub fn on(&self) -> bool {
        self.on
    }

    /// Records `w` if on.
    pub fn push(&mut self, w: BoundaryWindow) {
        if self.on {
            self.windows.push(w);
        }
    }

    /// The windows recorded so far, taken out.
    pub fn take(&mut self) -> Vec<BoundaryWindow> {
        std::mem::take(&mut self.windows)
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (vDSO: no system call).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// This thread's id: one `gettid` per thread, cached (windows are
/// closed once per call served).
pub fn this_tid() -> u32 {
    thread_local! {
        static TID: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid has no preconditions.
            t.set(unsafe { libc::gettid() as u32 });
        }
        t.get()
    })
}

/// Maximum frames a stub stack walk keeps.
pub const STUB_MAX_DEPTH: usize = 32;

/// Why a walk stopped early, by code (0: it did not): how the stub posts
/// the reason in the shared header. Code `i + 1` is `BREAK_REASONS[i]`.
pub const BREAK_REASONS: [&str; 4] = ["too deep", "misaligned", "not monotonic", "unreadable"];

/// The code of a break reason for [`BREAK_REASONS`] (0: none).
pub fn break_code(why: Option<&'static str>) -> u64 {
    why.and_then(|w| BREAK_REASONS.iter().position(|r| *r == w))
        .map_or(0, |i| i as u64 + 1)
}

/// The break reason of a code from [`break_code`] (an unknown code:
/// "unreadable").
pub fn break_reason(code: u64) -> Option<&'static str> {
    match code {
        0 => None,
        c => Some(
            BREAK_REASONS
                .get(c as usize - 1)
                .copied()
                .unwrap_or("unreadable"),
        ),
    }
}

/// Walks a frame-pointer chain from `rip`/`rbp` (`rsp`: the lowest valid
/// frame address) with `read` giving the two words of a frame (saved
/// `rbp`, return address; `None`: unreadable). Bounded; a chain that
/// breaks ends with the reason. The walk ends normally at `rbp` = 0 or at
/// a frame at or above `stop_at` (the workload's outermost frame of its
/// own; `u64::MAX`: none).
pub fn walk_frame_pointers(
    regs: [u64; 3],
    stop_at: u64,
    max_depth: usize,
    read: &mut dyn FnMut(u64) -> Option<[u64; 2]>,
) -> (Vec<u64>, Option<&'static str>) {
    let mut out = [0u64; STUB_MAX_DEPTH];
    let depth = max_depth.min(STUB_MAX_DEPTH);
    let (n, why) = walk_frame_pointers_into(regs, stop_at, &mut out[..depth], read);
    (out[..n].to_vec(), why)
}

/// [`walk_frame_pointers`] into `out` (its length is the depth bound,
/// at least 1), without allocating: the stub's signal handlers walk their
/// own stack with it. Returns the frames written.
pub fn walk_frame_pointers_into(
    [rip, rbp, rsp]: [u64; 3],
    stop_at: u64,
    out: &mut [u64],
    read: &mut dyn FnMut(u64) -> Option<[u64; 2]>,
) -> (usize, Option<&'static str>) {
    let Some(first) = out.first_mut() else {
        return (0, Some("too deep"));
    };
    *first = rip;
    let mut n = 1;
    let mut fp = rbp;
    let mut lowest = rsp;
    loop {
        if fp == 0 || fp >= stop_at {
            return (n, None);
        }
        if n >= out.len() {
            return (n, Some("too deep"));
        }
        if fp % 8 != 0 {
            return (n, Some("misaligned"));
        }
        if fp < lowest {
            return (n, Some("not monotonic"));
        }
        match read(fp) {
            Some([next, ret]) => {
                if ret == 0 {
                    return (n, None);
                }
                out[n] = ret;
                n += 1;
                lowest = fp.saturating_add(16);
                fp = next;
            }
            None => return (n, Some("unreadable")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_chain_is_walked_and_a_broken_one_ends_with_its_reason() {
        let frames = HashMap::from([(0x1000u64, [0x1020u64, 0xa0u64]), (0x1020, [0, 0xb0])]);
        let mut read = |a: u64| frames.get(&a).copied();
        assert_eq!(
            walk_frame_pointers([0x10, 0x1000, 0xff0], u64::MAX, 8, &mut read),
            (vec![0x10, 0xa0, 0xb0], None)
        );
        assert_eq!(
            walk_frame_pointers([0x10, 0x2000, 0xff0], u64::MAX, 8, &mut read),
            (vec![0x10], Some("unreadable"))
        );
        assert_eq!(
            walk_frame_pointers([0x10, 0x1001, 0xff0], u64::MAX, 8, &mut read),
            (vec![0x10], Some("misaligned"))
        );
        let mut up = |a: u64| Some([a + 16, 0xa0]);
        let (pcs, why) = walk_frame_pointers([0x10, 0x1000, 0xff0], u64::MAX, 5, &mut up);
        assert_eq!((pcs.len(), why), (5, Some("too deep")));
        let mut same = |_| Some([0x1000, 0xa0]);
        let (_, why) = walk_frame_pointers([0x10, 0x1000, 0xff0], u64::MAX, 5, &mut same);
        assert_eq!(why, Some("not monotonic"));
        for why in [
            None,
            Some("too deep"),
            Some("misaligned"),
            Some("unreadable"),
        ] {
            assert_eq!(break_reason(break_code(why)), why);
        }
        // The walk stops at the workload's outermost frame of its own.
        assert_eq!(
            walk_frame_pointers([0x10, 0x1000, 0xff0], 0x1020, 8, &mut read),
            (vec![0x10, 0xa0], None)
        );
    }

    #[test]
    fn a_log_that_is_off_records_nothing() {
        let w = BoundaryWindow {
            tid: 1,
            start_ns: 1,
            end_ns: 2,
            kind: "trap: ptrace",
            space: StackSpace::Stub,
            pcs: vec![1],
            broken: None,
            serve_from: "serve",
            workload_from: "child_main",
            run: None,
        };
        let mut off = BoundaryLog::new(false);
        off.push(w.clone());
        assert!(off.take().is_empty());
        let mut on = BoundaryLog::new(true);
        on.push(w.clone());
        assert_eq!(on.take(), vec![w]);
    }
}
