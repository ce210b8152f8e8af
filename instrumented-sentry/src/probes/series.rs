//! Per-call series: the cycles of the n-th call of a site (the study's
//! Figure 6), in bounded memory.
//!
//! Calls are grouped into buckets of `bucket_calls` consecutive calls. The
//! recorder starts exact (`bucket_calls == 1`); whenever the number of
//! buckets would pass `max_buckets`, neighbouring buckets are merged pairwise
//! and `bucket_calls` doubles. Memory stays at most `max_buckets` entries;
//! every bucket holds the exact sum and count of its calls, so means are exact.

/// Bounded per-call series of one site.
#[derive(Clone, Debug)]
pub struct CallSeriesRecorder {
    max_buckets: usize,
    bucket_calls: u64,
    sums: Vec<u64>,
    counts: Vec<u32>,
}

impl CallSeriesRecorder {
    /// A recorder keeping at most `max_buckets` buckets (at least 2).
    pub fn new(max_buckets: usize) -> Self {
        Self {
            max_buckets: max_buckets.max(2) & !1,
            bucket_calls: 1,
            sums: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Records the next call's cycles.
    #[inline]
    pub fn record(&mut self, cycles: u64) {
        match self.counts.last_mut() {
            Some(c) if u64::from(*c) < self.bucket_calls => {
                *c += 1;
                if let Some(s) = self.sums.last_mut() {
                    *s = s.saturating_add(cycles);
                }
            }
            _ => {
                if self.counts.len() == self.max_buckets {
                    self.halve();
                }
                self.sums.push(cycles);
                self.counts.push(1);
            }
        }
    }

    fn halve(&mut self) {
        let n = self.counts.len() / 2;
        for i in 0..n {
            self.sums[i] = self.sums[2 * i].saturating_add(self.sums[2 * i + 1]);
            self.counts[i] = self.counts[2 * i] + self.counts[2 * i + 1];
        }
        self.sums.truncate(n);
        self.counts.truncate(n);
        self.bucket_calls *= 2;
    }

    /// Forgets every call.
    pub fn clear(&mut self) {
        self.bucket_calls = 1;
        self.sums.clear();
        self.counts.clear();
    }

    /// Calls recorded.
    pub fn calls(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// Returns `(bucket_calls, means)`, reduced further (by whole merges of
    /// consecutive buckets) so that at most `max_points` means are returned.
    /// Bucket `i` covers calls `i * bucket_calls .. (i + 1) * bucket_calls`;
    /// the last may be partial.
    pub fn means(&self, max_points: usize) -> (u64, Vec<f64>) {
        let max_points = max_points.max(1);
        let mut factor = 1usize;
        while self.counts.len().div_ceil(factor) > max_points {
            factor *= 2;
        }
        let means = self
            .sums
            .chunks(factor)
            .zip(self.counts.chunks(factor))
            .map(|(s, c)| {
                let sum: u64 = s.iter().fold(0u64, |a, &b| a.saturating_add(b));
                let n: u64 = c.iter().map(|&x| u64::from(x)).sum();
                sum as f64 / n.max(1) as f64
            })
            .collect();
        (self.bucket_calls * factor as u64, means)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_halved() {
        let mut s = CallSeriesRecorder::new(4);
        for v in [10, 20, 30, 40] {
            s.record(v);
        }
        assert_eq!(s.means(100), (1, vec![10.0, 20.0, 30.0, 40.0]));
        s.record(50);
        assert_eq!(s.means(100), (2, vec![15.0, 35.0, 50.0]));
        assert_eq!(s.calls(), 5);
        assert_eq!(s.means(2), (4, vec![25.0, 50.0]));
        s.clear();
        assert_eq!(s.calls(), 0);
    }
}
