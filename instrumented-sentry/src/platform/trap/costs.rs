//! Where the time of a trapped `mmap` goes, from a [`TrialReport`]: the
//! stub's stamps and the sentry's, on the same TSC (one machine, one clock
//! for both processes). Medians per part; the parts' medians need not add
//! up to the median total.

use super::channel::SPIN_CYCLES;
use super::mechanism::Mechanism;
use super::report::{CallTimes, ServedCall, TrialReport};
use std::fmt;

/// Median cycles of each part of a trapped call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The platform.
    pub platform: &'static str,
    /// Calls measured.
    pub samples: usize,
    /// `(part, median cycles)`, in the order the call goes through them.
    pub parts: Vec<(&'static str, u64)>,
    /// Median of the whole call (before `syscall` → after it returned).
    pub total: u64,
    /// systrap: calls where a hand-off outlasted the spin budget
    /// ([`super::channel::SPIN_CYCLES`]) and went through the futex: the
    /// other process was not running (a busy machine).
    pub slept: Option<usize>,
}

/// The median of `v` (0 if empty).
pub fn median(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

type Part<T> = (&'static str, fn(&T) -> u64);

fn split_of<T>(
    platform: &'static str,
    rows: &[T],
    parts: &[Part<T>],
    total: fn(&T) -> u64,
) -> Split {
    Split {
        platform,
        samples: rows.len(),
        parts: parts
            .iter()
            .map(|(name, f)| (*name, median(rows.iter().map(f).collect())))
            .collect(),
        total: median(rows.iter().map(total).collect()),
        slept: None,
    }
}

/// One mmap with the sentry's record of it.
struct Row {
    c: CallTimes,
    s: ServedCall,
}

fn d(a: u64, b: u64) -> u64 {
    b.wrapping_sub(a)
}

/// The split of the `mmap` calls of a trial under `mechanism`.
pub fn mmap_split(mechanism: Mechanism, report: &TrialReport) -> Split {
    let served = report.served.iter().filter(|s| s.nr == libc::SYS_mmap);
    let rows: Vec<Row> = report
        .calls
        .iter()
        .zip(served.chain(std::iter::repeat(&ServedCall::default())))
        .map(|(c, s)| Row { c: *c, s: *s })
        .collect();
    let total: fn(&Row) -> u64 = |r| d(r.c.enter, r.c.returned);
    match mechanism {
        Mechanism::Native => split_of("native", &rows, &[], total),
        Mechanism::Ptrace => split_of(
            "ptrace",
            &rows,
            &[
                ("trap: SYSEMU stop, tracer woken from waitpid", |r| {
                    d(r.c.enter, r.s.seen)
                }),
                ("sentry: GETREGS, handler (without injection)", |r| {
                    d(r.s.seen, r.s.handler_end).saturating_sub(r.s.host_cycles)
                }),
                (
                    "injected host call (SETREGS, CONT, int3 stop, GETREGS)",
                    |r| r.s.host_cycles,
                ),
                ("resume: SETREGS, SYSEMU, back in the workload", |r| {
                    d(r.s.handler_end, r.c.returned)
                }),
            ],
            total,
        ),
        Mechanism::Systrap => {
            let host_handoffs = |r: &Row| r.s.host_cycles.saturating_sub(r.c.host_cycles);
            let slow = |r: &Row| {
                d(r.c.posted, r.s.seen) > SPIN_CYCLES
                    || d(r.s.handler_end, r.c.reply_seen) > SPIN_CYCLES
                    || host_handoffs(r) > SPIN_CYCLES
            };
            let mut split = split_of(
                "systrap",
                &rows,
                &[
                    ("seccomp trap + SIGSYS delivery", |r| {
                        d(r.c.enter, r.c.handler_entry)
                    }),
                    ("stub writes the request", |r| {
                        d(r.c.handler_entry, r.c.posted)
                    }),
                    ("hand-off: stub → sentry", |r| d(r.c.posted, r.s.seen)),
                    ("sentry handler (without its host calls)", |r| {
                        d(r.s.seen, r.s.handler_end).saturating_sub(r.s.host_cycles)
                    }),
                    (
                        "host call's hand-offs (HOST, HOST_DONE), inside the handler",
                        |r| r.s.host_cycles.saturating_sub(r.c.host_cycles),
                    ),
                    ("host call in the stub (its own rdtsc)", |r| r.c.host_cycles),
                    ("hand-off: sentry → stub (the reply)", |r| {
                        d(r.s.handler_end, r.c.reply_seen)
                    }),
                    ("rt_sigreturn, back in the workload", |r| {
                        d(r.c.reply_seen, r.c.returned)
                    }),
                ],
                total,
            );
            split.slept = Some(rows.iter().filter(|r| slow(r)).count());
            split
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: median {} cycles per mmap ({} calls)",
            self.platform, self.total, self.samples
        )?;
        for (name, cycles) in &self.parts {
            writeln!(f, "  {cycles:>8}  {name}")?;
        }
        if let Some(n) = self.slept {
            writeln!(
                f,
                "  {n} of {} calls slept in a hand-off (peer not running)",
                self.samples
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0);
        assert_eq!(median(vec![3, 1, 2]), 2);
        assert_eq!(median(vec![4, 1, 3, 2]), 2);
    }
}
