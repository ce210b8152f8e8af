//! `sentryprof doctor`: prints one line per check and exits 0; `--json`
//! gives the capabilities object of run.json.

use std::process::Command;

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

#[test]
fn doctor_prints_every_check_and_exits_0() {
    let o = sentryprof().arg("doctor").output().expect("run");
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    for name in [
        "perf_event_paranoid",
        "hardware_cycles",
        "sampling_event",
        "kvm",
        "host_guest_split",
        "hypervisor",
        "tsc",
        "max_map_count",
        "kallsyms",
        "ptrace",
        "seccomp_trap",
    ] {
        assert!(text.contains(name), "missing {name}:\n{text}");
    }
}

#[test]
fn doctor_json_matches_the_machine() {
    let o = sentryprof()
        .args(["doctor", "--json"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    let caps: bundle::Capabilities = serde_json::from_slice(&o.stdout).expect("capabilities JSON");
    assert_eq!(caps.checks.len(), 11);
    if caps.kvm_available {
        assert!(std::path::Path::new("/dev/kvm").exists());
    }
    let max_map: Option<u64> = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    assert_eq!(caps.max_map_count, max_map);
    let paranoid: Option<i32> = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    assert_eq!(caps.perf_event_paranoid, paranoid);
    if caps.hardware_cycles {
        assert_eq!(caps.sampling_event.as_deref(), Some("cycles:HG"));
    } else {
        // Without hardware cycles the split cannot be measured.
        assert_eq!(caps.host_guest_split_enforced, None);
    }
    if let Some(hz) = caps.tsc_hz {
        assert!(hz > 100_000_000, "TSC {hz} Hz");
    }
}
