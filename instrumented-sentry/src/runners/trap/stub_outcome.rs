//! What the runners of the stub share about a trial's end: serving it
//! ([`serve`]), its failure as a point error ([`point_error`]), and the
//! handler of a native stub ([`NoHandler`]).

use super::handler::MmHandler;
use super::placement::StubPlacement;
use crate::platform::trap::{TrapError, Trial, TrialReport};
use crate::platform::PlatformError;
use crate::runners::PointError;

/// A trial's failure as a point error: a refused platform is
/// `Unsupported` (one line), everything else `Failed` (the message names
/// the platform; a killed stub names the signal).
pub fn point_error(e: TrapError) -> PointError {
    match e {
        TrapError::Platform(PlatformError::Unavailable { .. }) => {
            PointError::Unsupported(e.to_string())
        }
        TrapError::Platform(PlatformError::MapCountLimit { .. }) => {
            PointError::HostLimit(e.to_string())
        }
        e => PointError::Failed(e.to_string()),
    }
}

/// What serving a trial to its end gave.
pub struct Served {
    /// The stub's report.
    pub report: TrialReport,
    /// Faults the sentry served.
    pub faults: u64,
    /// System calls the sentry served.
    pub calls: u64,
    /// The stub was pinned to its CPU.
    pub stub_pinned: bool,
}

/// Serves `trial` with `handler`, the stub and the sentry pinned by
/// `placement`, to its end. When both are pinned apart the hand-off's
/// waiters spin without yielding ([`Trial::set_split_cpus`]). The trial's own error comes first (it is the original of what
/// a host call failure told the handler), then the handler's.
pub fn serve(
    trial: Trial,
    placement: &StubPlacement,
    handler: &mut MmHandler<'_>,
    platform: &str,
) -> Result<Served, PointError> {
    let stub_pinned = placement.pin_stub(trial.pid());
    let pin = placement.pin_sentry();
    trial.set_split_cpus(stub_pinned && pin.is_some());
    let result = trial.run(handler);
    drop(pin);
    let report = result.map_err(point_error)?;
    if let Some(f) = handler.failure() {
        return Err(PointError::Failed(if f.starts_with(platform) {
            f.to_string()
        } else {
            format!("{platform}: {f}")
        }));
    }
    Ok(Served {
        report,
        faults: handler.faults,
        calls: handler.calls,
        stub_pinned,
    })
}

/// The handler of a native stub (never called: nothing is trapped).
pub struct NoHandler;

impl crate::platform::trap::SyscallHandler for NoHandler {
    fn handle(
        &mut self,
        _call: &crate::platform::trap::TrappedCall,
        _stub: &mut dyn crate::platform::trap::StubOps,
    ) -> i64 {
        -i64::from(libc::ENOSYS)
    }

    fn fault(
        &mut self,
        _fault: &crate::platform::trap::Fault,
        _stub: &mut dyn crate::platform::trap::StubOps,
    ) -> crate::platform::trap::FaultResult {
        crate::platform::trap::FaultResult::NotResolved
    }
}
