//! Collectors: perf_event_open sampling and counting, capability checks,
//! symbolization, stack folding (`stack_fold`: sampled call chains into
//! the folded stacks of `bundle::folded`; `guest_stacks`: the kvm VMM
//! guest sampler's stacks named and folded; `boundary_join`: samples taken
//! while the sentry served a call get the workload's stack in front),
//! `perf script` and perf.data (`perf_data`) import and the
//! page-sharing analysis. The bundle format itself is the `bundle` crate.

pub mod boundary_join;
pub mod capabilities;
pub mod collector;
mod fast_map;
pub mod guest_stacks;
pub mod perf;
pub mod perf_data;
pub mod perf_script;
mod perf_script_blocks;
mod perf_script_line;
mod perf_script_names;
mod perf_script_stacks;
pub mod proc_maps;
pub mod record;
pub mod sharing;
pub mod stack_fold;
pub mod symbolize;
