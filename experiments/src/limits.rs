//! The limits a plan accepts and the defaults it fills in: named by
//! [`crate::plan`] when it validates a request, by the error messages
//! ([`crate::error`]) and by the parsers of [`crate::units`];
//! `plan` re-exports them.

/// Largest accepted `--iterations` value.
pub const MAX_ITERATIONS: u64 = 10_000_000;
/// Largest accepted `--size` value (1 GiB per mapping).
pub const MAX_SIZE: u64 = 1 << 30;
/// Largest address space one trial may map (64 TiB, half of x86-64's
/// 47-bit user space).
pub const MAX_MAPPED_BYTES: u64 = 1 << 46;
/// Largest accepted `--trials`.
pub const MAX_TRIALS: u32 = 10_000;
/// Probes time one call in this many by default: timing every call adds
/// about a fifth to the ~900-cycle max-gap private mmap path (three nested
/// sites, two rdtsc each); one in eight adds about 2%.
pub const DEFAULT_PROBE_EVERY: u32 = 8;
/// Largest accepted `--probe-every`.
pub const MAX_PROBE_EVERY: u32 = 1_000_000;
/// The kvm VMM guest sampler's default rate (`--guest-freq`), Hz.
pub const DEFAULT_GUEST_FREQ_HZ: u32 = 1000;
/// The highest guest sampling rate (the sample timer's limit), Hz.
pub const MAX_GUEST_FREQ_HZ: u32 = 100_000;
/// Largest accepted `--warmup-trials`.
pub const MAX_WARMUP_TRIALS: u32 = 1_000;
/// Counted trials per point when none are asked for (the study's 12).
pub const DEFAULT_TRIALS: u32 = 12;
/// Warm-up trials per point when none are asked for (the study's 2).
pub const DEFAULT_WARMUP_TRIALS: u32 = 2;
