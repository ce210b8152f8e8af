//! speedscope's file format (`https://www.speedscope.app/file-format-schema.json`):
//! one shared frame table and one "sampled" profile per set of stacks, each
//! sample a list of frame indices from the root to the leaf with its weight.
//! A sampled profile is followed by the rdtsc probe stacks when the bundle
//! has both, so the probe sites are named frames of the file.

use std::collections::HashMap;

use bundle::folded::FoldedStacks;
use serde::Serialize;

use crate::error::{RenderError, Result};
use crate::export_source::ExportSource;

/// The schema URL speedscope recognises its own files by.
pub const SPEEDSCOPE_SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct Frame<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SampledProfile {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    start_value: u64,
    end_value: u64,
    samples: Vec<Vec<usize>>,
    weights: Vec<u64>,
}

#[derive(Serialize)]
struct Shared<'a> {
    frames: Vec<Frame<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct File<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared<'a>,
    profiles: Vec<SampledProfile>,
    name: &'a str,
    active_profile_index: usize,
    exporter: String,
}

/// The frame table shared by every profile of the file.
#[derive(Default)]
struct Frames<'a> {
    list: Vec<Frame<'a>>,
    index: HashMap<&'a str, usize>,
}

impl<'a> Frames<'a> {
    fn id(&mut self, name: &'a str) -> usize {
        *self.index.entry(name).or_insert_with(|| {
            self.list.push(Frame { name });
            self.list.len() - 1
        })
    }

    /// One profile of `stacks`: samples root first, in the stacks' order.
    fn profile(
        &mut self,
        stacks: &'a FoldedStacks,
        name: String,
        unit: &'static str,
    ) -> SampledProfile {
        let mut samples = Vec::with_capacity(stacks.len());
        let mut weights = Vec::with_capacity(stacks.len());
        for (stack, weight) in stacks.iter() {
            samples.push(stack.split(';').map(|f| self.id(f)).collect());
            weights.push(weight);
        }
        SampledProfile {
            kind: "sampled",
            name,
            unit,
            start_value: 0,
            end_value: stacks.total_weight(),
            samples,
            weights,
        }
    }
}

/// speedscope's unit of a weight unit of [`ExportSource::unit`].
fn speedscope_unit(unit: &str) -> &'static str {
    match unit {
        "nanoseconds" => "nanoseconds",
        _ => "none",
    }
}

/// The export as speedscope JSON, named `name` in speedscope's title bar.
pub fn to_speedscope_json(src: &ExportSource, name: &str) -> Result<Vec<u8>> {
    let mut frames = Frames::default();
    let mut profiles = vec![frames.profile(
        &src.stacks,
        format!("{} ({}, {})", src.origin, src.value_type, src.unit),
        speedscope_unit(src.unit),
    )];
    if let Some(p) = &src.probes {
        profiles.push(frames.profile(p, "rdtsc probes (exact TSC cycles)".into(), "none"));
    }
    let file = File {
        schema: SPEEDSCOPE_SCHEMA,
        shared: Shared {
            frames: frames.list,
        },
        profiles,
        name,
        active_profile_index: 0,
        exporter: format!("sentryprof {}", env!("CARGO_PKG_VERSION")),
    };
    serde_json::to_vec(&file)
        .map_err(|e| RenderError::InvalidOption(format!("speedscope export: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(probes: bool) -> ExportSource {
        ExportSource {
            stacks: FoldedStacks::parse("main;mmap;create_vma 70\nmain;do_mmap_[k] 30\n", "t")
                .unwrap(),
            value_type: "cpu-clock".into(),
            unit: "nanoseconds",
            origin: "sampled profile".into(),
            probes: probes.then(|| {
                FoldedStacks::parse("mmap;create_vma;find_available 9\nmmap;map_as 4\n", "p")
                    .unwrap()
            }),
            tsc_hz: 0,
        }
    }

    #[test]
    fn samples_are_root_first_with_shared_frames() {
        let j: serde_json::Value =
            serde_json::from_slice(&to_speedscope_json(&source(true), "n").unwrap()).unwrap();
        assert_eq!(j["$schema"], SPEEDSCOPE_SCHEMA);
        let names: Vec<&str> = j["shared"]["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        let p = &j["profiles"][0];
        assert_eq!(p["unit"], "nanoseconds");
        assert_eq!(p["endValue"], 100);
        let last: Vec<&str> = p["samples"][1]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| names[i.as_u64().unwrap() as usize])
            .collect();
        assert_eq!(last, ["main", "mmap", "create_vma"]);
        assert_eq!(p["weights"][1], 70);
        let probes = &j["profiles"][1];
        assert_eq!(probes["unit"], "none");
        assert_eq!(probes["endValue"], 13);
        assert!(names.contains(&"find_available") && names.contains(&"map_as"));
        // "mmap" is one shared frame of both profiles.
        assert_eq!(names.iter().filter(|n| **n == "mmap").count(), 1);
        let one: serde_json::Value =
            serde_json::from_slice(&to_speedscope_json(&source(false), "n").unwrap()).unwrap();
        assert_eq!(one["profiles"].as_array().unwrap().len(), 1);
    }
}
