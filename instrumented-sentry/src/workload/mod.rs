//! Workloads: the study's experiments (Exp1, Exp2), the malloc benchmark
//! and trace replay, written once against [`MemoryTarget`] and run on a
//! platform through [`PlatformRunner`].
//!
//! - [`spec`]: what a measured point is ([`PointSpec`]).
//! - [`target`]: the syscall surface workloads drive ([`MemoryTarget`]).
//! - [`exec`]: the trial bodies (mmap experiments, malloc model).
//! - [`trace`]: strace parsing and replay.
//! - [`runner`]: the platform seam of the run loop ([`PlatformRunner`]).
//! - statistics over trials live in the `bundle` crate (`bundle::stats`).
//! - [`inproc`]: the in-process sentry as a target and runner.
//! - [`memory_image`]: the sentry's memory file copied out (`--keep-memory`).

pub mod exec;
pub mod inproc;
pub mod memory_image;
pub mod runner;
pub mod spec;
pub mod target;
pub mod trace;

pub use runner::{PlatformRunner, PointError, TrialOutcome};
pub use spec::{Mapping, PointSpec, PointWork, WorkloadKind};
pub use target::{MemoryTarget, TargetError};
