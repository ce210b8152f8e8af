//! The result bundle: a directory holding `run.json` and what the collectors
//! produced (folded stacks, SVGs). Writers and readers of every sentryprof
//! verb share these types; renderers and the TUI only ever read them.
//!
//! A bundle is written into a temporary sibling directory and renamed into
//! place at the end ([`BundleWriter::finish`]), so an interrupted run leaves
//! no half bundle and an existing bundle at the same path survives a failed
//! run.

mod io;
mod machine;
mod schema;

pub use io::{read_bundle, write_file_atomic, BundleError, BundleWriter, LoadedBundle};
pub use machine::mem_total_bytes;
pub use schema::*;
