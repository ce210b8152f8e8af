//! Workloads: the study's experiments (Exp1, Exp2), the malloc benchmark
//! and trace replay, written once against [`MemoryTarget`]; the runners
//! (the layer above) run them on a platform.
//!
//! - [`spec`]: what a measured point is ([`PointSpec`]).
//! - [`target`]: the syscall surface workloads drive ([`MemoryTarget`]).
//! - [`exec`]: the trial bodies (mmap experiments, malloc model).
//! - [`trace`]: strace parsing and replay.
//! - statistics over trials live in the `bundle` crate (`bundle::stats`).
//! - [`memory_image`]: the sentry's memory file copied out (`--keep-memory`).

pub mod exec;
pub mod memory_image;
pub mod spec;
pub mod target;
pub mod trace;

pub use spec::{Mapping, PointSpec, PointWork, WorkloadKind};
pub use target::{MemoryTarget, TargetError};
