//! The instrumented mini-sentry: a small re-creation of gVisor's memory
//! manager (segment set, VMAs, PMAs, page allocator, address space), rdtsc
//! probes around each step of the mmap path, the platforms it runs on, the
//! workloads that drive it and the runners that run them.
//!
//! # Layout and layers
//!
//! Each top-level module belongs to a layer and imports only from its own
//! layer or the ones below it (`tests/layering.rs` checks this):
//!
//! | layer | module | what lives there |
//! |---|---|---|
//! | 0 | [`addr`] | address types: `Range`, `Perms`, `Access`, page size and rounding |
//! | 0 | [`segment`] | the segment set (B-tree, optional max-gap tracking), gap searches |
//! | 0 | [`probes`] | rdtsc probes, TSC calibration, cycle histograms |
//! | 0 | [`host`] | host facts and calls: `vm.max_map_count`, `lseek(SEEK_DATA)`, CPUID |
//! | 1 | [`platform`] | the address-space seam (`AddressSpace`, `PlatformError`) and its implementations: the in-process arena, KVM page tables, the KVM VMM with its guest programs, and the trapped-process mechanism (ptrace, systrap) with its stub |
//! | 2 | [`mm`] | the memory manager: VMAs (createVMA, findAvailable), PMAs, memory file, page allocator, mapAS, faults, system calls |
//! | 3 | [`workload`] | the workloads (Exp1, Exp2, malloc, trace replay) over the `MemoryTarget` surface |
//! | 4 | [`runners`] | the `PlatformRunner` seam and its runners: native, inproc, kvm, trap (ptrace, systrap, the native stub) |
//!
//! So the order reads: address types, segment set, probes and host facts;
//! then platform; then mm; then workload; then runners.

pub mod addr;
pub mod host;
pub mod mm;
pub mod platform;
pub mod probes;
pub mod runners;
pub mod segment;
pub mod workload;
