//! The kvm VMM guest sampler's results (`--collect guest`) into the
//! bundle: each counted trial's guest stacks merged, named with the
//! guest symbol map and folded under `[guest]`
//! ([`collectors::guest_stacks`]), joined to the point's folded stacks and
//! the run's `stacks.folded`; the counts as the point's
//! `extra.guest_sampler` and the run's `profile`.

use bundle::folded::FoldedStacks;
use bundle::ProfileInfo;
use collectors::guest_stacks::fold_guest_stacks;
use collectors::symbolize::GuestSymbolMap;
use serde_json::json;

use crate::platforms::{GuestSamples, TrialOutcome};

/// `profile.event` of a run whose only sampler is the guest sampler.
pub const GUEST_SAMPLER_EVENT: &str = "kvm-guest-sampler";

/// The weight of one guest sample: its period in nanoseconds, the unit
/// of cpu-clock samples, so the `[guest]` root and perf's roots share a
/// scale in one folded file.
pub fn sample_weight_ns(hz: u32) -> u64 {
    1_000_000_000 / u64::from(hz.max(1))
}

/// What the guest sampler gave one point.
#[derive(Debug, Clone)]
pub struct GuestPoint {
    /// The counted trials' samples together.
    pub samples: GuestSamples,
    /// Their stacks named and folded.
    pub folded: FoldedStacks,
}

impl GuestPoint {
    /// Adds another point's samples: counts and folded stacks (the run's
    /// total keeps no raw stacks).
    pub fn absorb(&mut self, other: &GuestPoint) {
        self.samples.summary.add(&other.samples.summary);
        self.folded.merge(&other.folded);
    }
}

/// The counted trials' guest samples, folded with `symbols`; `None` where
/// no trial armed the sampler.
pub fn guest_point(
    outcomes: &[TrialOutcome],
    symbols: &[(u64, u64, String)],
) -> Option<GuestPoint> {
    let mut merged: Option<GuestSamples> = None;
    for g in outcomes.iter().filter_map(|o| o.guest.as_ref()) {
        merged.get_or_insert_with(GuestSamples::default).add(g);
    }
    let samples = merged?;
    let map = GuestSymbolMap::new(symbols.iter().cloned());
    let folded = fold_guest_stacks(&samples.stacks, &map, sample_weight_ns(samples.summary.hz));
    Some(GuestPoint { samples, folded })
}

/// The point's `extra.guest_sampler`: rate, ticks, samples, broken
/// chains, and the guest's share of the sampled time by samples beside
/// the same share by rdtsc (cycles inside `KVM_RUN`).
pub fn guest_json(g: &GuestSamples) -> serde_json::Value {
    let s = &g.summary;
    json!({
        "hz": s.hz,
        "ticks": s.ticks,
        "in_run_ticks": s.in_run_ticks,
        "samples": s.samples,
        "broken": s.broken,
        "share_by_samples": s.guest_share(),
        "share_by_in_run_ticks": s.tick_share(),
        "share_by_rdtsc": s.rdtsc_share(),
        "armed_cycles": s.armed_cycles,
        "in_run_cycles": s.in_run_cycles,
        "weight_ns": sample_weight_ns(s.hz),
    })
}

/// The run's profile with the guest samples counted in: perf's profile
/// (`profile`, if perf ran) with `samples`, `guest_samples` and
/// `total_weight` grown, or a profile of the guest sampler alone.
pub fn profile_with_guest(profile: Option<ProfileInfo>, guest: &GuestPoint) -> ProfileInfo {
    let n = guest.samples.summary.samples;
    let weight = guest.folded.total_weight();
    let mut p = profile.unwrap_or_else(|| ProfileInfo {
        event: GUEST_SAMPLER_EVENT.to_string(),
        frequency_hz: Some(u64::from(guest.samples.summary.hz)),
        ..ProfileInfo::default()
    });
    p.samples += n;
    p.guest_samples += n;
    p.total_weight += weight;
    p
}
