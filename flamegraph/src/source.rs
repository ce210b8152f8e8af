//! What renderers read from a bundle: its sampled profile (folded stacks),
//! per-point folded files, and a one-line description of the run.

use std::collections::BTreeSet;
use std::path::PathBuf;

use bundle::folded::FoldedStacks;
use bundle::{LoadedBundle, Point, ProfileInfo, RunJson, STACKS_FOLDED};

use crate::error::{RenderError, Result};

/// The sampled profile of a bundle.
#[derive(Debug, Clone)]
pub struct Profile {
    pub stacks: FoldedStacks,
    /// `run.json`'s `profile`, when the bundle has one.
    pub info: Option<ProfileInfo>,
    /// The folded file it was read from.
    pub path: PathBuf,
}

fn read_folded(bundle: &LoadedBundle, rel: &str) -> Result<(FoldedStacks, PathBuf)> {
    let path = bundle.shown_path(rel);
    let text = bundle.read_text(rel)?;
    let stacks = FoldedStacks::parse(&text, &path.display().to_string())?;
    Ok((stacks, path))
}

/// Relative path of the bundle's sampled folded file: `run.json`'s
/// `profile.folded`, else `stacks.folded` if present.
pub fn profile_rel(bundle: &LoadedBundle) -> Option<String> {
    match &bundle.run.profile {
        Some(p) => Some(p.folded.clone()),
        None if bundle.path_of(STACKS_FOLDED).is_file() => Some(STACKS_FOLDED.to_string()),
        None => None,
    }
}

/// The raw text of the bundle's sampled folded file and its path (not yet
/// validated: see [`crate::flame::render_folded_text`]).
pub fn load_profile_text(bundle: &LoadedBundle) -> Result<Option<(String, PathBuf)>> {
    match profile_rel(bundle) {
        Some(rel) => Ok(Some((bundle.read_text(&rel)?, bundle.shown_path(&rel)))),
        None => Ok(None),
    }
}

/// The bundle's sampled profile: the file `run.json`'s `profile.folded`
/// names, else `stacks.folded` if present; None when the bundle has neither.
///
/// Errors: the named file is missing or malformed; or it holds no stacks
/// although `run.json` says samples were taken (an empty profile).
pub fn load_profile(bundle: &LoadedBundle) -> Result<Option<Profile>> {
    let Some(rel) = profile_rel(bundle) else {
        return Ok(None);
    };
    let (stacks, path) = read_folded(bundle, &rel)?;
    if stacks.is_empty() {
        return Err(RenderError::EmptyProfile {
            source_name: path.display().to_string(),
            why: "the folded stacks file holds no samples".into(),
        });
    }
    Ok(Some(Profile {
        stacks,
        info: bundle.run.profile.clone(),
        path,
    }))
}

/// The folded stacks of one point, when it was sampled.
pub fn load_point_folded(bundle: &LoadedBundle, point: &Point) -> Result<Option<FoldedStacks>> {
    match &point.folded {
        Some(rel) => Ok(Some(read_folded(bundle, rel)?.0)),
        None => Ok(None),
    }
}

fn joined(values: BTreeSet<String>) -> String {
    let v: Vec<String> = values.into_iter().filter(|s| !s.is_empty()).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

/// "workload exp1 | platform inproc,kvm | search linear,maxgap | host (cpu,
/// kernel)": what was run and where.
pub fn describe_run(run: &RunJson) -> String {
    let platforms = joined(run.points.iter().map(|p| p.platform.clone()).collect());
    let searches = joined(run.points.iter().filter_map(|p| p.search.clone()).collect());
    let mappings = joined(run.points.iter().map(|p| p.mapping.clone()).collect());
    let workload = if run.workload.name.is_empty() {
        format!("{:?}", run.kind).to_lowercase()
    } else {
        run.workload.name.clone()
    };
    let m = &run.machine;
    let machine = [m.hostname.as_str(), m.cpu_model.as_str(), m.kernel.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let machine = if machine.is_empty() {
        "unknown machine".into()
    } else {
        machine
    };
    format!(
        "workload {workload} | platform {platforms} | search {searches} | mapping {mappings} | {machine}"
    )
}

/// "event cycles:HG, 12,345 samples" or "rdtsc probes, exact cycles".
pub fn describe_event(info: Option<&ProfileInfo>, samples_fallback: u64) -> String {
    match info {
        Some(p) => format!("event {}, {} samples", p.event, p.samples),
        None => format!("folded stacks, {samples_fallback} total weight"),
    }
}
