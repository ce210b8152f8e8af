//! The result bundle: a directory holding `run.json` and what the collectors
//! produced (folded stacks, SVGs). Writers and readers of every sentryprof
//! verb share these types; renderers and the TUI depend on this crate alone.
//!
//! - [`schema`] (re-exported at the top): the `run.json` types, site names,
//!   file names and the format version;
//! - `labels`: the names of points and failed points ([`Point::label`],
//!   [`Point::platform_label`], [`PointFailure::label`], ...), built here
//!   only;
//! - [`sites`]: the per-site rows (calls, median/p90/p99/max cycles, share
//!   of the mmap path) every per-site table shows;
//! - [`io`] (re-exported): atomic writing ([`BundleWriter`],
//!   [`write_file_atomic`]) and reading ([`read_bundle`]);
//! - [`folded`]: folded stacks (`stacks.folded`), the exchange format of
//!   collectors and renderers;
//! - [`stats`]: medians, percentiles and series reduction, the one place
//!   statistics over trials and calls are computed;
//! - [`tsc`]: TSC cycles to nanoseconds and back ([`RunJson::cycles_to_ns`]);
//! - [`synthetic`]: synthetic bundles, data for tests, benches and examples
//!   (never read by a renderer);
//! - `machine`: what machine wrote a bundle;
//! - `staging`: the locks of writers at work, and the sweep of what killed
//!   writers left beside their outputs.
//!
//! A bundle is written into a temporary sibling directory and renamed into
//! place at the end ([`BundleWriter::finish`]), so an interrupted run leaves
//! no half bundle and an existing bundle at the same path survives a failed
//! run.

pub mod folded;
mod io;
mod labels;
mod machine;
mod schema;
pub mod sites;
mod staging;
pub mod stats;
pub mod synthetic;
pub mod tsc;

pub use io::{
    check_out_dir, old_path, parse_run_json, read_bundle, write_file_atomic, write_files_atomic,
    BundleError, BundleWriter, LoadedBundle,
};
pub use machine::mem_total_bytes;
pub use schema::*;
