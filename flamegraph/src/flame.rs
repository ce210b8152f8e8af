//! Flamegraph SVGs through inferno's library: flame or icicle orientation,
//! deterministic colours (the same profile renders the same bytes), guest
//! frames (`_[g]`) in blue, host kernel frames (`_[k]`) in green, host user
//! frames in the warm "hot" palette; and differential flamegraphs. Long
//! subtitles wrap ([`crate::subtitle`]).

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::io::BufReader;

use bundle::folded::{FoldedError, FoldedStacks};
use bundle::{GUEST_FRAME_SUFFIX, KERNEL_FRAME_SUFFIX};
use inferno::flamegraph::color::{Color, PaletteMap};
use inferno::flamegraph::{self as inf, Direction};

use crate::error::{RenderError, Result};
use crate::kernel_frames::mark_kernel_frames;
use crate::startup::{trim_startup_line, trim_startup_stacks, TRIMMED_NOTE};
use crate::subtitle;

/// Width the SVG is laid out for (it stretches to the window in a browser).
pub const LAYOUT_WIDTH_PX: usize = 1200;

/// Which way stacks grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Orientation {
    /// Root at the bottom, stacks grow upwards.
    #[default]
    Flame,
    /// Root at the top, stacks grow downwards.
    Icicle,
}

/// How to draw a flamegraph (library options, independent of any CLI).
#[derive(Debug, Clone, PartialEq)]
pub struct FlameOptions {
    pub title: String,
    /// Second line under the title (what was run, where, with what event).
    pub subtitle: Option<String>,
    pub orientation: Orientation,
    /// Frames narrower than this many pixels (of the width) are left out;
    /// a must for very large profiles.
    pub min_width_px: f64,
    /// What a weight counts ("samples", "cycles").
    pub count_name: String,
    /// A fixed width in pixels; None: laid out [`LAYOUT_WIDTH_PX`] wide,
    /// stretching to the window in a browser.
    pub width: Option<usize>,
    /// Keep the Rust and C/C++ start-up frames (trimmed by default:
    /// [`crate::startup`]).
    pub keep_startup: bool,
}

impl Default for FlameOptions {
    fn default() -> Self {
        FlameOptions {
            title: "Flame Graph".into(),
            subtitle: None,
            orientation: Orientation::Flame,
            min_width_px: 0.1,
            count_name: "samples".into(),
            width: None,
            keep_startup: false,
        }
    }
}

/// FNV-1a of a frame name: a stable hash, so colours never depend on order,
/// run or platform.
fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Which world a frame ran in, from its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Guest mode (`_[g]`).
    Guest,
    /// Host kernel (`_[k]`).
    Kernel,
    /// Host user space.
    Host,
}

/// Classify a frame by its suffix.
pub fn frame_kind(name: &str) -> FrameKind {
    if name.ends_with(GUEST_FRAME_SUFFIX) {
        FrameKind::Guest
    } else if name.ends_with(KERNEL_FRAME_SUFFIX) {
        FrameKind::Kernel
    } else {
        FrameKind::Host
    }
}

/// The colour of a frame: a hue family by [`FrameKind`] (guest blue, kernel
/// green, host red-yellow: three families that do not overlap), the shade
/// from a hash of the name.
pub fn frame_color(name: &str) -> Color {
    let h = name_hash(name);
    let v = |shift: u32| ((h >> shift) & 0xff) as f64 / 255.0;
    let (v1, v2, v3) = (v(0), v(8), v(16));
    let c = |base: f64, span: f64, t: f64| (base + span * t).round().clamp(0.0, 255.0) as u8;
    match frame_kind(name) {
        FrameKind::Guest => Color {
            r: c(40.0, 60.0, v1),
            g: c(110.0, 90.0, v2),
            b: c(210.0, 45.0, v3),
        },
        FrameKind::Kernel => Color {
            r: c(40.0, 50.0, v1),
            g: c(165.0, 55.0, v2),
            b: c(90.0, 50.0, v3),
        },
        FrameKind::Host => Color {
            r: c(205.0, 50.0, v3),
            g: c(0.0, 230.0, v1),
            b: c(0.0, 55.0, v2),
        },
    }
}

/// FNV-1a as a `Hasher`, for the short-lived set of suffixed frame names
/// (much cheaper than SipHash on short keys; no untrusted-key concern here).
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvSet<'a> = HashSet<&'a str, BuildHasherDefault<Fnv>>;

/// Collect every guest and kernel frame of `stack` into `set`. Host user
/// frames are left to inferno's deterministic name hash (its "hot"
/// palette), so only stacks holding a suffixed frame are split.
fn add_suffixed_frames<'a>(set: &mut FnvSet<'a>, stack: &'a str) {
    if !stack.contains("_[") {
        return;
    }
    for frame in stack.split(';') {
        if frame_kind(frame) != FrameKind::Host {
            set.insert(frame);
        }
    }
}

/// Collect the guest and kernel frames of folded text by searching for
/// their suffixes (no split of every stack: large profiles stay cheap).
fn collect_suffixed_frames<'a>(text: &'a str, set: &mut FnvSet<'a>) {
    let bytes = text.as_bytes();
    for suffix in [GUEST_FRAME_SUFFIX, KERNEL_FRAME_SUFFIX] {
        for (pos, _) in text.match_indices(suffix) {
            let end = pos + suffix.len();
            // A frame ends at ';' (a caller's frame) or ' ' (the leaf).
            if !matches!(bytes.get(end), Some(b';') | Some(b' ')) {
                continue;
            }
            let start = text[..pos].rfind([';', '\n']).map(|i| i + 1).unwrap_or(0);
            set.insert(text[start..end].trim_start());
        }
    }
}

/// The palette map of a set of suffixed frames.
fn palette_of(set: FnvSet<'_>) -> PaletteMap {
    let mut map = PaletteMap::default();
    for frame in set {
        map.insert(frame, frame_color(frame));
    }
    map
}

/// A palette map holding the colours of the guest and kernel frames of
/// `stacks`.
fn palette_for<'a, I: Iterator<Item = &'a str>>(stacks: I) -> PaletteMap {
    let mut set = FnvSet::default();
    for stack in stacks {
        add_suffixed_frames(&mut set, stack);
    }
    palette_of(set)
}

/// inferno's options, and the subtitle lines after the first that
/// [`finish`] adds.
fn inferno_options<'a>(
    opt: &FlameOptions,
    palette: &'a mut PaletteMap,
) -> (inf::Options<'a>, Vec<String>) {
    let mut o = inf::Options::default();
    o.title = opt.title.clone();
    let width = opt.width.unwrap_or(LAYOUT_WIDTH_PX);
    let mut lines = opt
        .subtitle
        .as_deref()
        .map(|s| subtitle::wrap(s, subtitle::chars_per_line(width)))
        .unwrap_or_default()
        .into_iter();
    o.subtitle = lines.next();
    o.image_width = opt.width;
    o.direction = match opt.orientation {
        Orientation::Flame => Direction::Straight,
        Orientation::Icicle => Direction::Inverted,
    };
    // inferno's min_width is a share of the width in percent.
    o.min_width = (opt.min_width_px.max(0.0) / width as f64) * 100.0;
    o.count_name = opt.count_name.clone();
    o.deterministic = true;
    o.hash = true;
    o.palette_map = Some(palette);
    (o, lines.collect())
}

/// `opt` with the subtitle saying start-up frames were trimmed.
fn noting_trim(opt: &FlameOptions) -> FlameOptions {
    let subtitle = match &opt.subtitle {
        Some(s) => format!("{s} | {TRIMMED_NOTE}"),
        None => TRIMMED_NOTE.to_string(),
    };
    FlameOptions {
        subtitle: Some(subtitle),
        ..opt.clone()
    }
}

/// `stacks` as drawn under `opt`: without start-up frames unless kept,
/// with the options to draw them (the subtitle notes a trim).
fn drawn(stacks: &FoldedStacks, opt: &FlameOptions) -> (Option<FoldedStacks>, FlameOptions) {
    if opt.keep_startup {
        return (None, opt.clone());
    }
    match trim_startup_stacks(stacks) {
        (t, true) => (Some(t), noting_trim(opt)),
        (_, false) => (None, opt.clone()),
    }
}

/// Render `stacks` as a flamegraph SVG.
///
/// `what` names the input in errors. An empty profile is an error (inferno
/// would draw an error picture instead).
pub fn render(stacks: &FoldedStacks, opt: &FlameOptions, what: &str) -> Result<Vec<u8>> {
    if stacks.is_empty() {
        return Err(RenderError::EmptyProfile {
            source_name: what.to_string(),
            why: "no stacks with a non-zero weight".into(),
        });
    }
    let (trimmed, opt) = drawn(stacks, opt);
    let stacks = trimmed.as_ref().unwrap_or(stacks);
    let text = stacks.to_text();
    let mut palette = palette_for(stacks.iter().map(|(s, _)| s));
    let (mut o, more) = inferno_options(&opt, &mut palette);
    // FoldedStacks iterates in byte order, which is what inferno sorts to.
    o.no_sort = true;
    let mut out = Vec::with_capacity(text.len() * 2);
    inf::from_lines(&mut o, text.lines(), &mut out).map_err(|e| RenderError::Svg {
        what: what.to_string(),
        source: e,
    })?;
    Ok(subtitle::add_lines(out, &more))
}

/// Render folded text straight from its lines (the fast path for large
/// files): every line is validated with the rules of
/// [`FoldedStacks::parse`] (errors carry the line number), then inferno
/// sorts and merges the lines itself, as its own CLI does. Kernel frames
/// left bare by `perf script` folding are suffixed `_[k]` first
/// ([`mark_kernel_frames`]).
pub fn render_folded_text(text: &str, opt: &FlameOptions, what: &str) -> Result<Vec<u8>> {
    let text = mark_kernel_frames(text);
    let text = text.as_ref();
    let mut suffixed = FnvSet::default();
    let mut total: u64 = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |problem: String| {
            RenderError::Folded(FoldedError::Malformed {
                source_name: what.to_string(),
                line: i + 1,
                problem,
            })
        };
        let (stack, weight) = line
            .rsplit_once(' ')
            .ok_or_else(|| malformed("expected 'stack weight'".into()))?;
        let weight: u64 = weight
            .parse()
            .map_err(|_| malformed(format!("weight {weight:?} is not a whole number")))?;
        let stack = stack.trim();
        if stack.is_empty() {
            return Err(malformed("empty stack".into()));
        }
        total = total.saturating_add(weight);
    }
    collect_suffixed_frames(text, &mut suffixed);
    if total == 0 {
        return Err(RenderError::EmptyProfile {
            source_name: what.to_string(),
            why: "no stacks with a non-zero weight".into(),
        });
    }
    let mut palette = palette_of(suffixed);
    let lines: Vec<std::borrow::Cow<'_, str>> = if opt.keep_startup {
        text.lines().map(std::borrow::Cow::Borrowed).collect()
    } else {
        text.lines().map(trim_startup_line).collect()
    };
    let trimmed = lines
        .iter()
        .any(|l| matches!(l, std::borrow::Cow::Owned(_)));
    let opt = if trimmed {
        noting_trim(opt)
    } else {
        opt.clone()
    };
    let (mut o, more) = inferno_options(&opt, &mut palette);
    o.no_sort = false;
    let mut out = Vec::with_capacity(text.len() / 4);
    let lines = lines.iter().map(|l| l.as_ref());
    inf::from_lines(&mut o, lines, &mut out).map_err(|e| RenderError::Svg {
        what: what.to_string(),
        source: e,
    })?;
    Ok(subtitle::add_lines(out, &more))
}

/// How to draw a differential flamegraph.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffOptions {
    pub flame: FlameOptions,
    /// Scale the first profile to the second's total weight, so the colours
    /// show shifts in share rather than a change in run length.
    pub normalize: bool,
}

/// Differential flamegraph: frames sized by `after`, red where `after`
/// spends more than `before`, blue where less (inferno's differential mode).
pub fn render_diff(
    before: &FoldedStacks,
    after: &FoldedStacks,
    opt: &DiffOptions,
    what: &str,
) -> Result<Vec<u8>> {
    for (s, name) in [(before, "first"), (after, "second")] {
        if s.is_empty() {
            return Err(RenderError::EmptyProfile {
                source_name: format!("{what} ({name} profile)"),
                why: "no stacks with a non-zero weight".into(),
            });
        }
    }
    let svg_err = |e| RenderError::Svg {
        what: what.to_string(),
        source: e,
    };
    let (tb, flame) = drawn(before, &opt.flame);
    let (ta, flame_a) = drawn(after, &opt.flame);
    let flame = if ta.is_some() { flame_a } else { flame };
    let before = tb.as_ref().unwrap_or(before);
    let after = ta.as_ref().unwrap_or(after);
    let mut merged = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: opt.normalize,
            strip_hex: false,
        },
        BufReader::new(before.to_text().as_bytes()),
        BufReader::new(after.to_text().as_bytes()),
        &mut merged,
    )
    .map_err(svg_err)?;
    let merged = String::from_utf8_lossy(&merged).into_owned();
    let mut palette = palette_for(before.iter().chain(after.iter()).map(|(s, _)| s));
    let (mut o, more) = inferno_options(&flame, &mut palette);
    // The differential lines come out in hash order: let inferno sort them.
    o.no_sort = false;
    let mut out = Vec::new();
    inf::from_lines(&mut o, merged.lines(), &mut out).map_err(svg_err)?;
    Ok(subtitle::add_lines(out, &more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_kernel_host_hues() {
        let g = frame_color("find_available_[g]");
        let k = frame_color("do_mmap_[k]");
        let h = frame_color("find_available");
        assert!(g.b > g.r && g.b > 200, "guest is blue: {g:?}");
        assert!(k.g > 160 && k.r < 91 && k.b < 141, "kernel is green: {k:?}");
        assert!(h.r >= 205, "host is warm: {h:?}");
        assert_eq!(frame_color("x"), frame_color("x"));
    }

    #[test]
    fn same_profile_same_bytes_and_empty_is_an_error() {
        let f = FoldedStacks::parse("a;b 5\na;c_[g] 3\na_[k] 1\n", "t").unwrap();
        let o = FlameOptions::default();
        let one = render(&f, &o, "t").unwrap();
        let two = render(&f, &o, "t").unwrap();
        assert_eq!(one, two);
        let s = String::from_utf8(one).unwrap();
        assert!(s.contains("c_[g]"));
        assert!(matches!(
            render(&FoldedStacks::new(), &o, "empty.folded"),
            Err(RenderError::EmptyProfile { .. })
        ));
    }

    #[test]
    fn text_path_validates_and_matches_the_stacks_path() {
        let text = "m;b_[g] 5\nm;a 3\n\nm;b_[g] 2\nm;c_[k] 1\n";
        let o = FlameOptions::default();
        let from_text = render_folded_text(text, &o, "in.folded").unwrap();
        let stacks = FoldedStacks::parse(text, "in.folded").unwrap();
        assert_eq!(from_text, render(&stacks, &o, "in.folded").unwrap());
        let svg = String::from_utf8(from_text).unwrap();
        let g = frame_color("b_[g]");
        assert!(
            svg.contains(&format!("rgb({},{},{})", g.r, g.g, g.b)),
            "guest colour used"
        );
        let e = render_folded_text("a 1\nb;c x\n", &o, "in.folded").unwrap_err();
        assert_eq!(
            e.to_string(),
            "in.folded:2: weight \"x\" is not a whole number"
        );
        assert!(matches!(
            render_folded_text("a 0\n", &o, "z.folded"),
            Err(RenderError::EmptyProfile { .. })
        ));
    }

    #[test]
    fn diff_is_deterministic() {
        let a = FoldedStacks::parse("m;f 100\nm;g 10\n", "a").unwrap();
        let b = FoldedStacks::parse("m;f 20\nm;g 10\n", "b").unwrap();
        let o = DiffOptions {
            flame: FlameOptions::default(),
            normalize: true,
        };
        let one = render_diff(&a, &b, &o, "d").unwrap();
        assert_eq!(one, render_diff(&a, &b, &o, "d").unwrap());
    }
}
