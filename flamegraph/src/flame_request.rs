//! What `sentryprof flamegraph` is asked for ([`FlameRequest`]) checked
//! into [`BundleFlameOptions`]: a sane minimum width, the second bundle of
//! a differential flamegraph read, the two strategies of `--diff-search`
//! told apart.

use std::path::PathBuf;

use bundle::read_bundle;

use crate::bundle_flames::{BundleFlameOptions, DiffMode};
use crate::flame::{Orientation, LAYOUT_WIDTH_PX};
use crate::{RenderError, Result};

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
        if self.min_width > LAYOUT_WIDTH_PX as f64 {
            return Err(RenderError::InvalidOption(format!(
                "--min-width {}: wider than the whole {LAYOUT_WIDTH_PX}-pixel graph, every frame would be left out",
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
            keep_startup: self.keep_startup,
        })
    }
}
