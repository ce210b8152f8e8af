//! What a trial measured: [`TrialReport`] and its per-call records.

/// One iteration of the stub's loop, in TSC cycles (0 where not measured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTimes {
    /// mmap's raw result.
    pub addr: i64,
    /// Before the mmap instruction.
    pub enter: u64,
    /// After mmap returned.
    pub returned: u64,
    /// After the touch.
    pub touched: u64,
    /// After munmap.
    pub unmapped: u64,
    /// systrap: SIGSYS handler entry.
    pub handler_entry: u64,
    /// systrap: request posted.
    pub posted: u64,
    /// systrap: reply seen by the stub.
    pub reply_seen: u64,
    /// systrap: cycles of the host calls the stub ran while the sentry
    /// served the call (the stub's `rdtsc` around each).
    pub host_cycles: u64,
    /// Replay: argument 0 as the stub made the call (after relocation).
    pub arg0: u64,
}

/// One stop the sentry served, in TSC cycles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServedCall {
    /// System call number, or -1 for a fault.
    pub nr: i64,
    /// The sentry saw the stop.
    pub seen: u64,
    /// The handler started.
    pub handler_start: u64,
    /// The handler returned (systrap: the reply is posted right after).
    pub handler_end: u64,
    /// Cycles the handler spent in host calls made in the stub (ptrace:
    /// the injection, SETREGS to the `int3` stop; systrap: the `HOST`
    /// hand-off, the call, the `HOST_DONE` hand-off).
    pub host_cycles: u64,
    /// ptrace: the stub was resumed.
    pub resumed: u64,
}

/// What the waits of the systrap hand-off did over a trial (all 0 on the
/// other platforms). A wait yields once it outlasts
/// [`super::channel::FAST_SPIN_CYCLES`] and sleeps on the futex once it
/// outlasts [`super::channel::SPIN_CYCLES`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Handoffs {
    /// The stub's waits (for a reply or a host call) that yielded.
    pub stub_yielded: u64,
    /// The stub's waits that slept.
    pub stub_slept: u64,
    /// The sentry's waits (for the next request, for a host call's end)
    /// that yielded.
    pub sentry_yielded: u64,
    /// The sentry's waits that slept.
    pub sentry_slept: u64,
}

/// What a trial measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrialReport {
    /// The stub's iterations, in order.
    pub calls: Vec<CallTimes>,
    /// The stops the sentry served, in order.
    pub served: Vec<ServedCall>,
    /// The stub's loop, first iteration to last, in TSC cycles.
    pub loop_cycles: u64,
    /// What the hand-off's waits did (systrap).
    pub handoffs: Handoffs,
    /// The calls served with the stub's stack at each, when recorded
    /// (`Trial::record_boundary_stacks`).
    pub boundary: Vec<crate::platform::boundary::BoundaryWindow>,
}
