//! Sampling with perf_event_open: one event per online CPU, each with its
//! ring buffer, drained by a background thread while the workload runs.
//! Samples are only stored here; symbolization happens later (see
//! `crate::symbolize`).
//!
//! This process ([`SampleTarget::ThisProcess`]) is sampled by CPU-wide
//! events filtered to its process tree ([`super::process_tree`]) where the
//! kernel allows them (root, CAP_PERFMON or perf_event_paranoid <= 0):
//! per-task events (`inherit`, the fallback) are switched out and in with
//! every context switch of a sampled task, which re-arms the cpu-clock
//! timer each time (`perf bench sched pipe`: 1–3 µs per switch here, see
//! docs/collectors.md).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::cpus::online_cpus;
use super::error::{open_error_hint, PerfError};
use super::process_tree::ProcessTree;
use super::records::{Comm, Fork, Mmap, Record, Sample};
use super::ring::RingReader;
use super::sys::{self, EventKind, EventSpec, RingBuffer, SampleSpec};

/// Default sampling frequency (Hz): odd, so it does not beat with 1 kHz
/// timers, and low enough to cost well under 5%.
pub const DEFAULT_FREQUENCY_HZ: u64 = 999;

/// Bytes a sample is assumed to take in a ring buffer (header, ip, ids,
/// time, period, a call chain of ~50 frames, the user registers and the
/// user stack copy), to size the drain interval.
fn sample_bytes_bound(frequency_hz: u64, data_pages: usize) -> u64 {
    512 + u64::from(user_stack_bytes(frequency_hz, data_pages))
}

/// User stack bytes copied per sample: [`sys::USER_STACK_BYTES`], less
/// where that would not fit: a sample takes at most an eighth of the ring
/// buffer, and a quarter of it holds [`DRAIN_INTERVAL_MIN`] of samples at
/// `frequency_hz` (fewer bytes at high rates instead of lost records).
pub fn user_stack_bytes(frequency_hz: u64, data_pages: usize) -> u32 {
    let ring = data_pages as u64 * 4096;
    let per_drain = frequency_hz.max(1) * DRAIN_INTERVAL_MIN.as_millis() as u64 / 1000;
    let by_rate = (ring / 4 / per_drain.max(1)).saturating_sub(512);
    let bytes = (ring / 8)
        .min(by_rate)
        .min(u64::from(sys::USER_STACK_BYTES));
    bytes as u32 & !7
}
/// Shortest and longest interval between two drains of the ring buffers.
const DRAIN_INTERVAL_MIN: Duration = Duration::from_millis(25);
const DRAIN_INTERVAL_MAX: Duration = Duration::from_millis(250);

/// Interval between two drains: long enough that the drain thread rarely
/// wakes (each wake-up takes a CPU from the workload; on the trapped
/// platforms, which spin on both CPUs, that stalls a hand-off), short
/// enough that a quarter of a CPU's buffer holds what it samples meanwhile.
pub fn drain_interval(frequency_hz: u64, data_pages: usize) -> Duration {
    let quarter = (data_pages as u64 * 4096) / 4;
    let per_second = frequency_hz.max(1) * sample_bytes_bound(frequency_hz, data_pages);
    let fill = Duration::from_micros(quarter * 1_000_000 / per_second);
    fill.clamp(DRAIN_INTERVAL_MIN, DRAIN_INTERVAL_MAX)
}

/// Whom to sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleTarget {
    /// The calling thread and every thread it creates afterwards; enabled
    /// with [`Sampler::enable`].
    ThisProcess,
    /// Children this process spawns afterwards, from their `execve` on
    /// (`enable_on_exec` + `inherit`); this process itself is not sampled.
    ExecedChildren,
}

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplerConfig {
    pub frequency_hz: u64,
    pub target: SampleTarget,
    /// Data pages per CPU ring buffer (a power of two).
    pub data_pages: usize,
    /// Try hardware `cycles:HG` before `cpu-clock`.
    pub prefer_hardware: bool,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            frequency_hz: DEFAULT_FREQUENCY_HZ,
            target: SampleTarget::ThisProcess,
            data_pages: 512,
            prefer_hardware: true,
        }
    }
}

/// The event a sampler ended up using.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplingEvent {
    /// As perf prints it: "cycles:HG" or "cpu-clock" (":u" appended when
    /// kernel frames are excluded).
    pub name: String,
    pub hardware: bool,
    /// Kernel samples and call chains included.
    pub kernel: bool,
    /// Opened CPU-wide and filtered to this process tree (else per task).
    pub cpu_wide: bool,
    /// Samples carry `CLOCK_MONOTONIC` times (`use_clockid`), so they can
    /// be joined with the platforms' boundary windows; false where the
    /// kernel refused the clock (then perf's own clock, and no join).
    pub monotonic_clock: bool,
    /// Why a better event was not used, one line each.
    pub fallbacks: Vec<String>,
}

impl SamplingEvent {
    /// The one line to show and record when a fallback was taken: the
    /// event used and why the better ones were refused.
    pub fn note(&self) -> Option<String> {
        if self.fallbacks.is_empty() {
            return None;
        }
        let what = if self.hardware {
            "kernel frames excluded"
        } else {
            "software timer, hardware cycles unavailable"
        };
        Some(format!(
            "sampling with {} ({what}, {}): {}",
            self.name,
            self.scope(),
            self.fallbacks.join("; ")
        ))
    }

    /// Where the events sit: "CPU-wide, this process tree" or "per task".
    pub fn scope(&self) -> &'static str {
        if self.cpu_wide {
            "CPU-wide, this process tree"
        } else {
            "per task"
        }
    }
}

/// Work done on each batch of samples as it is drained, before it is
/// stored (see [`Sampler::set_sample_hook`]).
pub type SampleHook = Box<dyn FnMut(&mut Vec<Sample>) + Send>;

/// A side-band record (sort by [`SideRecord::time`] before replaying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideRecord {
    Mmap(Mmap),
    Comm(Comm),
    Fork(Fork),
}

impl SideRecord {
    /// When the kernel wrote it.
    pub fn time(&self) -> u64 {
        match self {
            SideRecord::Mmap(m) => m.time,
            SideRecord::Comm(c) => c.time,
            SideRecord::Fork(f) => f.time,
        }
    }
}

/// Samples and side-band records taken out of a sampler.
#[derive(Debug, Default, Clone)]
pub struct SamplerOutput {
    pub samples: Vec<Sample>,
    pub side_band: Vec<SideRecord>,
    /// Records the kernel dropped (ring buffer full) plus samples it lost.
    pub lost: u64,
    /// Malformed records met (the rest of that drain was skipped).
    pub corrupt: u64,
}

struct Shared {
    rings: Mutex<Vec<RingReader>>,
    store: Mutex<SamplerOutput>,
    /// The process tree the samples are filtered to (CPU-wide events).
    tree: Option<Mutex<ProcessTree>>,
    stop: AtomicBool,
    /// Samples drained while false are dropped at once (their stack
    /// copies are never stored): see [`Sampler::keep_samples`].
    keep: AtomicBool,
    /// Applied to each drained batch of samples before it is stored.
    hook: Mutex<Option<SampleHook>>,
    /// Thread id of the drain thread, whose own samples are dropped.
    drain_tid: AtomicU32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Drain every ring into the store.
    fn drain(&self) {
        let drain_tid = self.drain_tid.load(Ordering::Relaxed);
        let mut samples = Vec::new();
        let mut side = Vec::new();
        let mut forks = Vec::new();
        let mut exits = Vec::new();
        let mut lost = 0;
        let mut corrupt = 0;
        let cpu_wide = self.tree.is_some();
        let keep = self.keep.load(Ordering::Relaxed);
        {
            let mut rings = lock(&self.rings);
            for r in rings.iter_mut() {
                let before = r.corrupt;
                r.drain_keeping(keep, |rec| match rec {
                    Record::Sample(s) => {
                        if s.tid != drain_tid {
                            samples.push(s)
                        }
                    }
                    Record::Mmap(m) => side.push(SideRecord::Mmap(m)),
                    Record::Comm(c) => side.push(SideRecord::Comm(c)),
                    Record::Fork(f) if cpu_wide => forks.push(f),
                    Record::Fork(f) => side.push(SideRecord::Fork(f)),
                    Record::Exit(e) if cpu_wide => exits.push(e),
                    Record::Lost(n) | Record::LostSamples(n) => lost += n,
                    Record::Exit(_) | Record::Other(_) => {}
                });
                corrupt += r.corrupt - before;
            }
        }
        if let Some(tree) = &self.tree {
            samples = lock(tree).filter(forks, samples, exits);
        }
        if samples.is_empty() && side.is_empty() && lost == 0 && corrupt == 0 {
            return;
        }
        if !samples.is_empty() {
            if let Some(hook) = lock(&self.hook).as_mut() {
                hook(&mut samples);
            }
        }
        let mut store = lock(&self.store);
        store.samples.append(&mut samples);
        store.side_band.append(&mut side);
        store.lost += lost;
        store.corrupt += corrupt;
    }
}

/// Per-CPU sampling events with a drain thread. Dropping it stops the
/// thread and closes the events.
pub struct Sampler {
    fds: Vec<OwnedFd>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    event: SamplingEvent,
    config: SamplerConfig,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("cpus", &self.fds.len())
            .field("event", &self.event)
            .finish()
    }
}

impl Sampler {
    /// Open the events (disabled, unless the target enables them on exec),
    /// map their buffers and start the drain thread.
    ///
    /// Tries `cycles:HG` with kernel call chains, then without kernel, then
    /// `cpu-clock` likewise; errors only when all are refused.
    pub fn open(config: SamplerConfig) -> Result<Self, PerfError> {
        Self::check(&config)?;
        if config.target != SampleTarget::ThisProcess {
            return Self::open_scoped(config, false, Vec::new());
        }
        match Self::open_scoped(config, true, Vec::new()) {
            Ok(s) => Ok(s),
            Err(PerfError::Open { source, .. })
                if matches!(
                    source.raw_os_error(),
                    Some(libc::EACCES) | Some(libc::EPERM)
                ) =>
            {
                let why = format!(
                    "CPU-wide sampling refused ({}): sampling per task, which adds to every context switch of the sampled tasks",
                    open_error_hint(&source)
                );
                Self::open_scoped(config, false, vec![why])
            }
            Err(e) => Err(e),
        }
    }

    fn check(config: &SamplerConfig) -> Result<(), PerfError> {
        if config.frequency_hz == 0 || config.frequency_hz > 100_000 {
            return Err(PerfError::Config(format!(
                "sampling frequency {} Hz is out of range (1..=100000)",
                config.frequency_hz
            )));
        }
        if !config.data_pages.is_power_of_two() {
            return Err(PerfError::Config(format!(
                "ring buffer pages must be a power of two, got {}",
                config.data_pages
            )));
        }
        Ok(())
    }

    /// Open on every CPU, CPU-wide (`cpu_wide`: every task, filtered to
    /// this process tree) or for this process's tasks only.
    fn open_scoped(
        config: SamplerConfig,
        cpu_wide: bool,
        mut fallbacks: Vec<String>,
    ) -> Result<Self, PerfError> {
        let cpus = online_cpus();
        let mut kinds = Vec::new();
        if config.prefer_hardware {
            kinds.push(EventKind::HwCycles);
        }
        kinds.push(EventKind::SwCpuClock);
        let mut last_err = None;
        for kind in kinds {
            for exclude_kernel in [false, true] {
                let mut spec = EventSpec {
                    sample: Some(SampleSpec {
                        frequency_hz: config.frequency_hz,
                        monotonic_clock: true,
                        user_stack_bytes: user_stack_bytes(config.frequency_hz, config.data_pages),
                    }),
                    exclude_kernel,
                    inherit: true,
                    disabled: true,
                    enable_on_exec: config.target == SampleTarget::ExecedChildren,
                    // MMAP2/COMM/FORK records are needed to symbolize other
                    // processes; for this process /proc/self/maps is read
                    // instead, and an MMAP2 record per mmap() would slow the
                    // very mmap path being measured.
                    side_band: config.target == SampleTarget::ExecedChildren,
                    cpu_wide,
                    ..EventSpec::new(kind)
                };
                let name = event_name(kind, exclude_kernel);
                let mut opened = open_all(&spec, &cpus);
                let mut monotonic_clock = true;
                if matches!(&opened, Err(e) if e.raw_os_error() == Some(libc::EINVAL)) {
                    // An older kernel without `use_clockid`: perf's clock.
                    spec.sample = spec.sample.map(|s| SampleSpec {
                        monotonic_clock: false,
                        ..s
                    });
                    opened = open_all(&spec, &cpus);
                    monotonic_clock = false;
                    if opened.is_ok() {
                        fallbacks.push(format!(
                            "{name} refused CLOCK_MONOTONIC time stamps (use_clockid): samples are not joined with the workload's stack at the boundary"
                        ));
                    }
                }
                match opened {
                    Ok(fds) => {
                        let event = SamplingEvent {
                            name,
                            hardware: kind == EventKind::HwCycles,
                            kernel: !exclude_kernel,
                            cpu_wide,
                            monotonic_clock,
                            fallbacks,
                        };
                        return Self::start(fds, event, config);
                    }
                    Err(e) => {
                        let hint = open_error_hint(&e);
                        fallbacks.push(format!("{name} refused: {e} ({hint})"));
                        let permission =
                            matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM));
                        last_err = Some((name, e, hint));
                        // Excluding the kernel only helps when the refusal
                        // was about permissions; a CPU-wide event refused
                        // for permissions is retried per task by `open`.
                        if !permission || cpu_wide {
                            break;
                        }
                    }
                }
            }
        }
        let (event, source, hint) = last_err.unwrap_or_else(|| {
            (
                "cpu-clock".to_string(),
                std::io::Error::other("no event tried"),
                String::new(),
            )
        });
        Err(PerfError::Open {
            event,
            source,
            hint,
        })
    }

    fn start(
        fds: Vec<OwnedFd>,
        event: SamplingEvent,
        config: SamplerConfig,
    ) -> Result<Self, PerfError> {
        let mut rings = Vec::with_capacity(fds.len());
        for fd in &fds {
            let ring = RingBuffer::map(fd.as_fd(), config.data_pages).map_err(PerfError::Mmap)?;
            rings.push(RingReader::new(ring));
        }
        let tree = event
            .cpu_wide
            .then(|| Mutex::new(ProcessTree::new(std::process::id())));
        let shared = Arc::new(Shared {
            rings: Mutex::new(rings),
            store: Mutex::new(SamplerOutput::default()),
            tree,
            stop: AtomicBool::new(false),
            keep: AtomicBool::new(true),
            hook: Mutex::new(None),
            drain_tid: AtomicU32::new(0),
        });
        let s2 = Arc::clone(&shared);
        let interval = drain_interval(config.frequency_hz, config.data_pages);
        let thread = std::thread::Builder::new()
            .name("perf-drain".to_string())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                let tid = unsafe { libc::gettid() };
                s2.drain_tid.store(tid as u32, Ordering::Relaxed);
                while !s2.stop.load(Ordering::Relaxed) {
                    s2.drain();
                    std::thread::sleep(interval);
                }
            })
            .map_err(PerfError::Thread)?;
        Ok(Sampler {
            fds,
            shared,
            thread: Some(thread),
            event,
            config,
        })
    }

    /// The event in use, and the fallbacks taken to get it.
    pub fn event(&self) -> &SamplingEvent {
        &self.event
    }

    /// Frequency asked for.
    pub fn frequency_hz(&self) -> u64 {
        self.config.frequency_hz
    }

    /// Start sampling (for [`SampleTarget::ThisProcess`]).
    pub fn enable(&self) -> Result<(), PerfError> {
        for fd in &self.fds {
            sys::enable(fd.as_fd()).map_err(|source| PerfError::Ioctl {
                op: "ENABLE",
                source,
            })?;
        }
        Ok(())
    }

    /// Stop sampling; samples already taken stay readable.
    pub fn disable(&self) -> Result<(), PerfError> {
        for fd in &self.fds {
            sys::disable(fd.as_fd()).map_err(|source| PerfError::Ioctl {
                op: "DISABLE",
                source,
            })?;
        }
        Ok(())
    }

    /// Drain the ring buffers now (instead of waiting for the thread).
    pub fn flush(&self) {
        self.shared.drain();
    }

    /// Store the samples drained from now on (`true`, the default) or drop
    /// them as they are drained (`false`: between the points of a run,
    /// whose samples nobody reads, so their ~8 KiB stack copies are not
    /// held until the next point begins). Side-band, fork/exit and lost
    /// records are kept either way.
    pub fn keep_samples(&self, keep: bool) {
        self.shared.keep.store(keep, Ordering::Relaxed);
    }

    /// Run `hook` on every batch of samples drained from now on, on the
    /// thread that drains them (the drain thread while the workload runs,
    /// the caller of [`Self::take`] for what is left), before the batch is
    /// stored: `run` unwinds the user stack copies there, so they are
    /// dropped within one drain interval instead of being held.
    pub fn set_sample_hook(&self, hook: SampleHook) {
        *lock(&self.shared.hook) = Some(hook);
    }

    /// Flush, then take everything collected so far.
    pub fn take(&self) -> SamplerOutput {
        self.flush();
        std::mem::take(&mut *lock(&self.shared.store))
    }

    /// Stop the drain thread and disable the events, then return what is
    /// left.
    pub fn stop(mut self) -> SamplerOutput {
        let _ = self.disable();
        self.stop_thread();
        self.take()
    }

    fn stop_thread(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn event_name(kind: EventKind, exclude_kernel: bool) -> String {
    let base = match kind {
        EventKind::HwCycles => "cycles:HG",
        EventKind::HwInstructions => "instructions:HG",
        EventKind::SwCpuClock => "cpu-clock",
    };
    if exclude_kernel {
        if kind == EventKind::SwCpuClock {
            format!("{base}:u")
        } else {
            format!("{base}u")
        }
    } else {
        base.to_string()
    }
}

fn open_all(spec: &EventSpec, cpus: &[i32]) -> std::io::Result<Vec<OwnedFd>> {
    let pid = if spec.cpu_wide { -1 } else { 0 };
    cpus.iter().map(|&cpu| sys::open(spec, pid, cpu)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_interval_follows_the_buffer_and_frequency() {
        // 512 pages: a quarter is 512 KiB, ~60 ms of 999 Hz samples
        // (8,704 bytes each with the user stack copy).
        assert_eq!(drain_interval(999, 512), Duration::from_micros(60_295));
        // 1 page at 4 kHz (no stack copy: 100 samples per 25 ms would
        // not fit): the floor.
        assert_eq!(user_stack_bytes(4000, 1), 0);
        assert_eq!(drain_interval(4000, 1), DRAIN_INTERVAL_MIN);
        // 4096 pages at 10 kHz: 4 MiB / 87 MB/s = 48.2 ms.
        assert_eq!(drain_interval(10_000, 4096), Duration::from_micros(48_188));
        // 512 pages: full copies up to ~2.4 kHz, then smaller, so that a
        // quarter of the ring still holds 25 ms of samples.
        assert_eq!(user_stack_bytes(999, 512), 8192);
        assert_eq!(user_stack_bytes(4999, 512), 3712);
        // At 100 kHz the samples alone overflow a quarter: no copy.
        assert_eq!(user_stack_bytes(100_000, 512), 0);
        for hz in [999, 4999, 20_000] {
            let per_drain = hz * 25 / 1000;
            assert!(per_drain * sample_bytes_bound(hz, 512) <= 512 * 4096 / 4);
        }
    }
}
