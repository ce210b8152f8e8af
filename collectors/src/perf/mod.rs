//! perf_event_open collectors: sampling (ring buffers drained by a
//! background thread) and counting (`perf stat` of a run).
//!
//! `sys` is the only module with `unsafe`; `records` decodes what the
//! kernel writes; `ring` drains one buffer; `sampler` owns the per-CPU
//! events and the drain thread; `counter` is the counting mode; `error`
//! says why an open was refused; `cpus` lists the online CPUs;
//! `guest_pmu` is cycles:HG on a kvm vCPU thread beside the guest sampler.

mod cpus;
mod error;

pub mod counter;
pub mod guest_pmu;
pub mod process_tree;
pub mod records;
pub mod ring;
pub mod sampler;
pub mod sys;

pub use counter::{CounterSet, CounterSnapshot};
pub use cpus::online_cpus;
pub use error::{open_error_hint, perf_event_paranoid, PerfError};
pub use records::{CpuMode, Sample};
pub use sampler::{
    SampleTarget, Sampler, SamplerConfig, SamplerOutput, SamplingEvent, SideRecord,
    DEFAULT_FREQUENCY_HZ,
};
