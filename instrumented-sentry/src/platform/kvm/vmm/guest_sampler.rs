//! The VMM-level guest sampler: a timer stops the guest at a fixed rate
//! ([`super::sample_timer`]); at each stop the VMM reads the registers,
//! walks the frame-pointer chain ([`super::guest_unwind`]) and counts the
//! stack. Stacks are kept as addresses; naming them with the guest symbol
//! map and folding them under `[guest]` is the collectors' job
//! (`collectors::guest_stacks`), done after the run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::guest_unwind::GuestStack;
use super::sample_timer::{SampleTimer, SampleTimerError};
use super::stop_walker::{StopWalker, WalkedStops};
use super::vcpu_pmu::{VcpuPmuSamples, VcpuPmuSession};

/// What the sampler saw while it was armed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestSampleSummary {
    /// Rate asked for.
    pub hz: u32,
    /// Timer ticks delivered while armed (counted by the signal handler).
    pub ticks: u64,
    /// Of those, ticks that expired while the vCPU was inside `KVM_RUN`
    /// (expirations merged into one signal there included).
    pub in_run_ticks: u64,
    /// Ticks delivered inside `KVM_RUN` that had expired before it was
    /// entered (counted outside: the guest had not run).
    pub late_ticks: u64,
    /// Ticks that expired while a sampler stop was being handled (the
    /// sampler's own time, counted apart).
    pub stop_ticks: u64,
    /// Guest stacks taken: one at each stop, and one at each exit an
    /// in-run tick was delivered at.
    pub stops: u64,
    /// Samples: the in-run ticks the stacks stand for (a stack weighs the
    /// ticks that expired inside `KVM_RUN` since the previous exit, so
    /// expirations merged while the vCPU thread was held there count).
    pub samples: u64,
    /// Samples whose chain broke.
    pub broken: u64,
    /// TSC cycles from arming to disarming (host rdtsc).
    pub armed_cycles: u64,
    /// TSC cycles the vCPU spent inside `KVM_RUN` meanwhile (rdtsc around
    /// each call): the guest's share by the clock.
    pub in_run_cycles: u64,
    /// TSC cycles spent handling the sampler's stops (from each `KVM_RUN`
    /// that returned for a tick to the next entry): the sampler's own
    /// time, counted apart.
    pub stop_cycles: u64,
}

impl GuestSampleSummary {
    /// The guest's share of the armed time outside the sampler's own
    /// stops, by samples (in-run ticks the stacks stand for ÷ ticks that
    /// expired outside a stop).
    ///
    /// The sampler's stops are counted apart on both sides: a periodic tick
    /// never lands in the time its own stop takes from the guest (the stop
    /// follows the tick), so ticks see the guest as if that time were not
    /// there; the clock sees it as time outside `KVM_RUN`.
    pub fn guest_share(&self) -> f64 {
        ratio(self.samples, self.ticks.saturating_sub(self.stop_ticks))
    }

    /// The same share counting every tick that expired inside `KVM_RUN`
    /// (in-run ticks ÷ ticks outside stops).
    pub fn tick_share(&self) -> f64 {
        ratio(
            self.in_run_ticks,
            self.ticks.saturating_sub(self.stop_ticks),
        )
    }

    /// The guest's share of the armed time outside the sampler's own stops
    /// by rdtsc (cycles in `KVM_RUN` ÷ cycles armed less cycles handling
    /// stops).
    pub fn rdtsc_share(&self) -> f64 {
        ratio(
            self.in_run_cycles,
            self.armed_cycles.saturating_sub(self.stop_cycles),
        )
    }

    /// The guest's share of the whole armed time by rdtsc, the sampler's
    /// stops included as time outside the guest (cycles in `KVM_RUN` ÷
    /// cycles armed).
    pub fn rdtsc_share_of_armed(&self) -> f64 {
        ratio(self.in_run_cycles, self.armed_cycles)
    }

    /// The share of the armed time the sampler's stops took (cycles
    /// handling stops ÷ cycles armed).
    pub fn stop_share(&self) -> f64 {
        ratio(self.stop_cycles, self.armed_cycles)
    }

    /// Adds another summary's counts (the rate is kept).
    pub fn add(&mut self, other: &GuestSampleSummary) {
        self.hz = self.hz.max(other.hz);
        self.ticks += other.ticks;
        self.in_run_ticks += other.in_run_ticks;
        self.late_ticks += other.late_ticks;
        self.stop_ticks += other.stop_ticks;
        self.stops += other.stops;
        self.samples += other.samples;
        self.broken += other.broken;
        self.armed_cycles += other.armed_cycles;
        self.in_run_cycles += other.in_run_cycles;
        self.stop_cycles += other.stop_cycles;
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The vCPU's running TSC cycle counts (read between runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcpuCycles {
    /// Inside `KVM_RUN`.
    pub in_run: u64,
    /// Handling sampler stops.
    pub in_stops: u64,
}

/// What a sampler counted, handed over when it is disarmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestSamples {
    /// Ticks, samples, broken chains and the rdtsc figures.
    pub summary: GuestSampleSummary,
    /// Each distinct stack with its count (any order).
    pub stacks: Vec<(GuestStack, u64)>,
    /// The vCPU thread's hardware `cycles:HG` samples over the same time,
    /// where a PMU could count them ([`super::vcpu_pmu`]).
    pub pmu: Option<VcpuPmuSamples>,
}

impl GuestSamples {
    /// Adds another trial's samples (stacks kept apart; folding merges
    /// equal ones).
    pub fn add(&mut self, other: &GuestSamples) {
        self.summary.add(&other.summary);
        self.stacks.extend(other.stacks.iter().cloned());
        if let Some(p) = &other.pmu {
            self.pmu.get_or_insert_with(VcpuPmuSamples::default).add(p);
        }
    }
}

/// An armed sampler and the stacks it counted.
#[derive(Debug)]
pub struct GuestSampler {
    timer: SampleTimer,
    stacks: HashMap<GuestStack, u64>,
    stops: u64,
    samples: u64,
    broken: u64,
    armed_at: u64,
    in_run_at: u64,
    stops_at: u64,
    /// In-run ticks already answered with a stack (here, or by the
    /// [`StopWalker`] on the vCPU thread).
    in_run_seen: Arc<AtomicU64>,
    /// What the vCPU thread's [`StopWalker`] counted.
    walked: Arc<Mutex<WalkedStops>>,
    /// Hardware cycles on the vCPU thread, if attached.
    pmu: Option<Box<dyn VcpuPmuSession>>,
}

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

impl GuestSampler {
    /// Arms a timer that stops thread `vcpu_tid` `hz` times a second;
    /// `at` is the vCPU's cycle counts at arming.
    pub fn start(vcpu_tid: libc::pid_t, hz: u32, at: VcpuCycles) -> Result<Self, SampleTimerError> {
        Ok(Self {
            timer: SampleTimer::start(vcpu_tid, hz)?,
            stacks: HashMap::new(),
            stops: 0,
            samples: 0,
            broken: 0,
            armed_at: rdtsc(),
            in_run_at: at.in_run,
            stops_at: at.in_stops,
            in_run_seen: Arc::new(AtomicU64::new(0)),
            walked: Arc::new(Mutex::new(WalkedStops::default())),
            pmu: None,
        })
    }

    /// Keeps a hardware cycles session on the vCPU thread beside the
    /// sampler (finished with it).
    pub fn attach_pmu(&mut self, session: Box<dyn VcpuPmuSession>) {
        self.pmu = Some(session);
    }

    /// The ticks that expired inside `KVM_RUN` since the last call: asked
    /// after every exit, so a tick delivered while KVM handled a real exit
    /// (the signal then stops nothing) still gets the stack at that exit,
    /// and a stop weighs every expiration merged into its signal.
    pub fn in_run_ticks_since_last_exit(&mut self) -> u64 {
        let now = self.timer.in_run_ticks_so_far();
        let new = now.saturating_sub(self.in_run_seen.load(Ordering::Acquire));
        self.in_run_seen.store(now, Ordering::Release);
        new
    }

    /// A stop handler for the vCPU thread that counts into this sampler.
    ///
    /// # Safety
    /// `sys_host` must be the host address of the VM's live system region
    /// for as long as the walker is installed.
    pub unsafe fn vcpu_walker(&self, sys_host: u64) -> StopWalker {
        // SAFETY: passed on from this function's contract.
        unsafe {
            StopWalker::new(
                sys_host,
                self.timer.counter(),
                Arc::clone(&self.in_run_seen),
                Arc::clone(&self.walked),
            )
        }
    }

    /// The stops the vCPU thread handled itself so far (the guest entered
    /// again without a report to the sentry).
    pub fn stops_handled_on_vcpu(&self) -> u64 {
        self.walked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stops
    }

    /// Counts one stack standing for `ticks` in-run ticks.
    pub fn record(&mut self, stack: GuestStack, ticks: u64) {
        self.stops += 1;
        self.samples += ticks;
        if stack.broken.is_some() {
            self.broken += ticks;
        }
        *self.stacks.entry(stack).or_insert(0) += ticks;
    }

    /// Counts so far; `now` is the vCPU's cycle counts now.
    pub fn summary(&self, now: VcpuCycles) -> GuestSampleSummary {
        GuestSampleSummary {
            hz: self.timer.hz(),
            ticks: self.timer.ticks_so_far().max(self.samples),
            in_run_ticks: self.timer.in_run_ticks_so_far(),
            late_ticks: self.timer.late_ticks_so_far(),
            stop_ticks: self.timer.stop_ticks_so_far(),
            stops: self.stops,
            samples: self.samples,
            broken: self.broken,
            armed_cycles: rdtsc().wrapping_sub(self.armed_at),
            in_run_cycles: now.in_run.wrapping_sub(self.in_run_at),
            stop_cycles: now.in_stops.wrapping_sub(self.stops_at),
        }
    }

    /// Disarms the timer and hands over what was counted; `now` as for
    /// [`GuestSampler::summary`].
    pub fn finish(mut self, now: VcpuCycles) -> GuestSamples {
        let walked =
            std::mem::take(&mut *self.walked.lock().unwrap_or_else(PoisonError::into_inner));
        self.stops += walked.taken;
        self.samples += walked.samples;
        self.broken += walked.broken;
        for (stack, n) in walked.stacks {
            *self.stacks.entry(stack).or_insert(0) += n;
        }
        let summary = self.summary(now);
        GuestSamples {
            summary,
            stacks: self.stacks.into_iter().collect(),
            pmu: self.pmu.map(VcpuPmuSession::finish),
        }
    }
}
