//! perf_event_open collectors: sampling (ring buffers drained by a
//! background thread) and counting (`perf stat` of a run).
//!
//! `sys` is the only module with `unsafe`; `records` decodes what the
//! kernel writes; `ring` drains one buffer; `sampler` owns the per-CPU
//! events and the drain thread; `counter` is the counting mode.

pub mod counter;
pub mod records;
pub mod ring;
pub mod sampler;
pub mod sys;

use std::io;

use thiserror::Error;

pub use counter::{CounterSet, CounterSnapshot};
pub use records::{CpuMode, Sample};
pub use sampler::{
    SampleTarget, Sampler, SamplerConfig, SamplerOutput, SamplingEvent, SideRecord,
    DEFAULT_FREQUENCY_HZ,
};

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

/// Online CPUs, from `/sys/devices/system/cpu/online` ("0-3,5").
pub fn online_cpus() -> Vec<i32> {
    let parsed = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()));
    match parsed {
        Some(v) if !v.is_empty() => v,
        _ => {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            (0..n as i32).collect()
        }
    }
}

fn parse_cpu_list(s: &str) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (i32, i32) = (a.parse().ok()?, b.parse().ok()?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-3,5"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("x"), None);
        assert!(!online_cpus().is_empty());
    }
}
