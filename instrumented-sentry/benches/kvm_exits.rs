//! The KVM platform's exit costs and where the time beyond one exit goes.
//!
//! `cargo bench -p instrumented-sentry --bench kvm_exits` prints:
//! 1. the exit mechanisms' round trips (`out`, MMIO, `vmcall` from CPL 3);
//! 2. the sentry's private-file mmap (max-gap) three ways, probe medians:
//!    in-process with nothing in between; in-process but with one raw guest
//!    exit between calls (the same code, run between exits); and on the KVM
//!    platform (guest mmap loop), with the guest-measured time per call
//!    beyond one raw exit — each with `KVM_RUN` on its own vCPU thread and
//!    on the sentry's thread, side by side;
//! 3. one guest alternating a raw exit and an mmap, so each call's time
//!    beyond one exit is a paired difference in the same VM;
//! 4. the guest's stack at an exit (`Machine::guest_stack_now`, what a
//!    boundary window costs per exit besides two clock reads), with the
//!    registers from `KVM_GET_REGS` and from the `kvm_run` page
//!    (`KVM_CAP_SYNC_REGS`, asked while windows are recorded), in
//!    alternating blocks.
//!
//! Prints a SKIP line where /dev/kvm is absent or the VM cannot be made.

use bundle::stats::median_high;
use instrumented_sentry::mm::{MemoryManager, MmConfig, MmapRequest};
use instrumented_sentry::platform::inproc_address_space::InProcConfig;
use instrumented_sentry::platform::kvm::guest::exit_choice::{
    choose_syscall_exit, measure_placed, program, ExitMechanism,
};
use instrumented_sentry::platform::kvm::vmm::exits::{SyscallExit, SYS_EXIT};
use instrumented_sentry::platform::kvm::vmm::machine::{GuestEvent, Machine};
use instrumented_sentry::platform::kvm::vmm::vcpu_thread::VcpuPlacement;
use instrumented_sentry::runners::kvm::guest_run::{
    make_guest_mm, make_guest_mm_placed, run_guest,
};
use instrumented_sentry::runners::kvm::guest_workloads::{
    mmap_loop_data_len, mmap_loop_program, MmapLoop, MmapLoopTimings, MAP_PRIVATE, WORKLOAD_FD,
};
use instrumented_sentry::runners::kvm::runner::kvm_available;
use instrumented_sentry::runners::kvm::sentry_calls::GuestFds;
use instrumented_sentry::segment::GapSearch;

const CALLS: u64 = 4000;

fn mmap_median<A: instrumented_sentry::platform::AddressSpace>(mm: &MemoryManager<A>) -> u64 {
    mm.probes()
        .report(1)
        .sites
        .iter()
        .find(|s| s.site.name() == "mmap")
        .map_or(0, |s| s.median_cycles as u64)
}

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn inproc_mm(
) -> MemoryManager<instrumented_sentry::platform::inproc_address_space::InProcAddressSpace> {
    MemoryManager::inproc(
        MmConfig::with_search(GapSearch::MaxGap),
        &InProcConfig::default(),
    )
    .expect("in-process sentry")
}

fn main() {
    if let Err(why) = kvm_available() {
        println!("SKIP: {why}");
        return;
    }
    let choice = choose_syscall_exit(CALLS).expect("exit benchmark");
    println!("exit round trips from CPL 3 ({CALLS} each, TSC cycles):");
    for r in &choice.all {
        match &r.unusable {
            None => println!(
                "  {:<24} median {:>7}  p90 {:>7}",
                r.mechanism.name(),
                r.median(),
                r.percentile(90)
            ),
            Some(why) => println!(
                "  {:<24} unusable: {}",
                r.mechanism.name(),
                why.lines().next().unwrap_or("")
            ),
        }
    }
    println!("  system calls use: {}", choice.syscall_exit.name());

    // A: in-process, back to back.
    let mut mm = inproc_mm();
    let file = mm.create_file(4096).expect("file");
    let req = MmapRequest::file(file, 0, 4096);
    let mut whole: Vec<u64> = (0..CALLS)
        .map(|_| {
            let start = rdtsc();
            mm.mmap(&req).expect("mmap");
            rdtsc() - start
        })
        .collect();
    whole.sort_unstable();
    let per_call = median_high(&whole).unwrap_or(0);
    let plain = mmap_median(&mm);
    println!("private file mmap, max-gap, {CALLS} calls (median TSC cycles):");
    println!("  inproc, back to back                 mmap probe {plain:>7}  (whole call, median: {per_call})");
    for placement in [VcpuPlacement::OwnThread, VcpuPlacement::SentryThread] {
        let r = between_exits_and_kvm(placement, choice.syscall_exit, choice.chosen.mechanism);
        println!("  KVM_RUN on the {}:", placement.name());
        println!(
            "    inproc, one raw exit in between    mmap probe {:>7}  ({:.1}x)",
            r.between_exits,
            r.between_exits as f64 / plain.max(1) as f64
        );
        println!(
            "    kvm guest loop                     mmap probe {:>7}  ({:.1}x)",
            r.kvm_probe,
            r.kvm_probe as f64 / plain.max(1) as f64
        );
        println!(
            "    kvm per call (guest rdtsc) {}, raw exit {}, beyond one exit {} = {:.2}x the inproc whole call",
            r.guest_median,
            r.raw_median,
            r.guest_median.saturating_sub(r.raw_median),
            r.guest_median.saturating_sub(r.raw_median) as f64 / per_call.max(1) as f64
        );
    }
    stack_at_exit_cost(choice.chosen.mechanism);
    let (raw, call, paired) = paired_in_one_vm(choice.syscall_exit);
    println!(
        "one VM alternating a raw exit and an mmap ({CALLS} pairs, {}): raw {raw}, mmap {call}, median paired difference {paired} = {:.2}x the inproc whole call",
        VcpuPlacement::detect().name(),
        paired as f64 / per_call.max(1) as f64
    );
}

struct PlacementFigures {
    between_exits: u64,
    kvm_probe: u64,
    guest_median: u64,
    raw_median: u64,
}

/// B (the in-process sentry with one raw exit between calls) and C (the
/// kvm guest mmap loop, with a raw exit measured right before it), with
/// `KVM_RUN` called where `placement` says.
fn between_exits_and_kvm(
    placement: VcpuPlacement,
    exit: SyscallExit,
    raw_mechanism: ExitMechanism,
) -> PlacementFigures {
    let mut mm = inproc_mm();
    let file = mm.create_file(4096).expect("file");
    let req = MmapRequest::file(file, 0, 4096);
    let prog = program(ExitMechanism::PortIo, CALLS).expect("assemble");
    let mut m = Machine::with_placement(prog, (CALLS + 1) * 8, placement).expect("machine");
    loop {
        match m.next_event().expect("guest") {
            GuestEvent::RawExit => {
                mm.mmap(&req).expect("mmap");
            }
            GuestEvent::Syscall { nr: SYS_EXIT, .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let between_exits = mmap_median(&mm);

    let raw_median = measure_placed(raw_mechanism, CALLS, placement)
        .expect("raw exits")
        .median();
    let p = MmapLoop {
        iterations: CALLS,
        size: 4096,
        flags: MAP_PRIVATE,
        fd: WORKLOAD_FD,
        touch: false,
        exit,
        paired_raw_exit: false,
    };
    let prog = mmap_loop_program(&p).expect("assemble");
    let mut kmm = make_guest_mm_placed(
        MmConfig::with_search(GapSearch::MaxGap),
        prog,
        mmap_loop_data_len(CALLS, false),
        64 << 30,
        placement,
    )
    .expect("guest");
    let file = kmm.create_file(4096).expect("file");
    let mut fds = GuestFds::default();
    fds.install(WORKLOAD_FD, file);
    run_guest(&mut kmm, &fds, true).expect("guest run");
    let mut cycles = MmapLoopTimings::read(kmm.address_space().machine(), CALLS, false)
        .expect("timings")
        .calls;
    cycles.sort_unstable();
    PlacementFigures {
        between_exits,
        kvm_probe: mmap_median(&kmm),
        guest_median: median_high(&cycles).unwrap_or(0),
        raw_median,
    }
}

/// The kvm platform's mmap loop with each call paired with a raw exit made
/// just before it in the same VM: returns (raw median, mmap median, median
/// of the per-pair differences).
fn paired_in_one_vm(exit: SyscallExit) -> (u64, u64, i64) {
    let p = MmapLoop {
        iterations: CALLS,
        size: 4096,
        flags: MAP_PRIVATE,
        fd: WORKLOAD_FD,
        touch: false,
        exit,
        paired_raw_exit: true,
    };
    let prog = mmap_loop_program(&p).expect("assemble");
    let mut mm = make_guest_mm(
        MmConfig::with_search(GapSearch::MaxGap),
        prog,
        mmap_loop_data_len(CALLS, true),
        64 << 30,
    )
    .expect("guest");
    let file = mm.create_file(4096).expect("file");
    let mut fds = GuestFds::default();
    fds.install(WORKLOAD_FD, file);
    run_guest(&mut mm, &fds, true).expect("guest run");
    let t = MmapLoopTimings::read(mm.address_space().machine(), CALLS, true).expect("timings");
    let paired = t.median_paired_beyond();
    let (mut raw, mut call) = (t.raw_before, t.calls);
    raw.sort_unstable();
    call.sort_unstable();
    (
        median_high(&raw).unwrap_or(0),
        median_high(&call).unwrap_or(0),
        paired,
    )
}

/// Section 4: TSC cycles of `guest_stack_now` at each raw exit of one
/// guest, in blocks of 500 exits alternating the register source (the
/// `kvm_run` page while boundary windows are recorded, else
/// `KVM_GET_REGS`); prints both medians.
fn stack_at_exit_cost(mechanism: ExitMechanism) {
    const BLOCK: u64 = 500;
    const BLOCKS: u64 = 8;
    let prog = program(mechanism, BLOCK * BLOCKS).expect("assemble");
    let mut m = Machine::new(prog, (BLOCK * BLOCKS + 1) * 8).expect("machine");
    let (mut ioctl, mut synced) = (Vec::new(), Vec::new());
    let mut exits = 0u64;
    loop {
        let sync = (exits / BLOCK) % 2 == 1;
        if exits % BLOCK == 0 {
            // Toggled between runs: the next exit stores the registers
            // in the kvm_run page or not.
            m.record_boundary_stacks(sync);
        }
        match m.next_event().expect("raw exit guest") {
            GuestEvent::RawExit | GuestEvent::Mmio { .. } => {
                let start = rdtsc();
                let stack = m.guest_stack_now().expect("guest stack");
                let took = rdtsc() - start;
                assert!(!stack.pcs.is_empty());
                if exits % BLOCK != 0 {
                    if sync { &mut synced } else { &mut ioctl }.push(took);
                }
                exits += 1;
            }
            GuestEvent::Syscall { nr: SYS_EXIT, .. } => break,
            other => panic!("unexpected guest event {other:?}"),
        }
    }
    ioctl.sort_unstable();
    synced.sort_unstable();
    println!(
        "guest stack at an exit ({} exits each, {}, TSC cycles): KVM_GET_REGS median {} p90 {}; kvm_run page (sync regs) median {} p90 {}",
        ioctl.len(),
        VcpuPlacement::detect().name(),
        median_high(&ioctl).unwrap_or(0),
        ioctl.get(ioctl.len() * 9 / 10).copied().unwrap_or(0),
        median_high(&synced).unwrap_or(0),
        synced.get(synced.len() * 9 / 10).copied().unwrap_or(0),
    );
}
