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

use crate::platform::trap::Mechanism;

/// The calling thread's CPU set (`None` if it cannot be read).
fn thread_cpus() -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is plain data; zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable `cpu_set_t` of the size passed; pid 0 is
    // the calling thread.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    (r == 0).then_some(set)
}

fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `set` is a valid set and `c` is below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
        .collect()
}

fn set_affinity(pid: i32, set: &libc::cpu_set_t) -> bool {
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; the kernel
    // only reads it. `pid` is 0 (this thread) or our own child.
    unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

fn one_cpu(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: zeroed is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from a set the kernel returned, so it is below
    // CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

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
        let cpus = thread_cpus().map(|s| cpus_of(&s)).unwrap_or_default();
        StubPlacement {
            cpus: match cpus[..] {
                [a, b, ..] => Some((a, b)),
                _ => None,
            },
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
    /// guard drops.
    pub fn pin_sentry(&self) -> SentryPin {
        let Some((sentry, _)) = self.cpus else {
            return SentryPin { saved: None };
        };
        let saved = thread_cpus();
        if saved.is_some() && set_affinity(0, &one_cpu(sentry)) {
            SentryPin { saved }
        } else {
            SentryPin { saved: None }
        }
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

/// Restores the serving thread's CPU set on drop.
pub struct SentryPin {
    saved: Option<libc::cpu_set_t>,
}

impl SentryPin {
    /// Whether the serving thread is pinned (to a CPU of its own).
    pub fn pinned(&self) -> bool {
        self.saved.is_some()
    }
}

impl Drop for SentryPin {
    fn drop(&mut self) {
        if let Some(set) = &self.saved {
            set_affinity(0, set);
        }
    }
}
