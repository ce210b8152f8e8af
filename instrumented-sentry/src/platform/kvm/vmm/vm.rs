//! The VM and its one vCPU, made through `/dev/kvm` with kvm-ioctls, and the
//! guest-physical memory slots: the system region (slot 0) and the memory
//! file's slots (the page allocator's memfd, mapped shared).

use std::os::fd::RawFd;

use std::os::fd::AsRawFd;

use kvm_bindings::{
    kvm_regs, kvm_run, kvm_sregs, kvm_userspace_memory_region, KVM_CAP_SYNC_REGS,
    KVM_EXIT_FAIL_ENTRY, KVM_EXIT_HLT, KVM_EXIT_HYPERCALL, KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_INTR,
    KVM_EXIT_IO, KVM_EXIT_IO_OUT, KVM_EXIT_MMIO, KVM_EXIT_SHUTDOWN, KVM_MAX_CPUID_ENTRIES,
    KVM_SYNC_X86_REGS,
};
use kvm_ioctls::{Kvm, SyncReg, VcpuFd, VmFd};

use super::exits::{SH_ARGS, SH_NR, SH_RESULT};
use super::host_mapping::{HostMapping, HostMappingError};
use super::layout::{
    MEMFILE_GPA, MEMFILE_MAX, PAGE_SIZE, PT_POOL_OFF, PT_POOL_SIZE, SHARED_OFF, SYS_GPA, SYS_SIZE,
};
use super::vcpu_thread::{
    is_stop, kvm_run_here, pinned_cpus, CallBlock, StopHandler, StopRegs, VcpuPlacement,
    VcpuThread, VcpuThreadError, PAYLOAD_WORDS,
};
use crate::platform::boundary::monotonic_ns;
use crate::platform::cpu_affinity::ThreadPin;

/// Errors making or driving the VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// `/dev/kvm` could not be opened.
    #[error("cannot open /dev/kvm: {0}")]
    Open(kvm_ioctls::Error),
    /// A KVM ioctl failed.
    #[error("{what} failed: {source}")]
    Ioctl {
        /// Which operation.
        what: &'static str,
        /// The kernel's error.
        source: kvm_ioctls::Error,
    },
    /// Host memory for the guest could not be mapped or accessed.
    #[error(transparent)]
    Memory(#[from] HostMappingError),
    /// The vCPU thread could not be started.
    #[error(transparent)]
    VcpuThread(#[from] VcpuThreadError),
    /// The memory file grew past what the guest can address.
    #[error("memory file range {offset:#x}+{len:#x} is beyond the guest's {max:#x}-byte window")]
    MemfileTooLarge {
        /// Start offset.
        offset: u64,
        /// Length.
        len: u64,
        /// Largest addressable file size.
        max: u64,
    },
}

fn ioctl(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmError {
    move |source| VmError::Ioctl { what, source }
}

/// What made `KVM_RUN` return, in the terms the VMM acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `out` to a port (the data is irrelevant to this protocol).
    IoOut(u16),
    /// `in` from a port.
    IoIn(u16),
    /// Write to guest-physical memory outside every slot.
    MmioWrite(u64),
    /// Read of guest-physical memory outside every slot.
    MmioRead(u64),
    /// `hlt` at ring 0.
    Hlt,
    /// Triple fault or similar: the vCPU is dead.
    Shutdown,
    /// KVM_EXIT_HYPERCALL.
    Hypercall,
    /// KVM could not enter the guest.
    FailEntry(u64),
    /// KVM internal error (often: an instruction it could not emulate).
    InternalError,
    /// The run was interrupted by a signal.
    Interrupted,
    /// Anything else, by name.
    Other(String),
}

/// Slot of the system region below the page-table pool.
const SYS_SLOT: u32 = 0;
/// Slot of the page-table pool.
const PT_SLOT: u32 = 1;
/// First slot of the memory file.
const FIRST_FILE_SLOT: u32 = 2;

/// The page-table pool's slot (`size` 0 deletes it).
fn pt_region(sys: &HostMapping, size: u64) -> kvm_userspace_memory_region {
    kvm_userspace_memory_region {
        slot: PT_SLOT,
        flags: 0,
        guest_phys_addr: SYS_GPA + PT_POOL_OFF,
        memory_size: size,
        userspace_addr: sys.host_addr() + PT_POOL_OFF,
    }
}

/// One memory-file slot: a shared mapping of part of the memfd.
#[derive(Debug)]
struct FileSlot {
    offset: u64,
    mapping: HostMapping,
}

/// A VM with one vCPU and its memory.
///
/// Field order matters: the vCPU and VM are dropped before the host memory
/// their slots point at.
pub struct Vm {
    /// Dropped (joined) first: it calls `KVM_RUN` on `vcpu`'s fd.
    vcpu_thread: Option<VcpuThread>,
    /// The sentry's thread's pin (`PinnedApart`), undone when the VM goes;
    /// declared after `vcpu_thread`, so the vCPU thread is joined first.
    sentry_pin: Option<ThreadPin>,
    vcpu: VcpuFd,
    vm: VmFd,
    _kvm: Kvm,
    sys: HostMapping,
    file_slots: Vec<FileSlot>,
    memfile_end: u64,
    /// Result to hand the guest at the next entry (vCPU thread only).
    pending_result: Option<u64>,
    /// The call block as the last exit left it (vCPU thread only).
    last_call: [u64; PAYLOAD_WORDS],
    /// `rip`, `rbp`, `rsp` at the last interrupted run, read by the thread
    /// that ran the vCPU.
    stop_regs: Option<[u64; 3]>,
    /// Host address of the vCPU's `kvm_run` page.
    run_page: usize,
    /// Whether KVM can store the registers there at each exit
    /// (`KVM_CAP_SYNC_REGS` with `KVM_SYNC_X86_REGS`).
    sync_regs: bool,
    /// TSC cycles inside `KVM_RUN` (sentry-thread placement only; the
    /// vCPU thread counts its own).
    in_run_cycles: u64,
    /// TSC cycles handling sampler stops (when `KVM_RUN` runs here).
    stop_cycles: u64,
    /// When the last run returned for a sampler stop, if it did.
    stop_began: Option<u64>,
    /// Whether runs are stamped (sentry-thread placement; the vCPU thread
    /// stamps its own).
    stamp_runs: bool,
    /// `CLOCK_MONOTONIC` entry and return of the last `KVM_RUN` here.
    last_run_ns: Option<(u64, u64)>,
}

/// The call block is the call number followed by the six arguments.
const _: () = assert!(SH_ARGS == SH_NR + 8 && PAYLOAD_WORDS == 7);

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("file_slots", &self.file_slots.len())
            .field("memfile_end", &self.memfile_end)
            .finish()
    }
}

impl Vm {
    /// [`Vm::with_placement`] with the placement detected for this machine.
    pub fn new() -> Result<Self, VmError> {
        Self::with_placement(VcpuPlacement::detect())
    }

    /// Opens `/dev/kvm`, makes a VM with one vCPU (run where `placement`
    /// says) and registers the system region as slot 0.
    pub fn with_placement(placement: VcpuPlacement) -> Result<Self, VmError> {
        let kvm = Kvm::new().map_err(VmError::Open)?;
        let vm = kvm.create_vm().map_err(ioctl("KVM_CREATE_VM"))?;
        let sys = HostMapping::anonymous(SYS_SIZE)?;
        let region = kvm_userspace_memory_region {
            slot: SYS_SLOT,
            flags: 0,
            guest_phys_addr: SYS_GPA,
            memory_size: PT_POOL_OFF,
            userspace_addr: sys.host_addr(),
        };
        // SAFETY: `sys` is a live host mapping of `SYS_SIZE` bytes owned by
        // the returned `Vm`, which drops the VM before the mapping; the slot
        // covers its first `PT_POOL_OFF` bytes.
        unsafe { vm.set_user_memory_region(region) }
            .map_err(ioctl("KVM_SET_USER_MEMORY_REGION (system)"))?;
        // SAFETY: the page-table slot covers the rest of `sys`
        // (`PT_POOL_OFF..SYS_SIZE`), live as long as the VM.
        unsafe { vm.set_user_memory_region(pt_region(&sys, PT_POOL_SIZE)) }
            .map_err(ioctl("KVM_SET_USER_MEMORY_REGION (page tables)"))?;
        let mut vcpu = vm.create_vcpu(0).map_err(ioctl("KVM_CREATE_VCPU"))?;
        let run_page = vcpu.get_kvm_run() as *mut kvm_run as usize;
        let sync_regs = kvm.check_extension_raw(KVM_CAP_SYNC_REGS.into()) as u64
            & u64::from(KVM_SYNC_X86_REGS)
            != 0;
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(ioctl("KVM_GET_SUPPORTED_CPUID"))?;
        vcpu.set_cpuid2(&cpuid).map_err(ioctl("KVM_SET_CPUID2"))?;
        let pins = match placement {
            VcpuPlacement::PinnedApart => pinned_cpus(),
            _ => None,
        };
        // The sentry's thread pinned first, so the vCPU thread (spawned
        // from it) is pinned to its own CPU only by its own call.
        let sentry_pin = pins.and_then(|(_, sentry)| ThreadPin::pin_here(sentry));
        let vcpu_thread = match placement {
            VcpuPlacement::OwnThread | VcpuPlacement::PinnedApart => {
                let shared = sys.host_addr() + SHARED_OFF;
                // SAFETY: the call block (7 u64 from SH_NR) and the result
                // slot lie in the shared page of `sys`, page aligned, which
                // the returned `Vm` owns and drops after `vcpu_thread`.
                let block = unsafe { CallBlock::new(shared + SH_NR, shared + SH_RESULT) };
                let cpu = sentry_pin.as_ref().and(pins).map(|(vcpu, _)| vcpu);
                // SAFETY: `run_page` is the vCPU's `kvm_run` mapping, which
                // lives with `vcpu`, dropped after `vcpu_thread`.
                Some(unsafe { VcpuThread::start_on(vcpu.as_raw_fd(), run_page, block, cpu) }?)
            }
            VcpuPlacement::SentryThread => None,
        };
        Ok(Self {
            vcpu_thread,
            sentry_pin,
            vcpu,
            vm,
            _kvm: kvm,
            sys,
            file_slots: Vec::new(),
            memfile_end: 0,
            pending_result: None,
            last_call: [0; PAYLOAD_WORDS],
            stop_regs: None,
            run_page,
            sync_regs,
            in_run_cycles: 0,
            stop_cycles: 0,
            stop_began: None,
            stamp_runs: false,
            last_run_ns: None,
        })
    }

    /// The system region (slot 0).
    pub fn sys(&self) -> &HostMapping {
        &self.sys
    }

    /// How many bytes of the memory file the guest can reach.
    pub fn memfile_end(&self) -> u64 {
        self.memfile_end
    }

    /// Number of memory slots registered for the memory file.
    pub fn memfile_slots(&self) -> usize {
        self.file_slots.len()
    }

    /// Makes the memory file `fd` reachable up to `new_end` bytes: registers
    /// `[memfile_end, new_end)` as a new slot at `MEMFILE_GPA + offset`.
    ///
    /// Preconditions: the file is at least `new_end` bytes long; `new_end`
    /// is page aligned. Postconditions: `memfile_end() >= new_end`.
    pub fn grow_memfile(&mut self, fd: RawFd, new_end: u64) -> Result<(), VmError> {
        if new_end <= self.memfile_end {
            return Ok(());
        }
        let offset = self.memfile_end;
        let len = (new_end - offset).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if offset + len > MEMFILE_MAX {
            return Err(VmError::MemfileTooLarge {
                offset,
                len,
                max: MEMFILE_MAX,
            });
        }
        let mapping = HostMapping::shared_file(fd, offset, len)?;
        let slot = FIRST_FILE_SLOT + self.file_slots.len() as u32;
        let region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: MEMFILE_GPA + offset,
            memory_size: len,
            userspace_addr: mapping.host_addr(),
        };
        // SAFETY: `mapping` is a live shared mapping of `len` bytes that is
        // stored in `self.file_slots` and so outlives the VM (dropped first).
        unsafe { self.vm.set_user_memory_region(region) }
            .map_err(ioctl("KVM_SET_USER_MEMORY_REGION (memory file)"))?;
        self.file_slots.push(FileSlot { offset, mapping });
        self.memfile_end = offset + len;
        Ok(())
    }

    /// The host mapping holding memory-file offset `offset`, and the offset
    /// within it.
    pub fn memfile_mapping(&self, offset: u64) -> Option<(&HostMapping, u64)> {
        self.file_slots
            .iter()
            .find(|s| s.offset <= offset && offset < s.offset + s.mapping.len())
            .map(|s| (&s.mapping, offset - s.offset))
    }

    /// Drops every translation the hypervisor derived from the guest's page
    /// tables: deletes and re-adds the page-table slot, which makes KVM zap
    /// the shadow pages of the tables in it. Needed after the VMM removed or
    /// downgraded entries: its writes bypass the write protection through
    /// which the hypervisor notices guest page-table edits, and neither a
    /// guest `mov cr3` nor `invlpg` resynchronises write-protected shadows.
    pub fn zap_page_table_shadows(&mut self) -> Result<(), VmError> {
        // SAFETY: deleting a slot (size 0) removes guest access to memory;
        // no host memory is affected.
        unsafe { self.vm.set_user_memory_region(pt_region(&self.sys, 0)) }
            .map_err(ioctl("KVM_SET_USER_MEMORY_REGION (delete page tables)"))?;
        // SAFETY: re-adds the slot over the same live part of `sys`.
        unsafe {
            self.vm
                .set_user_memory_region(pt_region(&self.sys, PT_POOL_SIZE))
        }
        .map_err(ioctl("KVM_SET_USER_MEMORY_REGION (page tables)"))?;
        Ok(())
    }

    /// General registers.
    pub fn regs(&self) -> Result<kvm_regs, VmError> {
        self.vcpu.get_regs().map_err(ioctl("KVM_GET_REGS"))
    }

    /// Sets general registers.
    pub fn set_regs(&self, regs: &kvm_regs) -> Result<(), VmError> {
        self.vcpu.set_regs(regs).map_err(ioctl("KVM_SET_REGS"))
    }

    /// The guest's `rip`, `rbp` and `rsp` where the last run was
    /// interrupted ([`Exit::Interrupted`]: a sampler stop), read on the
    /// thread that ran the vCPU; `None` after any other exit.
    pub fn stop_regs(&self) -> Option<[u64; 3]> {
        self.stop_regs
    }

    /// Asks KVM to store the general registers in the `kvm_run` page as
    /// each `KVM_RUN` returns (`on`, while a guest sampler is armed: its
    /// stops then read them with no `KVM_GET_REGS`), or stops asking.
    /// Called between runs. `false` if KVM cannot (`KVM_CAP_SYNC_REGS`
    /// missing): stops then use the ioctl.
    pub fn sync_stop_regs(&mut self, on: bool) -> bool {
        if !self.sync_regs {
            return false;
        }
        if on {
            self.vcpu.set_sync_valid_reg(SyncReg::Register);
        } else {
            self.vcpu.clear_sync_valid_reg(SyncReg::Register);
        }
        true
    }

    /// The guest's `rip`, `rbp` and `rsp` as the last run left them: from
    /// the `kvm_run` page where KVM stored them as `KVM_RUN` returned
    /// ([`Vm::sync_stop_regs`] on), else `KVM_GET_REGS`. Called between
    /// runs.
    pub fn exit_regs(&self) -> Result<[u64; 3], VmError> {
        // SAFETY: `run_page` is the live `kvm_run` mapping of `self.vcpu`,
        // used only during this call, while the vCPU is stopped.
        let regs = unsafe { StopRegs::new(self.vcpu.as_raw_fd(), self.run_page) };
        match regs.read() {
            Some(r) => Ok(r),
            None => self.regs().map(|r| [r.rip, r.rbp, r.rsp]),
        }
    }

    /// Stamp each run's `KVM_RUN` entry and return from now on (`on`), or
    /// stop: [`Vm::last_run_ns`]. Called between runs.
    pub fn stamp_runs(&mut self, on: bool) {
        self.stamp_runs = on;
        self.last_run_ns = None;
        if let Some(t) = &self.vcpu_thread {
            t.stamp_runs(on);
        }
    }

    /// `CLOCK_MONOTONIC` ns when the `KVM_RUN` that ended the last run was
    /// entered and when it returned, on the thread that called it
    /// ([`Vm::vcpu_tid`]); `None` unless stamping.
    pub fn last_run_ns(&self) -> Option<(u64, u64)> {
        match &self.vcpu_thread {
            Some(t) => t.last_run_ns(),
            None => self.last_run_ns,
        }
    }

    /// Special registers.
    pub fn sregs(&self) -> Result<kvm_sregs, VmError> {
        self.vcpu.get_sregs().map_err(ioctl("KVM_GET_SREGS"))
    }

    /// Sets special registers.
    pub fn set_sregs(&self, sregs: &kvm_sregs) -> Result<(), VmError> {
        self.vcpu.set_sregs(sregs).map_err(ioctl("KVM_SET_SREGS"))
    }

    /// The kernel thread id of the thread that calls `KVM_RUN` (the vCPU
    /// thread, or the calling thread when the vCPU runs there).
    pub fn vcpu_tid(&self) -> libc::pid_t {
        match &self.vcpu_thread {
            Some(t) => t.tid(),
            // SAFETY: gettid has no preconditions.
            None => unsafe { libc::gettid() },
        }
    }

    /// TSC cycles spent inside `KVM_RUN` so far, on whichever thread calls
    /// it (rdtsc around each call): the guest's time by the clock, for the
    /// guest sampler's share to be checked against.
    pub fn cycles_in_run(&self) -> u64 {
        match &self.vcpu_thread {
            Some(t) => t.cycles_in_run(),
            None => self.in_run_cycles,
        }
    }

    /// Sets (or clears) what handles sampler stops on the vCPU thread;
    /// `false` (nothing set) where `KVM_RUN` runs on the calling thread,
    /// which handles its stops itself anyway.
    pub fn set_stop_handler(&self, handler: Option<Box<dyn StopHandler>>) -> bool {
        match &self.vcpu_thread {
            Some(t) => {
                t.set_stop_handler(handler);
                true
            }
            None => false,
        }
    }

    /// TSC cycles spent handling sampler stops so far: from a `KVM_RUN`
    /// that returned for a signal to the next entry (the sampler's own
    /// time, counted apart from the guest's and the sentry's).
    pub fn cycles_in_stops(&self) -> u64 {
        match &self.vcpu_thread {
            Some(t) => t.cycles_in_stops(),
            None => self.stop_cycles,
        }
    }

    /// Where `KVM_RUN` is called.
    pub fn placement(&self) -> VcpuPlacement {
        if self.sentry_pin.is_some() {
            VcpuPlacement::PinnedApart
        } else if self.vcpu_thread.is_some() {
            VcpuPlacement::OwnThread
        } else {
            VcpuPlacement::SentryThread
        }
    }

    /// The guest's system call block: number and six arguments, as the
    /// last exit left them.
    pub fn call_block(&self) -> Result<[u64; PAYLOAD_WORDS], VmError> {
        if self.vcpu_thread.is_some() {
            return Ok(self.last_call);
        }
        let mut out = [0u64; PAYLOAD_WORDS];
        for (i, w) in out.iter_mut().enumerate() {
            *w = self.sys.read_u64(SHARED_OFF + SH_NR + 8 * i as u64)?;
        }
        Ok(out)
    }

    /// Sets the system call result the guest reads when it next runs.
    pub fn set_call_result(&mut self, value: u64) -> Result<(), VmError> {
        if self.vcpu_thread.is_some() {
            self.pending_result = Some(value);
            return Ok(());
        }
        Ok(self.sys.write_u64(SHARED_OFF + SH_RESULT, value)?)
    }

    /// Runs the vCPU until the next exit to user space.
    pub fn run(&mut self) -> Result<Exit, VmError> {
        let ran = match self.vcpu_thread.as_mut() {
            Some(t) => t.run(self.pending_result.take()).map(|call| {
                self.last_call = call;
            }),
            None => {
                // SAFETY: `rdtsc` has no preconditions on x86_64.
                let entered = unsafe { core::arch::x86_64::_rdtsc() };
                if let Some(began) = self.stop_began.take() {
                    self.stop_cycles += entered.wrapping_sub(began);
                }
                let entered_ns = self.stamp_runs.then(monotonic_ns);
                let ran = kvm_run_here(self.vcpu.as_raw_fd());
                self.last_run_ns = entered_ns.map(|e| (e, monotonic_ns()));
                // SAFETY: as above.
                let left = unsafe { core::arch::x86_64::_rdtsc() };
                self.in_run_cycles += left.wrapping_sub(entered);
                self.stop_began = is_stop(ran).then_some(left);
                ran
            }
        };
        self.stop_regs = None;
        match ran {
            Ok(()) => Ok(decode_exit(self.vcpu.get_kvm_run())),
            Err(e) if e == libc::EINTR || e == libc::EAGAIN => {
                self.stop_regs = match &self.vcpu_thread {
                    Some(t) => t.stop_regs(),
                    // SAFETY: `run_page` is the live `kvm_run` mapping of
                    // `self.vcpu`, used only during this call.
                    None => unsafe { StopRegs::new(self.vcpu.as_raw_fd(), self.run_page) }.read(),
                };
                Ok(Exit::Interrupted)
            }
            Err(errno) => Err(VmError::Ioctl {
                what: "KVM_RUN",
                source: kvm_ioctls::Error::new(errno),
            }),
        }
    }
}

/// The exit `KVM_RUN` left in the vCPU's `kvm_run` page. Reads (`in`, MMIO
/// loads) are answered with zeros.
fn decode_exit(run: &mut kvm_run) -> Exit {
    match run.exit_reason {
        KVM_EXIT_IO => {
            // SAFETY: the exit reason says the `io` member is the live one.
            let io = unsafe { run.__bindgen_anon_1.io };
            if u32::from(io.direction) == KVM_EXIT_IO_OUT {
                return Exit::IoOut(io.port);
            }
            let len = usize::from(io.size) * io.count as usize;
            let off = io.data_offset as usize;
            if off.checked_add(len).is_some_and(|end| end <= RUN_PAGE) {
                let base = (run as *mut kvm_run).cast::<u8>();
                // SAFETY: the kernel puts `in` data `data_offset` bytes into
                // the vCPU's mmap'd run area, whose first page this checked
                // range lies in; nothing else accesses it while the vCPU is
                // stopped.
                unsafe { std::ptr::write_bytes(base.add(off), 0, len) };
            }
            Exit::IoIn(io.port)
        }
        KVM_EXIT_MMIO => {
            // SAFETY: the exit reason says the `mmio` member is the live one.
            let mmio = unsafe { &mut run.__bindgen_anon_1.mmio };
            if mmio.is_write != 0 {
                Exit::MmioWrite(mmio.phys_addr)
            } else {
                mmio.data = [0; 8];
                Exit::MmioRead(mmio.phys_addr)
            }
        }
        KVM_EXIT_HLT => Exit::Hlt,
        KVM_EXIT_SHUTDOWN => Exit::Shutdown,
        KVM_EXIT_HYPERCALL => Exit::Hypercall,
        KVM_EXIT_FAIL_ENTRY => {
            // SAFETY: the exit reason says the `fail_entry` member is live.
            let f = unsafe { run.__bindgen_anon_1.fail_entry };
            Exit::FailEntry(f.hardware_entry_failure_reason)
        }
        KVM_EXIT_INTERNAL_ERROR => Exit::InternalError,
        KVM_EXIT_INTR => Exit::Interrupted,
        other => Exit::Other(format!("KVM exit reason {other}")),
    }
}

/// Bytes of the `kvm_run` area the `in` data may lie in (its first page).
const RUN_PAGE: usize = 4096;
