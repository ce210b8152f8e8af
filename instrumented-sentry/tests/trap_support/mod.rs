//! Shared checks of the trapped-process platforms, run by `trap_ptrace.rs`
//! and `trap_systrap.rs` with their mechanism.

#![allow(dead_code)]

use instrumented_sentry::addr::Perms;
use instrumented_sentry::platform::trap::process::refuse_calls_on_exec;
use instrumented_sentry::platform::trap::{
    Fault, FaultResult, Mechanism, StubOps, SyscallHandler, TrapError, TrappedCall, Trial,
    TrialReport, Workload, APP_BASE,
};
use instrumented_sentry::platform::PlatformError;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A memory file of `len` bytes.
pub fn memfd(len: u64) -> OwnedFd {
    // SAFETY: memfd_create with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"trap-test".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate on our descriptor.
    let r = unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) };
    assert_eq!(r, 0);
    fd
}

/// Reads a word of the memory file.
pub fn read_word(fd: &OwnedFd, off: u64) -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: pread into a local buffer of 8 bytes.
    let n = unsafe { libc::pread(fd.as_raw_fd(), b.as_mut_ptr().cast(), 8, off as libc::off_t) };
    assert_eq!(n, 8);
    u64::from_le_bytes(b)
}

/// Serves mmap from a bump counter over the application range and the
/// memory file; eager (maps at mmap) or lazy (maps at the first fault).
pub struct BumpHandler {
    pub fd: i32,
    pub lazy: bool,
    pub populate: bool,
    pub next_addr: u64,
    pub next_off: u64,
    /// `(addr, len, file offset)` of every mapping handed out.
    pub maps: Vec<(u64, u64, u64)>,
    pub faults: u64,
    pub calls: u64,
    /// Kill the stub (from another thread) at this call.
    pub kill_at: Option<u64>,
    /// Leave faults unresolved.
    pub refuse_faults: bool,
}

impl BumpHandler {
    pub fn new(fd: &OwnedFd) -> BumpHandler {
        BumpHandler {
            fd: fd.as_raw_fd(),
            lazy: false,
            populate: false,
            next_addr: APP_BASE,
            next_off: 0,
            maps: Vec::new(),
            faults: 0,
            calls: 0,
            kill_at: None,
            refuse_faults: false,
        }
    }
}

impl SyscallHandler for BumpHandler {
    fn handle(&mut self, call: &TrappedCall, stub: &mut dyn StubOps) -> i64 {
        self.calls += 1;
        if self.kill_at == Some(self.calls) {
            let pid = stub.pid();
            // SAFETY: kill with the pid of the live stub.
            std::thread::spawn(move || unsafe { libc::kill(pid, libc::SIGKILL) });
        }
        match call.nr {
            libc::SYS_mmap => {
                let len = call.args[1];
                let (addr, off) = (self.next_addr, self.next_off);
                self.next_addr += len + 4096; // a guard page between mappings
                self.next_off += len;
                self.maps.push((addr, len, off));
                if !self.lazy
                    && stub
                        .mmap_fixed(addr, len, Perms::RW, self.fd, off, self.populate)
                        .is_err()
                {
                    return -i64::from(libc::ENOMEM);
                }
                addr as i64
            }
            libc::SYS_munmap => match stub.munmap(call.args[0], call.args[1]) {
                Ok(()) => 0,
                Err(_) => -i64::from(libc::EINVAL),
            },
            _ => -i64::from(libc::ENOSYS),
        }
    }

    fn fault(&mut self, fault: &Fault, stub: &mut dyn StubOps) -> FaultResult {
        self.faults += 1;
        if self.refuse_faults {
            return FaultResult::NotResolved;
        }
        let hit = self
            .maps
            .iter()
            .find(|(a, l, _)| (*a..a + l).contains(&fault.addr))
            .copied();
        match hit {
            Some((a, l, off)) if fault.write => {
                match stub.mmap_fixed(a, l, Perms::RW, self.fd, off, false) {
                    Ok(()) => FaultResult::Resolved,
                    Err(_) => FaultResult::NotResolved,
                }
            }
            _ => FaultResult::NotResolved,
        }
    }
}

/// Runs a trial; `None` (with a visible SKIP line) if the platform is
/// refused here.
pub fn run(
    mech: Mechanism,
    w: &Workload,
    h: &mut dyn SyscallHandler,
) -> Option<(i32, Result<TrialReport, TrapError>)> {
    let trial = Trial::spawn(mech, w).expect("spawn");
    let pid = trial.pid();
    let r = trial.run(h);
    if let Err(TrapError::Platform(PlatformError::Unavailable { .. })) = &r {
        let e = r.err().map(|e| e.to_string()).unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "SKIP: {} unavailable here: {e}",
            mech.name()
        );
        return None;
    }
    Some((pid, r))
}

/// The stub is gone: reaped (not our child any more) and not in /proc as a
/// zombie.
pub fn assert_reaped(pid: i32) {
    let mut st = 0;
    // SAFETY: waitpid writes into a local.
    let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG | libc::__WALL) };
    assert_eq!(r, -1, "stub {pid} still waitable");
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ECHILD)
    );
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A reused pid is someone else's; ours would be a zombie child.
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().nth(1));
        assert_ne!(
            ppid,
            Some(std::process::id().to_string().as_str()),
            "stub {pid} lingers"
        );
    }
}

fn check_pattern(fd: &OwnedFd, w: &Workload, maps: &[(u64, u64, u64)]) {
    for &(addr, len, off) in maps {
        for p in (0..len).step_by(4096) {
            assert_eq!(
                read_word(fd, off + p),
                w.pattern ^ (addr + p),
                "page {:#x} of the mapping at {addr:#x}",
                addr + p
            );
        }
    }
}

/// mmap served by injected memfd mappings; the stub's writes are read
/// back through the memory file.
pub fn mapping_is_real(mech: Mechanism, populate: bool) {
    let iterations = 64;
    let fd = memfd(iterations * 3 * 4096);
    let mut w = Workload::anon(iterations, 3 * 4096);
    w.touch = true;
    let mut h = BumpHandler::new(&fd);
    h.populate = populate;
    let Some((pid, r)) = run(mech, &w, &mut h) else {
        return;
    };
    let report = r.expect("trial");
    assert_eq!(report.calls.len(), iterations as usize);
    assert_eq!(h.faults, 0, "eager mappings do not fault");
    for (c, m) in report.calls.iter().zip(&h.maps) {
        assert_eq!(c.addr as u64, m.0);
    }
    check_pattern(&fd, &w, &h.maps);
    assert_reaped(pid);
}

/// mmap returns an address with nothing mapped; the first touch faults and
/// the fault path maps it; the touch then succeeds.
pub fn fault_maps_lazily(mech: Mechanism) {
    let iterations = 32;
    let fd = memfd(iterations * 2 * 4096);
    let mut w = Workload::anon(iterations, 2 * 4096);
    w.touch = true;
    w.unmap = true;
    let mut h = BumpHandler::new(&fd);
    h.lazy = true;
    let Some((pid, r)) = run(mech, &w, &mut h) else {
        return;
    };
    r.expect("trial");
    assert_eq!(
        h.faults, iterations,
        "one fault per mapping (its whole range is mapped)"
    );
    check_pattern(&fd, &w, &h.maps);
    assert_reaped(pid);
}

/// A fault the handler does not resolve fails the trial, naming it.
pub fn unresolved_fault_fails(mech: Mechanism) {
    let fd = memfd(4096);
    let mut w = Workload::anon(1, 4096);
    w.touch = true;
    let mut h = BumpHandler::new(&fd);
    h.lazy = true;
    h.refuse_faults = true;
    let Some((pid, r)) = run(mech, &w, &mut h) else {
        return;
    };
    let e = r.expect_err("unresolved fault");
    assert!(
        matches!(e, TrapError::UnresolvedFault { addr, .. } if addr == APP_BASE),
        "{e}"
    );
    assert!(e.to_string().starts_with(mech.name()), "{e}");
    assert_reaped(pid);
}

/// SIGKILL from another thread mid-loop: the trial fails naming the
/// platform and the signal; no zombie.
pub fn kill_mid_trial(mech: Mechanism) {
    let fd = memfd(4096);
    let mut w = Workload::anon(1 << 20, 4096);
    w.unmap = true;
    let mut h = BumpHandler::new(&fd);
    h.next_off = 0;
    h.kill_at = Some(200);
    // Reuse one file page: the bump offset would outgrow the file.
    let mut reuse = ReuseOffset(h);
    let Some((pid, r)) = run(mech, &w, &mut reuse) else {
        return;
    };
    let e = r.expect_err("killed stub");
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            TrapError::StubKilled {
                signal: libc::SIGKILL,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.starts_with(mech.name()) && msg.contains("SIGKILL"),
        "{msg}"
    );
    let _ = writeln!(std::io::stderr(), "killed mid-trial: {msg}");
    assert_reaped(pid);
}

/// A [`BumpHandler`] that maps file offset 0 every time.
struct ReuseOffset(BumpHandler);

impl SyscallHandler for ReuseOffset {
    fn handle(&mut self, call: &TrappedCall, stub: &mut dyn StubOps) -> i64 {
        self.0.next_off = 0;
        self.0.maps.clear();
        self.0.handle(call, stub)
    }

    fn fault(&mut self, fault: &Fault, stub: &mut dyn StubOps) -> FaultResult {
        self.0.fault(fault, stub)
    }
}

const REFUSED_CHILD: &str = "TRAP_REFUSED_CHILD";

/// Where the host refuses ptrace and seccomp (EPERM, as in a container
/// without the capability or under Yama ptrace_scope 3), the trial fails
/// with one `Unavailable` line naming the platform. The test re-runs itself
/// (`this_test`) under a filter that refuses both.
pub fn refused_is_unavailable(mech: Mechanism, this_test: &str) {
    if std::env::var_os(REFUSED_CHILD).is_some() {
        let fd = memfd(4096);
        let mut h = BumpHandler::new(&fd);
        let trial = Trial::spawn(mech, &Workload::anon(1, 4096)).expect("spawn");
        let pid = trial.pid();
        match trial.run(&mut h) {
            Err(e @ TrapError::Platform(PlatformError::Unavailable { platform, .. })) => {
                assert_eq!(platform, mech.name());
                println!("UNAVAILABLE: {e}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert_reaped(pid);
        return;
    }
    let stdout = rerun_refused(this_test, REFUSED_CHILD);
    let line = stdout
        .lines()
        .find_map(|l| l.find("UNAVAILABLE: ").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no Unavailable line in: {stdout}"));
    let _ = writeln!(std::io::stderr(), "{line}");
    assert!(
        line.contains(&format!("{}: ", mech.name())) && line.contains("not permitted"),
        "{line}"
    );
}

/// Re-runs the test `this_test` of this binary with `env` set, under a
/// seccomp filter that makes `ptrace` and `seccomp` fail with EPERM (a
/// sandbox that refuses both); returns its stdout after checking it passed.
pub fn rerun_refused(this_test: &str, env: &str) -> String {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([this_test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, "1");
    refuse_calls_on_exec(&mut cmd, &[libc::SYS_ptrace, libc::SYS_seccomp]);
    let out = cmd
        .output()
        .expect("re-run the test under the refusing filter");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.into_owned()
}
