//! Which flamegraphs a bundle gets, with titles that say what was run:
//! the sampled profile, the rdtsc-probe flame, and differential flames
//! (two search strategies of one bundle, or two bundles).

use std::path::Path;

use bundle::folded::FoldedStacks;
use bundle::{
    write_files_atomic, LoadedBundle, Point, GUEST_FRAME_SUFFIX, KERNEL_FRAME_SUFFIX, RUN_JSON,
};

use crate::error::{RenderError, Result};
use crate::flame::{
    render, render_diff, render_folded_text, DiffOptions, FlameOptions, Orientation,
};
use crate::probe_flame::{probe_folded_run, probe_folded_with_prefix};
use crate::source::{
    describe_event, describe_run, load_point_folded, load_profile, load_profile_text, profile_rel,
};

/// What to compare in a differential flamegraph.
#[derive(Debug, Clone)]
pub enum DiffMode {
    /// No differential flamegraph.
    None,
    /// This bundle (before) against another (after).
    Bundle(Box<LoadedBundle>),
    /// Points of one search strategy (before) against another (after),
    /// matched by everything else.
    Searches { before: String, after: String },
}

/// Options of [`bundle_flamegraphs`].
#[derive(Debug, Clone)]
pub struct BundleFlameOptions {
    pub orientation: Orientation,
    pub min_width_px: f64,
    pub diff: DiffMode,
    /// Use the rdtsc probes rather than the sampled profile (the probe
    /// flame is also drawn whenever the bundle has no sampled profile).
    pub probes: bool,
    /// A title instead of the one saying what is drawn.
    pub title: Option<String>,
    /// A fixed width in pixels (default: 1200, stretching to the window).
    pub width: Option<usize>,
    /// Keep the start-up frames ([`crate::startup`]; trimmed by default).
    pub keep_startup: bool,
}

impl Default for BundleFlameOptions {
    fn default() -> Self {
        BundleFlameOptions {
            orientation: Orientation::Flame,
            min_width_px: 0.1,
            diff: DiffMode::None,
            probes: false,
            title: None,
            width: None,
            keep_startup: false,
        }
    }
}

/// A rendered file: its name (relative to the output directory) and bytes.
#[derive(Debug, Clone)]
pub struct RenderedFile {
    pub name: String,
    pub bytes: Vec<u8>,
    /// One line for the user: what the file shows.
    pub description: String,
}

fn suffix(o: Orientation) -> &'static str {
    match o {
        Orientation::Flame => "flamegraph",
        Orientation::Icicle => "icicle",
    }
}

/// Stacks to draw for a bundle and a description of them: the sampled
/// profile unless `probes` (or there is none), else the probe stacks.
fn main_stacks(b: &LoadedBundle, probes: bool) -> Result<(FoldedStacks, String, String, bool)> {
    if !probes {
        if let Some(p) = load_profile(b)? {
            let event = describe_event(p.info.as_ref(), p.stacks.total_weight());
            let unit = match &p.info {
                Some(i) if i.total_weight > 0 && i.total_weight != i.samples => {
                    i.event.split(':').next().unwrap_or("weight").to_string()
                }
                _ => "samples".to_string(),
            };
            return Ok((p.stacks, event, unit, false));
        }
    }
    let stacks = probe_folded_run(&b.run);
    let calls: u64 = b
        .run
        .points
        .iter()
        .filter_map(|p| p.sites.get("mmap").map(|s| s.calls))
        .sum();
    Ok((
        stacks,
        format!("rdtsc probes, exact TSC cycles, {calls} mmap calls"),
        "cycles".to_string(),
        true,
    ))
}

fn empty(b: &LoadedBundle, why: &str) -> RenderError {
    RenderError::EmptyProfile {
        source_name: b.dir.join(RUN_JSON).display().to_string(),
        why: why.to_string(),
    }
}

/// `--diff-search` naming a strategy no point of the bundle used.
fn known_search(b: &LoadedBundle, before: &str, after: &str) -> Result<()> {
    let have: std::collections::BTreeSet<&str> = b
        .run
        .points
        .iter()
        .filter_map(|p| p.search.as_deref())
        .collect();
    match [before, after].into_iter().find(|s| !have.contains(s)) {
        Some(s) => Err(RenderError::InvalidOption(format!(
            "--diff-search {before},{after}: {s:?} is not a search strategy of {} (it has: {})",
            b.dir.join(RUN_JSON).display(),
            if have.is_empty() {
                "none".to_string()
            } else {
                have.into_iter().collect::<Vec<_>>().join(", ")
            }
        ))),
        None => Ok(()),
    }
}

/// " | blue: guest, green: host kernel" for the kinds of frames present.
fn colour_key(stacks: &FoldedStacks) -> String {
    let (mut guest, mut kernel) = (false, false);
    for (s, _) in stacks.iter() {
        guest |= s.contains(GUEST_FRAME_SUFFIX);
        kernel |= s.contains(KERNEL_FRAME_SUFFIX);
        if guest && kernel {
            break;
        }
    }
    colour_key_of(guest, kernel)
}

/// [`colour_key`] of folded text.
pub fn colour_key_text(text: &str) -> String {
    colour_key_of(
        text.contains(GUEST_FRAME_SUFFIX),
        text.contains(KERNEL_FRAME_SUFFIX),
    )
}

fn colour_key_of(guest: bool, kernel: bool) -> String {
    let mut parts = Vec::new();
    if guest {
        parts.push("blue: guest (_[g])");
    }
    if kernel {
        parts.push("green: host kernel");
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" | {}, warm: host user", parts.join(", "))
    }
}

/// Stacks of the points of one search strategy, each under a root naming
/// the point without its strategy. Uses the points' sampled folded files
/// when every such point has one (and `probes` is off), else the probes.
fn search_stacks(b: &LoadedBundle, search: &str, probes: bool) -> Result<(FoldedStacks, bool)> {
    let pts: Vec<&Point> = b
        .run
        .points
        .iter()
        .filter(|p| p.search.as_deref() == Some(search))
        .collect();
    let sampled = !probes && !pts.is_empty() && pts.iter().all(|p| p.folded.is_some());
    let mut out = FoldedStacks::new();
    for p in pts {
        let root = p.label_without_search();
        if sampled {
            if let Some(f) = load_point_folded(b, p)? {
                for (stack, w) in f.iter() {
                    out.add_joined(format!("{root};{stack}"), w);
                }
            }
        } else {
            out.merge(&probe_folded_with_prefix(p, &[root.as_str()]));
        }
    }
    Ok((out, !sampled))
}

/// Render the flamegraphs `opts` asks for.
///
/// Errors: nothing to draw (no sampled profile and no probe figures: an
/// empty profile, named by the bundle's run.json); bad folded files.
pub fn bundle_flamegraphs(
    b: &LoadedBundle,
    opts: &BundleFlameOptions,
) -> Result<Vec<RenderedFile>> {
    let run_desc = describe_run(&b.run);
    let base = |title: String, subtitle: String, unit: &str| FlameOptions {
        title: opts.title.clone().unwrap_or(title),
        subtitle: Some(subtitle),
        orientation: opts.orientation,
        min_width_px: opts.min_width_px,
        count_name: unit.to_string(),
        width: opts.width,
        keep_startup: opts.keep_startup,
    };
    let orient = suffix(opts.orientation);
    let mut files = Vec::new();
    match &opts.diff {
        DiffMode::None if !opts.probes && profile_rel(b).is_some() => {
            // The sampled profile is rendered straight from its text: the
            // fast path for very large profiles.
            let Some((text, path)) = load_profile_text(b)? else {
                return Err(empty(b, "the sampled profile disappeared while reading"));
            };
            let info = b.run.profile.as_ref();
            let event = describe_event(info, 0);
            let unit = match info {
                Some(i) if i.total_weight > 0 && i.total_weight != i.samples => {
                    i.event.split(':').next().unwrap_or("weight").to_string()
                }
                _ => "samples".to_string(),
            };
            let name = format!("{orient}.svg");
            let title = "sentryprof: sampled profile";
            let key = colour_key_text(&crate::kernel_frames::mark_kernel_frames(&text));
            let subtitle = format!("{run_desc} | {event}{key}");
            let bytes = render_folded_text(
                &text,
                &base(title.into(), subtitle.clone(), &unit),
                &path.display().to_string(),
            )?;
            files.push(RenderedFile {
                name,
                bytes,
                description: format!("{title} ({subtitle})"),
            });
        }
        DiffMode::None => {
            let (stacks, event, unit, from_probes) = main_stacks(b, opts.probes)?;
            if stacks.is_empty() {
                return Err(empty(
                    b,
                    "no sampled profile and no rdtsc probe figures to draw",
                ));
            }
            let (name, title) = if from_probes {
                (
                    format!("probes_{orient}.svg"),
                    "sentryprof: mmap path from rdtsc probes",
                )
            } else {
                (format!("{orient}.svg"), "sentryprof: sampled profile")
            };
            let subtitle = format!("{run_desc} | {event}{}", colour_key(&stacks));
            let what = b.dir.join(&name).display().to_string();
            let bytes = render(&stacks, &base(title.into(), subtitle.clone(), &unit), &what)?;
            files.push(RenderedFile {
                name,
                bytes,
                description: format!("{title} ({subtitle})"),
            });
        }
        DiffMode::Bundle(other) => {
            let (before, ev_a, unit, pa) = main_stacks(b, opts.probes)?;
            let (after, ev_b, _, pb) = main_stacks(other, opts.probes || pa)?;
            let (before, ev_a) = if pb && !pa {
                let (s, e, _, _) = main_stacks(b, true)?;
                (s, e)
            } else {
                (before, ev_a)
            };
            let name = format!("diff_{orient}.svg");
            let title = "sentryprof: differential flamegraph (widths: second bundle; red grew, blue shrank; normalised)";
            let subtitle = format!(
                "{} [{}] -> {} [{}]",
                b.dir.display(),
                ev_a,
                other.dir.display(),
                ev_b
            );
            let what = b.dir.join(&name).display().to_string();
            let o = DiffOptions {
                flame: base(title.into(), subtitle.clone(), &unit),
                normalize: true,
            };
            let bytes = render_diff(&before, &after, &o, &what)?;
            files.push(RenderedFile {
                name,
                bytes,
                description: format!("differential {subtitle}"),
            });
        }
        DiffMode::Searches { before, after } => {
            known_search(b, before, after)?;
            let (sa, probes_a) = search_stacks(b, before, opts.probes)?;
            let (sb, probes_b) = search_stacks(b, after, opts.probes || probes_a)?;
            let (sa, probes) = if probes_b && !probes_a {
                (search_stacks(b, before, true)?.0, true)
            } else {
                (sa, probes_a)
            };
            if sa.is_empty() || sb.is_empty() {
                return Err(empty(
                    b,
                    &format!("no figures for search {before:?} and {after:?} to compare"),
                ));
            }
            let unit = if probes { "cycles" } else { "samples" };
            let source = if probes {
                "rdtsc probes, exact TSC cycles"
            } else {
                "sampled profiles per point"
            };
            let name = format!("diff_{before}_vs_{after}_{orient}.svg");
            let title = format!(
                "sentryprof: {before} -> {after} (widths: {after}; red: more in {after}, blue: less; normalised)"
            );
            let subtitle = format!("{run_desc} | {source}");
            let what = b.dir.join(&name).display().to_string();
            let o = DiffOptions {
                flame: base(title.clone(), subtitle, unit),
                normalize: true,
            };
            let bytes = render_diff(&sa, &sb, &o, &what)?;
            files.push(RenderedFile {
                name,
                bytes,
                description: title,
            });
        }
    }
    Ok(files)
}

/// Write rendered files into `dir`, all or nothing: temporary files first,
/// renamed into place only once every one is written (never a zero-byte or
/// partial file, nor some files of a set without the others). Returns the
/// paths written and a note when temporary files a killed earlier writer
/// left were swept first.
pub fn write_files(
    dir: &Path,
    files: &[RenderedFile],
) -> Result<(Vec<std::path::PathBuf>, Option<String>)> {
    let set: Vec<(std::path::PathBuf, &[u8])> = files
        .iter()
        .map(|f| (dir.join(&f.name), f.bytes.as_slice()))
        .collect();
    let swept = write_files_atomic(&set)?;
    Ok((set.into_iter().map(|(p, _)| p).collect(), swept))
}
