//! The doctor facts: what this machine allows (perf, KVM, TSC, host
//! limits), each as a typed field of [`Capabilities`] and a
//! [`CapabilityCheck`] line with a verdict and, where there is one, a fix.
//! `sentryprof doctor` prints them; every bundle records them.

pub mod kvm_probe;
pub mod text;

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use crate::perf::counter::open_counting;
use crate::perf::sys::{self, EventKind, EventSpec, SampleSpec};
use crate::perf::{open_error_hint, perf_event_paranoid};
use crate::symbolize::kallsyms::kallsyms_readable;
use bundle::{Capabilities, CapabilityCheck};
use instrumented_sentry::host;
use instrumented_sentry::platform::trap::Mechanism;
use instrumented_sentry::probes::measure_tsc_hz;
use instrumented_sentry::runners::trap::trap_available;

/// Iterations of the guest loop used to measure the host/guest split.
const SPLIT_LOOP_ITERATIONS: u32 = 100_000;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// What a `perf_event_paranoid` level allows an unprivileged user.
pub fn paranoid_meaning(level: i32) -> &'static str {
    match level {
        i32::MIN..=-1 => "everything, including raw tracepoints and CPU-wide events",
        0 => "user and kernel profiling, CPU-wide events (no raw tracepoints)",
        1 => "user and kernel profiling of own processes",
        2 => "user-space profiling of own processes only",
        _ => "no perf_event_open at all for unprivileged users",
    }
}

/// What the checks share: the facts found so far, and the counters earlier
/// checks opened, held open until every check has run (so later checks run
/// with them open, as they always have).
struct Probe {
    caps: Capabilities,
    held: Vec<OwnedFd>,
}

/// One check's line, before the table gives it its name.
struct Verdict {
    ok: bool,
    value: String,
    verdict: String,
    fix: Option<&'static str>,
}

fn verdict(
    ok: bool,
    value: impl Into<String>,
    verdict: impl Into<String>,
    fix: Option<&'static str>,
) -> Verdict {
    Verdict {
        ok,
        value: value.into(),
        verdict: verdict.into(),
        fix,
    }
}

/// A check: records its facts in the probe's [`Capabilities`] and says
/// what they mean.
type Check = fn(&mut Probe) -> Verdict;

/// Every check, in the order `doctor` prints them and bundles record them.
const CHECKS: &[(&str, Check)] = &[
    ("perf_event_paranoid", check_perf_event_paranoid),
    ("hardware_cycles", check_hardware_cycles),
    ("sampling_event", check_sampling_event),
    ("kvm", check_kvm),
    ("host_guest_split", check_host_guest_split),
    ("hypervisor", check_hypervisor),
    ("tsc", check_tsc),
    ("max_map_count", check_max_map_count),
    ("kallsyms", check_kallsyms),
    ("ptrace", check_ptrace),
    ("seccomp_trap", check_seccomp_trap),
];

/// Run every check. Takes about 100 ms (TSC calibration, a short counter
/// read, a tiny KVM guest).
pub fn check_capabilities() -> Capabilities {
    let mut probe = Probe {
        caps: Capabilities::default(),
        held: Vec::new(),
    };
    for (name, check) in CHECKS {
        let v = check(&mut probe);
        probe.caps.checks.push(CapabilityCheck {
            name: (*name).to_string(),
            ok: v.ok,
            value: v.value,
            verdict: v.verdict,
            fix: v.fix.map(str::to_string),
        });
    }
    drop(probe.held);
    probe.caps
}

/// A counting event of `kind` on this process, kernel included.
fn counting(kind: EventKind) -> std::io::Result<OwnedFd> {
    open_counting(EventSpec::new(kind))
}

fn check_perf_event_paranoid(probe: &mut Probe) -> Verdict {
    let root = is_root();
    let paranoid = perf_event_paranoid();
    probe.caps.perf_event_paranoid = paranoid;
    let cpu_clock = counting(EventKind::SwCpuClock);
    let v = match (paranoid, &cpu_clock) {
        (Some(p), Ok(_)) => {
            let root_note = if root {
                "; running as root, so not limited"
            } else {
                ""
            };
            let text = format!("{p}: allows {}{root_note}", paranoid_meaning(p));
            verdict(true, p.to_string(), text, None)
        }
        (p, Err(e)) => verdict(
            false,
            p.map(|p| p.to_string())
                .unwrap_or_else(|| "unreadable".into()),
            format!("perf_event_open refused: {e}"),
            Some("run as root, or `sudo sysctl kernel.perf_event_paranoid=1`"),
        ),
        (None, Ok(_)) => verdict(
            true,
            "unreadable",
            "/proc/sys/kernel/perf_event_paranoid unreadable, but perf_event_open works",
            None,
        ),
    };
    probe.held.extend(cpu_clock.ok());
    v
}

/// Hardware cycles: open, run something, read.
fn check_hardware_cycles(probe: &mut Probe) -> Verdict {
    let fd =
        match counting(EventKind::HwCycles) {
            Ok(fd) => fd,
            Err(e) => return verdict(
                false,
                e.to_string(),
                format!(
                    "hardware cycles refused: {}; sampling falls back to cpu-clock",
                    open_error_hint(&e)
                ),
                Some("run on bare metal or a VM with a virtual PMU (e.g. QEMU `-cpu host,pmu=on`)"),
            ),
        };
    let mut x = 0u64;
    for i in 0..200_000u64 {
        x = std::hint::black_box(x ^ i.wrapping_mul(0x9e37_79b9));
    }
    let v = sys::read_counter(fd.as_fd())
        .map(|v| v.scaled())
        .unwrap_or(0);
    probe.held.push(fd);
    probe.caps.hardware_cycles = v > 0;
    if v > 0 {
        verdict(
            true,
            v.to_string(),
            format!("hardware cycles count ({v} cycles for a 200k-step loop)"),
            None,
        )
    } else {
        verdict(
            false,
            "0",
            "cycles opened but counted nothing (PMU not scheduled)",
            Some("stop other PMU users (perf, NMI watchdog: `sysctl kernel.nmi_watchdog=0`)"),
        )
    }
}

/// Whether a sampling event of `kind` (the one `run --collect perf` and
/// `record` would use) opens, kernel excluded if need be.
fn sampling_opens(kind: EventKind) -> bool {
    let spec = EventSpec {
        sample: Some(SampleSpec {
            frequency_hz: 999,
            monotonic_clock: false,
            user_stack_bytes: sys::USER_STACK_BYTES,
        }),
        disabled: true,
        ..EventSpec::new(kind)
    };
    sys::open(&spec, 0, -1)
        .or_else(|_| {
            sys::open(
                &EventSpec {
                    exclude_kernel: true,
                    ..spec
                },
                0,
                -1,
            )
        })
        .is_ok()
}

fn check_sampling_event(probe: &mut Probe) -> Verdict {
    probe.caps.sampling_event = if sampling_opens(EventKind::HwCycles) {
        Some("cycles:HG".to_string())
    } else if sampling_opens(EventKind::SwCpuClock) {
        Some("cpu-clock".to_string())
    } else {
        None
    };
    match probe.caps.sampling_event.as_deref() {
        Some("cycles:HG") => verdict(
            true,
            "cycles:HG",
            "sampling uses hardware cycles, host and guest (cycles:HG)",
            None,
        ),
        Some(ev) => verdict(
            true,
            ev,
            format!(
                "sampling falls back to {ev} (software timer): profiles are in time, not cycles"
            ),
            Some("a hardware PMU gives cycles:HG"),
        ),
        None => verdict(
            false,
            "none",
            "no sampling event can be opened; runs carry probes only",
            Some("run as root or lower kernel.perf_event_paranoid"),
        ),
    }
}

/// `/dev/kvm` opens.
fn check_kvm(probe: &mut Probe) -> Verdict {
    let kvm = kvm_ioctls::Kvm::new();
    probe.caps.kvm_available = kvm.is_ok();
    match &kvm {
        Ok(k) => verdict(true, format!("API {}", k.get_api_version()), "/dev/kvm opens", None),
        Err(e) => verdict(
            false,
            e.to_string(),
            format!("/dev/kvm unusable: {e}; the kvm platform is unavailable"),
            Some("load kvm_intel/kvm_amd, enable nested virtualization, or add the user to group kvm"),
        ),
    }
}

/// Whether the ptrace platform works: a one-iteration stub trial.
fn check_ptrace(_probe: &mut Probe) -> Verdict {
    trap_verdict(Mechanism::Ptrace, "PTRACE_SYSEMU stops a stub process")
}

/// Whether the systrap platform works: a one-iteration stub trial under
/// a `SECCOMP_RET_TRAP` filter.
fn check_seccomp_trap(_probe: &mut Probe) -> Verdict {
    trap_verdict(
        Mechanism::Systrap,
        "a SECCOMP_RET_TRAP filter traps a stub's calls",
    )
}

fn trap_verdict(mechanism: Mechanism, works: &str) -> Verdict {
    let platform = mechanism.name();
    match trap_available(mechanism) {
        Ok(()) => verdict(
            true,
            "available",
            format!("{works}; --platform {platform} runs"),
            None,
        ),
        Err(why) => verdict(
            false,
            "refused",
            format!("{why}; --platform {platform} is unavailable"),
            Some(match mechanism {
                Mechanism::Ptrace => "allow ptrace (CAP_SYS_PTRACE in a container, kernel.yama.ptrace_scope below 3)",
                _ => "allow seccomp filters (a container's own seccomp profile may refuse seccomp(2))",
            }),
        ),
    }
}

/// The hypervisor underneath.
fn check_hypervisor(probe: &mut Probe) -> Verdict {
    let sys_hv = std::fs::read_to_string("/sys/hypervisor/type")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    probe.caps.hypervisor = host::cpuid_hypervisor().or(sys_hv);
    match &probe.caps.hypervisor {
        Some(h) => verdict(
            true,
            h.clone(),
            format!("running under a hypervisor ({h}); KVM here is nested"),
            None,
        ),
        None => verdict(true, "none", "no hypervisor detected (bare metal)", None),
    }
}

/// The TSC: invariant, and its frequency.
fn check_tsc(probe: &mut Probe) -> Verdict {
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flag_line = flags.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flag_line.split_ascii_whitespace().any(|w| w == f);
    let (constant, nonstop) = (has("constant_tsc"), has("nonstop_tsc"));
    probe.caps.tsc_constant = constant && nonstop;
    probe.caps.tsc_hz = measure_tsc_hz(Duration::from_millis(50));
    let ghz = probe
        .caps
        .tsc_hz
        .map(|h| format!("{:.3} GHz", h as f64 / 1e9))
        .unwrap_or_else(|| "unknown".into());
    if probe.caps.tsc_constant {
        let text = format!(
            "TSC constant and non-stop, {ghz} (calibrated against CLOCK_MONOTONIC over 50 ms)"
        );
        verdict(true, ghz, text, None)
    } else {
        let text = format!("TSC not invariant (constant_tsc={constant}, nonstop_tsc={nonstop}), {ghz}: cycle figures may drift with frequency");
        verdict(
            false,
            ghz,
            text,
            Some("pin the CPU frequency (performance governor) or read nanoseconds instead"),
        )
    }
}

/// `vm.max_map_count`.
fn check_max_map_count(probe: &mut Probe) -> Verdict {
    probe.caps.max_map_count = host::max_map_count();
    match probe.caps.max_map_count {
        Some(n) if n >= 200_000 => verdict(
            true,
            n.to_string(),
            format!("vm.max_map_count = {n}: enough for 100k-mapping runs"),
            None,
        ),
        Some(n) => verdict(
            true,
            n.to_string(),
            format!("vm.max_map_count = {n}: native and inproc runs stop near {n} host mappings"),
            Some("`sudo sysctl vm.max_map_count=262144` for larger runs"),
        ),
        None => verdict(false, "unreadable", "vm.max_map_count unreadable", None),
    }
}

/// `/proc/kallsyms` shows addresses.
fn check_kallsyms(probe: &mut Probe) -> Verdict {
    probe.caps.kallsyms_readable = kallsyms_readable();
    if probe.caps.kallsyms_readable {
        verdict(
            true,
            "readable",
            "/proc/kallsyms shows addresses: kernel frames get names",
            None,
        )
    } else {
        verdict(
            false,
            "hidden",
            "/proc/kallsyms addresses hidden: kernel frames show as [kernel.kallsyms]",
            Some("run as root or `sudo sysctl kernel.kptr_restrict=0`"),
        )
    }
}

/// Whether `exclude_host` / `exclude_guest` split the counts of a guest loop.
fn check_host_guest_split(probe: &mut Probe) -> Verdict {
    let caps = &mut probe.caps;
    caps.host_guest_split_enforced = None;
    if !caps.kvm_available {
        return verdict(
            false,
            "not measured",
            "host/guest split not measured: /dev/kvm unavailable",
            None,
        );
    }
    if !caps.hardware_cycles {
        return guest_loop_without_counters();
    }
    match kvm_probe::run_guest_loop(SPLIT_LOOP_ITERATIONS, true) {
        Ok(r) => {
            caps.host_guest_split_enforced = kvm_probe::split_enforced(&r);
            split_verdict(&r, caps.host_guest_split_enforced)
        }
        Err(e) => verdict(
            false,
            "not measured",
            format!("host/guest split not measured: {e}"),
            None,
        ),
    }
}

/// No hardware cycles to count with: still run the guest, so the verdict
/// says the harness works.
fn guest_loop_without_counters() -> Verdict {
    let detail = match kvm_probe::run_guest_loop(SPLIT_LOOP_ITERATIONS / 10, false) {
        Ok(r) => format!(
            "guest loop ran ({} iterations in {:.1} ms)",
            r.iterations,
            r.wall.as_secs_f64() * 1e3
        ),
        Err(e) => format!("guest loop failed: {e}"),
    };
    verdict(
        false,
        "not measured",
        format!("host/guest split not measured: no hardware cycles to count with; {detail}"),
        None,
    )
}

/// What a measured guest loop says about the split (`enforced`: from
/// [`kvm_probe::split_enforced`]).
fn split_verdict(r: &kvm_probe::GuestLoopRun, enforced: Option<bool>) -> Verdict {
    let value = format!(
        "host-only {} / guest-only {} cycles",
        r.host_only_cycles.unwrap_or(0),
        r.guest_only_cycles.unwrap_or(0)
    );
    match enforced {
        Some(true) => {
            let text = format!("exclude_host/exclude_guest split the counts ({value} over a {}-iteration guest loop)", r.iterations);
            verdict(true, value, text, None)
        }
        Some(false) => {
            let text = format!("NOT enforced: {value} for a {}-iteration guest loop; cycles:H and cycles:G count the same, so guest samples cannot be told apart by the counter", r.iterations);
            verdict(
                false,
                value,
                text,
                Some("a hypervisor that virtualizes the PMU's host/guest bits (not nested PVM)"),
            )
        }
        None => verdict(false, value, "host/guest counters read nothing", None),
    }
}
