//! Hardware `cycles:HG` on a kvm vCPU thread, beside the VMM guest sampler
//! (issue 13): where the capability probe finds hardware cycles that split
//! host and guest ([`host_guest_cycles_split`]), each armed guest sampler
//! gets a cycles sampling event with guest samples counted
//! (`exclude_host` = `exclude_guest` = 0) on the thread that runs
//! `KVM_RUN`, and a task-clock counter on the same thread. At the end the
//! samples are counted (all, guest mode) and the guest-mode instruction
//! pointers kept; the guest's share by cycles is then comparable with the
//! sampler's (see `VcpuPmuSamples::guest_share`).

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

use instrumented_sentry::platform::boundary::monotonic_ns;
use instrumented_sentry::platform::kvm::vmm::vcpu_pmu::{VcpuPmu, VcpuPmuSamples, VcpuPmuSession};

use super::records::Record;
use super::ring::RingReader;
use super::sys::{self, EventKind, EventSpec, RingBuffer, SampleSpec};
use crate::capabilities::kvm_probe::{run_guest_loop, split_enforced};

/// Data pages of the session's ring buffer (1 MiB: about 10 s of samples
/// at 1 kHz with host call chains; what does not fit is counted as lost).
const DATA_PAGES: usize = 256;

/// Iterations of the probe's guest loop (as `sentryprof doctor`'s check).
const PROBE_LOOP_ITERATIONS: u32 = 100_000;

/// Whether hardware cycles split host and guest here: `Err` says in one
/// line why not (no hardware PMU, or a PMU whose host/guest bits are not
/// enforced, or no KVM to check with).
pub fn host_guest_cycles_split() -> Result<(), String> {
    if let Err(e) = open_on(EventKind::HwCycles, None, false, 0) {
        return Err(format!("no hardware PMU: cycles cannot be opened: {e}"));
    }
    let run = run_guest_loop(PROBE_LOOP_ITERATIONS, true)
        .map_err(|e| format!("the host/guest split probe's guest failed: {e}"))?;
    match split_enforced(&run) {
        Some(true) => Ok(()),
        Some(false) => Err(
            "the PMU does not split host and guest cycles (cycles:H and cycles:G count the same)"
                .to_string(),
        ),
        None => Err("no hardware PMU: host-only and guest-only cycles cannot be counted".into()),
    }
}

fn open_on(
    kind: EventKind,
    sample_hz: Option<u64>,
    exclude_kernel: bool,
    tid: libc::pid_t,
) -> std::io::Result<OwnedFd> {
    let spec = EventSpec {
        sample: sample_hz.map(|frequency_hz| SampleSpec {
            frequency_hz,
            monotonic_clock: false,
            // Guest-mode samples: their IPs are the guest's; a copy of the
            // vCPU thread's host stack would unwind nothing of the guest.
            user_stack_bytes: 0,
        }),
        exclude_kernel,
        disabled: true,
        ..EventSpec::new(kind)
    };
    sys::open(&spec, tid, -1)
}

/// Opens [`CyclesHgSession`]s at a sampling rate.
#[derive(Debug, Clone, Copy)]
pub struct CyclesHgOnThread {
    frequency_hz: u64,
}

impl CyclesHgOnThread {
    /// Sessions sampling at `frequency_hz` (the guest sampler's rate, so
    /// the two count about as many samples).
    pub fn new(frequency_hz: u64) -> Self {
        Self {
            frequency_hz: frequency_hz.max(1),
        }
    }
}

impl VcpuPmu for CyclesHgOnThread {
    fn attach(&self, tid: libc::pid_t) -> Result<Box<dyn VcpuPmuSession>, String> {
        let mut last = None;
        for (exclude_kernel, event) in [(false, "cycles"), (true, "cycles:u")] {
            match open_on(
                EventKind::HwCycles,
                Some(self.frequency_hz),
                exclude_kernel,
                tid,
            ) {
                Ok(fd) => {
                    return CyclesHgSession::start(fd, event, tid)
                        .map(|s| Box::new(s) as Box<dyn VcpuPmuSession>)
                }
                Err(e) => last = Some(e),
            }
        }
        Err(format!(
            "cycles on the vCPU thread cannot be opened: {}",
            last.map_or_else(|| "unknown error".to_string(), |e| e.to_string())
        ))
    }
}

/// One vCPU thread's cycles samples and task clock.
#[derive(Debug)]
pub struct CyclesHgSession {
    event: &'static str,
    cycles: OwnedFd,
    ring: RingReader,
    task_clock: OwnedFd,
    started_ns: u64,
}

impl CyclesHgSession {
    fn start(cycles: OwnedFd, event: &'static str, tid: libc::pid_t) -> Result<Self, String> {
        let ring = RingBuffer::map(cycles.as_fd(), DATA_PAGES)
            .map_err(|e| format!("the cycles ring buffer cannot be mapped: {e}"))?;
        let task_clock = open_on(EventKind::SwCpuClock, None, false, tid)
            .or_else(|_| open_on(EventKind::SwCpuClock, None, true, tid))
            .map_err(|e| format!("the vCPU thread's task clock cannot be opened: {e}"))?;
        let started_ns = monotonic_ns();
        for fd in [&task_clock, &cycles] {
            sys::enable(fd.as_fd()).map_err(|e| format!("cannot enable {event}: {e}"))?;
        }
        Ok(Self {
            event,
            cycles,
            ring: RingReader::new(ring),
            task_clock,
            started_ns,
        })
    }
}

impl VcpuPmuSession for CyclesHgSession {
    fn finish(mut self: Box<Self>) -> VcpuPmuSamples {
        let _ = sys::disable(self.cycles.as_fd());
        let _ = sys::disable(self.task_clock.as_fd());
        let wall_ns = monotonic_ns().saturating_sub(self.started_ns);
        let on_cpu_ns = sys::read_counter(self.task_clock.as_fd()).map_or(0, |v| v.scaled());
        let mut out = VcpuPmuSamples {
            event: self.event.to_string(),
            on_cpu_ns,
            wall_ns,
            ..VcpuPmuSamples::default()
        };
        let mut ips: HashMap<u64, u64> = HashMap::new();
        self.ring.drain(|r| count_record(&mut out, &mut ips, r));
        out.guest_ips = ips.into_iter().collect();
        out.guest_ips.sort_unstable();
        out
    }
}

/// Counts one ring-buffer record into `out` (guest addresses into `ips`).
fn count_record(out: &mut VcpuPmuSamples, ips: &mut HashMap<u64, u64>, r: Record) {
    match r {
        Record::Sample(s) => {
            out.samples += 1;
            if s.mode.is_guest() {
                out.guest_samples += 1;
                *ips.entry(s.ip).or_insert(0) += 1;
            }
        }
        Record::Lost(n) | Record::LostSamples(n) => out.lost += n,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::records::{CpuMode, Sample};

    fn sample(mode: CpuMode, ip: u64) -> Record {
        Record::Sample(Sample {
            mode,
            ip,
            pid: 1,
            tid: 2,
            time: 0,
            period: 1000,
            callchain: vec![ip],
            user_stack: None,
        })
    }

    #[test]
    fn guest_mode_samples_are_counted_apart_with_their_addresses() {
        let mut out = VcpuPmuSamples::default();
        let mut ips = HashMap::new();
        for r in [
            sample(CpuMode::GuestUser, 0x1000),
            sample(CpuMode::GuestUser, 0x1000),
            sample(CpuMode::GuestKernel, 0x2000),
            sample(CpuMode::Kernel, 0xffff_0000),
            sample(CpuMode::User, 0x5555),
            Record::Lost(3),
        ] {
            count_record(&mut out, &mut ips, r);
        }
        assert_eq!((out.samples, out.guest_samples, out.lost), (5, 3, 3));
        assert_eq!(ips.get(&0x1000), Some(&2));
        assert_eq!(ips.get(&0x2000), Some(&1));
        assert_eq!(ips.len(), 2);
    }
}
