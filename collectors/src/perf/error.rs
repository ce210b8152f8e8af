//! Errors of the perf collectors, and the hint that says how to allow what
//! perf_event_open refused.

use std::io;

use thiserror::Error;

/// Errors of the perf collectors. Each says what was refused and, where
/// there is one, how to allow it.
#[derive(Debug, Error)]
pub enum PerfError {
    #[error("perf_event_open refused for {event}: {source} ({hint})")]
    Open {
        event: String,
        #[source]
        source: io::Error,
        hint: String,
    },
    #[error("cannot map the perf ring buffer: {0}")]
    Mmap(#[source] io::Error),
    #[error("perf ioctl {op} failed: {source}")]
    Ioctl {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("cannot read a perf counter: {0}")]
    Read(#[source] io::Error),
    #[error("cannot start the perf drain thread: {0}")]
    Thread(#[source] io::Error),
    #[error("invalid perf configuration: {0}")]
    Config(String),
}

/// `/proc/sys/kernel/perf_event_paranoid`, if readable.
pub fn perf_event_paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A one-line hint for an errno from perf_event_open.
pub fn open_error_hint(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            let p = perf_event_paranoid()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".to_string());
            format!(
                "kernel.perf_event_paranoid is {p}; run as root (or with CAP_PERFMON), or `sysctl kernel.perf_event_paranoid=1`"
            )
        }
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV) => {
            "no hardware PMU for this event here (a VM without a virtual PMU, or a container)"
                .to_string()
        }
        Some(libc::ENOSYS) => "this kernel has no perf events (CONFIG_PERF_EVENTS off)".to_string(),
        Some(libc::EMFILE) | Some(libc::ENFILE) => {
            "too many open files; raise `ulimit -n`".to_string()
        }
        _ => "see perf_event_open(2)".to_string(),
    }
}
