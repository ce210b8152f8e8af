//! The seam for hardware `cycles:HG` samples of the vCPU thread, kept
//! beside the guest sampler's (issue 13): where a PMU splits host and guest
//! cycles, the collectors (`collectors::perf::guest_pmu`) open cycles with
//! guest samples counted on the thread that runs `KVM_RUN` while the
//! sampler is armed. This crate sits below the collectors, so it only
//! names what it needs: something that attaches to a thread, and what it
//! hands back.

/// Opens hardware cycles on a vCPU thread (one session per armed sampler).
pub trait VcpuPmu: Send + Sync + std::fmt::Debug {
    /// Starts sampling thread `tid`; `Err` says in one line why not.
    fn attach(&self, tid: libc::pid_t) -> Result<Box<dyn VcpuPmuSession>, String>;
}

/// A running `cycles:HG` session on one vCPU thread.
pub trait VcpuPmuSession: Send + std::fmt::Debug {
    /// Stops sampling and hands over what was counted.
    fn finish(self: Box<Self>) -> VcpuPmuSamples;
}

/// What the cycles samples of the vCPU thread said while the guest
/// sampler was armed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VcpuPmuSamples {
    /// The event as opened (`cycles`, `cycles:u`, ...).
    pub event: String,
    /// Every cycles sample of the thread (host and guest mode).
    pub samples: u64,
    /// Of those, the samples taken in guest mode.
    pub guest_samples: u64,
    /// Samples the kernel reported lost (ring buffer full).
    pub lost: u64,
    /// Nanoseconds the thread ran on a CPU (task-clock) while sampled.
    pub on_cpu_ns: u64,
    /// Nanoseconds from attaching to finishing (`CLOCK_MONOTONIC`).
    pub wall_ns: u64,
    /// The guest-mode samples' instruction pointers with their counts
    /// (perf gives one address per guest sample, no chain).
    pub guest_ips: Vec<(u64, u64)>,
}

impl VcpuPmuSamples {
    /// The guest's share of the wall time by cycles samples: the share of
    /// the thread's samples taken in guest mode, times the share of the
    /// wall time the thread was on a CPU (a thread off its CPU counts no
    /// cycles). `None` with no samples or no wall time.
    pub fn guest_share(&self) -> Option<f64> {
        if self.samples == 0 || self.wall_ns == 0 {
            return None;
        }
        let on_cpu = (self.on_cpu_ns as f64 / self.wall_ns as f64).min(1.0);
        Some(self.guest_samples as f64 / self.samples as f64 * on_cpu)
    }

    /// Adds another session's counts (addresses merged).
    pub fn add(&mut self, other: &VcpuPmuSamples) {
        if self.event.is_empty() {
            self.event.clone_from(&other.event);
        }
        self.samples += other.samples;
        self.guest_samples += other.guest_samples;
        self.lost += other.lost;
        self.on_cpu_ns += other.on_cpu_ns;
        self.wall_ns += other.wall_ns;
        for &(ip, n) in &other.guest_ips {
            match self.guest_ips.iter_mut().find(|(i, _)| *i == ip) {
                Some((_, c)) => *c += n,
                None => self.guest_ips.push((ip, n)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_weighs_guest_samples_by_the_time_on_a_cpu() {
        let s = VcpuPmuSamples {
            samples: 1000,
            guest_samples: 500,
            on_cpu_ns: 600,
            wall_ns: 1000,
            ..VcpuPmuSamples::default()
        };
        assert_eq!(s.guest_share(), Some(0.3));
        assert_eq!(VcpuPmuSamples::default().guest_share(), None);
    }

    #[test]
    fn adding_sessions_merges_equal_addresses() {
        let mut a = VcpuPmuSamples {
            event: "cycles".into(),
            samples: 10,
            guest_samples: 4,
            guest_ips: vec![(0x1000, 3), (0x2000, 1)],
            ..VcpuPmuSamples::default()
        };
        let b = VcpuPmuSamples {
            samples: 5,
            guest_samples: 2,
            guest_ips: vec![(0x2000, 2)],
            ..VcpuPmuSamples::default()
        };
        a.add(&b);
        assert_eq!((a.samples, a.guest_samples), (15, 6));
        assert_eq!(a.guest_ips, vec![(0x1000, 3), (0x2000, 3)]);
        assert_eq!(a.event, "cycles");
    }
}
