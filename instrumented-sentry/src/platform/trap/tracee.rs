//! `ptrace(2)` requests on the stub, as safe functions returning errno.
//! Every request here is valid on any pid: on a pid that is not our stopped
//! tracee the kernel refuses it (`ESRCH`), so none can break this process's
//! memory safety; the buffers are locals of the right type.

/// Result of a request: errno on failure.
pub type PtraceResult<T> = Result<T, i32>;

fn check(r: libc::c_long) -> PtraceResult<libc::c_long> {
    if r < 0 {
        Err(super::process::errno())
    } else {
        Ok(r)
    }
}

/// `PTRACE_SETOPTIONS`.
pub fn set_options(pid: i32, options: i32) -> PtraceResult<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options as libc::c_long) })
        .map(drop)
}

/// `PTRACE_SYSEMU`: resume, stopping at the next system call without
/// running it; `sig` is delivered (0: none).
pub fn sysemu(pid: i32, sig: i32) -> PtraceResult<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::ptrace(libc::PTRACE_SYSEMU, pid, 0, sig as libc::c_long) }).map(drop)
}

/// `PTRACE_CONT`.
pub fn cont(pid: i32, sig: i32) -> PtraceResult<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, sig as libc::c_long) }).map(drop)
}

/// `PTRACE_GETREGS`.
pub fn get_regs(pid: i32) -> PtraceResult<libc::user_regs_struct> {
    // SAFETY: user_regs_struct is plain integers; all-zero is valid.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one user_regs_struct into the local.
    check(unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs as *mut _) })?;
    Ok(regs)
}

/// `PTRACE_SETREGS`.
pub fn set_regs(pid: i32, regs: &libc::user_regs_struct) -> PtraceResult<()> {
    // SAFETY: the kernel reads one user_regs_struct from the reference.
    check(unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0, regs as *const _) }).map(drop)
}

/// `PTRACE_GETSIGINFO`: the fault address of a SIGSEGV stop (`si_addr`).
pub fn fault_addr(pid: i32) -> PtraceResult<u64> {
    // SAFETY: siginfo_t is plain data; all-zero is valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one siginfo_t into the local.
    check(unsafe { libc::ptrace(libc::PTRACE_GETSIGINFO, pid, 0, &mut info as *mut _) })?;
    // SAFETY: reading the `_sigfault` member of a siginfo the kernel filled.
    Ok(unsafe { info.si_addr() } as u64)
}

/// Reads `N` words of the stub's memory at `addr` (`PTRACE_PEEKDATA`).
pub fn peek<const N: usize>(pid: i32, addr: u64) -> PtraceResult<[u64; N]> {
    let mut out = [0u64; N];
    for (i, w) in out.iter_mut().enumerate() {
        // SAFETY: clear errno so a -1 word can be told from a failure.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: PEEKDATA reads the tracee's memory, not ours.
        let r = unsafe { libc::ptrace(libc::PTRACE_PEEKDATA, pid, addr + 8 * i as u64, 0) };
        let e = super::process::errno();
        if r == -1 && e != 0 {
            return Err(e);
        }
        *w = r as u64;
    }
    Ok(out)
}
