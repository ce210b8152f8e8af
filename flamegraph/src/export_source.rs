//! What an export holds: the bundle's sampled profile, else its rdtsc
//! probe stacks, with what a weight means ([`ExportSource`]).

use bundle::folded::FoldedStacks;
use bundle::{LoadedBundle, RUN_JSON};

use crate::error::{RenderError, Result};
use crate::probe_flame::probe_folded_run;
use crate::source::load_profile;

/// The stacks to export and what their weights mean.
#[derive(Debug, Clone)]
pub struct ExportSource {
    pub stacks: FoldedStacks,
    /// "cycles", "samples", ...
    pub value_type: String,
    /// The unit of a weight: "nanoseconds" (cpu-clock, task-clock) or
    /// "count" (samples, cycles and every other event).
    pub unit: &'static str,
    /// Where the stacks come from, in words.
    pub origin: String,
    /// The rdtsc probe stacks (TSC cycles) when `stacks` is a sampled
    /// profile and the bundle also has probe figures.
    pub probes: Option<FoldedStacks>,
    /// The TSC frequency the probe cycles were counted at (0: unknown).
    pub tsc_hz: u64,
}

/// The unit of a sample weight of `value_type`: the clock events count
/// nanoseconds, every other event (and a plain sample count) a count.
pub fn weight_unit(value_type: &str) -> &'static str {
    match value_type {
        "cpu-clock" | "task-clock" => "nanoseconds",
        _ => "count",
    }
}

/// The bundle's sampled profile, else its probe stacks.
pub fn export_source(b: &LoadedBundle) -> Result<ExportSource> {
    if let Some(p) = load_profile(b)? {
        let value_type = match &p.info {
            Some(i) if i.total_weight > 0 && i.total_weight != i.samples => {
                i.event.split(':').next().unwrap_or("weight").to_string()
            }
            _ => "samples".to_string(),
        };
        let origin = match &p.info {
            Some(i) => format!("sampled profile, event {}", i.event),
            None => "sampled profile".to_string(),
        };
        let probes = Some(probe_folded_run(&b.run)).filter(|s| !s.is_empty());
        return Ok(ExportSource {
            stacks: p.stacks,
            unit: weight_unit(&value_type),
            value_type,
            origin,
            probes,
            tsc_hz: b.run.tsc_hz,
        });
    }
    let stacks = probe_folded_run(&b.run);
    if stacks.is_empty() {
        return Err(RenderError::EmptyProfile {
            source_name: b.dir.join(RUN_JSON).display().to_string(),
            why: "no sampled profile and no rdtsc probe figures to export".into(),
        });
    }
    Ok(ExportSource {
        stacks,
        value_type: "cycles".into(),
        unit: "count",
        origin: "rdtsc probes (exact TSC cycles)".into(),
        probes: None,
        tsc_hz: b.run.tsc_hz,
    })
}
