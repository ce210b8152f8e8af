//! The VMM-level guest sampler: a timer stops the guest at a fixed rate
//! ([`super::sample_timer`]); at each stop the VMM reads the registers,
//! walks the frame-pointer chain ([`super::guest_unwind`]) and counts the
//! stack. Stacks are kept as addresses and named at the end with the guest
//! program's symbol map, as folded lines rooted at `[guest]`.

use std::collections::HashMap;

use super::guest_unwind::{BrokenChain, GuestStack};
use super::sample_timer::{SampleTimer, SampleTimerError};
use crate::platform::kvm::guest::program::GuestProgram;

/// Root frame of every guest stack.
pub const GUEST_ROOT: &str = "[guest]";
/// The frame that stands where a broken chain ended (next to the root).
pub const BROKEN_MARKER: &str = "[broken guest stack]";

/// What the sampler saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestSampleSummary {
    /// Rate asked for.
    pub hz: u32,
    /// Timer ticks while armed (elapsed time × rate).
    pub ticks: u64,
    /// Ticks that stopped the guest (the others found the vCPU outside).
    pub samples: u64,
    /// Samples whose chain broke.
    pub broken: u64,
}

impl GuestSampleSummary {
    /// The guest's share of the time the sampler was armed.
    pub fn guest_share(&self) -> f64 {
        if self.ticks == 0 {
            0.0
        } else {
            self.samples as f64 / self.ticks as f64
        }
    }
}

/// An armed sampler and the stacks it counted.
#[derive(Debug)]
pub struct GuestSampler {
    timer: SampleTimer,
    stacks: HashMap<GuestStack, u64>,
    samples: u64,
    broken: u64,
}

impl GuestSampler {
    /// Arms a timer that stops thread `vcpu_tid` `hz` times a second.
    pub fn start(vcpu_tid: libc::pid_t, hz: u32) -> Result<Self, SampleTimerError> {
        Ok(Self {
            timer: SampleTimer::start(vcpu_tid, hz)?,
            stacks: HashMap::new(),
            samples: 0,
            broken: 0,
        })
    }

    /// Counts one stack.
    pub fn record(&mut self, stack: GuestStack) {
        self.samples += 1;
        if stack.broken.is_some() {
            self.broken += 1;
        }
        *self.stacks.entry(stack).or_insert(0) += 1;
    }

    /// Counts so far.
    pub fn summary(&self) -> GuestSampleSummary {
        GuestSampleSummary {
            hz: self.timer.hz(),
            ticks: self.timer.ticks_so_far().max(self.samples),
            samples: self.samples,
            broken: self.broken,
        }
    }

    /// The stacks as folded lines (`[guest];outer;...;leaf`, count),
    /// sorted; a broken chain has [`BROKEN_MARKER`] after the root.
    pub fn folded(&self, program: &GuestProgram) -> Vec<(String, u64)> {
        let mut merged: HashMap<String, u64> = HashMap::new();
        for (stack, n) in &self.stacks {
            *merged.entry(fold_stack(stack, program)).or_insert(0) += n;
        }
        let mut out: Vec<_> = merged.into_iter().collect();
        out.sort();
        out
    }
}

/// One stack as a folded line: the leaf's RIP is named as is, return
/// addresses one byte back (inside the call instruction).
pub fn fold_stack(stack: &GuestStack, program: &GuestProgram) -> String {
    let mut frames = vec![GUEST_ROOT.to_string()];
    if stack.broken.is_some() {
        frames.push(BROKEN_MARKER.to_string());
    }
    for (i, pc) in stack.pcs.iter().enumerate().rev() {
        let at = if i == 0 { *pc } else { pc.wrapping_sub(1) };
        frames.push(
            program
                .function_at(at)
                .map_or_else(|| format!("{at:#x}"), |f| f.name.clone()),
        );
    }
    frames.join(";")
}

/// Name of a broken chain's reason, for reports.
pub fn broken_reason(b: BrokenChain) -> &'static str {
    match b {
        BrokenChain::Misaligned => "misaligned frame pointer",
        BrokenChain::NotMonotonic => "frame pointer not above the previous frame",
        BrokenChain::Unmapped => "frame pointer into unmapped memory",
        BrokenChain::TooDeep => "deeper than the walk's bound",
    }
}
