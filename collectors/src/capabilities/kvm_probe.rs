//! A tiny KVM guest for measuring whether `exclude_host` / `exclude_guest`
//! really split cycle counts: one vCPU in real mode runs a counted loop
//! (`mov ecx, N; 1: dec ecx; jnz 1b; hlt`) while two counters on this
//! thread count cycles host-only and guest-only around `KVM_RUN`.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use kvm_bindings::{kvm_regs, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuExit};

use crate::perf::counter::{open_counting, read_scaled};
use crate::perf::sys::{self, EventKind, EventSpec};

/// Guest physical address of the loop code.
const CODE_GPA: u64 = 0x1000;
/// Guest memory: 64 KiB of real-mode address space.
const MEM_SIZE: usize = 0x10000;

/// What running the guest loop measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLoopRun {
    pub iterations: u32,
    pub wall: Duration,
    /// Cycles counted with exclude_guest=1 (host only), if counted.
    pub host_only_cycles: Option<u64>,
    /// Cycles counted with exclude_host=1 (guest only), if counted.
    pub guest_only_cycles: Option<u64>,
}

/// Why the guest could not run.
#[derive(Debug, thiserror::Error)]
pub enum KvmProbeError {
    #[error("/dev/kvm: {0}")]
    Kvm(#[source] kvm_ioctls::Error),
    #[error("guest memory: {0}")]
    Memory(#[source] std::io::Error),
    #[error("unexpected vCPU exit: {0}")]
    Exit(String),
}

/// The loop's machine code (16-bit real mode).
fn loop_code(iterations: u32) -> Vec<u8> {
    let mut code = vec![0x66, 0xB9]; // mov ecx, imm32
    code.extend_from_slice(&iterations.to_le_bytes());
    code.extend_from_slice(&[0x66, 0x49]); // dec ecx
    code.extend_from_slice(&[0x75, 0xFC]); // jnz -4 (back to dec)
    code.push(0xF4); // hlt
    code
}

/// Anonymous guest memory, unmapped on drop.
struct GuestMemory {
    ptr: *mut u8,
    len: usize,
}

impl GuestMemory {
    fn new(len: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // affected and the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(GuestMemory {
            ptr: ptr.cast(),
            len,
        })
    }

    fn write(&mut self, offset: usize, bytes: &[u8]) {
        assert!(
            offset + bytes.len() <= self.len,
            "guest code fits in guest memory"
        );
        // SAFETY: the range was checked to lie inside our mapping, and
        // `bytes` is a distinct Rust slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset), bytes.len()) }
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly our mapping; the VM that used it was
        // dropped before (declared after it in `run_guest_loop`).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

fn hw_cycles(exclude_host: bool, exclude_guest: bool) -> Option<OwnedFd> {
    let spec = EventSpec {
        exclude_host,
        exclude_guest,
        disabled: true,
        ..EventSpec::new(EventKind::HwCycles)
    };
    open_counting(spec).ok()
}

/// Run the loop `iterations` times in a fresh one-vCPU VM. When `count` is
/// set and hardware cycles can be opened, count host-only and guest-only
/// cycles around the vCPU run.
pub fn run_guest_loop(iterations: u32, count: bool) -> Result<GuestLoopRun, KvmProbeError> {
    let mut mem = GuestMemory::new(MEM_SIZE).map_err(KvmProbeError::Memory)?;
    mem.write(CODE_GPA as usize, &loop_code(iterations));
    let kvm = Kvm::new().map_err(KvmProbeError::Kvm)?;
    let vm = kvm.create_vm().map_err(KvmProbeError::Kvm)?;
    let region = kvm_userspace_memory_region {
        slot: 0,
        guest_phys_addr: 0,
        memory_size: MEM_SIZE as u64,
        userspace_addr: mem.ptr as u64,
        flags: 0,
    };
    // SAFETY: the region is our own anonymous mapping of MEM_SIZE bytes,
    // which outlives `vm` (mem is dropped after vm, being declared before).
    unsafe { vm.set_user_memory_region(region) }.map_err(KvmProbeError::Kvm)?;
    let mut vcpu = vm.create_vcpu(0).map_err(KvmProbeError::Kvm)?;
    let mut sregs = vcpu.get_sregs().map_err(KvmProbeError::Kvm)?;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    vcpu.set_sregs(&sregs).map_err(KvmProbeError::Kvm)?;
    let regs = kvm_regs {
        rip: CODE_GPA,
        rflags: 0x2,
        ..Default::default()
    };
    vcpu.set_regs(&regs).map_err(KvmProbeError::Kvm)?;

    let (host_fd, guest_fd) = if count {
        (hw_cycles(false, true), hw_cycles(true, false))
    } else {
        (None, None)
    };
    for fd in host_fd.iter().chain(guest_fd.iter()) {
        use std::os::fd::AsFd;
        let _ = sys::reset(fd.as_fd());
        let _ = sys::enable(fd.as_fd());
    }
    let start = Instant::now();
    let result = loop {
        match vcpu.run() {
            Ok(VcpuExit::Hlt) => break Ok(()),
            Ok(VcpuExit::IoOut(..)) | Ok(VcpuExit::IoIn(..)) => continue,
            Ok(other) => break Err(KvmProbeError::Exit(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
            Err(e) => break Err(KvmProbeError::Kvm(e)),
        }
    };
    let wall = start.elapsed();
    for fd in host_fd.iter().chain(guest_fd.iter()) {
        use std::os::fd::AsFd;
        let _ = sys::disable(fd.as_fd());
    }
    result?;
    Ok(GuestLoopRun {
        iterations,
        wall,
        host_only_cycles: host_fd.as_ref().and_then(|fd| read_scaled(fd).ok()),
        guest_only_cycles: guest_fd.as_ref().and_then(|fd| read_scaled(fd).ok()),
    })
}

/// The verdict on a measured pair: Some(true) when the split is enforced
/// (the guest-only count holds the loop and differs clearly from the
/// host-only count), Some(false) when both counted the same, None when
/// nothing was counted.
pub fn split_enforced(run: &GuestLoopRun) -> Option<bool> {
    let (h, g) = (run.host_only_cycles?, run.guest_only_cycles?);
    let hi = h.max(g);
    if hi == 0 {
        return None;
    }
    let diff = h.abs_diff(g) as f64 / hi as f64;
    Some(diff > 0.10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Print a skip line straight to the stderr handle: libtest captures
    /// `eprintln!` of passing tests, and a skip must be visible in CI's log.
    fn skip_line(args: std::fmt::Arguments<'_>) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{args}");
    }

    #[test]
    fn loop_code_encodes_count_and_branch() {
        let c = loop_code(0x01020304);
        assert_eq!(
            c,
            vec![0x66, 0xB9, 4, 3, 2, 1, 0x66, 0x49, 0x75, 0xFC, 0xF4]
        );
    }

    #[test]
    fn verdicts() {
        let mk = |h, g| GuestLoopRun {
            iterations: 1,
            wall: Duration::ZERO,
            host_only_cycles: h,
            guest_only_cycles: g,
        };
        assert_eq!(split_enforced(&mk(Some(1000), Some(1010))), Some(false));
        assert_eq!(split_enforced(&mk(Some(100), Some(1000))), Some(true));
        assert_eq!(split_enforced(&mk(None, Some(1000))), None);
    }

    #[test]
    fn guest_loop_runs_to_hlt() {
        if !std::path::Path::new("/dev/kvm").exists() {
            skip_line(format_args!("SKIP: /dev/kvm missing"));
            return;
        }
        match run_guest_loop(20_000, false) {
            Ok(r) => assert_eq!(r.iterations, 20_000),
            Err(KvmProbeError::Kvm(e)) => skip_line(format_args!("SKIP: KVM refused: {e}")),
            Err(e) => panic!("{e}"),
        }
    }
}
