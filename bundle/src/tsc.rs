//! TSC cycles and nanoseconds: the one conversion between the probes'
//! cycle figures and wall-clock latencies, from a bundle's `tsc_hz`.

use crate::schema::RunJson;

/// TSC cycles per nanosecond at `tsc_hz`, or `None` when the frequency is
/// unknown (0).
pub fn cycles_per_ns(tsc_hz: u64) -> Option<f64> {
    (tsc_hz > 0).then(|| tsc_hz as f64 / 1e9)
}

impl RunJson {
    /// TSC cycles per nanosecond of this run's machine, or `None` when
    /// `tsc_hz` is unknown (0).
    pub fn cycles_per_ns(&self) -> Option<f64> {
        cycles_per_ns(self.tsc_hz)
    }

    /// `cycles` of this run's TSC in nanoseconds, when `tsc_hz` is known.
    pub fn cycles_to_ns(&self, cycles: f64) -> Option<f64> {
        self.cycles_per_ns().map(|c| cycles / c)
    }

    /// `ns` nanoseconds in this run's TSC cycles, when `tsc_hz` is known.
    pub fn ns_to_cycles(&self, ns: f64) -> Option<f64> {
        self.cycles_per_ns().map(|c| ns * c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways_and_knows_when_it_cannot() {
        let run = RunJson {
            tsc_hz: 2_500_000_000,
            ..RunJson::default()
        };
        assert_eq!(run.cycles_per_ns(), Some(2.5));
        assert_eq!(run.cycles_to_ns(1000.0), Some(400.0));
        assert_eq!(run.ns_to_cycles(400.0), Some(1000.0));
        assert_eq!(RunJson::default().cycles_to_ns(1.0), None);
        assert_eq!(cycles_per_ns(0), None);
    }
}
