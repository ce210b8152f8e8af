//! Where one exit round trip's wall time goes on the kvm platform: the
//! guest's mmap loop with boundary windows recorded, each window's stamps
//! (`KVM_RUN` entered and returned on the thread that ran it, the exit
//! seen and handed back on the sentry's thread) split into phases.
//!
//! `cargo run --release -p instrumented-sentry --example exit_phases [CALLS]`
//! prints, for `KVM_RUN` on its own vCPU thread, on the sentry's thread and
//! on its own thread with the two threads pinned to different CPUs,
//! the median and p90 of each phase in µs, and the guest-timed call.
//!
//! `… --example exit_phases CALLS cost ROUNDS` instead prints what recording
//! the windows adds to a call: ROUNDS guests with windows off and on,
//! alternating, `KVM_RUN` on the sentry's thread (no handoff between
//! threads, whose time varies by far more than the windows cost), the
//! median guest-timed call of each guest in TSC cycles, and the medians of
//! those.

use bundle::stats::median_high;
use instrumented_sentry::mm::MmConfig;
use instrumented_sentry::platform::boundary::BoundaryWindow;
use instrumented_sentry::platform::kvm::vmm::exits::SyscallExit;
use instrumented_sentry::platform::kvm::vmm::vcpu_thread::VcpuPlacement;
use instrumented_sentry::runners::kvm::guest_run::{make_guest_mm_placed, run_guest};
use instrumented_sentry::runners::kvm::guest_workloads::{
    mmap_loop_data_len, mmap_loop_program, MmapLoop, MmapLoopTimings, MAP_PRIVATE, WORKLOAD_FD,
};
use instrumented_sentry::runners::kvm::runner::kvm_available;
use instrumented_sentry::runners::kvm::sentry_calls::GuestFds;
use instrumented_sentry::segment::GapSearch;

fn quantiles(mut v: Vec<u64>) -> (f64, f64) {
    v.sort_unstable();
    let p90 = v.get(v.len() * 9 / 10).copied().unwrap_or(0);
    (
        median_high(&v).unwrap_or(0) as f64 / 1000.0,
        p90 as f64 / 1000.0,
    )
}

fn main() {
    if let Err(why) = kvm_available() {
        println!("SKIP: {why}");
        return;
    }
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let tsc_ghz = instrumented_sentry::probes::Calibration::get().tsc_hz as f64 / 1e9;
    if std::env::args().nth(2).as_deref() == Some("cost") {
        let rounds: usize = std::env::args()
            .nth(3)
            .and_then(|a| a.parse().ok())
            .unwrap_or(5);
        window_cost(calls, rounds);
        return;
    }
    for placement in [
        VcpuPlacement::OwnThread,
        VcpuPlacement::SentryThread,
        VcpuPlacement::PinnedApart,
    ] {
        let (windows, t) = run_mmap_guest(calls, placement, true);
        let (mut in_run, mut to_sentry, mut serving, mut to_vcpu) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for pair in windows.windows(2) {
            let (w, next) = (&pair[0], &pair[1]);
            let (Some(r), Some(nr)) = (w.run, next.run) else {
                continue;
            };
            in_run.push(r.left_ns - r.entered_ns);
            to_sentry.push(w.start_ns.saturating_sub(r.left_ns));
            serving.push(w.end_ns - w.start_ns);
            to_vcpu.push(nr.entered_ns.saturating_sub(w.end_ns));
        }
        let call = quantiles(t.calls.clone());
        println!(
            "KVM_RUN on the {} ({} exits; µs, median / p90):",
            placement.name(),
            in_run.len()
        );
        for (name, v) in [
            ("inside KVM_RUN (guest, exit and entry paths)", in_run),
            ("KVM_RUN returned -> sentry sees the exit", to_sentry),
            ("sentry serves (window open)", serving),
            ("sentry hands back -> KVM_RUN entered", to_vcpu),
        ] {
            let (m, p) = quantiles(v);
            println!("  {name:<46} {m:>8.1} / {p:>8.1}");
        }
        println!(
            "  {:<46} {:>8.1} / {:>8.1}",
            "one call as the guest timed it",
            call.0 / tsc_ghz,
            call.1 / tsc_ghz
        );
    }
}

/// Runs the guest mmap loop of `calls` calls with `KVM_RUN` where
/// `placement` says, recording windows or not; its windows and timings.
fn run_mmap_guest(
    calls: u64,
    placement: VcpuPlacement,
    windows: bool,
) -> (Vec<BoundaryWindow>, MmapLoopTimings) {
    let p = MmapLoop {
        iterations: calls,
        size: 4096,
        flags: MAP_PRIVATE,
        fd: WORKLOAD_FD,
        touch: false,
        exit: SyscallExit::PortIo,
        paired_raw_exit: false,
    };
    let prog = mmap_loop_program(&p).expect("assemble");
    let mut mm = make_guest_mm_placed(
        MmConfig::with_search(GapSearch::MaxGap),
        prog,
        mmap_loop_data_len(calls, false),
        64 << 30,
        placement,
    )
    .expect("guest");
    let file = mm.create_file(4096).expect("file");
    let mut fds = GuestFds::default();
    fds.install(WORKLOAD_FD, file);
    mm.address_space_mut()
        .machine_mut()
        .record_boundary_stacks(windows);
    run_guest(&mut mm, &fds, true).expect("guest run");
    let machine = mm.address_space_mut().machine_mut();
    let taken = machine.take_boundary_windows();
    let t = MmapLoopTimings::read(machine, calls, false).expect("timings");
    (taken, t)
}

/// The median guest-timed call with windows off and on, `rounds` guests
/// each, alternating, `KVM_RUN` on the sentry's thread.
fn window_cost(calls: u64, rounds: usize) {
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (record, out) in [(false, &mut off), (true, &mut on)] {
            let (_, t) = run_mmap_guest(calls, VcpuPlacement::SentryThread, record);
            let mut c = t.calls;
            c.sort_unstable();
            out.push(median_high(&c).unwrap_or(0));
        }
    }
    let m = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        median_high(&v).unwrap_or(0)
    };
    let (a, b) = (m(&off), m(&on));
    println!(
        "KVM_RUN on the sentry thread, {rounds} guests of {calls} calls each way: median call windows off {a} (each {off:?}), on {b} (each {on:?}) TSC cycles: {:+} ({:+.2}%)",
        b as i64 - a as i64,
        (b as f64 / a.max(1) as f64 - 1.0) * 100.0
    );
}
