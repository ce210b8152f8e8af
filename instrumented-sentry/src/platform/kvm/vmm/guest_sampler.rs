//! The VMM-level guest sampler: a timer stops the guest at a fixed rate
//! ([`super::sample_timer`]); at each stop the VMM reads the registers,
//! walks the frame-pointer chain ([`super::guest_unwind`]) and counts the
//! stack. Stacks are kept as addresses; naming them with the guest symbol
//! map and folding them under `[guest]` is the collectors' job
//! (`collectors::guest_stacks`), done after the run.

use std::collections::HashMap;

use super::guest_unwind::GuestStack;
use super::sample_timer::{SampleTimer, SampleTimerError};

/// What the sampler saw while it was armed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestSampleSummary {
    /// Rate asked for.
    pub hz: u32,
    /// Timer ticks delivered while armed (counted by the signal handler).
    pub ticks: u64,
    /// Of those, ticks that landed while the vCPU was inside `KVM_RUN`
    /// (expirations merged into one signal there included).
    pub in_run_ticks: u64,
    /// Stops of the guest: one stack each (a tick landing outside
    /// `KVM_RUN` stops nothing).
    pub samples: u64,
    /// Samples whose chain broke.
    pub broken: u64,
    /// TSC cycles from arming to disarming (host rdtsc).
    pub armed_cycles: u64,
    /// TSC cycles the vCPU spent inside `KVM_RUN` meanwhile (rdtsc around
    /// each call): the guest's share by the clock.
    pub in_run_cycles: u64,
}

impl GuestSampleSummary {
    /// The guest's share of the armed time by samples (stops of the
    /// guest ÷ ticks).
    pub fn guest_share(&self) -> f64 {
        if self.ticks == 0 {
            0.0
        } else {
            self.samples as f64 / self.ticks as f64
        }
    }

    /// The same share counting every tick that landed inside `KVM_RUN`,
    /// expirations merged into one stop included (in-run ticks ÷ ticks).
    pub fn tick_share(&self) -> f64 {
        if self.ticks == 0 {
            0.0
        } else {
            self.in_run_ticks as f64 / self.ticks as f64
        }
    }

    /// The guest's share of the armed time by rdtsc (cycles in `KVM_RUN`
    /// ÷ cycles armed).
    pub fn rdtsc_share(&self) -> f64 {
        if self.armed_cycles == 0 {
            0.0
        } else {
            self.in_run_cycles as f64 / self.armed_cycles as f64
        }
    }

    /// Adds another summary's counts (the rate is kept).
    pub fn add(&mut self, other: &GuestSampleSummary) {
        self.hz = self.hz.max(other.hz);
        self.ticks += other.ticks;
        self.in_run_ticks += other.in_run_ticks;
        self.samples += other.samples;
        self.broken += other.broken;
        self.armed_cycles += other.armed_cycles;
        self.in_run_cycles += other.in_run_cycles;
    }
}

/// What a sampler counted, handed over when it is disarmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestSamples {
    /// Ticks, samples, broken chains and the rdtsc figures.
    pub summary: GuestSampleSummary,
    /// Each distinct stack with its count (any order).
    pub stacks: Vec<(GuestStack, u64)>,
}

impl GuestSamples {
    /// Adds another trial's samples (stacks kept apart; folding merges
    /// equal ones).
    pub fn add(&mut self, other: &GuestSamples) {
        self.summary.add(&other.summary);
        self.stacks.extend(other.stacks.iter().cloned());
    }
}

/// An armed sampler and the stacks it counted.
#[derive(Debug)]
pub struct GuestSampler {
    timer: SampleTimer,
    stacks: HashMap<GuestStack, u64>,
    samples: u64,
    broken: u64,
    armed_at: u64,
    in_run_at: u64,
    /// In-run ticks already answered with a stack.
    in_run_seen: u64,
}

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

impl GuestSampler {
    /// Arms a timer that stops thread `vcpu_tid` `hz` times a second;
    /// `in_run_cycles` is the vCPU's `KVM_RUN` cycle count at arming.
    pub fn start(
        vcpu_tid: libc::pid_t,
        hz: u32,
        in_run_cycles: u64,
    ) -> Result<Self, SampleTimerError> {
        Ok(Self {
            timer: SampleTimer::start(vcpu_tid, hz)?,
            stacks: HashMap::new(),
            samples: 0,
            broken: 0,
            armed_at: rdtsc(),
            in_run_at: in_run_cycles,
            in_run_seen: 0,
        })
    }

    /// Whether a tick has landed inside `KVM_RUN` since the last call:
    /// asked after every exit, so a tick delivered while KVM handled a
    /// real exit (the signal then stops nothing) still gets the stack at
    /// that exit.
    pub fn tick_since_last_exit(&mut self) -> bool {
        let now = self.timer.in_run_ticks_so_far();
        let new = now > self.in_run_seen;
        self.in_run_seen = now;
        new
    }

    /// Counts one stack.
    pub fn record(&mut self, stack: GuestStack) {
        self.samples += 1;
        if stack.broken.is_some() {
            self.broken += 1;
        }
        *self.stacks.entry(stack).or_insert(0) += 1;
    }

    /// Counts so far; `in_run_cycles` is the vCPU's `KVM_RUN` cycle count
    /// now.
    pub fn summary(&self, in_run_cycles: u64) -> GuestSampleSummary {
        GuestSampleSummary {
            hz: self.timer.hz(),
            ticks: self.timer.ticks_so_far().max(self.samples),
            in_run_ticks: self.timer.in_run_ticks_so_far(),
            samples: self.samples,
            broken: self.broken,
            armed_cycles: rdtsc().wrapping_sub(self.armed_at),
            in_run_cycles: in_run_cycles.wrapping_sub(self.in_run_at),
        }
    }

    /// Disarms the timer and hands over what was counted;
    /// `in_run_cycles` as for [`GuestSampler::summary`].
    pub fn finish(self, in_run_cycles: u64) -> GuestSamples {
        let summary = self.summary(in_run_cycles);
        GuestSamples {
            summary,
            stacks: self.stacks.into_iter().collect(),
        }
    }
}
