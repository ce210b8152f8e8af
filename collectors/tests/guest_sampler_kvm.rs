//! The kvm VMM guest sampler on a real guest (/dev/kvm; a SKIP line where
//! it is absent): a guest with a known call chain (`_start → main → a →
//! b`, b spinning a known number of TSC cycles in ring 3) is stopped by
//! the sampler's timer, its frame-pointer chain walked and named with the
//! guest symbol map ([`collectors::guest_stacks`]); and a guest whose saved
//! frame pointer is overwritten mid-run gives a broken stack with the
//! marker, runs on, and gives whole stacks again afterwards.

use collectors::guest_stacks::{guest_frames, BROKEN_GUEST_STACK, GUEST_ROOT};
use collectors::symbolize::GuestSymbolMap;
use instrumented_sentry::platform::kvm::guest::program::GuestProgram;
use instrumented_sentry::platform::kvm::vmm::exits::SYS_EXIT;
use instrumented_sentry::platform::kvm::vmm::guest_sampler::GuestSamples;
use instrumented_sentry::platform::kvm::vmm::layout::sys_gva;
use instrumented_sentry::platform::kvm::vmm::machine::{GuestEvent, Machine};
use instrumented_sentry::probes::Calibration;
use instrumented_sentry::runners::kvm::guest_workloads::{
    call_chain_program, CallChain, ChainExit, CHAIN_RAN_CYCLES, CHAIN_SPUN_CYCLES,
};
use instrumented_sentry::runners::kvm::runner::kvm_available;

const CHAIN: &str = "[guest];_start_[g];main_[g];a_[g];b_[g]";

/// One guest at a time: the tests measure time shares, and two guests
/// spinning side by side on this machine's two cores would preempt each
/// other's vCPU threads.
static ONE_GUEST: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_guest() -> std::sync::MutexGuard<'static, ()> {
    ONE_GUEST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn spin_host(cycles: u64) {
    let start = rdtsc();
    while rdtsc().wrapping_sub(start) < cycles {
        std::hint::spin_loop();
    }
}

fn folded_line(samples_map: &GuestSymbolMap, stack: &GuestSamples) -> Vec<(String, u64)> {
    stack
        .stacks
        .iter()
        .map(|(s, n)| (guest_frames(s, samples_map).join(";"), *n))
        .collect()
}

fn machine(p: &CallChain) -> (Machine, GuestSymbolMap) {
    let program: GuestProgram = call_chain_program(p).expect("assemble the call-chain guest");
    let map = GuestSymbolMap::new(program.symbol_map());
    (Machine::new(program, 4096).expect("guest machine"), map)
}

/// What a sampled run gave: the samples and their stacks named, folded.
type SampledRun = (GuestSamples, Vec<(String, u64)>);

/// The call-chain guest's sampled run, made once for the tests that read
/// it (`None` where there is no KVM).
fn sampled_chain_run() -> Option<&'static SampledRun> {
    static RUN: std::sync::OnceLock<Option<SampledRun>> = std::sync::OnceLock::new();
    RUN.get_or_init(run_sampled_chain).as_ref()
}

/// Runs the call-chain guest (b spinning 2.37 ms per round, the host
/// 1.61 ms at the raw exit after each round) with the sampler at 1 kHz
/// (ticks at random instants); prints and returns what it saw. 1,000 rounds (4 s
/// near idle) give about 4,000 ticks: the sampling error of a share near
/// 0.3 is then about 2% of it.
fn run_sampled_chain() -> Option<SampledRun> {
    if let Err(why) = kvm_available() {
        skip_line(format_args!("SKIP: {why}"));
        return None;
    }
    let _one = one_guest();
    let tsc_hz = Calibration::get().tsc_hz;
    let spin = tsc_hz / 100_000 * 237;
    let host_spin = tsc_hz / 100_000 * 161;
    let p = CallChain {
        rounds: 1000,
        spin_cycles: spin,
        exit: ChainExit::AfterA,
    };
    let (mut m, map) = machine(&p);
    m.start_guest_sampler(1000).expect("guest sampler timer");
    loop {
        match m.next_event().expect("guest runs") {
            GuestEvent::RawExit => spin_host(host_spin),
            GuestEvent::Syscall { nr, .. } if nr == SYS_EXIT => break,
            other => panic!("unexpected guest event {other:?}"),
        }
    }
    let g = m.stop_guest_sampler().expect("sampler was armed");
    let s = g.summary;
    let lines = folded_line(&map, &g);
    let spun = m.read_data(CHAIN_SPUN_CYCLES).expect("spun cycles");
    let ran = m.read_data(CHAIN_RAN_CYCLES).expect("ran cycles");
    eprintln!(
        "ticks {} (expired in KVM_RUN {}, in the sampler's stops {}, late {}), stacks {} \
         standing for {} samples, broken {}; guest share outside the stops by samples {:.3}, \
         by rdtsc {:.3} ({:+.1}%); of the whole armed time by rdtsc {:.3}, stops took {:.3}; \
         b running (guest rdtsc) / armed {:.3}, b's wall time / armed {:.3}; sample stops {}; \
         armed {:.1} ms, in KVM_RUN {:.1} ms ",
        s.ticks,
        s.in_run_ticks,
        s.stop_ticks,
        s.late_ticks,
        s.stops,
        s.samples,
        s.broken,
        s.guest_share(),
        s.rdtsc_share(),
        (s.guest_share() / s.rdtsc_share() - 1.0) * 100.0,
        s.rdtsc_share_of_armed(),
        s.stop_share(),
        ran as f64 / s.armed_cycles as f64,
        spun as f64 / s.armed_cycles as f64,
        m.exit_counts().sample_stops,
        s.armed_cycles as f64 / tsc_hz as f64 * 1e3,
        s.in_run_cycles as f64 / tsc_hz as f64 * 1e3,
    );
    // Every stack weighs at least the one in-run tick it was taken for.
    assert!(s.stops <= s.samples, "{s:?}");
    Some((g, lines))
}

#[test]
fn the_known_chain_is_in_nine_samples_of_ten() {
    let Some((g, lines)) = sampled_chain_run() else {
        return;
    };
    let s = g.summary;
    let in_chain: u64 = lines
        .iter()
        .filter(|(l, _)| l == CHAIN)
        .map(|(_, n)| n)
        .sum();
    for (l, n) in lines {
        eprintln!("  {n:5} {l}");
    }
    assert!(s.samples >= 800, "too few samples: {s:?}");
    assert!(
        in_chain as f64 >= 0.9 * s.samples as f64,
        "{in_chain} of {} samples in {CHAIN}",
        s.samples
    );
    assert_eq!(s.broken, 0, "no chain should break: {lines:?}");
}

/// The guest's share of the sampled time by samples (in-run ticks the
/// stacks stand for ÷ ticks) against the VMM's rdtsc around every
/// `KVM_RUN` (cycles inside ÷ cycles armed), both outside the sampler's
/// own stops: within 10% of it.
#[test]
fn the_guest_share_by_samples_agrees_with_rdtsc() {
    let Some((g, _)) = sampled_chain_run() else {
        return;
    };
    let (by_samples, by_rdtsc) = (g.summary.guest_share(), g.summary.rdtsc_share());
    assert!(
        (by_samples - by_rdtsc).abs() <= 0.1 * by_rdtsc,
        "guest share by samples {by_samples:.3} vs by rdtsc {by_rdtsc:.3}"
    );
}

#[test]
fn an_overwritten_frame_pointer_breaks_that_stack_only() {
    if let Err(why) = kvm_available() {
        skip_line(format_args!("SKIP: {why}"));
        return;
    }
    let _one = one_guest();
    let tsc_hz = Calibration::get().tsc_hz;
    // b spins 100 ms per round with a raw exit half-way, while its frame
    // is live: in round 2 the test overwrites b's saved frame pointer
    // there. The spin ends at a TSC deadline, so a vCPU thread kept from
    // its CPU after the exit (10 ms and more on a loaded machine) loses
    // that much of the broken half: 50 ms leave it most of it.
    let p = CallChain {
        rounds: 6,
        spin_cycles: tsc_hz / 10,
        exit: ChainExit::MidB,
    };
    let (mut m, map) = machine(&p);
    m.start_guest_sampler(1000).expect("guest sampler timer");
    let mut round = 0u64;
    let mut corrupted_now = None;
    let mut whole_after = None;
    loop {
        match m.next_event().expect("the guest runs on") {
            GuestEvent::RawExit => {
                round += 1;
                if round == 2 {
                    let rbp = m.vm().regs().expect("registers").rbp;
                    let saved = m.read_guest_u64(rbp).expect("b's saved frame pointer");
                    assert_ne!(saved, 0);
                    // Misaligned garbage where b saved a's frame pointer.
                    m.vm()
                        .sys()
                        .write_u64(rbp - sys_gva(0), 0x4000_0003)
                        .expect("write guest stack");
                    let now = m.guest_stack_now().expect("stack");
                    corrupted_now = Some(guest_frames(&now, &map).join(";"));
                }
                if round == 4 {
                    let now = m.guest_stack_now().expect("stack");
                    whole_after = Some(guest_frames(&now, &map).join(";"));
                }
            }
            GuestEvent::Syscall { nr, .. } if nr == SYS_EXIT => break,
            other => panic!("unexpected guest event {other:?}"),
        }
    }
    assert_eq!(round, 6, "every round ran");
    let g = m.stop_guest_sampler().expect("sampler was armed");
    let lines = folded_line(&map, &g);
    for (l, n) in &lines {
        eprintln!("  {n:5} {l}");
    }
    let broken_prefix = format!("{GUEST_ROOT};{BROKEN_GUEST_STACK};");
    assert_eq!(
        corrupted_now.as_deref(),
        Some(format!("{broken_prefix}a_[g];b_[g]").as_str())
    );
    assert_eq!(whole_after.as_deref(), Some(CHAIN));
    let broken: u64 = lines
        .iter()
        .filter(|(l, _)| l.starts_with(&broken_prefix))
        .map(|(_, n)| n)
        .sum();
    let whole: u64 = lines
        .iter()
        .filter(|(l, _)| l == CHAIN)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(broken, g.summary.broken);
    // The second half of round 2's spin (50 ms, ~50 samples at 1 kHz)
    // breaks; the other five and a half rounds stay whole.
    assert!(broken >= 1, "no broken sample: {lines:?}");
    assert!(broken <= 100, "{broken} broken samples: {lines:?}");
    assert!(whole >= 4 * broken, "{whole} whole vs {broken} broken");
}
