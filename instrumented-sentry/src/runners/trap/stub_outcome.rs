//! What the runners of the stub share about a trial's end: its failure as
//! a point error ([`point_error`]), and the handler of a native stub
//! ([`NoHandler`]).

use crate::platform::trap::TrapError;
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
