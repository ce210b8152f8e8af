//! What `sentryprof flamegraph` is asked for ([`FlameRequest`]) checked
//! into [`BundleFlameOptions`]: a sane minimum width and image width, the
//! second bundle of a differential flamegraph read, the two strategies of
//! `--diff-search` told apart; and [`render_request`], which draws it from
//! a bundle or from a folded stacks file (`-`: standard input).

use std::io::Read;
use std::path::{Path, PathBuf};

use bundle::{read_bundle, RUN_JSON};

use crate::bundle_flames::{
    bundle_flamegraphs, colour_key_text, BundleFlameOptions, DiffMode, RenderedFile,
};
use crate::flame::{render_folded_text, FlameOptions, Orientation, LAYOUT_WIDTH_PX};
use crate::kernel_frames::mark_kernel_frames;
use crate::{RenderError, Result};

/// Narrowest and widest `--width` accepted, in pixels.
pub const WIDTH_RANGE: std::ops::RangeInclusive<usize> = 200..=100_000;

/// Flamegraph settings as given.
#[derive(Debug, Clone, Default)]
pub struct FlameRequest {
    /// Icicle orientation (root at the top) instead of flame.
    pub icicle: bool,
    /// Leave out frames narrower than this many pixels (of 1200).
    pub min_width: f64,
    /// Differential flamegraph against this second bundle.
    pub diff: Option<PathBuf>,
    /// Differential flamegraph of two search strategies, "before,after".
    pub diff_search: Option<String>,
    /// Draw from the rdtsc probes even if perf samples exist.
    pub probes: bool,
    /// A title instead of the one saying what is drawn.
    pub title: Option<String>,
    /// A fixed width in pixels (default: 1200, stretching to the window).
    pub width: Option<usize>,
    /// Keep the Rust and C/C++ start-up frames.
    pub keep_startup: bool,
}

impl FlameRequest {
    /// The options of [`crate::bundle_flames::bundle_flamegraphs`].
    ///
    /// Errors: a negative or non-finite width, an unreadable second
    /// bundle, or `diff_search` not naming two different strategies.
    pub fn options(&self) -> Result<BundleFlameOptions> {
        if !self.min_width.is_finite() || self.min_width < 0.0 {
            return Err(RenderError::InvalidOption(format!(
                "--min-width {}: expected a number of pixels >= 0",
                self.min_width
            )));
        }
        if let Some(w) = self.width.filter(|w| !WIDTH_RANGE.contains(w)) {
            return Err(RenderError::InvalidOption(format!(
                "--width {w}: expected {} to {} pixels",
                WIDTH_RANGE.start(),
                WIDTH_RANGE.end()
            )));
        }
        let width = self.width.unwrap_or(LAYOUT_WIDTH_PX);
        if self.min_width > width as f64 {
            return Err(RenderError::InvalidOption(format!(
                "--min-width {}: wider than the whole {width}-pixel graph, every frame would be left out",
                self.min_width
            )));
        }
        let diff = match (&self.diff, &self.diff_search) {
            (Some(p), _) => DiffMode::Bundle(Box::new(read_bundle(p)?)),
            (None, Some(s)) => {
                let parts: Vec<&str> = s.split(',').map(str::trim).collect();
                match parts.as_slice() {
                    [a, b] if !a.is_empty() && !b.is_empty() && a != b => DiffMode::Searches {
                        before: a.to_string(),
                        after: b.to_string(),
                    },
                    _ => {
                        return Err(RenderError::InvalidOption(format!(
                            "--diff-search {s:?}: expected two different strategies, e.g. linear,maxgap"
                        )))
                    }
                }
            }
            (None, None) => DiffMode::None,
        };
        Ok(BundleFlameOptions {
            orientation: if self.icicle {
                Orientation::Icicle
            } else {
                Orientation::Flame
            },
            min_width_px: self.min_width,
            diff,
            probes: self.probes,
            title: self.title.clone(),
            width: self.width,
            keep_startup: self.keep_startup,
        })
    }
}

/// Where `sentryprof flamegraph` reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum FlameInput {
    /// A bundle directory or its run.json.
    Bundle(PathBuf),
    /// A folded stacks file.
    Folded(PathBuf),
    /// Folded stacks on standard input (`-`).
    Stdin,
}

impl FlameInput {
    /// `-` is standard input; a directory or a file named run.json a
    /// bundle; any other file (or a missing path ending in `.folded`)
    /// folded stacks.
    pub fn of(path: &Path) -> FlameInput {
        let is_run_json = path.file_name().is_some_and(|n| n == RUN_JSON);
        let folded_name = path.extension().is_some_and(|e| e == "folded");
        if path.as_os_str() == "-" {
            FlameInput::Stdin
        } else if !is_run_json && (path.is_file() || (folded_name && !path.exists())) {
            FlameInput::Folded(path.to_path_buf())
        } else {
            FlameInput::Bundle(path.to_path_buf())
        }
    }
}

/// The flamegraphs `req` asks for from `input`, and the directory they go
/// to: `out`, else the bundle's or the folded file's directory (the
/// current directory for standard input). Nothing is written here.
///
/// Errors: bad options; an unreadable input; a malformed folded line (named
/// by file and line); an empty profile.
pub fn render_request(
    input: &Path,
    req: &FlameRequest,
    out: Option<PathBuf>,
) -> Result<(Vec<RenderedFile>, PathBuf)> {
    let opts = req.options()?;
    let (text, name, dir) = match FlameInput::of(input) {
        FlameInput::Bundle(p) => {
            let bundle = read_bundle(&p)?;
            let files = bundle_flamegraphs(&bundle, &opts)?;
            return Ok((files, out.unwrap_or_else(|| bundle.dir.clone())));
        }
        FlameInput::Folded(p) => {
            let bytes = std::fs::read(&p).map_err(|e| bundle::BundleError::Io {
                path: p.clone(),
                source: e,
            })?;
            let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            (
                utf8(bytes, &p.display().to_string())?,
                p.display().to_string(),
                dir,
            )
        }
        FlameInput::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| bundle::BundleError::Io {
                    path: "<stdin>".into(),
                    source: e,
                })?;
            (
                utf8(bytes, "<stdin>")?,
                "<stdin>".to_string(),
                PathBuf::from("."),
            )
        }
    };
    if req.probes || !matches!(opts.diff, DiffMode::None) {
        return Err(RenderError::InvalidOption(format!(
            "{name}: --probes, --diff and --diff-search need a bundle, not folded stacks"
        )));
    }
    let file = folded_flamegraph(&text, &name, &opts)?;
    Ok((
        vec![file],
        out.unwrap_or(if dir.as_os_str().is_empty() {
            ".".into()
        } else {
            dir
        }),
    ))
}

fn utf8(bytes: Vec<u8>, name: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        RenderError::InvalidOption(format!(
            "{name}: not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// `flamegraph.svg` (or `icicle.svg`) of folded text read from `name`.
fn folded_flamegraph(text: &str, name: &str, opts: &BundleFlameOptions) -> Result<RenderedFile> {
    let subtitle = format!(
        "folded stacks from {name}{}",
        colour_key_text(&mark_kernel_frames(text))
    );
    let title = opts
        .title
        .clone()
        .unwrap_or_else(|| format!("sentryprof: {name}"));
    let flame = FlameOptions {
        title: title.clone(),
        subtitle: Some(subtitle.clone()),
        orientation: opts.orientation,
        min_width_px: opts.min_width_px,
        width: opts.width,
        ..FlameOptions::default()
    };
    let bytes = render_folded_text(text, &flame, name)?;
    let file = match opts.orientation {
        Orientation::Flame => "flamegraph.svg",
        Orientation::Icicle => "icicle.svg",
    };
    Ok(RenderedFile {
        name: file.to_string(),
        bytes,
        description: format!("{title} ({subtitle})"),
    })
}
