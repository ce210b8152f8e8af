//! Platform dispatch: one [`PlatformRunner`] per platform × search pair.
//!
//! This is the seam where a platform plugs in, and the one module of the
//! crate that names the runners of `instrumented-sentry`: [`make_runner`]
//! matches on the platform and builds its runner. A platform that
//! cannot be used here returns one line saying why; the run records a failure for each of its
//! points and the other platforms still run.

use instrumented_sentry::platform::trap::Mechanism;
use instrumented_sentry::runners::inproc::{InprocOptions, InprocRunner};
use instrumented_sentry::runners::trap::trap_available;
use instrumented_sentry::runners::trap::{StubNativeRunner, TrapRunner};
use instrumented_sentry::segment::GapSearch;

/// What the kvm VMM's guest sampler hands over per trial.
pub use instrumented_sentry::platform::kvm::vmm::guest_sampler::{
    GuestSampleSummary, GuestSamples,
};
/// The runner seam, re-exported so the rest of the crate names
/// `instrumented-sentry`'s runner paths only here (but [`crate::error`],
/// which sits below every module, names `PointError` itself).
pub use instrumented_sentry::runners::{PlatformRunner, PointError, TrialOutcome};

use crate::plan::{PlatformChoice, PlatformKind};

/// Settings every sentry platform takes from the plan.
#[derive(Debug, Clone, Copy)]
pub struct SentryOptions {
    /// Record rdtsc probes.
    pub probes: bool,
    /// Subtract the probe's own cost from every sample.
    pub subtract_probe_cost: bool,
    /// Time one call in this many at each probe site.
    pub probe_every: u32,
    /// Keep the last trial's memory manager for `--keep-memory`.
    pub keep_memory: bool,
    /// The kvm VMM guest sampler's rate (Hz); `None`: off.
    pub guest_hz: Option<u32>,
}

/// Build the runner of one platform × search pair.
///
/// Errors: one line saying why the platform cannot run here.
pub fn make_runner(
    choice: PlatformChoice,
    options: SentryOptions,
) -> Result<Box<dyn PlatformRunner>, String> {
    let search = choice.search.unwrap_or(GapSearch::MaxGap);
    let inproc = InprocOptions {
        probes: options.probes,
        subtract_probe_cost: options.subtract_probe_cost,
        probe_every: options.probe_every,
        keep_last: options.keep_memory,
    };
    match choice.platform {
        // The stub's loop with real calls: the program ptrace and systrap
        // trap, so the three measure one workload.
        PlatformKind::Native => Ok(Box::new(StubNativeRunner::new())),
        PlatformKind::Inproc => Ok(Box::new(InprocRunner::new(search, inproc))),
        PlatformKind::Ptrace => {
            trap_available(Mechanism::Ptrace)?;
            Ok(Box::new(TrapRunner::ptrace(search, inproc)))
        }
        PlatformKind::Systrap => {
            trap_available(Mechanism::Systrap)?;
            Ok(Box::new(TrapRunner::systrap(search, inproc)))
        }
        PlatformKind::Kvm => {
            use instrumented_sentry::runners::kvm::runner::{kvm_available, KvmOptions, KvmRunner};
            kvm_available()?;
            let kvm = KvmOptions {
                probes: options.probes,
                subtract_probe_cost: options.subtract_probe_cost,
                probe_every: options.probe_every,
                guest_hz: options.guest_hz,
            };
            Ok(Box::new(KvmRunner::new(search, kvm)))
        }
    }
}
