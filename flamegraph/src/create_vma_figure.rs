//! The study's Figures 4 and 5: one flamegraph rooted at createVMA per
//! sampled point (the study drew 10,000 and 25,000 mappings), and
//! findAvailable's share of createVMA (40% -> 82% in the study with the
//! linear walk).
//!
//! Stacks come from each point's own folded file (`points/NNN.folded`).
//! Each stack is cut to start at its outermost `create_vma` frame; stacks
//! without one are left out. Frames are matched by whole function name:
//! the name without a `_[k]`/`_[g]` suffix, without generic arguments
//! (`<...>`) and without its path (`a::b::create_vma` is `create_vma`), so
//! `create_vma_fast` or `find_available_linear` never match.

use bundle::folded::FoldedStacks;
use bundle::{LoadedBundle, Point, SITE_CREATE_VMA, SITE_FIND_AVAILABLE};
use serde::Serialize;

use crate::charts::{stem_part, Chart};
use crate::flame::{render, FlameOptions};
use crate::functions::weight_meaning;
use crate::platform_order::platform_key;
use crate::source::load_point_folded;
use crate::Result;

/// The workload Figures 4 and 5 are drawn for (the study's Exp1: latency
/// against the number of mappings).
pub const FIGURE45_WORKLOAD: &str = "exp1";

/// findAvailable's share of createVMA in one point's samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateVmaShare {
    /// The point's label.
    pub point: String,
    pub platform: String,
    /// Search strategy, "-" when none.
    pub search: String,
    /// Number of mappings (the point's iterations).
    pub mappings: u64,
    /// Weight of the stacks through create_vma.
    pub create_vma_weight: u64,
    /// Weight of those that also pass through find_available.
    pub find_available_weight: u64,
    /// Samples under create_vma (estimated from the weights when they are
    /// periods, as the function table does).
    pub samples: u64,
    /// `find_available_weight / create_vma_weight`.
    pub share: f64,
}

/// A frame's function name, bare: no kernel/guest suffix, no generic
/// arguments, no path.
pub fn bare_name(frame: &str) -> String {
    let f = frame
        .strip_suffix(bundle::KERNEL_FRAME_SUFFIX)
        .or_else(|| frame.strip_suffix(bundle::GUEST_FRAME_SUFFIX))
        .unwrap_or(frame);
    let mut depth = 0usize;
    let mut flat = String::with_capacity(f.len());
    for c in f.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            c if depth == 0 => flat.push(c),
            _ => {}
        }
    }
    match flat.rsplit_once("::") {
        Some((_, last)) => last.to_string(),
        None => flat,
    }
}

/// Whether `frame` is the function `name` (see the module doc).
pub fn frame_is(frame: &str, name: &str) -> bool {
    frame.contains(name) && bare_name(frame) == name
}

/// The stacks of `stacks` that pass through create_vma, each cut to start
/// at its outermost create_vma frame.
pub fn create_vma_rooted(stacks: &FoldedStacks) -> FoldedStacks {
    let mut out = FoldedStacks::new();
    for (stack, w) in stacks.iter() {
        if !stack.contains(SITE_CREATE_VMA) {
            continue;
        }
        let mut start = 0usize;
        for frame in stack.split(';') {
            if frame_is(frame, SITE_CREATE_VMA) {
                out.add_joined(stack[start..].to_string(), w);
                break;
            }
            start += frame.len() + 1;
        }
    }
    out
}

/// `(weight under create_vma, weight of it under find_available)` of
/// create_vma-rooted stacks.
pub fn find_available_weight(rooted: &FoldedStacks) -> (u64, u64) {
    let mut fa = 0u64;
    for (stack, w) in rooted.iter() {
        if stack
            .split(';')
            .skip(1)
            .any(|f| frame_is(f, SITE_FIND_AVAILABLE))
        {
            fa += w;
        }
    }
    (rooted.total_weight(), fa)
}

/// One sampled point's create_vma-rooted stacks and its share row.
#[derive(Debug, Clone)]
pub struct CreateVmaProfile {
    pub share: CreateVmaShare,
    pub stacks: FoldedStacks,
}

fn share_row(b: &LoadedBundle, p: &Point, rooted: &FoldedStacks) -> CreateVmaShare {
    let (cv, fa) = find_available_weight(rooted);
    let (_, samples_per_weight, _) = weight_meaning(b.run.profile.as_ref());
    CreateVmaShare {
        point: p.label(),
        platform: p.platform.clone(),
        search: p.search.clone().unwrap_or_else(|| "-".into()),
        mappings: p.iterations,
        create_vma_weight: cv,
        find_available_weight: fa,
        samples: (cv as f64 * samples_per_weight).round() as u64,
        share: if cv == 0 { 0.0 } else { fa as f64 / cv as f64 },
    }
}

/// Every sampled exp1 point whose stacks pass through create_vma, ordered by
/// platform (native, ptrace, systrap, inproc, kvm, others), search, mapping,
/// size, touch and mappings. Points without samples under create_vma are
/// left out: a bundle without them gets no Figure 4/5.
///
/// Errors: a point's folded file is missing or malformed.
pub fn create_vma_profiles(b: &LoadedBundle) -> Result<Vec<CreateVmaProfile>> {
    let mut pts: Vec<&Point> = b
        .run
        .points
        .iter()
        .filter(|p| p.workload == FIGURE45_WORKLOAD && p.folded.is_some())
        .collect();
    pts.sort_by_key(|p| {
        (
            platform_key(&p.platform_label()),
            p.mapping.clone(),
            p.size,
            p.touch,
            p.iterations,
        )
    });
    let mut out = Vec::new();
    for p in pts {
        let Some(stacks) = load_point_folded(b, p)? else {
            continue;
        };
        let rooted = create_vma_rooted(&stacks);
        if rooted.is_empty() {
            continue;
        }
        out.push(CreateVmaProfile {
            share: share_row(b, p, &rooted),
            stacks: rooted,
        });
    }
    Ok(out)
}

/// The share rows of [`create_vma_profiles`].
pub fn create_vma_shares(b: &LoadedBundle) -> Result<Vec<CreateVmaShare>> {
    Ok(create_vma_profiles(b)?
        .into_iter()
        .map(|p| p.share)
        .collect())
}

/// Figures 4 and 5: one flamegraph per sampled point with create_vma
/// stacks, `create_vma_flamegraph_<point>.svg`, its subtitle giving
/// findAvailable's share of createVMA.
pub fn create_vma_flames(b: &LoadedBundle) -> Result<Vec<Chart>> {
    let mut out = Vec::new();
    for prof in create_vma_profiles(b)? {
        let s = &prof.share;
        let title = format!(
            "createVMA at {} mappings ({}/{})",
            s.mappings, s.platform, s.search
        );
        let opts = FlameOptions {
            title: title.clone(),
            subtitle: Some(format!(
                "find_available {:.1}% of create_vma | {} samples under create_vma | {}",
                s.share * 100.0,
                s.samples,
                s.point
            )),
            ..FlameOptions::default()
        };
        let svg = render(&prof.stacks, &opts, &s.point)?;
        out.push(Chart {
            stem: format!("create_vma_flamegraph_{}", stem_part(&s.point)),
            title,
            svg: String::from_utf8_lossy(&svg).into_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frame_names_only() {
        assert!(frame_is("create_vma", "create_vma"));
        assert!(frame_is(
            "instrumented_sentry::mm::MemoryManager::create_vma",
            "create_vma"
        ));
        assert!(frame_is("create_vma<instrumented_sentry::X>", "create_vma"));
        assert!(frame_is("<mm::A as mm::B>::create_vma", "create_vma"));
        assert!(frame_is("find_available_[k]", "find_available"));
        assert!(!frame_is("VmaSet::find_available_linear", "find_available"));
        assert!(!frame_is("create_vma_fast", "create_vma"));
        assert!(!frame_is("create_vma::{closure#0}", "create_vma"));
    }

    #[test]
    fn share_of_a_known_stack_set() {
        let text = "main;mmap;create_vma;find_available;walk 40\n\
                    main;mmap;create_vma;find_available 20\n\
                    main;mmap;create_vma;insert 30\n\
                    main;mmap;create_vma;find_available_linear 10\n\
                    main;mmap;get_pmas 500\n\
                    main;other;find_available 7\n";
        let f = FoldedStacks::parse(text, "t").unwrap();
        let rooted = create_vma_rooted(&f);
        assert_eq!(rooted.total_weight(), 100);
        assert!(rooted.iter().all(|(s, _)| s.starts_with("create_vma")));
        assert_eq!(find_available_weight(&rooted), (100, 60));
    }
}
