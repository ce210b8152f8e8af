//! Log-linear cycle histogram: exact count, sum, min and max, plus buckets
//! fine enough for median/p90/p99 within about 3%.
//!
//! Values below [`LINEAR_LIMIT`] get one bucket each. Above, every power of
//! two `[2^e, 2^(e+1))` is cut into [`SUB_BUCKETS`] equal buckets, so the
//! relative width of a bucket is at most `1/SUB_BUCKETS`.

/// Sub-buckets per power of two (relative bucket width 1/32 ~ 3%).
pub const SUB_BUCKETS: u64 = 32;
const SUB_BITS: u32 = 5;
/// Values below this are recorded exactly.
pub const LINEAR_LIMIT: u64 = SUB_BUCKETS * 2;
const BUCKETS: usize = (LINEAR_LIMIT + (64 - SUB_BITS as u64 - 1) * SUB_BUCKETS) as usize;

/// Histogram of cycle counts.
#[derive(Clone, Debug)]
pub struct CycleHistogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for CycleHistogram {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR_LIMIT {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // e >= SUB_BITS + 1
    let sub = (v >> (e - SUB_BITS)) & (SUB_BUCKETS - 1);
    (LINEAR_LIMIT + u64::from(e - SUB_BITS - 1) * SUB_BUCKETS + sub) as usize
}

/// Lowest value and width of bucket `b`.
fn bucket_bounds(b: usize) -> (u64, u64) {
    let b = b as u64;
    if b < LINEAR_LIMIT {
        return (b, 1);
    }
    let rel = b - LINEAR_LIMIT;
    let e = rel / SUB_BUCKETS + u64::from(SUB_BITS) + 1;
    let sub = rel % SUB_BUCKETS;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    ((1u64 << e) + sub * width, width)
}

impl CycleHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        let b = bucket_of(v);
        if let Some(c) = self.counts.get_mut(b) {
            *c += 1;
        }
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds every value of `other` (trials merged into one distribution).
    ///
    /// Postconditions: count, sum, min, max and every bucket are those of
    /// the union of both histograms' values.
    pub fn merge(&mut self, other: &CycleHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact sum of the values.
    pub fn sum(&self) -> u128 {
        self.sum
    }

    /// Exact maximum (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Exact minimum (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// Exact mean (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// Value at quantile `q` in `[0, 1]`: the middle of the bucket holding
    /// the value of rank `ceil(q * count)`, clamped to the exact min and max.
    /// Returns 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, width) = bucket_bounds(b);
                let mid = lo as f64 + (width as f64 - 1.0) / 2.0;
                return mid.clamp(self.min() as f64, self.max as f64);
            }
        }
        self.max as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_values() {
        let mut expected_lo = 0u64;
        for b in 0..BUCKETS {
            let (lo, w) = bucket_bounds(b);
            assert_eq!(lo, expected_lo, "bucket {b}");
            assert_eq!(bucket_of(lo), b);
            assert_eq!(bucket_of(lo + w - 1), b);
            expected_lo = match lo.checked_add(w) {
                Some(v) => v,
                None => break,
            };
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_bucket_width() {
        let mut h = CycleHistogram::new();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.max(), 10_000);
        let med = h.quantile(0.5);
        assert!((med - 5000.0).abs() / 5000.0 < 0.035, "median {med}");
        let p99 = h.quantile(0.99);
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.035, "p99 {p99}");
        assert_eq!(h.quantile(1.0), 10_000.0);
        assert_eq!(h.mean(), 5000.5);
        let mut other = CycleHistogram::new();
        other.record(20_000);
        other.record(3);
        h.merge(&other);
        assert_eq!(h.count(), 10_002);
        assert_eq!(h.max(), 20_000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.sum(), 50_005_000 + 20_003);
    }
}
