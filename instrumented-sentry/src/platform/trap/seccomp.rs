//! The systrap stub's seccomp filter (classic BPF), built by the sentry
//! before the fork so the child allocates nothing:
//!
//! - a non-x86_64 call kills the process;
//! - a call whose `instruction_pointer` is the address right after the
//!   allowed `syscall` instruction of [`super::sys`] is allowed (the stub's
//!   own calls: futex, the injected host calls, rt_sigreturn, exit);
//! - every other call returns `SECCOMP_RET_TRAP`: the kernel skips it and
//!   sends SIGSYS, which the stub's handler turns into a request.
//!
//! This is the rule gVisor's systrap stub uses. The instruction pointer is
//! 64 bits and BPF loads 32, so both halves are compared.

use libc::sock_filter;

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

/// `struct seccomp_data` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_IP_LO: u32 = 8;
const OFF_IP_HI: u32 = 12;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The filter: allow calls from `allowed_ip` only, trap the rest.
pub fn filter(allowed_ip: u64) -> Vec<sock_filter> {
    vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFF_IP_HI),
        jump(JEQ_K, (allowed_ip >> 32) as u32, 0, 3),
        stmt(LD_W_ABS, OFF_IP_LO),
        jump(JEQ_K, allowed_ip as u32, 0, 1),
        stmt(RET_K, SECCOMP_RET_ALLOW),
        stmt(RET_K, SECCOMP_RET_TRAP),
    ]
}

/// A filter that makes the calls `nrs` fail with `EPERM` and allows the
/// rest: what a sandbox that refuses ptrace or seccomp looks like (for
/// tests of the platforms' refusal path).
pub fn refuse(nrs: &[i64]) -> Vec<sock_filter> {
    let mut prog = vec![stmt(LD_W_ABS, OFF_NR)];
    for &nr in nrs {
        prog.push(jump(JEQ_K, nr as u32, 0, 1));
        prog.push(stmt(RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32));
    }
    prog.push(stmt(RET_K, SECCOMP_RET_ALLOW));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions the filter uses.
    fn run(prog: &[sock_filter], arch: u32, ip: u64) -> u32 {
        run_nr(prog, 0, arch, ip)
    }

    fn run_nr(prog: &[sock_filter], nr: u32, arch: u32, ip: u64) -> u32 {
        let data = |off: u32| match off {
            OFF_NR => nr,
            OFF_ARCH => arch,
            OFF_IP_LO => ip as u32,
            OFF_IP_HI => (ip >> 32) as u32,
            _ => 0,
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            match i.code {
                LD_W_ABS => acc = data(i.k),
                JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
                RET_K => return i.k,
                _ => panic!("unexpected opcode"),
            }
            pc += 1;
        }
    }

    #[test]
    fn allows_only_the_site() {
        let ip = 0x5555_1234_5678;
        let p = filter(ip);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, ip), SECCOMP_RET_ALLOW);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, ip + 2), SECCOMP_RET_TRAP);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, ip ^ (1 << 40)), SECCOMP_RET_TRAP);
        assert_eq!(run(&p, 0x4000_0003, ip), SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn refuses_only_the_listed_calls() {
        let p = refuse(&[libc::SYS_ptrace, libc::SYS_seccomp]);
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(
            run_nr(&p, libc::SYS_ptrace as u32, AUDIT_ARCH_X86_64, 0),
            eperm
        );
        assert_eq!(
            run_nr(&p, libc::SYS_seccomp as u32, AUDIT_ARCH_X86_64, 0),
            eperm
        );
        assert_eq!(
            run_nr(&p, libc::SYS_mmap as u32, AUDIT_ARCH_X86_64, 0),
            SECCOMP_RET_ALLOW
        );
    }
}
