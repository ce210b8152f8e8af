//! `--platform kvm`: the memory manager as the kernel of a KVM guest (the
//! VMM and the guest programs it builds on are in `platform::kvm`):
//! - [`sentry_calls`]: guest system calls run on the memory manager;
//! - [`guest_run`]: the VMM loop (system calls, faults, flushes, crashes);
//! - [`guest_workloads`]: the workloads as guest programs;
//! - [`target`]: the guest as a `MemoryTarget` (malloc model, replay);
//! - [`runner`]: the runner ([`runner::KvmRunner`]).

pub mod guest_run;
pub mod guest_workloads;
pub mod runner;
pub mod sentry_calls;
pub mod target;
