//! The stub process: fork, wait, kill, reap. The stub never outlives its
//! [`StubProcess`]: drop sends SIGKILL and reaps it (no zombie), and the
//! child set `PR_SET_PDEATHSIG(SIGKILL)` for the case where the sentry
//! itself dies. (The death signal follows the *thread* that forked: a stub
//! lives inside one call of the platform, on the thread that made it.)

use super::error::TrapError;
use super::stub::{child_main, ChildPlan};

/// Reads the words at `addr` in process `pid` into `words` with
/// `process_vm_readv`; returns how many whole words were read (0 where
/// unreadable).
pub fn read_words(pid: i32, addr: u64, words: &mut [u64]) -> usize {
    let len = std::mem::size_of_val(words);
    let local = libc::iovec {
        iov_base: words.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` covers `words`, `len` writable bytes alive for the
    // call; the remote range is only read by the kernel, which checks it.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        0
    } else {
        n as usize / 8
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The stub exited with this code.
    Exited(i32),
    /// The stub was killed by this signal.
    Signaled(i32),
    /// The (traced) stub stopped; the raw stop signal (`SIGTRAP | 0x80` for
    /// a system-call stop).
    Stopped(i32),
}

/// A running stub.
pub struct StubProcess {
    pid: i32,
    reaped: bool,
    platform: &'static str,
}

impl StubProcess {
    /// Forks the stub, which runs `plan`.
    pub fn spawn(platform: &'static str, plan: &ChildPlan) -> Result<StubProcess, TrapError> {
        // SAFETY: the child runs only `child_main`, which makes raw system
        // calls and touches the shared region and nothing that another
        // thread of the sentry may have held at the fork (no allocation, no
        // locks); it never returns.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => Err(TrapError::Os {
                platform,
                op: "fork",
                errno: errno(),
            }),
            // SAFETY: this is the child of the fork, and the plan was built
            // by the caller over a region mapped before it.
            0 => unsafe { child_main(plan) },
            pid => Ok(StubProcess {
                pid,
                reaped: false,
                platform,
            }),
        }
    }

    /// The stub's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits for the next state change (`__WALL`); `None` with `nohang` if
    /// nothing happened yet.
    pub fn wait(&mut self, nohang: bool) -> Result<Option<Status>, TrapError> {
        let mut st = 0;
        let flags = libc::__WALL | if nohang { libc::WNOHANG } else { 0 };
        loop {
            // SAFETY: waitpid writes the status into a local.
            let r = unsafe { libc::waitpid(self.pid, &mut st, flags) };
            if r == 0 {
                return Ok(None);
            }
            if r < 0 {
                let e = errno();
                if e == libc::EINTR {
                    continue;
                }
                return Err(TrapError::Os {
                    platform: self.platform,
                    op: "waitpid",
                    errno: e,
                });
            }
            break;
        }
        let status = if libc::WIFEXITED(st) {
            self.reaped = true;
            Status::Exited(libc::WEXITSTATUS(st))
        } else if libc::WIFSIGNALED(st) {
            self.reaped = true;
            Status::Signaled(libc::WTERMSIG(st))
        } else {
            Status::Stopped((st >> 8) & 0xffff)
        };
        Ok(Some(status))
    }

    /// Waits (blocking) for the next state change.
    pub fn wait_blocking(&mut self) -> Result<Status, TrapError> {
        loop {
            if let Some(s) = self.wait(false)? {
                return Ok(s);
            }
        }
    }

    /// Kills the stub (SIGKILL) and reaps it.
    pub fn kill_and_reap(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: kill with the pid of our own unreaped child (the pid
        // cannot have been reused before we reap it).
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        while !self.reaped {
            match self.wait(false) {
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.reaped = true;
    }

    /// Whether the stub was reaped.
    pub fn reaped(&self) -> bool {
        self.reaped
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A signal's name, for error messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGSYS => "SIGSYS",
        libc::SIGBUS => "SIGBUS",
        libc::SIGTERM => "SIGTERM",
        libc::SIGABRT => "SIGABRT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// Whether `[start, start + len)` overlaps a mapping of this process
/// (from `/proc/self/maps`); the stub, a fork, has the same mappings.
pub fn range_in_use(start: u64, len: u64) -> std::io::Result<bool> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let end = start.saturating_add(len);
    Ok(maps.lines().any(|line| {
        let range = line.split_whitespace().next().unwrap_or("");
        let mut it = range.split('-');
        let lo = it.next().and_then(|s| u64::from_str_radix(s, 16).ok());
        let hi = it.next().and_then(|s| u64::from_str_radix(s, 16).ok());
        matches!((lo, hi), (Some(lo), Some(hi)) if lo < end && start < hi)
    }))
}

/// Makes `cmd`'s child, before it execs, install a seccomp filter under
/// which the system calls `nrs` fail with EPERM (a sandbox that refuses
/// them, e.g. ptrace and seccomp in a container): how tests check the
/// refusal lines honestly.
pub fn refuse_calls_on_exec(cmd: &mut std::process::Command, nrs: &[i64]) {
    use std::os::unix::process::CommandExt as _;
    let prog = super::seccomp::refuse(nrs);
    // SAFETY: the hook runs in the forked child before exec and makes only
    // two system calls (prctl, seccomp) on a program built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
}
