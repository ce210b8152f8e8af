//! The kvm VMM guest sampler's overhead at a rate (default 1 kHz), side by
//! side: trials alternate between the sampler off and on, and each figure
//! is a median over its trials.
//!
//! 1. A kvm Exp1 trial (private 4 KiB `mmap`s, max-gap search): the
//!    trial's timed region (the guest's rdtsc around every call, summed:
//!    the `elapsed_ns` a run reports) and the wall time of the whole trial
//!    (VM made, guest run, VM gone).
//! 2. A guest that only computes (the call-chain guest's `b` spinning on
//!    rdtsc for 200 ms): the share of its wall time it did not run (steps
//!    between its rdtsc readings longer than 4,000 cycles: stops of any
//!    kind), off and on; the difference is the time the sampler's stops
//!    took from it.
//!
//! ```text
//! cargo run --release -p instrumented-sentry --example guest_sampler_overhead [pairs] [hz] [iterations]
//! ```

use std::time::Instant;

use instrumented_sentry::platform::kvm::guest::program::GuestProgram;
use instrumented_sentry::platform::kvm::vmm::exits::SYS_EXIT;
use instrumented_sentry::platform::kvm::vmm::machine::{GuestEvent, Machine};
use instrumented_sentry::probes::Calibration;
use instrumented_sentry::runners::kvm::guest_workloads::{
    call_chain_program, CallChain, ChainExit, CHAIN_RAN_CYCLES, CHAIN_SPUN_CYCLES,
};
use instrumented_sentry::runners::kvm::runner::{kvm_available, KvmOptions, KvmRunner};
use instrumented_sentry::runners::PlatformRunner;
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::{Mapping, PointSpec};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn runner(hz: Option<u32>) -> KvmRunner {
    KvmRunner::new(
        GapSearch::MaxGap,
        KvmOptions {
            probes: false,
            subtract_probe_cost: false,
            probe_every: 1,
            guest_hz: hz,
        },
    )
}

/// One compute-only guest run: (share of b's wall time not running,
/// samples taken).
fn compute_guest(spin_cycles: u64, hz: Option<u32>) -> (f64, u64) {
    let p = CallChain {
        rounds: 1,
        spin_cycles,
        exit: ChainExit::None,
    };
    let program: GuestProgram = call_chain_program(&p).expect("assemble");
    let mut m = Machine::new(program, 4096).expect("guest machine");
    if let Some(hz) = hz {
        m.start_guest_sampler(hz).expect("sampler timer");
    }
    // The guest makes no exit but its final `exit` call.
    match m.next_event().expect("guest runs") {
        GuestEvent::Syscall { nr, .. } if nr == SYS_EXIT => {}
        other => panic!("unexpected guest event {other:?}"),
    }
    let samples = m.stop_guest_sampler().map_or(0, |g| g.summary.samples);
    let spun = m.read_data(CHAIN_SPUN_CYCLES).expect("spun") as f64;
    let ran = m.read_data(CHAIN_RAN_CYCLES).expect("ran") as f64;
    (1.0 - ran / spun, samples)
}

fn main() {
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let pairs = arg(1, 10) as usize;
    let hz = u32::try_from(arg(2, 1000)).unwrap_or(1000);
    let iterations = arg(3, 5000);
    if let Err(why) = kvm_available() {
        println!("SKIP: {why}");
        return;
    }
    let spec = PointSpec::exp1(Mapping::Private, false, iterations, 4096);
    let mut off = runner(None);
    let mut on = runner(Some(hz));
    off.check_point(&spec).expect("point accepted");
    on.check_point(&spec).expect("point accepted");
    let (mut timed_off, mut timed_on, mut wall_off, mut wall_on) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut samples_on = Vec::new();
    for k in 0..pairs * 2 {
        let sampled = k % 2 == 1;
        let r = if sampled { &mut on } else { &mut off };
        let t = Instant::now();
        let out = r.run_trial(&spec).expect("trial");
        let wall = t.elapsed().as_secs_f64() * 1e3;
        let timed = out.elapsed_ns as f64 / 1e6;
        if sampled {
            timed_on.push(timed);
            wall_on.push(wall);
            samples_on.push(out.guest.map_or(0.0, |g| g.summary.samples as f64));
        } else {
            timed_off.push(timed);
            wall_off.push(wall);
        }
    }
    let (t0, t1) = (median(&mut timed_off), median(&mut timed_on));
    let (w0, w1) = (median(&mut wall_off), median(&mut wall_on));
    println!(
        "kvm exp1 private 4096B x{iterations} maxgap, {pairs} trials each, alternating, guest sampler at {hz} Hz"
    );
    println!(
        "  timed region (guest rdtsc per call, summed): off {t0:.2} ms, on {t1:.2} ms, ratio {:.4} ({:+.2}%)",
        t1 / t0,
        (t1 / t0 - 1.0) * 100.0
    );
    println!(
        "  whole trial (wall):                          off {w0:.2} ms, on {w1:.2} ms, ratio {:.4} ({:+.2}%)",
        w1 / w0,
        (w1 / w0 - 1.0) * 100.0
    );
    println!(
        "  guest samples per trial (median): {:.0}",
        median(&mut samples_on)
    );

    let spin = Calibration::get().tsc_hz / 5;
    let (mut lost_off, mut lost_on, mut n_on) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pairs {
        lost_off.push(compute_guest(spin, None).0);
        let (l, n) = compute_guest(spin, Some(hz));
        lost_on.push(l);
        n_on.push(n as f64);
    }
    let (l0, l1) = (median(&mut lost_off), median(&mut lost_on));
    println!("compute-only guest, 200 ms of rdtsc spin, {pairs} runs each, alternating");
    println!(
        "  share of its wall time not running: off {:.3}%, on {:.3}%, sampler's part {:+.3}% ({:.0} samples per run)",
        l0 * 100.0,
        l1 * 100.0,
        (l1 - l0) * 100.0,
        median(&mut n_on)
    );
}
