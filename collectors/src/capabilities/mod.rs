//! The doctor facts: what this machine allows (perf, KVM, TSC, host
//! limits), each as a typed field of [`Capabilities`] and a
//! [`CapabilityCheck`] line with a verdict and, where there is one, a fix.
//! `sentryprof doctor` prints them; every bundle records them.

pub mod cpu;
pub mod kvm_probe;
pub mod text;

use std::os::fd::AsFd;
use std::time::Duration;

use crate::perf::counter::open_counting;
use crate::perf::sys::{self, EventKind, EventSpec, SampleSpec};
use crate::perf::{open_error_hint, perf_event_paranoid};
use crate::symbolize::kallsyms::kallsyms_readable;
use bundle::{Capabilities, CapabilityCheck};

/// Iterations of the guest loop used to measure the host/guest split.
const SPLIT_LOOP_ITERATIONS: u32 = 100_000;

fn check(
    name: &str,
    ok: bool,
    value: impl Into<String>,
    verdict: impl Into<String>,
    fix: Option<&str>,
) -> CapabilityCheck {
    CapabilityCheck {
        name: name.to_string(),
        ok,
        value: value.into(),
        verdict: verdict.into(),
        fix: fix.map(str::to_string),
    }
}

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

/// Run every check. Takes about 100 ms (TSC calibration, a short counter
/// read, a tiny KVM guest).
pub fn check_capabilities() -> Capabilities {
    let mut caps = Capabilities::default();
    let root = is_root();

    // perf_event_paranoid
    caps.perf_event_paranoid = perf_event_paranoid();
    let cpu_clock = open_counting(EventSpec {
        kind: EventKind::SwCpuClock,
        sample: None,
        exclude_kernel: false,
        exclude_host: false,
        exclude_guest: false,
        inherit: false,
        disabled: false,
        enable_on_exec: false,
        side_band: false,
    });
    caps.checks
        .push(match (caps.perf_event_paranoid, &cpu_clock) {
            (Some(p), Ok(_)) => check(
                "perf_event_paranoid",
                true,
                p.to_string(),
                format!(
                    "{p}: allows {}{}",
                    paranoid_meaning(p),
                    if root {
                        "; running as root, so not limited"
                    } else {
                        ""
                    }
                ),
                None,
            ),
            (p, Err(e)) => check(
                "perf_event_paranoid",
                false,
                p.map(|p| p.to_string())
                    .unwrap_or_else(|| "unreadable".into()),
                format!("perf_event_open refused: {e}"),
                Some("run as root, or `sudo sysctl kernel.perf_event_paranoid=1`"),
            ),
            (None, Ok(_)) => check(
                "perf_event_paranoid",
                true,
                "unreadable",
                "/proc/sys/kernel/perf_event_paranoid unreadable, but perf_event_open works",
                None,
            ),
        });

    // Hardware cycles: open, run something, read.
    let hw = open_counting(EventSpec {
        kind: EventKind::HwCycles,
        sample: None,
        exclude_kernel: false,
        exclude_host: false,
        exclude_guest: false,
        inherit: false,
        disabled: false,
        enable_on_exec: false,
        side_band: false,
    });
    match &hw {
        Ok(fd) => {
            let mut x = 0u64;
            for i in 0..200_000u64 {
                x = std::hint::black_box(x ^ i.wrapping_mul(0x9e37_79b9));
            }
            let v = sys::read_counter(fd.as_fd())
                .map(|v| v.scaled())
                .unwrap_or(0);
            caps.hardware_cycles = v > 0;
            caps.checks.push(if v > 0 {
                check(
                    "hardware_cycles",
                    true,
                    v.to_string(),
                    format!("hardware cycles count ({v} cycles for a 200k-step loop)"),
                    None,
                )
            } else {
                check(
                    "hardware_cycles",
                    false,
                    "0",
                    "cycles opened but counted nothing (PMU not scheduled)",
                    Some(
                        "stop other PMU users (perf, NMI watchdog: `sysctl kernel.nmi_watchdog=0`)",
                    ),
                )
            });
        }
        Err(e) => caps.checks.push(check(
            "hardware_cycles",
            false,
            e.to_string(),
            format!(
                "hardware cycles refused: {}; sampling falls back to cpu-clock",
                open_error_hint(e)
            ),
            Some("run on bare metal or a VM with a virtual PMU (e.g. QEMU `-cpu host,pmu=on`)"),
        )),
    }

    // Sampling event that `run --collect perf` / `record` would use.
    let sample_spec = |kind| EventSpec {
        kind,
        sample: Some(SampleSpec { frequency_hz: 999 }),
        exclude_kernel: false,
        exclude_host: false,
        exclude_guest: false,
        inherit: false,
        disabled: true,
        enable_on_exec: false,
        side_band: false,
    };
    let try_sample = |kind| {
        let spec = sample_spec(kind);
        sys::open(&spec, 0, -1).or_else(|_| {
            sys::open(
                &EventSpec {
                    exclude_kernel: true,
                    ..spec
                },
                0,
                -1,
            )
        })
    };
    caps.sampling_event = if try_sample(EventKind::HwCycles).is_ok() {
        Some("cycles:HG".to_string())
    } else if try_sample(EventKind::SwCpuClock).is_ok() {
        Some("cpu-clock".to_string())
    } else {
        None
    };
    caps.checks.push(match caps.sampling_event.as_deref() {
        Some("cycles:HG") => check(
            "sampling_event",
            true,
            "cycles:HG",
            "sampling uses hardware cycles, host and guest (cycles:HG)",
            None,
        ),
        Some(ev) => check(
            "sampling_event",
            true,
            ev,
            format!(
                "sampling falls back to {ev} (software timer): profiles are in time, not cycles"
            ),
            Some("a hardware PMU gives cycles:HG"),
        ),
        None => check(
            "sampling_event",
            false,
            "none",
            "no sampling event can be opened; runs carry probes only",
            Some("run as root or lower kernel.perf_event_paranoid"),
        ),
    });

    // /dev/kvm and the host/guest split.
    let kvm = kvm_ioctls::Kvm::new();
    caps.kvm_available = kvm.is_ok();
    caps.checks.push(match &kvm {
        Ok(k) => check("kvm", true, format!("API {}", k.get_api_version()), "/dev/kvm opens", None),
        Err(e) => check("kvm", false, e.to_string(), format!("/dev/kvm unusable: {e}; the kvm platform is unavailable"), Some("load kvm_intel/kvm_amd, enable nested virtualization, or add the user to group kvm")),
    });
    drop(kvm);
    let split = split_check(&mut caps);
    caps.checks.push(split);

    // Hypervisor underneath.
    let sys_hv = std::fs::read_to_string("/sys/hypervisor/type")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    caps.hypervisor = cpu::cpuid_hypervisor().or(sys_hv);
    caps.checks.push(match &caps.hypervisor {
        Some(h) => check(
            "hypervisor",
            true,
            h.clone(),
            format!("running under a hypervisor ({h}); KVM here is nested"),
            None,
        ),
        None => check(
            "hypervisor",
            true,
            "none",
            "no hypervisor detected (bare metal)",
            None,
        ),
    });

    // TSC.
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flag_line = flags.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let has = |f: &str| flag_line.split_ascii_whitespace().any(|w| w == f);
    let (constant, nonstop) = (has("constant_tsc"), has("nonstop_tsc"));
    caps.tsc_constant = constant && nonstop;
    caps.tsc_hz = cpu::calibrate_tsc_hz(Duration::from_millis(50));
    let ghz = caps
        .tsc_hz
        .map(|h| format!("{:.3} GHz", h as f64 / 1e9))
        .unwrap_or_else(|| "unknown".into());
    caps.checks.push(if caps.tsc_constant {
        check("tsc", true, ghz.clone(), format!("TSC constant and non-stop, {ghz} (calibrated against CLOCK_MONOTONIC over 50 ms)"), None)
    } else {
        check("tsc", false, ghz.clone(), format!("TSC not invariant (constant_tsc={constant}, nonstop_tsc={nonstop}), {ghz}: cycle figures may drift with frequency"), Some("pin the CPU frequency (performance governor) or read nanoseconds instead"))
    });

    // vm.max_map_count.
    caps.max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    caps.checks.push(match caps.max_map_count {
        Some(n) if n >= 200_000 => check(
            "max_map_count",
            true,
            n.to_string(),
            format!("vm.max_map_count = {n}: enough for 100k-mapping runs"),
            None,
        ),
        Some(n) => check(
            "max_map_count",
            true,
            n.to_string(),
            format!("vm.max_map_count = {n}: native and inproc runs stop near {n} host mappings"),
            Some("`sudo sysctl vm.max_map_count=262144` for larger runs"),
        ),
        None => check(
            "max_map_count",
            false,
            "unreadable",
            "vm.max_map_count unreadable",
            None,
        ),
    });

    // kallsyms.
    caps.kallsyms_readable = kallsyms_readable();
    caps.checks.push(if caps.kallsyms_readable {
        check(
            "kallsyms",
            true,
            "readable",
            "/proc/kallsyms shows addresses: kernel frames get names",
            None,
        )
    } else {
        check(
            "kallsyms",
            false,
            "hidden",
            "/proc/kallsyms addresses hidden: kernel frames show as [kernel.kallsyms]",
            Some("run as root or `sudo sysctl kernel.kptr_restrict=0`"),
        )
    });
    caps
}

fn split_check(caps: &mut Capabilities) -> CapabilityCheck {
    if !caps.kvm_available {
        caps.host_guest_split_enforced = None;
        return check(
            "host_guest_split",
            false,
            "not measured",
            "host/guest split not measured: /dev/kvm unavailable",
            None,
        );
    }
    if !caps.hardware_cycles {
        caps.host_guest_split_enforced = None;
        // Still run the guest, so the verdict says the harness works.
        let ran = kvm_probe::run_guest_loop(SPLIT_LOOP_ITERATIONS / 10, false);
        let detail = match ran {
            Ok(r) => format!(
                "guest loop ran ({} iterations in {:.1} ms)",
                r.iterations,
                r.wall.as_secs_f64() * 1e3
            ),
            Err(e) => format!("guest loop failed: {e}"),
        };
        return check(
            "host_guest_split",
            false,
            "not measured",
            format!("host/guest split not measured: no hardware cycles to count with; {detail}"),
            None,
        );
    }
    match kvm_probe::run_guest_loop(SPLIT_LOOP_ITERATIONS, true) {
        Ok(r) => {
            let verdict = kvm_probe::split_enforced(&r);
            caps.host_guest_split_enforced = verdict;
            let value = format!(
                "host-only {} / guest-only {} cycles",
                r.host_only_cycles.unwrap_or(0),
                r.guest_only_cycles.unwrap_or(0)
            );
            match verdict {
                Some(true) => check("host_guest_split", true, value.clone(), format!("exclude_host/exclude_guest split the counts ({value} over a {}-iteration guest loop)", r.iterations), None),
                Some(false) => check("host_guest_split", false, value.clone(), format!("NOT enforced: {value} for a {}-iteration guest loop; cycles:H and cycles:G count the same, so guest samples cannot be told apart by the counter", r.iterations), Some("a hypervisor that virtualizes the PMU's host/guest bits (not nested PVM)")),
                None => check("host_guest_split", false, value, "host/guest counters read nothing", None),
            }
        }
        Err(e) => check(
            "host_guest_split",
            false,
            "not measured",
            format!("host/guest split not measured: {e}"),
            None,
        ),
    }
}
