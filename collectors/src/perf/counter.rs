//! Counting mode, the `perf stat` of a run: cycles, instructions, and
//! cycles split into host-only (`exclude_guest`) and guest-only
//! (`exclude_host`), read at the start and end of each measured point.

use std::os::fd::{AsFd, OwnedFd};

use super::error::{open_error_hint, PerfError};
use super::sys::{self, CounterValue, EventKind, EventSpec};
use bundle::PointCounters;

/// Which task a counter set follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountTarget {
    /// The calling thread and the threads it creates afterwards.
    ThisThread,
}

/// The four counters of counting mode; any of them may be missing when the
/// machine refuses it (e.g. no PMU).
#[derive(Debug)]
pub struct CounterSet {
    cycles: Option<OwnedFd>,
    instructions: Option<OwnedFd>,
    cycles_host: Option<OwnedFd>,
    cycles_guest: Option<OwnedFd>,
    /// Why counters are missing, one line each.
    pub notes: Vec<String>,
}

/// Scaled values of the four counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub cycles: Option<u64>,
    pub instructions: Option<u64>,
    pub cycles_host: Option<u64>,
    pub cycles_guest: Option<u64>,
}

impl CounterSnapshot {
    /// Counts between `earlier` and `self`, as a bundle's point counters.
    pub fn since(&self, earlier: &CounterSnapshot) -> PointCounters {
        let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        PointCounters {
            cycles: d(self.cycles, earlier.cycles),
            instructions: d(self.instructions, earlier.instructions),
            cycles_host_only: d(self.cycles_host, earlier.cycles_host),
            cycles_guest_only: d(self.cycles_guest, earlier.cycles_guest),
        }
    }
}

fn counting(kind: EventKind, exclude_host: bool, exclude_guest: bool) -> EventSpec {
    EventSpec {
        exclude_host,
        exclude_guest,
        inherit: true,
        ..EventSpec::new(kind)
    }
}

/// Open a counting event on the calling thread (inherited by its later
/// threads), retrying without kernel counts when permissions demand it.
pub fn open_counting(spec: EventSpec) -> std::io::Result<OwnedFd> {
    match sys::open(&spec, 0, -1) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => sys::open(
            &EventSpec {
                exclude_kernel: true,
                ..spec
            },
            0,
            -1,
        ),
        other => other,
    }
}

impl CounterSet {
    /// Open the four counters, counting from now on. Fails only when none
    /// of them can be opened.
    pub fn open(_target: CountTarget) -> Result<Self, PerfError> {
        let mut notes = Vec::new();
        let mut first_err = None;
        let mut try_open = |name: &str, spec: EventSpec| match open_counting(spec) {
            Ok(fd) => Some(fd),
            Err(e) => {
                let hint = open_error_hint(&e);
                notes.push(format!("counter {name} unavailable: {e} ({hint})"));
                if first_err.is_none() {
                    first_err = Some((name.to_string(), e, hint));
                }
                None
            }
        };
        let cycles = try_open("cycles:HG", counting(EventKind::HwCycles, false, false));
        let instructions = try_open(
            "instructions",
            counting(EventKind::HwInstructions, false, false),
        );
        let cycles_host = try_open("cycles:H", counting(EventKind::HwCycles, false, true));
        let cycles_guest = try_open("cycles:G", counting(EventKind::HwCycles, true, false));
        let set = CounterSet {
            cycles,
            instructions,
            cycles_host,
            cycles_guest,
            notes,
        };
        if set.cycles.is_none()
            && set.instructions.is_none()
            && set.cycles_host.is_none()
            && set.cycles_guest.is_none()
        {
            if let Some((event, source, hint)) = first_err {
                return Err(PerfError::Open {
                    event,
                    source,
                    hint,
                });
            }
        }
        Ok(set)
    }

    /// Read all counters now.
    pub fn snapshot(&self) -> Result<CounterSnapshot, PerfError> {
        let read = |fd: &Option<OwnedFd>| -> Result<Option<u64>, PerfError> {
            match fd {
                Some(fd) => Ok(Some(
                    sys::read_counter(fd.as_fd())
                        .map_err(PerfError::Read)?
                        .scaled(),
                )),
                None => Ok(None),
            }
        };
        Ok(CounterSnapshot {
            cycles: read(&self.cycles)?,
            instructions: read(&self.instructions)?,
            cycles_host: read(&self.cycles_host)?,
            cycles_guest: read(&self.cycles_guest)?,
        })
    }
}

/// Read one counting fd (scaled for multiplexing).
pub fn read_scaled(fd: &OwnedFd) -> Result<u64, PerfError> {
    sys::read_counter(fd.as_fd())
        .map(|v: CounterValue| v.scaled())
        .map_err(PerfError::Read)
}
