//! The KVM platform's exit costs and where the time beyond one exit goes.
//!
//! `cargo bench -p instrumented-sentry --bench kvm_exits` prints:
//! 1. the exit mechanisms' round trips (`out`, MMIO, `vmcall` from CPL 3);
//! 2. the sentry's private-file mmap (max-gap) three ways, probe medians:
//!    in-process with nothing in between; in-process but with one raw guest
//!    exit between calls (the same code, run between exits); and on the KVM
//!    platform (guest mmap loop), with the guest-measured time per call
//!    beyond one raw exit.
//!
//! Prints a SKIP line where /dev/kvm is absent or the VM cannot be made.

use instrumented_sentry::mm::{MemoryManager, MmConfig, MmapRequest, SearchStrategy};
use instrumented_sentry::platform::inproc::InProcConfig;
use instrumented_sentry::platform::kvm::exit_bench::{choose_syscall_exit, program, ExitMechanism};
use instrumented_sentry::platform::kvm::exits::SYS_EXIT;
use instrumented_sentry::platform::kvm::guest_run::{make_guest_mm, run_guest};
use instrumented_sentry::platform::kvm::guest_workloads::{
    mmap_loop_data_len, mmap_loop_program, MmapLoop, MAP_PRIVATE, WORKLOAD_FD,
};
use instrumented_sentry::platform::kvm::machine::{GuestEvent, Machine};
use instrumented_sentry::platform::kvm::runner::kvm_available;
use instrumented_sentry::platform::kvm::sentry_calls::GuestFds;

const CALLS: u64 = 4000;

fn mmap_median<A: instrumented_sentry::platform::AddressSpace>(mm: &MemoryManager<A>) -> u64 {
    mm.probes()
        .report(1)
        .sites
        .iter()
        .find(|s| s.site.name() == "mmap")
        .map_or(0, |s| s.median_cycles as u64)
}

fn inproc_mm() -> MemoryManager<instrumented_sentry::platform::inproc::InProcAddressSpace> {
    MemoryManager::inproc(
        MmConfig::with_search(SearchStrategy::MaxGap),
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
    for _ in 0..CALLS {
        mm.mmap(&req).expect("mmap");
    }
    let plain = mmap_median(&mm);

    // B: in-process, one raw guest exit between calls.
    let mut mm = inproc_mm();
    let file = mm.create_file(4096).expect("file");
    let req = MmapRequest::file(file, 0, 4096);
    let prog = program(ExitMechanism::PortIo, CALLS).expect("assemble");
    let mut m = Machine::new(prog, (CALLS + 1) * 8).expect("machine");
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

    // C: the KVM platform's guest mmap loop.
    let p = MmapLoop {
        iterations: CALLS,
        size: 4096,
        flags: MAP_PRIVATE,
        fd: WORKLOAD_FD,
        touch: false,
        exit: choice.syscall_exit,
    };
    let prog = mmap_loop_program(&p).expect("assemble");
    let mut kmm = make_guest_mm(
        MmConfig::with_search(SearchStrategy::MaxGap),
        prog,
        mmap_loop_data_len(CALLS),
        64 << 30,
    )
    .expect("guest");
    let file = kmm.create_file(4096).expect("file");
    let mut fds = GuestFds::default();
    fds.install(WORKLOAD_FD, file);
    run_guest(&mut kmm, &fds, true).expect("guest run");
    let mut cycles: Vec<u64> = (0..CALLS)
        .map(|i| {
            kmm.address_space()
                .machine()
                .read_data(8 * i)
                .expect("data")
        })
        .collect();
    cycles.sort_unstable();
    let guest_median = cycles[cycles.len() / 2];
    let kvm_probe = mmap_median(&kmm);
    let beyond = guest_median.saturating_sub(choice.chosen.median());

    println!("private file mmap, max-gap, {CALLS} calls (median TSC cycles):");
    println!("  inproc, back to back            mmap probe {plain:>7}");
    println!(
        "  inproc, one raw exit in between mmap probe {between_exits:>7}  ({:.1}x)",
        between_exits as f64 / plain.max(1) as f64
    );
    println!(
        "  kvm guest loop                  mmap probe {kvm_probe:>7}  ({:.1}x)",
        kvm_probe as f64 / plain.max(1) as f64
    );
    println!(
        "  kvm per call (guest rdtsc) {guest_median}, raw exit {}, beyond one exit {beyond} = {:.1}x the inproc mmap probe",
        choice.chosen.median(),
        beyond as f64 / plain.max(1) as f64
    );
}
