//! Hardware `cycles:HG` samples of the vCPU thread beside the VMM guest
//! sampler (issue 13), on a real guest: where the capability probe finds
//! hardware cycles that split host and guest, the call-chain guest's
//! guest-mode cycles samples are kept with their addresses, named by the
//! guest symbol map, and mostly land in `b` (the spin). Where there is no
//! such PMU (this machine: "PMU not available due to virtualization") the
//! probe says why in one line and the PMU test prints a `SKIP:` line.

use collectors::guest_stacks::fold_pmu_guest_ips;
use collectors::perf::guest_pmu::{host_guest_cycles_split, CyclesHgOnThread};
use collectors::symbolize::GuestSymbolMap;
use instrumented_sentry::platform::kvm::vmm::exits::SYS_EXIT;
use instrumented_sentry::platform::kvm::vmm::machine::{GuestEvent, Machine};
use instrumented_sentry::probes::Calibration;
use instrumented_sentry::runners::kvm::guest_workloads::{
    call_chain_program, CallChain, ChainExit,
};
use instrumented_sentry::runners::kvm::runner::kvm_available;

fn say(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}

#[test]
fn the_probe_says_in_one_line_why_there_are_no_guest_cycles() {
    match host_guest_cycles_split() {
        Ok(()) => say(format_args!("hardware cycles split host and guest here")),
        Err(why) => {
            say(format_args!("no cycles:G here: {why}"));
            assert!(!why.contains('\n'), "{why:?}");
            assert!(
                why.starts_with("no hardware PMU")
                    || why.starts_with("the PMU does not split")
                    || why.starts_with("the host/guest split probe"),
                "{why}"
            );
        }
    }
}

#[test]
fn guest_cycles_samples_of_the_vcpu_thread_name_the_spinning_function() {
    if let Err(why) = kvm_available() {
        say(format_args!("SKIP: {why}"));
        return;
    }
    if let Err(why) = host_guest_cycles_split() {
        say(format_args!("SKIP: cycles:G guest samples: {why}"));
        return;
    }
    let tsc_hz = Calibration::get().tsc_hz;
    let p = CallChain {
        rounds: 100,
        spin_cycles: tsc_hz / 500,
        exit: ChainExit::AfterA,
    };
    let program = call_chain_program(&p).expect("assemble the call-chain guest");
    let map = GuestSymbolMap::new(program.symbol_map());
    let mut m = Machine::new(program, 4096).expect("guest machine");
    m.start_guest_sampler(1000).expect("guest sampler timer");
    m.attach_vcpu_pmu(&CyclesHgOnThread::new(1000))
        .expect("cycles on the vCPU thread");
    loop {
        match m.next_event().expect("guest runs") {
            GuestEvent::RawExit => {}
            GuestEvent::Syscall { nr, .. } if nr == SYS_EXIT => break,
            other => panic!("unexpected guest event {other:?}"),
        }
    }
    let g = m.stop_guest_sampler().expect("sampler was armed");
    let pmu = g.pmu.expect("the PMU session's samples");
    let folded = fold_pmu_guest_ips(&pmu.guest_ips, &map, 1);
    say(format_args!(
        "{}: {} samples, {} in guest mode, {} lost; share {:?} vs VMM {:.3}\n{}",
        pmu.event,
        pmu.samples,
        pmu.guest_samples,
        pmu.lost,
        pmu.guest_share(),
        g.summary.guest_share(),
        folded.to_text()
    ));
    assert!(pmu.guest_samples >= 50, "{pmu:?}");
    let in_b: u64 = folded
        .iter()
        .filter(|(s, _)| *s == "[guest];[cycles:G];b_[g]")
        .map(|(_, n)| n)
        .sum();
    assert!(
        in_b * 10 >= pmu.guest_samples * 9,
        "{in_b} of {} guest samples in b",
        pmu.guest_samples
    );
}
