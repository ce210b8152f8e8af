//! The KVM platform: the workload runs as CPL-3 guest code in a real VM made
//! through `/dev/kvm`; the sentry (this process) is its kernel. Guest system
//! calls and page faults exit to the VMM, which runs the same memory manager
//! as the in-process platform; `mapAS` writes the guest's page tables over
//! memory slots that hold the page allocator's memfd.
//!
//! Layering (one concern per file):
//! - [`layout`]: guest-physical and guest-virtual layout;
//! - [`host_mapping`]: host memory behind the slots;
//! - [`vcpu_thread`]: `KVM_RUN` on a thread of its own (the sentry stays warm);
//! - [`vm`]: `/dev/kvm`, the VM, the vCPU and its slots;
//! - [`long_mode`]: GDT, IDT, TSS, control registers;
//! - [`page_tables`]: the guest's 4-level page tables;
//! - [`exits`]: the exit protocol (ports, shared page, numbers);
//! - [`guest_program`]: the runtime every guest program starts with, the
//!   assembler wrapper and the symbol map;
//! - [`machine`]: a loaded VM turned into protocol events;
//! - [`exit_bench`]: the exit mechanisms measured side by side;
//! - [`address_space`]: the platform seam (`mapAS` writes page tables);
//! - [`sentry_calls`]: guest system calls run on the memory manager;
//! - [`guest_run`]: the VMM loop (system calls, faults, flushes, crashes);
//! - [`guest_workloads`]: the workloads as guest programs;
//! - [`target`]: the guest as a `MemoryTarget` (malloc model, replay);
//! - [`runner`]: `--platform kvm` ([`runner::KvmRunner`]).

pub mod address_space;
pub mod exit_bench;
pub mod exits;
pub mod guest_program;
pub mod guest_run;
pub mod guest_workloads;
pub mod host_mapping;
pub mod layout;
pub mod long_mode;
pub mod machine;
pub mod page_tables;
pub mod runner;
pub mod sentry_calls;
pub mod target;
pub mod vcpu_thread;
pub mod vm;
