//! Where the stub and the serving sentry thread run.
//!
//! The systrap hand-off costs 130–210 cycles each way when the two spin on
//! different CPUs and ~8k when they share one (a `sched_yield` switch, see
//! `docs/trap.md`). So on systrap, where the sentry thread may run on at
//! least two CPUs, a trial pins it to the first and the stub to the second
//! (the kvm runner's vCPU placement follows the same rule), and restores
//! the thread's mask afterwards. With one CPU nothing is pinned.
//!
//! ptrace does not spin: each stop wakes the tracer from `waitpid` and each
//! resume wakes the stub, so split CPUs add a cross-CPU wake-up to every
//! stop; measured here (`examples/trap_side_by_side.rs`) split ptrace costs
//! 113k cycles per mmap against 28k unpinned. ptrace runs unpinned by
//! default. The placement is recorded in each point's `extra`.

use serde_json::json;

use crate::platform::cpu_affinity::{first_two_cpus, one_cpu, set_affinity, ThreadPin};
use crate::platform::trap::Mechanism;

/// The CPUs of a trial's two processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubPlacement {
    /// `(sentry CPU, stub CPU)`, or `None`: not pinned (fewer than two
    /// usable CPUs).
    pub cpus: Option<(usize, usize)>,
}

impl StubPlacement {
    /// Split across the first two CPUs this thread may use, if it may use
    /// two.
    pub fn detect() -> Self {
        StubPlacement {
            cpus: first_two_cpus(),
        }
    }

    /// The default of a mechanism: split for systrap (and the native stub,
    /// which runs where a systrap stub would), unpinned for ptrace.
    pub fn default_for(mechanism: Mechanism) -> Self {
        match mechanism {
            Mechanism::Ptrace => Self::unpinned(),
            Mechanism::Systrap | Mechanism::Native => Self::detect(),
        }
    }

    /// Not pinned.
    pub fn unpinned() -> Self {
        StubPlacement { cpus: None }
    }

    /// Name used in reports.
    pub fn name(&self) -> &'static str {
        if self.cpus.is_some() {
            "split"
        } else {
            "unpinned"
        }
    }

    /// Pins the stub `pid` (our child) to its CPU; false if refused.
    pub fn pin_stub(&self, pid: i32) -> bool {
        match self.cpus {
            Some((_, stub)) => set_affinity(pid, &one_cpu(stub)),
            None => true,
        }
    }

    /// Pins the calling (serving) thread to the sentry's CPU until the
    /// guard drops; `None` if not split or refused.
    pub fn pin_sentry(&self) -> Option<ThreadPin> {
        self.cpus
            .and_then(|(sentry, _)| ThreadPin::pin_here(sentry))
    }

    /// The placement as JSON for a point's `extra`.
    pub fn to_json(&self) -> serde_json::Value {
        match self.cpus {
            Some((sentry, stub)) => {
                json!({"placement": self.name(), "sentry_cpu": sentry, "stub_cpu": stub})
            }
            None => json!({"placement": self.name()}),
        }
    }
}
