//! Statistics over trials and calls: median and percentiles, and the
//! reduction of a long per-call series to a bounded number of buckets, and
//! the deterministic generator resampling draws from.
//!
//! Percentiles interpolate linearly between the two nearest ranks (the
//! "linear" method of numpy and R type 7): for sorted values `v[0..n]`, the
//! p-th percentile is at rank `p / 100 * (n - 1)`. With one value every
//! percentile is that value; with none, there is no percentile.

/// The p-th percentile (`0.0 ..= 100.0`) of `values`, or `None` when
/// `values` is empty or holds a NaN. `values` need not be sorted.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sort_checked(&mut sorted)?;
    percentile_of_sorted(&sorted, p)
}

/// As [`percentile`], on values already sorted ascending.
///
/// Preconditions: `sorted` is ascending and holds no NaN.
pub fn percentile_of_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// The median of `values` (the 50th percentile).
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

fn sort_checked(v: &mut [f64]) -> Option<()> {
    if v.iter().any(|x| x.is_nan()) {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(())
}

/// Median, p90, p99, mean, min and max of a set of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// 50th percentile.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// Summarize `values`; `None` when empty or holding a NaN.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted = values.to_vec();
    sort_checked(&mut sorted)?;
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    Some(Summary {
        median: percentile_of_sorted(&sorted, 50.0)?,
        p90: percentile_of_sorted(&sorted, 90.0)?,
        p99: percentile_of_sorted(&sorted, 99.0)?,
        mean: sorted.iter().sum::<f64>() / n as f64,
        min: sorted[0],
        max: sorted[n - 1],
    })
}

/// Reduce a per-call series to at most `max_buckets` buckets of equal
/// numbers of consecutive calls, each the mean of its calls. Returns
/// `(calls per bucket, bucket means)`; the last bucket may hold fewer calls.
///
/// Postconditions: `means.len() <= max_buckets` (when `max_buckets > 0`),
/// and `means.len() == ceil(values.len() / calls_per_bucket)`.
pub fn reduce_series(values: &[u64], max_buckets: usize) -> (u64, Vec<f64>) {
    if values.is_empty() || max_buckets == 0 {
        return (1, Vec::new());
    }
    let per = values.len().div_ceil(max_buckets).max(1);
    let means = values
        .chunks(per)
        .map(|c| c.iter().map(|&v| v as f64).sum::<f64>() / c.len() as f64)
        .collect();
    (per as u64, means)
}

// Integer samples (cycle counts), sorted ascending, where a median must be
// one of the samples or an integer: three conventions, each kept where a
// figure of `run.json` was first defined with it (changing one would change
// the figures bundles report).

/// The p-th percentile (`0 ..= 100`) of `sorted` at rank
/// `floor(p / 100 * (n - 1))`, without interpolation: at p = 50 and an even
/// count, the lower of the two middle values. `None` when empty.
///
/// Preconditions: `sorted` is ascending.
pub fn percentile_low<T: Copy>(sorted: &[T], p: u64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (last as u128 * u128::from(p.min(100)) / 100) as usize;
    Some(sorted[rank])
}

/// The median of `sorted` at rank `n / 2`: for an even count, the higher of
/// the two middle values. `None` when empty.
///
/// Preconditions: `sorted` is ascending.
pub fn median_high<T: Copy>(sorted: &[T]) -> Option<T> {
    sorted.get(sorted.len() / 2).copied()
}

/// The median of `sorted` integers: the middle value, or for an even count
/// the mean of the two middle values rounded down. `None` when empty.
///
/// Preconditions: `sorted` is ascending.
pub fn median_u64(sorted: &[u64]) -> Option<u64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(((u128::from(sorted[n / 2 - 1]) + u128::from(sorted[n / 2])) / 2) as u64),
    }
}

/// SplitMix64, a small deterministic generator (the same numbers on every
/// platform): the resampling of comparisons and the synthetic profiles.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    ///
    /// Preconditions: `n > 0`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Where the mean of a probe site came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeanSource {
    /// `mean_cycles` as recorded in run.json: the exact mean of the timed
    /// calls (the recorders keep an exact sum beside their histogram).
    Recorded,
    /// `total_cycles / calls`, for bundles written before `mean_cycles`
    /// was recorded: exact as well (the total is the sum of the timed calls,
    /// or with `--probe-every N` their mean times the calls), so there is no
    /// error bound to state. run.json holds no histogram buckets.
    Totals,
}

impl MeanSource {
    /// "recorded" or "total/calls", for table footnotes.
    pub fn name(self) -> &'static str {
        match self {
            MeanSource::Recorded => "recorded",
            MeanSource::Totals => "total/calls",
        }
    }
}

/// The mean cycles per call of a probe site and where it came from, or
/// `None` when the site was never timed (no calls, or neither a mean nor a
/// total recorded).
pub fn site_mean(s: &crate::schema::SiteStats) -> Option<(f64, MeanSource)> {
    if s.calls == 0 {
        return None;
    }
    if s.mean_cycles > 0.0 && s.mean_cycles.is_finite() {
        return Some((s.mean_cycles, MeanSource::Recorded));
    }
    if s.total_cycles > 0.0 && s.total_cycles.is_finite() {
        return Some((s.total_cycles / s.calls as f64, MeanSource::Totals));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let v = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&v), Some(2.5));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert!((percentile(&v, 90.0).unwrap() - 3.7).abs() < 1e-9);
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(median(&[7.0]), Some(7.0));
    }

    #[test]
    fn integer_medians_follow_their_conventions() {
        let even = [1u64, 2, 4, 9];
        assert_eq!(percentile_low(&even, 50), Some(2));
        assert_eq!(median_high(&even), Some(4));
        assert_eq!(median_u64(&even), Some(3));
        let odd = [1u64, 2, 4];
        assert_eq!(percentile_low(&odd, 50), Some(2));
        assert_eq!(median_high(&odd), Some(2));
        assert_eq!(median_u64(&odd), Some(2));
        assert_eq!(percentile_low(&even, 0), Some(1));
        assert_eq!(percentile_low(&even, 90), Some(4));
        assert_eq!(percentile_low(&even, 100), Some(9));
        let empty: [u64; 0] = [];
        assert_eq!(percentile_low(&empty, 50), None);
        assert_eq!(median_high(&empty), None);
        assert_eq!(median_u64(&empty), None);
        assert_eq!(median_high(&[-3i64, 5]), Some(5));
        assert_eq!(median_u64(&[u64::MAX, u64::MAX]), Some(u64::MAX));
    }

    #[test]
    fn series_reduction_bounds() {
        let v: Vec<u64> = (0..10).collect();
        assert_eq!(
            reduce_series(&v, 20),
            (1, v.iter().map(|&x| x as f64).collect())
        );
        let (per, m) = reduce_series(&v, 3);
        assert_eq!(per, 4);
        assert_eq!(m, vec![1.5, 5.5, 8.5]);
        let big: Vec<u64> = (0..500_000).collect();
        let (_, m) = reduce_series(&big, 2000);
        assert!(m.len() <= 2000);
    }

    #[test]
    fn site_mean_prefers_the_record_then_the_totals() {
        use crate::schema::SiteStats;
        let mut s = SiteStats {
            calls: 4,
            median_cycles: 500.0,
            mean_cycles: 4_791.0,
            total_cycles: 10_000.0,
            ..SiteStats::default()
        };
        assert_eq!(site_mean(&s), Some((4_791.0, MeanSource::Recorded)));
        s.mean_cycles = 0.0;
        assert_eq!(site_mean(&s), Some((2_500.0, MeanSource::Totals)));
        s.total_cycles = 0.0;
        assert_eq!(site_mean(&s), None);
        s.mean_cycles = 7.0;
        s.calls = 0;
        assert_eq!(site_mean(&s), None);
    }
}
