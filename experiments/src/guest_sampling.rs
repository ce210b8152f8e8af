//! The kvm VMM guest sampler's results (`--collect guest`) into the
//! bundle: each counted trial's guest stacks merged, named with the
//! guest symbol map and folded under `[guest]`
//! ([`collectors::guest_stacks`]), joined to the point's folded stacks and
//! the run's `stacks.folded`; the counts as the point's
//! `extra.guest_sampler` and the run's `profile`.

use std::sync::Arc;

use bundle::folded::FoldedStacks;
use bundle::ProfileInfo;
use collectors::guest_stacks::{fold_guest_stacks, fold_pmu_guest_ips};
use collectors::perf::guest_pmu::{host_guest_cycles_split, CyclesHgOnThread};
use collectors::symbolize::GuestSymbolMap;
use instrumented_sentry::platform::kvm::vmm::vcpu_pmu::VcpuPmu;
use serde_json::json;

use crate::platforms::{GuestSamples, TrialOutcome};

/// `profile.event` of a run whose only sampler is the guest sampler.
pub const GUEST_SAMPLER_EVENT: &str = "kvm-guest-sampler";

/// Hardware `cycles:HG` on the vCPU thread beside the guest sampler, for
/// a kvm run with the guest sampler (`guest_hz`) and perf: where the
/// capability probe finds hardware cycles that split host and guest, the
/// sessions' opener; else the one line the run says instead.
pub fn vcpu_pmu(perf: bool, guest_hz: Option<u32>) -> Result<Option<Arc<dyn VcpuPmu>>, String> {
    let Some(hz) = guest_hz.filter(|_| perf) else {
        return Ok(None);
    };
    match host_guest_cycles_split() {
        Ok(()) => Ok(Some(Arc::new(CyclesHgOnThread::new(u64::from(hz))))),
        Err(why) => Err(format!(
            "cycles:G guest samples: not measured ({why}); the guest sampler runs on"
        )),
    }
}

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
    let mut folded = fold_guest_stacks(&samples.stacks, &map, sample_weight_ns(samples.summary.hz));
    if let Some(p) = &samples.pmu {
        // Each cycles sample stands for an equal part of the thread's
        // time on a CPU: in nanoseconds, the unit of the folded file.
        let weight = p.on_cpu_ns / p.samples.max(1);
        folded.merge(&fold_pmu_guest_ips(&p.guest_ips, &map, weight));
    }
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
        "late_ticks": s.late_ticks,
        "stops": s.stops,
        "samples": s.samples,
        "broken": s.broken,
        "share_by_samples": s.guest_share(),
        "share_by_in_run_ticks": s.tick_share(),
        "share_by_rdtsc": s.rdtsc_share(),
        "share_by_rdtsc_of_armed": s.rdtsc_share_of_armed(),
        "stop_share": s.stop_share(),
        "stop_ticks": s.stop_ticks,
        "armed_cycles": s.armed_cycles,
        "in_run_cycles": s.in_run_cycles,
        "stop_cycles": s.stop_cycles,
        "weight_ns": sample_weight_ns(s.hz),
        "pmu": g.pmu.as_ref().map(|p| json!({
            "event": p.event,
            "samples": p.samples,
            "guest_samples": p.guest_samples,
            "lost": p.lost,
            "on_cpu_ns": p.on_cpu_ns,
            "wall_ns": p.wall_ns,
            "share": p.guest_share(),
        })),
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
