//! Rendering of result bundles: flamegraph SVGs, cycle tables, charts,
//! comparisons and exports. Reads bundles only; never calls into the sentry.
//!
//! The building blocks are plain data and functions usable by any front end
//! (the CLI, the TUI):
//!
//! * [`functions::function_table`]: per-function self/total table from folded stacks;
//! * [`run_tables`]: the text tables `sentryprof run` prints (built on
//!   [`bundle::sites`], the per-site rows every per-site table shows);
//! * [`scaling::fit`] / [`scaling::verdicts`]: constant / log / linear fits;
//! * [`probe_flame::probe_folded`]: flame stacks from the rdtsc probes;
//! * [`flame::render`] / [`flame::render_diff`]: inferno SVGs.

pub mod bootstrap;
pub mod boundary_figure;
pub mod boundary_split;
pub mod bundle_flames;
pub mod charts;
pub mod compare;
pub mod compare_bundles;
pub mod create_vma_figure;
pub mod default_outputs;
pub mod error;
pub mod escape;
pub mod export;
pub mod export_source;
pub mod firefox;
pub mod flame;
pub mod flame_request;
pub mod frame_diff;
pub mod frame_diff_svg;
pub mod functions;
pub mod html;
pub mod kernel_frames;
pub mod malloc_figure;
pub mod platform_order;
pub mod pprof;
pub mod probe_flame;
pub mod report;
pub mod report_files;
pub mod run_tables;
pub mod scaling;
pub mod site_cost;
pub mod source;
pub mod speedscope;
pub mod startup;
pub mod study_figures;
pub mod subtitle;
pub mod table;

pub use error::{RenderError, Result};
