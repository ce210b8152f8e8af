//! The trapped-process runners (`ptrace`, `systrap`) and the same stub
//! loop run natively.
//!
//! Each trial makes a fresh memory manager with the inproc runner's
//! settings (same [`MmConfig`](crate::mm::MmConfig), probes, gap search,
//! `--probe-every`) over a
//! [`TrapAddressSpace`](crate::platform::trap::address_space::TrapAddressSpace),
//! creates the point's file in it, and forks the stub
//! (`platform::trap::Trial`), which inherits the memory file. The stub
//! runs the point's loop (Exp1/Exp2: `mmap` × N, optional touch; malloc:
//! glibc's malloc reduced to brk and mmap, optional touch) with real
//! system calls, each trapped by the platform and served by
//! [`handler::MmHandler`]: mmap, munmap, mprotect, brk and mremap on the
//! memory manager, whose mapAS makes the stub execute
//! `mmap(MAP_FIXED|MAP_SHARED, memfd, offset)` (or munmap/mprotect) before
//! it resumes; a touch of a page with a VMA and no PMA arrives as a fault
//! and runs the fault path. The stub times every call with `rdtsc`; the
//! trial's time is its whole loop. A trace replay ([`replay`]) runs the
//! trace's calls, translated up front, one stub per traced address space.
//!
//! - [`runner::TrapRunner`]: `TrapRunner::ptrace(search, options)`,
//!   `TrapRunner::systrap(search, options)`;
//! - [`runner::StubNativeRunner`]: the same loop with real host calls;
//! - [`placement`]: the stub and the serving thread on different CPUs.

pub mod handler;
pub mod placement;
pub mod replay;
pub mod runner;
pub mod stub_outcome;

pub use handler::{MmHandler, TrapMm, STUB_FILE_FD};
pub use placement::StubPlacement;
pub use runner::{trap_available, StubNativeRunner, TrapRunner};
pub use stub_outcome::point_error;
