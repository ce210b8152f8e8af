//! The instrumented mini-sentry: a small re-creation of gVisor's memory
//! manager (segment set, VMAs, PMAs, page allocator, address space), rdtsc
//! probes around each step of the mmap path, the platforms it runs on, and
//! the workloads that drive it.

pub mod mm;
pub mod platform;
pub mod probes;
pub mod segment;
pub mod workload;
