//! A guest machine: the VM in long mode, its page tables, a loaded guest
//! program, and the exit protocol turned into events the sentry handles.
//!
//! Flush discipline: whenever the VMM removes or downgrades leaf entries it
//! calls [`Machine::request_flush`]. Before the guest is resumed from the
//! system call or fault being handled, the VMM makes KVM drop every
//! translation derived from the page tables
//! ([`Vm::zap_page_table_shadows`]). Stale translations can therefore never
//! be used after a munmap/mprotect returns (see `exits` for why the guest
//! cannot do this itself here).

use kvm_bindings::kvm_regs;

use super::exits::{
    vector_name, FaultKind, PORT_EXCEPTION, PORT_FAULT, PORT_NEXT, PORT_RAW, PORT_SYSCALL,
    RAW_MMIO_GPA, RAW_MMIO_GVA, SH_FAULT_ADDR, SYSCALL_MMIO_GPA, SYSCALL_MMIO_GVA,
};
use super::guest_sampler::{GuestSampler, GuestSamples, VcpuCycles};
use super::guest_unwind::{unwind, BrokenChain, GuestStack};
use super::host_mapping::HostMappingError;
use super::layout::{
    sys_gpa, sys_gva, CODE_MAX, CODE_OFF, DATA_MAX, DATA_OFF, GDT_OFF, MEMFILE_GPA, PAGE_SIZE,
    R0_STACK_OFF, R0_STACK_TOP_OFF, SHARED_OFF, SYS_GPA, SYS_SIZE, TSS_OFF, USER_STACK_OFF,
    USER_STACK_TOP_OFF,
};
use super::long_mode::{user_sregs, write_tables, USER_RFLAGS};
use super::page_tables::{PageTableError, PageTables, PteAccess, PTE_PRESENT, PTE_USER};
use super::sample_timer::SampleTimerError;
use super::vcpu_pmu::VcpuPmu;
use super::vcpu_thread::VcpuPlacement;
use super::vm::{Exit, Vm, VmError};
use crate::platform::boundary::{
    monotonic_ns, this_tid, BoundaryLog, BoundaryWindow, RunSpan, StackSpace,
};
use crate::platform::kvm::guest::program::GuestProgram;

/// The guest stopped in a way the sentry cannot handle: what happened and
/// the guest's registers.
#[derive(Debug, Clone)]
pub struct GuestCrash {
    /// What happened.
    pub reason: String,
    /// General registers at the stop (when they could be read).
    pub regs: Option<kvm_regs>,
    /// CR2 and CR3 at the stop (when they could be read).
    pub cr2_cr3: Option<(u64, u64)>,
    /// The guest function containing RIP, if known.
    pub function: Option<String>,
}

impl std::fmt::Display for GuestCrash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)?;
        if let Some(r) = &self.regs {
            write!(
                f,
                "; guest registers: rip={:#x}{} rsp={:#x} rflags={:#x} rax={:#x} rbx={:#x} \
                 rcx={:#x} rdx={:#x} rsi={:#x} rdi={:#x} rbp={:#x} r8={:#x} r9={:#x} r10={:#x} \
                 r11={:#x} r12={:#x} r13={:#x} r14={:#x} r15={:#x}",
                r.rip,
                self.function
                    .as_ref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default(),
                r.rsp,
                r.rflags,
                r.rax,
                r.rbx,
                r.rcx,
                r.rdx,
                r.rsi,
                r.rdi,
                r.rbp,
                r.r8,
                r.r9,
                r.r10,
                r.r11,
                r.r12,
                r.r13,
                r.r14,
                r.r15
            )?;
        }
        if let Some((cr2, cr3)) = self.cr2_cr3 {
            write!(f, " cr2={cr2:#x} cr3={cr3:#x}")?;
        }
        Ok(())
    }
}

/// Errors of the guest machine.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// The VM could not be made or driven.
    #[error(transparent)]
    Vm(#[from] VmError),
    /// Page tables could not be edited.
    #[error(transparent)]
    PageTables(#[from] PageTableError),
    /// System memory could not be accessed.
    #[error(transparent)]
    Memory(#[from] HostMappingError),
    /// The guest program or data does not fit the layout.
    #[error("guest {what} needs {len} bytes, more than the {max} available")]
    TooLarge {
        /// Which area.
        what: &'static str,
        /// Bytes needed.
        len: u64,
        /// Bytes available.
        max: u64,
    },
    /// The guest crashed or stopped unexpectedly.
    #[error("guest stopped: {0}")]
    Crash(Box<GuestCrash>),
}

/// A protocol event from the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestEvent {
    /// A guest system call; answer with [`Machine::complete_syscall`].
    Syscall {
        /// Linux system call number.
        nr: u64,
        /// Arguments.
        args: [u64; 6],
    },
    /// A page fault at CPL 3; answer with [`Machine::complete_fault`] (the
    /// access is retried) or stop.
    PageFault {
        /// Faulting address (CR2).
        addr: u64,
        /// Decoded error code.
        kind: FaultKind,
        /// Faulting instruction.
        rip: u64,
    },
    /// An exit through the raw benchmark port (resume with no answer).
    RawExit,
    /// The request-serving guest asks for its next request.
    NextRequest,
    /// An MMIO write outside every slot (the MMIO exit benchmark).
    Mmio {
        /// Guest-physical address.
        gpa: u64,
    },
}

/// Exits counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExitCounts {
    /// All exits to user space.
    pub total: u64,
    /// System call exits.
    pub syscalls: u64,
    /// Page-fault exits.
    pub faults: u64,
    /// Raw and MMIO benchmark exits.
    pub benchmark: u64,
    /// Request exits of the request-serving guest.
    pub requests: u64,
    /// Stops made by the guest sampler's timer (interrupted runs while it
    /// is armed), apart so the other counts stay comparable.
    pub sample_stops: u64,
    /// Exits that were none of these (interrupted runs).
    pub other: u64,
}

/// A VM in long mode running one guest program.
#[derive(Debug)]
pub struct Machine {
    vm: Vm,
    page_tables: PageTables,
    program: GuestProgram,
    flush_pending: bool,
    flushes: u64,
    flushed_pages: u64,
    counts: ExitCounts,
    sampler: Option<GuestSampler>,
    /// Windows of the exits served, with the guest's stack at each.
    boundary: BoundaryLog,
    /// The window of the exit being served (closed at the next `KVM_RUN`).
    open_window: Option<BoundaryWindow>,
}

impl Machine {
    /// Makes a VM, loads `program` and a `data_len`-byte user data region
    /// (zeroed, at `sys_gva(DATA_OFF)`), and points the vCPU at `_start` at
    /// CPL 3 with `rbx` = the shared page and `rsp` = the user stack.
    pub fn new(program: GuestProgram, data_len: u64) -> Result<Self, MachineError> {
        Self::with_placement(program, data_len, VcpuPlacement::detect())
    }

    /// [`Machine::new`] with `KVM_RUN` called where `placement` says.
    pub fn with_placement(
        program: GuestProgram,
        data_len: u64,
        placement: VcpuPlacement,
    ) -> Result<Self, MachineError> {
        if program.code.len() as u64 > CODE_MAX {
            return Err(MachineError::TooLarge {
                what: "program",
                len: program.code.len() as u64,
                max: CODE_MAX,
            });
        }
        if data_len > DATA_MAX {
            return Err(MachineError::TooLarge {
                what: "data region",
                len: data_len,
                max: DATA_MAX,
            });
        }
        let vm = Vm::with_placement(placement)?;
        let mut page_tables = PageTables::new(vm.sys())?;
        write_tables(vm.sys(), &program.gates)?;
        vm.sys().write_bytes(CODE_OFF, &program.code)?;

        let kernel = PteAccess {
            write: true,
            execute: false,
            user: false,
        };
        let user_rw = PteAccess {
            write: true,
            execute: false,
            user: true,
        };
        let user_rx = PteAccess {
            write: false,
            execute: true,
            user: true,
        };
        let mut map_range = |from: u64, to: u64, access: PteAccess| -> Result<(), MachineError> {
            let mut off = from;
            while off < to {
                page_tables.map(vm.sys(), sys_gva(off), sys_gpa(off), access)?;
                off += PAGE_SIZE;
            }
            Ok(())
        };
        map_range(GDT_OFF, TSS_OFF + PAGE_SIZE, kernel)?;
        map_range(R0_STACK_OFF, R0_STACK_TOP_OFF, kernel)?;
        map_range(SHARED_OFF, SHARED_OFF + PAGE_SIZE, user_rw)?;
        let code_end = CODE_OFF + (program.code.len() as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        map_range(CODE_OFF, code_end, user_rx)?;
        map_range(USER_STACK_OFF, USER_STACK_TOP_OFF, user_rw)?;
        map_range(
            DATA_OFF,
            DATA_OFF + data_len.div_ceil(PAGE_SIZE) * PAGE_SIZE,
            user_rw,
        )?;
        page_tables.map(vm.sys(), SYSCALL_MMIO_GVA, SYSCALL_MMIO_GPA, user_rw)?;
        page_tables.map(vm.sys(), RAW_MMIO_GVA, RAW_MMIO_GPA, user_rw)?;

        let sregs = user_sregs(vm.sregs()?, page_tables.cr3());
        vm.set_sregs(&sregs)?;
        let regs = kvm_regs {
            rip: program.entry,
            rsp: sys_gva(USER_STACK_TOP_OFF) - 8,
            rflags: USER_RFLAGS,
            rbx: sys_gva(SHARED_OFF),
            ..Default::default()
        };
        vm.set_regs(&regs)?;
        Ok(Self {
            vm,
            page_tables,
            program,
            flush_pending: false,
            flushes: 0,
            flushed_pages: 0,
            counts: ExitCounts::default(),
            sampler: None,
            boundary: BoundaryLog::new(false),
            open_window: None,
        })
    }

    /// The loaded program.
    pub fn program(&self) -> &GuestProgram {
        &self.program
    }

    /// The VM.
    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    /// The VM, mutably (to add memory-file slots).
    pub fn vm_mut(&mut self) -> &mut Vm {
        &mut self.vm
    }

    /// The VM and the page tables together (for editing entries).
    pub fn vm_and_tables(&mut self) -> (&Vm, &mut PageTables) {
        (&self.vm, &mut self.page_tables)
    }

    /// Exits so far, by kind.
    pub fn exit_counts(&self) -> ExitCounts {
        let mut c = self.counts;
        // Stops the vCPU thread handled itself while a sampler is armed
        // (added to `counts` when it is disarmed).
        let on_vcpu = self
            .sampler
            .as_ref()
            .map_or(0, GuestSampler::stops_handled_on_vcpu);
        c.sample_stops += on_vcpu;
        c.total += on_vcpu;
        c
    }

    /// Guest translation flushes done so far.
    pub fn flushes_requested(&self) -> u64 {
        self.flushes
    }

    /// Pages whose translations were dropped on request so far.
    pub fn flushed_pages(&self) -> u64 {
        self.flushed_pages
    }

    /// Notes that `pages` leaf entries were removed or downgraded: the
    /// guest's translations are dropped before it resumes.
    pub fn request_flush(&mut self, pages: u64) {
        self.flushed_pages += pages;
        self.flush_pending = true;
    }

    /// Drops the guest's translations if a flush is pending.
    fn flush_if_pending(&mut self) -> Result<(), MachineError> {
        if self.flush_pending {
            self.vm.zap_page_table_shadows()?;
            self.flushes += 1;
            self.flush_pending = false;
        }
        Ok(())
    }

    /// Reads the u64 at byte `offset` of the shared page.
    pub fn read_shared(&self, offset: u64) -> Result<u64, MachineError> {
        Ok(self.vm.sys().read_u64(SHARED_OFF + offset)?)
    }

    /// Writes the u64 at byte `offset` of the shared page.
    pub fn write_shared(&self, offset: u64, value: u64) -> Result<(), MachineError> {
        Ok(self.vm.sys().write_u64(SHARED_OFF + offset, value)?)
    }

    /// Reads the u64 at byte `offset` of the data region.
    pub fn read_data(&self, offset: u64) -> Result<u64, MachineError> {
        Ok(self.vm.sys().read_u64(DATA_OFF + offset)?)
    }

    /// Writes the u64 at byte `offset` of the data region.
    pub fn write_data(&self, offset: u64, value: u64) -> Result<(), MachineError> {
        Ok(self.vm.sys().write_u64(DATA_OFF + offset, value)?)
    }

    /// Runs the guest until the next protocol event.
    ///
    /// Errors: `Crash` with the guest's registers for a triple fault, an
    /// exception other than a CPL-3 page fault, or any exit outside the
    /// protocol.
    pub fn next_event(&mut self) -> Result<GuestEvent, MachineError> {
        self.close_window();
        loop {
            let exit = self.vm.run()?;
            self.counts.total += 1;
            self.sample_if_ticked()?;
            let sys = self.vm.sys();
            match exit {
                Exit::IoOut(PORT_SYSCALL) => {
                    self.counts.syscalls += 1;
                    self.open_window("exit: io", None)?;
                    return self.syscall_event();
                }
                Exit::IoOut(PORT_FAULT) => {
                    self.counts.faults += 1;
                    let addr = sys.read_u64(SHARED_OFF + SH_FAULT_ADDR)?;
                    // Frame pushed on the RSP0 stack by the CPU (entry from
                    // CPL 3): SS, RSP, RFLAGS, CS, RIP, error code.
                    let rip = sys.read_u64(R0_STACK_TOP_OFF - 40)?;
                    let code = sys.read_u64(R0_STACK_TOP_OFF - 48)?;
                    let user_rsp = sys.read_u64(R0_STACK_TOP_OFF - 16)?;
                    self.open_window("exit: fault", Some((rip, user_rsp)))?;
                    return Ok(GuestEvent::PageFault {
                        addr,
                        kind: FaultKind::from_error_code(code),
                        rip,
                    });
                }
                Exit::IoOut(PORT_NEXT) => {
                    self.counts.requests += 1;
                    return Ok(GuestEvent::NextRequest);
                }
                Exit::IoOut(PORT_RAW) => {
                    self.counts.benchmark += 1;
                    return Ok(GuestEvent::RawExit);
                }
                Exit::MmioWrite(SYSCALL_MMIO_GPA) => {
                    self.counts.syscalls += 1;
                    self.open_window("exit: mmio", None)?;
                    return self.syscall_event();
                }
                Exit::MmioWrite(gpa) => {
                    self.counts.benchmark += 1;
                    return Ok(GuestEvent::Mmio { gpa });
                }
                Exit::IoOut(PORT_EXCEPTION) => {
                    let regs = self.vm.regs()?;
                    let frame = regs.rsp.wrapping_sub(sys_gva(0));
                    let vector = sys.read_u64(frame)?;
                    let error = sys.read_u64(frame + 8)?;
                    let rip = sys.read_u64(frame + 16)?;
                    let reason = format!(
                        "guest exception {} (vector {vector}, error code {error:#x}) at rip {rip:#x}{}",
                        vector_name(vector),
                        self.function_suffix(rip)
                    );
                    return Err(self.crash(reason));
                }
                Exit::Interrupted => {
                    if self.sampler.is_some() {
                        self.counts.sample_stops += 1;
                    } else {
                        self.counts.other += 1;
                    }
                    continue;
                }
                Exit::Shutdown => {
                    return Err(self.crash("guest triple fault (KVM_EXIT_SHUTDOWN)".to_string()))
                }
                other => {
                    return Err(self.crash(format!("unexpected exit from the guest: {other:?}")))
                }
            }
        }
    }

    /// The guest sampler's part of an exit: if a tick landed inside the
    /// `KVM_RUN` that just returned (it stopped the guest, or it was
    /// delivered as KVM handled a real exit), count the guest's stack here.
    fn sample_if_ticked(&mut self) -> Result<(), MachineError> {
        let Some(s) = self.sampler.as_mut() else {
            return Ok(());
        };
        // A stop whose signal expired before the run was entered (a late
        // tick) stands for no guest time: no stack.
        let ticks = s.in_run_ticks_since_last_exit();
        if ticks == 0 {
            return Ok(());
        }
        // At a stop the vCPU's thread has read the registers already.
        let stack = match self.vm.stop_regs() {
            Some([rip, rbp, rsp]) => {
                let mut read = |gva: u64| self.read_guest_u64(gva);
                unwind(rip, rbp, rsp, &mut read)
            }
            None => self.guest_stack_now()?,
        };
        if let Some(s) = self.sampler.as_mut() {
            s.record(stack, ticks);
        }
        Ok(())
    }

    fn syscall_event(&self) -> Result<GuestEvent, MachineError> {
        let [nr, args @ ..] = self.vm.call_block()?;
        Ok(GuestEvent::Syscall { nr, args })
    }

    fn function_suffix(&self, rip: u64) -> String {
        self.program
            .function_at(rip)
            .map(|f| format!(" ({})", f.name))
            .unwrap_or_default()
    }

    /// A crash report with whatever registers can be read.
    pub fn crash(&self, reason: String) -> MachineError {
        let regs = self.vm.regs().ok();
        let cr2_cr3 = self.vm.sregs().ok().map(|s| (s.cr2, s.cr3));
        let function = regs
            .as_ref()
            .and_then(|r| self.program.function_at(r.rip))
            .map(|f| f.name.clone());
        MachineError::Crash(Box::new(GuestCrash {
            reason,
            regs,
            cr2_cr3,
            function,
        }))
    }

    /// Answers a system call with `result`; the guest resumes on the next
    /// [`Machine::next_event`], after pending flushes.
    pub fn complete_syscall(&mut self, result: u64) -> Result<(), MachineError> {
        self.vm.set_call_result(result)?;
        self.flush_if_pending()
    }

    /// Answers a page fault: the access is retried after pending flushes.
    /// `stale`: the fault hit a translation the tables already allow (a
    /// stale one), so a flush is forced.
    pub fn complete_fault(&mut self, stale: Option<u64>) -> Result<(), MachineError> {
        if stale.is_some() {
            self.request_flush(1);
        }
        self.flush_if_pending()
    }

    /// Whether the leaf entry for `gva` already allows the access `kind`
    /// describes.
    pub fn translation_allows(&mut self, gva: u64, kind: FaultKind) -> Result<bool, MachineError> {
        let page = gva & !(PAGE_SIZE - 1);
        if page >= sys_gva(0) {
            return Ok(false);
        }
        let entry = self.page_tables.lookup(self.vm.sys(), page)?;
        Ok(PageTables::allows(entry, kind.write, kind.fetch))
    }

    /// Arms the guest sampler: `hz` times a second the vCPU thread is
    /// signalled, `KVM_RUN` returns, and [`Machine::next_event`] records
    /// the guest's stack before it resumes the guest.
    pub fn start_guest_sampler(&mut self, hz: u32) -> Result<(), SampleTimerError> {
        let at = self.vcpu_cycles();
        let sampler = GuestSampler::start(self.vm.vcpu_tid(), hz, at)?;
        // SAFETY: the system region lives as long as the VM, and the
        // walker is cleared before the sampler is handed back (or the VM,
        // with its vCPU thread, is dropped first).
        let walker = unsafe { sampler.vcpu_walker(self.vm.sys().host_addr()) };
        self.vm.set_stop_handler(Some(Box::new(walker)));
        self.sampler = Some(sampler);
        self.sync_regs_as_needed();
        Ok(())
    }

    /// Attaches hardware cycles on the vCPU thread to the armed sampler
    /// (`Err`: one line why not; nothing to attach to is no error).
    pub fn attach_vcpu_pmu(&mut self, pmu: &dyn VcpuPmu) -> Result<(), String> {
        let tid = self.vm.vcpu_tid();
        if let Some(s) = self.sampler.as_mut() {
            s.attach_pmu(pmu.attach(tid)?);
        }
        Ok(())
    }

    /// Disarms the sampler; its counts and the stacks it counted (as
    /// addresses: `collectors::guest_stacks` names them), if it was armed.
    pub fn stop_guest_sampler(&mut self) -> Option<GuestSamples> {
        let s = self.sampler.take()?;
        self.vm.set_stop_handler(None);
        self.sync_regs_as_needed();
        let on_vcpu = s.stops_handled_on_vcpu();
        self.counts.sample_stops += on_vcpu;
        self.counts.total += on_vcpu;
        Some(s.finish(self.vcpu_cycles()))
    }

    fn vcpu_cycles(&self) -> VcpuCycles {
        VcpuCycles {
            in_run: self.vm.cycles_in_run(),
            in_stops: self.vm.cycles_in_stops(),
        }
    }

    /// Record, from now on, a boundary window for every system call and
    /// fault exit served: from the exit to the next `KVM_RUN`, on the
    /// thread that drives the machine, with the guest's stack at the exit.
    /// Each window also holds the span of the `KVM_RUN` that ended in its
    /// exit ([`RunSpan`]: both ends stamped on the thread that ran it), and
    /// the registers come from the `kvm_run` page (`KVM_CAP_SYNC_REGS`,
    /// asked while recording) where KVM can store them there.
    pub fn record_boundary_stacks(&mut self, on: bool) {
        self.boundary = BoundaryLog::new(on);
        self.vm.stamp_runs(on);
        self.sync_regs_as_needed();
    }

    /// Asks KVM for the registers in the `kvm_run` page at every exit
    /// while a sampler is armed or boundary windows are recorded (their
    /// stacks then need no `KVM_GET_REGS`), else stops asking.
    fn sync_regs_as_needed(&mut self) {
        let want = self.sampler.is_some() || self.boundary.on();
        self.vm.sync_stop_regs(want);
    }

    /// The windows recorded so far (an exit still being served is left out).
    pub fn take_boundary_windows(&mut self) -> Vec<BoundaryWindow> {
        self.open_window = None;
        self.boundary.take()
    }

    /// Opens the window of the exit just taken (`fault`: the faulting
    /// instruction and the user stack pointer, from the ring-0 frame; else
    /// the registers at the exit are the guest's own).
    fn open_window(
        &mut self,
        kind: &'static str,
        fault: Option<(u64, u64)>,
    ) -> Result<(), MachineError> {
        if !self.boundary.on() {
            return Ok(());
        }
        let start_ns = monotonic_ns();
        let run = self.vm.last_run_ns().map(|(entered_ns, left_ns)| RunSpan {
            tid: self.vm.vcpu_tid() as u32,
            entered_ns,
            left_ns,
        });
        let mut stack = match fault {
            None => self.guest_stack_now()?,
            Some((rip, rsp)) => {
                let [_, rbp, _] = self.vm.exit_regs()?;
                let mut read = |gva: u64| self.read_guest_u64(gva);
                unwind(rip, rbp, rsp, &mut read)
            }
        };
        // `_start` is entered with nothing above its frame: its "return
        // address" is 0, not a frame.
        while stack.pcs.len() > 1 && stack.pcs.last() == Some(&0) {
            stack.pcs.pop();
        }
        self.open_window = Some(BoundaryWindow {
            tid: this_tid(),
            start_ns,
            end_ns: start_ns,
            kind,
            space: StackSpace::Guest,
            pcs: stack.pcs,
            broken: stack.broken.map(BrokenChain::name),
            serve_from: "run_until_stop",
            workload_from: "",
            run,
        });
        Ok(())
    }

    /// Closes the window of the exit served (the guest resumes now).
    fn close_window(&mut self) {
        if let Some(mut w) = self.open_window.take() {
            w.end_ns = monotonic_ns();
            self.boundary.push(w);
        }
    }

    /// The guest's stack where it stopped: its registers (from the
    /// `kvm_run` page where KVM stored them as the run returned, while a
    /// sampler is armed or windows are recorded; else `KVM_GET_REGS`),
    /// then the frame-pointer walk through the page tables.
    pub fn guest_stack_now(&mut self) -> Result<GuestStack, MachineError> {
        let [rip, rbp, rsp] = self.vm.exit_regs()?;
        let mut read = |gva: u64| self.read_guest_u64(gva);
        Ok(unwind(rip, rbp, rsp, &mut read))
    }

    /// The u64 at guest-virtual `gva` if the page tables map it as user
    /// memory (`None` otherwise, never an error): the sampler's reader.
    pub fn read_guest_u64(&mut self, gva: u64) -> Option<u64> {
        if gva % 8 != 0 {
            return None;
        }
        let entry = self
            .page_tables
            .lookup(self.vm.sys(), gva & !(PAGE_SIZE - 1))
            .ok()?;
        if entry & PTE_PRESENT == 0 || entry & PTE_USER == 0 {
            return None;
        }
        let gpa = PageTables::frame(entry) + (gva & (PAGE_SIZE - 1));
        if (SYS_GPA..SYS_GPA + SYS_SIZE).contains(&gpa) {
            return self.vm.sys().read_u64(gpa - SYS_GPA).ok();
        }
        let (mapping, off) = self.vm.memfile_mapping(gpa.checked_sub(MEMFILE_GPA)?)?;
        mapping.read_u64(off).ok()
    }
}
