//! The bootstrap settings every comparison shares: the site and latency
//! rows of `compare` ([`crate::compare`]) and its frame diff
//! ([`crate::frame_diff`]).

/// Bootstrap resamples per comparison.
pub const RESAMPLES: usize = 2000;
/// Seed of the bootstrap generator.
pub const SEED: u64 = 0x5e47_5290_f0f0_1234;
/// Fewest trials on each side for a verdict.
pub const MIN_TRIALS: usize = 3;
