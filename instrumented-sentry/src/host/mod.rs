//! Facts and calls of the host the sentry runs on, each read or wrapped in
//! one place (the platforms, the runners and the collectors' doctor use
//! these):
//!
//! - `limits.rs`: `vm.max_map_count` and the mappings this process holds;
//! - `seek.rs`: `lseek(SEEK_DATA / SEEK_HOLE)`, to walk a sparse file;
//! - `cpu.rs`: CPUID facts (the CPU vendor, the hypervisor underneath).
//!
//! The time-stamp counter lives with the probes module. This
//! module imports nothing else of the crate.

mod cpu;
mod limits;
mod seek;

pub use cpu::{cpu_is_amd, cpuid_hypervisor};
pub use limits::{max_map_count, process_mappings, MAX_MAP_COUNT_PATH};
pub use seek::seek_data_or_hole;
