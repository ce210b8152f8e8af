//! Synthetic bundles: data for tests, golden files, benchmarks and examples,
//! built with the real schema types while no recorded bundle is at hand.
//! Nothing here is read by a renderer or the TUI, and nothing here is ever
//! presented as a measurement.
//!
//! Two datasets, kept apart because golden files and snapshots are pinned to
//! each, built from the same builders:
//!
//! - [`exp1`]: the renderers' dataset (flamegraph golden files, CLI tests):
//!   exp1 on the in-process platform, private and anonymous mappings, an
//!   iteration sweep and a size sweep, per-call series, a sampled profile;
//! - [`sample`]: the browser's dataset (TUI snapshots, tests, benches and
//!   the demo example): exp1 with private mappings at four counts, inproc
//!   with both strategies and native, doctor facts, a folded profile, and a
//!   writer of whole bundles;
//! - [`guest`]: kvm points whose stacks cross the guest boundary
//!   (`[guest]`, `[exit: mmio]`, the sentry's `dispatch`), for the TUI's
//!   guest / exit / sentry split;
//! - [`stacks`]: generators of large folded profiles for benchmarks;
//! - [`trials`]: per-trial folded stacks of a point (samples drawn from a
//!   model profile), and bundles carrying them, for the gated frame diff;
//! - `builders`: what both datasets build from (the machine's TSC
//!   frequency, how a figure spreads around its median, the exp1 run).

mod builders;
pub mod exp1;
pub mod guest;
pub mod sample;
pub mod stacks;
pub mod trials;

pub use builders::TSC_HZ;
pub use exp1::{exp1_run, sampled_profile, write_exp1_bundle};
pub use guest::{guest_run, write_guest_bundle};
pub use sample::{
    latency_point, sample_capabilities, sample_folded, sample_point, sample_run, write_bundle,
};
pub use stacks::{many_stacks, synthetic_folded};
