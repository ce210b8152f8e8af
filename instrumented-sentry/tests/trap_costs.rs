//! Where the time of a trapped `mmap` goes, printed (not asserted):
//!
//! ```text
//! cargo test --release -p instrumented-sentry --test trap_costs -- --nocapture
//! ```
//!
//! Each trapped `mmap(NULL, 4 KiB)` is served by a trivial handler that
//! returns a fixed address and injects a real `MAP_FIXED|MAP_SHARED` memfd
//! mmap there (the munmap that follows is served the same way); beside it,
//! the same loop run natively, with private anonymous mappings and with the
//! injected call's own kind (`MAP_FIXED|MAP_SHARED` of the memfd), and the
//! trapped platforms with a handler that injects nothing (the cost of the
//! boundary alone, as when mapAS waits for the first fault).

mod trap_support;

use instrumented_sentry::addr::Perms;
use instrumented_sentry::platform::trap::costs::mmap_split;
use instrumented_sentry::platform::trap::{
    Fault, FaultResult, Mechanism, StubOps, SyscallHandler, Workload, APP_BASE,
};
use std::io::Write;
use std::os::fd::AsRawFd;

const ITERATIONS: u64 = 5000;

struct Fixed {
    fd: i32,
    /// Inject the host mmap/munmap (mapAS at mmap time), or return only.
    inject: bool,
}

impl SyscallHandler for Fixed {
    fn handle(
        &mut self,
        call: &instrumented_sentry::platform::trap::TrappedCall,
        stub: &mut dyn StubOps,
    ) -> i64 {
        match call.nr {
            libc::SYS_mmap | libc::SYS_munmap if !self.inject => {
                if call.nr == libc::SYS_mmap {
                    APP_BASE as i64
                } else {
                    0
                }
            }
            libc::SYS_mmap => match stub.mmap_fixed(APP_BASE, 4096, Perms::RW, self.fd, 0, false) {
                Ok(()) => APP_BASE as i64,
                Err(_) => -i64::from(libc::ENOMEM),
            },
            libc::SYS_munmap => match stub.munmap(call.args[0], call.args[1]) {
                Ok(()) => 0,
                Err(_) => -i64::from(libc::EINVAL),
            },
            _ => -i64::from(libc::ENOSYS),
        }
    }

    fn fault(&mut self, _: &Fault, _: &mut dyn StubOps) -> FaultResult {
        FaultResult::NotResolved
    }
}

#[test]
fn where_the_time_goes() {
    let fd = trap_support::memfd(4096);
    let mut err = std::io::stderr();
    let mut anon = Workload::anon(ITERATIONS, 4096);
    anon.unmap = true;
    let mut shared = anon;
    shared.addr = APP_BASE;
    shared.flags = libc::MAP_FIXED | libc::MAP_SHARED;
    shared.fd = fd.as_raw_fd();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let _ = writeln!(err, "load average: {}", load.trim());
    let mut native_total = 0;
    const ROWS: [(&str, Mechanism, bool, bool); 6] = [
        (
            "native, private anonymous 4 KiB",
            Mechanism::Native,
            false,
            true,
        ),
        (
            "native, MAP_FIXED|MAP_SHARED memfd 4 KiB",
            Mechanism::Native,
            true,
            true,
        ),
        ("ptrace", Mechanism::Ptrace, false, true),
        ("systrap", Mechanism::Systrap, false, true),
        ("ptrace, nothing injected", Mechanism::Ptrace, false, false),
        (
            "systrap, nothing injected",
            Mechanism::Systrap,
            false,
            false,
        ),
    ];
    for (label, mech, fixed_shared, inject) in ROWS {
        let w = if fixed_shared { shared } else { anon };
        let mut h = Fixed {
            fd: fd.as_raw_fd(),
            inject,
        };
        let Some((pid, r)) = trap_support::run(mech, &w, &mut h) else {
            continue;
        };
        let report = r.expect("trial");
        trap_support::assert_reaped(pid);
        let split = mmap_split(mech, &report);
        if native_total == 0 {
            native_total = split.total;
        }
        let _ = writeln!(
            err,
            "[{label}] {split}  = {:.2}x native private mmap",
            split.total as f64 / native_total.max(1) as f64
        );
    }
}
