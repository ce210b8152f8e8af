//! rdtsc probes around the steps of the mmap path.
//!
//! A [`Probes`] value (one per memory manager) records, for each [`Site`],
//! a log-linear cycle histogram (exact count, sum, max; median/p90/p99
//! within ~3%) and a bounded per-call series (the study's Figure 6).
//!
//! # Cost and accounting
//! - A probe is `start()` (one `rdtsc`) and `finish()` (one `rdtsc` plus
//!   recording). [`Calibration::pair_cost_cycles`] is what one probe pair
//!   adds to the code around it; [`Calibration::self_cycles`] is what an
//!   empty probed region reports of itself (the probe's own share of each
//!   sample). Both are measured once per process at start-up.
//! - Nesting: sites nest (`mmap` ⊃ `create_vma` ⊃ `find_available`). Every
//!   finished probe bumps a counter; an outer probe subtracts
//!   `inner_pairs × pair_cost_cycles` from its sample, so inner probes' cost
//!   is not charged to the outer site. Subtracting the probe's own
//!   `self_cycles` from every sample is optional
//!   ([`ProbeConfig::subtract_overhead`]) and reported.
//! - Probes off: the memory manager wraps each site in [`probe_site!`], which
//!   tests [`Probes::is_enabled`] once and otherwise runs the plain code: one
//!   predictable branch per site.
//! - Sampling ([`ProbeConfig::sample_every`] = n > 1): each site times only
//!   every n-th call and counts the others, so call counts stay exact while
//!   percentiles come from a 1-in-n sample. A full probe costs two `rdtsc`
//!   (~36 cycles each here); the mmap path of a private file mapping holds
//!   three nested sites (~190 cycles of probes on a ~1,000-cycle path), so
//!   sampling is how to bring the probes' share under a few percent.

mod histogram;
mod series;
mod tsc;

pub use histogram::CycleHistogram;
pub use series::CallSeriesRecorder;
pub use tsc::{calibrate_tsc_hz, measure_pair_cost, measure_tsc_hz, read_tsc};

use bundle::stats::median_high;
use std::sync::OnceLock;
use std::time::Duration;

/// A probed step of the memory path. Names match the bundle schema's site keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Site {
    /// The whole `mmap` call.
    Mmap,
    /// Validation, gap search and VMA insertion.
    CreateVma,
    /// The gap search (linear or max-gap).
    FindAvailable,
    /// Backing a range with memory-file pages.
    GetPmas,
    /// Making pages reachable on the platform.
    MapAs,
    /// A page fault (getPMAs + mapAS for the faulting window).
    Fault,
}

impl Site {
    /// Every site, in schema order.
    pub const ALL: [Site; 6] = [
        Site::Mmap,
        Site::CreateVma,
        Site::FindAvailable,
        Site::GetPmas,
        Site::MapAs,
        Site::Fault,
    ];

    /// The schema key: `mmap`, `create_vma`, `find_available`, `get_pmas`,
    /// `map_as`, `fault`.
    pub fn name(self) -> &'static str {
        match self {
            Site::Mmap => "mmap",
            Site::CreateVma => "create_vma",
            Site::FindAvailable => "find_available",
            Site::GetPmas => "get_pmas",
            Site::MapAs => "map_as",
            Site::Fault => "fault",
        }
    }

    /// Parses a schema key.
    pub fn from_name(name: &str) -> Option<Site> {
        Site::ALL.into_iter().find(|s| s.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Probe settings chosen per run.
#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// Record at all (can also be switched with [`Probes::set_enabled`]).
    pub enabled: bool,
    /// Subtract [`Calibration::self_cycles`] from every sample.
    pub subtract_overhead: bool,
    /// Buckets kept per site's per-call series: calls are exact up to this
    /// many, then averaged over 2, 4, ... consecutive calls.
    pub series_max_buckets: usize,
    /// Time one call in this many per site (1 = every call).
    pub sample_every: u32,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subtract_overhead: false,
            series_max_buckets: 1 << 16,
            sample_every: 1,
        }
    }
}

impl ProbeConfig {
    /// The settings a run's options choose: record or not, subtract the
    /// probe's own cost or not, and time one call in `every` per site (0
    /// or 1: every call); the rest as the default.
    pub fn for_run(enabled: bool, subtract_overhead: bool, every: u32) -> Self {
        Self {
            enabled,
            subtract_overhead,
            sample_every: every.max(1),
            ..Self::default()
        }
    }
}

/// Process-wide TSC facts, measured once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    /// TSC frequency in Hz, measured against CLOCK_MONOTONIC.
    pub tsc_hz: u64,
    /// Cycles one probe pair (start + finish with recording) adds to the
    /// code around it.
    pub pair_cost_cycles: u64,
    /// Cycles an empty probed region reports of itself.
    pub self_cycles: u64,
}

impl Calibration {
    /// The process-wide calibration (measured on first use, ~70 ms).
    pub fn get() -> Calibration {
        static CAL: OnceLock<Calibration> = OnceLock::new();
        *CAL.get_or_init(Calibration::measure)
    }

    /// Measures afresh.
    pub fn measure() -> Calibration {
        let tsc_hz = calibrate_tsc_hz(Duration::from_millis(20));
        let self_cycles = measure_pair_cost(20_001);
        // Cost a full probe adds around it: an outer interval with one inner
        // probe minus an outer interval with nothing inside.
        let mut scratch = Probes::with_calibration(
            ProbeConfig {
                series_max_buckets: 1024,
                ..ProbeConfig::default()
            },
            Calibration {
                tsc_hz,
                pair_cost_cycles: 0,
                self_cycles,
            },
        );
        let n = 20_001;
        let mut with = Vec::with_capacity(n);
        let mut without = Vec::with_capacity(n);
        for _ in 0..n {
            let a = read_tsc();
            let s = scratch.start();
            scratch.finish(Site::Fault, s);
            let b = read_tsc();
            with.push(b.wrapping_sub(a));
            let a = read_tsc();
            let b = read_tsc();
            without.push(b.wrapping_sub(a));
        }
        with.sort_unstable();
        without.sort_unstable();
        let pair_cost_cycles = median_high(&with)
            .unwrap_or(0)
            .saturating_sub(median_high(&without).unwrap_or(0));
        Calibration {
            tsc_hz,
            pair_cost_cycles,
            self_cycles,
        }
    }

    /// Converts cycles to nanoseconds.
    pub fn cycles_to_ns(&self, cycles: f64) -> f64 {
        cycles * 1e9 / self.tsc_hz.max(1) as f64
    }

    /// Converts whole cycles to whole nanoseconds (rounded down, exact
    /// integer arithmetic).
    pub fn cycles_to_whole_ns(&self, cycles: u64) -> u64 {
        (u128::from(cycles) * 1_000_000_000 / u128::from(self.tsc_hz.max(1))) as u64
    }
}

/// Token returned by [`Probes::start`].
#[derive(Clone, Copy, Debug)]
pub struct ProbeStart {
    t0: u64,
    pairs_before: u64,
}

#[derive(Clone, Debug)]
struct SiteRecorder {
    hist: CycleHistogram,
    series: CallSeriesRecorder,
}

/// Per-site recorders of one memory manager.
#[derive(Clone, Debug)]
pub struct Probes {
    enabled: bool,
    sample_every: u32,
    countdown: [u32; 6],
    skipped: [u64; 6],
    subtract_overhead: bool,
    calibration: Calibration,
    pairs: u64,
    sites: Vec<SiteRecorder>,
}

impl Probes {
    /// Probes using the process-wide [`Calibration`].
    pub fn new(config: ProbeConfig) -> Self {
        Self::with_calibration(config, Calibration::get())
    }

    /// Probes with a given calibration (tests, or a calibration measured elsewhere).
    pub fn with_calibration(config: ProbeConfig, calibration: Calibration) -> Self {
        let sites = Site::ALL
            .iter()
            .map(|_| SiteRecorder {
                hist: CycleHistogram::new(),
                series: CallSeriesRecorder::new(config.series_max_buckets),
            })
            .collect();
        let sample_every = config.sample_every.max(1);
        Self {
            enabled: config.enabled,
            sample_every,
            countdown: [sample_every; 6],
            skipped: [0; 6],
            subtract_overhead: config.subtract_overhead,
            calibration,
            pairs: 0,
            sites,
        }
    }

    /// Whether probes record.
    #[inline(always)]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether this call of `site` is to be timed (always, unless
    /// sampling); counts the calls that are not.
    #[inline(always)]
    pub fn should_time(&mut self, site: Site) -> bool {
        if self.sample_every == 1 {
            return true;
        }
        let i = site.index();
        self.countdown[i] -= 1;
        if self.countdown[i] == 0 {
            self.countdown[i] = self.sample_every;
            true
        } else {
            self.skipped[i] += 1;
            false
        }
    }

    /// One call in how many is timed.
    pub fn sample_every(&self) -> u32 {
        self.sample_every
    }

    /// Exact number of calls of `site` (timed and, when sampling, untimed).
    pub fn calls(&self, site: Site) -> u64 {
        self.histogram(site).count() + self.skipped[site.index()]
    }

    /// Switches recording on or off.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// The calibration in use.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Whether `self_cycles` is subtracted from every sample.
    pub fn overhead_subtracted(&self) -> bool {
        self.subtract_overhead
    }

    /// Begins a probed region.
    #[inline(always)]
    pub fn start(&self) -> ProbeStart {
        let pairs_before = self.pairs;
        ProbeStart {
            t0: read_tsc(),
            pairs_before,
        }
    }

    /// Ends a probed region begun by `start` and records it at `site`.
    #[inline(always)]
    pub fn finish(&mut self, site: Site, start: ProbeStart) {
        let t1 = read_tsc();
        let nested = self.pairs - start.pairs_before;
        let mut cycles = t1
            .wrapping_sub(start.t0)
            .saturating_sub(nested.saturating_mul(self.calibration.pair_cost_cycles));
        if self.subtract_overhead {
            cycles = cycles.saturating_sub(self.calibration.self_cycles);
        }
        self.pairs += 1;
        self.record(site, cycles);
    }

    #[inline(never)]
    fn record(&mut self, site: Site, cycles: u64) {
        if let Some(r) = self.sites.get_mut(site.index()) {
            r.hist.record(cycles);
            r.series.record(cycles);
        }
    }

    /// Forgets every sample (between trials). Keeps the calibration and settings.
    pub fn reset(&mut self) {
        self.pairs = 0;
        self.countdown = [self.sample_every; 6];
        self.skipped = [0; 6];
        for r in &mut self.sites {
            r.hist.clear();
            r.series.clear();
        }
    }

    /// The histogram of one site's timed calls.
    pub fn histogram(&self, site: Site) -> &CycleHistogram {
        &self.sites[site.index()].hist
    }

    /// Summary of one site.
    pub fn site_summary(&self, site: Site) -> SiteSummary {
        let h = self.histogram(site);
        let calls = self.calls(site);
        SiteSummary {
            site,
            calls,
            median_cycles: h.quantile(0.5),
            p90_cycles: h.quantile(0.9),
            p99_cycles: h.quantile(0.99),
            max_cycles: h.max() as f64,
            min_cycles: h.min() as f64,
            mean_cycles: h.mean(),
            total_cycles: if calls == h.count() {
                h.sum() as f64
            } else {
                h.mean() * calls as f64
            },
        }
    }

    /// Per-call series of one site, reduced to at most `max_points` means.
    pub fn series(&self, site: Site, max_points: usize) -> SeriesSummary {
        let (bucket_samples, mean_cycles) = self.sites[site.index()].series.means(max_points);
        SeriesSummary {
            site,
            bucket_calls: bucket_samples * u64::from(self.sample_every),
            mean_cycles,
        }
    }

    /// Everything recorded: every site's summary (also those with no calls)
    /// and the series of every site that has calls, each reduced to at most
    /// `max_series_points` means.
    pub fn report(&self, max_series_points: usize) -> ProbeReport {
        let sites = Site::ALL.iter().map(|&s| self.site_summary(s)).collect();
        let series = Site::ALL
            .iter()
            .filter(|&&s| self.histogram(s).count() > 0)
            .map(|&s| self.series(s, max_series_points))
            .collect();
        ProbeReport {
            enabled: self.enabled,
            sample_every: self.sample_every,
            calibration: self.calibration,
            overhead_subtracted: self.subtract_overhead,
            sites,
            series,
        }
    }
}

/// Statistics of one site, in TSC cycles.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteSummary {
    /// The site.
    pub site: Site,
    /// Calls made (exact, also when sampling).
    pub calls: u64,
    /// Median (bucketed, ~3%).
    pub median_cycles: f64,
    /// 90th percentile (bucketed).
    pub p90_cycles: f64,
    /// 99th percentile (bucketed).
    pub p99_cycles: f64,
    /// Exact maximum.
    pub max_cycles: f64,
    /// Exact minimum.
    pub min_cycles: f64,
    /// Exact mean.
    pub mean_cycles: f64,
    /// Exact total (estimated as mean × calls when sampling).
    pub total_cycles: f64,
}

/// Per-call series: bucket `i` is the mean of calls
/// `i * bucket_calls .. (i + 1) * bucket_calls`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSummary {
    /// The site.
    pub site: Site,
    /// Consecutive calls per bucket (1 = every call).
    pub bucket_calls: u64,
    /// Mean cycles per bucket.
    pub mean_cycles: Vec<f64>,
}

/// Snapshot of a [`Probes`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeReport {
    /// Whether probes were recording.
    pub enabled: bool,
    /// One call in how many was timed (1 = every call).
    pub sample_every: u32,
    /// TSC frequency and probe costs.
    pub calibration: Calibration,
    /// Whether `calibration.self_cycles` was subtracted from every sample.
    pub overhead_subtracted: bool,
    /// One entry per site, in [`Site::ALL`] order.
    pub sites: Vec<SiteSummary>,
    /// Series of the sites that have calls.
    pub series: Vec<SeriesSummary>,
}

/// Runs `$body` as a probed region of `$site` when `$probes` is enabled (and
/// this call is sampled), and as plain code otherwise (one branch when off). `$probes` must be a place
/// expression (e.g. `self.probes`) so `$body` may borrow around it.
macro_rules! probe_site {
    ($probes:expr, $site:expr, $body:expr) => {
        if $probes.is_enabled() && $probes.should_time($site) {
            let __probe_start = $probes.start();
            let __probe_result = $body;
            $probes.finish($site, __probe_start);
            __probe_result
        } else {
            $body
        }
    };
}
pub(crate) use probe_site;

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calibration {
        Calibration {
            tsc_hz: 1_000_000_000,
            pair_cost_cycles: 0,
            self_cycles: 0,
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Site::ALL {
            assert_eq!(Site::from_name(s.name()), Some(s));
        }
        assert_eq!(Site::from_name("nope"), None);
    }

    #[test]
    fn nested_probes_count_once_each() {
        let mut p = Probes::with_calibration(ProbeConfig::default(), cal());
        let outer = p.start();
        let inner = p.start();
        p.finish(Site::FindAvailable, inner);
        p.finish(Site::CreateVma, outer);
        assert_eq!(p.histogram(Site::FindAvailable).count(), 1);
        assert_eq!(p.histogram(Site::CreateVma).count(), 1);
        assert!(p.histogram(Site::CreateVma).max() >= p.histogram(Site::FindAvailable).max());
        let r = p.report(10);
        assert_eq!(r.sites.len(), 6);
        assert_eq!(r.series.len(), 2);
        p.reset();
        assert_eq!(p.histogram(Site::CreateVma).count(), 0);
    }

    #[test]
    fn sampling_times_one_in_n_and_counts_all() {
        let mut p = Probes::with_calibration(
            ProbeConfig {
                sample_every: 4,
                ..ProbeConfig::default()
            },
            cal(),
        );
        for _ in 0..10 {
            probe_site!(p, Site::Mmap, ());
        }
        assert_eq!(p.histogram(Site::Mmap).count(), 2);
        assert_eq!(p.calls(Site::Mmap), 10);
        let r = p.report(10);
        assert_eq!(r.sites[0].calls, 10);
        assert_eq!(r.series[0].bucket_calls, 4);
        p.reset();
        assert_eq!(p.calls(Site::Mmap), 0);
    }

    #[test]
    fn disabled_probes_run_the_body_and_record_nothing() {
        let mut p = Probes::with_calibration(
            ProbeConfig {
                enabled: false,
                ..ProbeConfig::default()
            },
            cal(),
        );
        let v = probe_site!(p, Site::Mmap, 40 + 2);
        assert_eq!(v, 42);
        assert_eq!(p.histogram(Site::Mmap).count(), 0);
        p.set_enabled(true);
        let v = probe_site!(p, Site::Mmap, 1);
        assert_eq!(v, 1);
        assert_eq!(p.histogram(Site::Mmap).count(), 1);
    }
}
