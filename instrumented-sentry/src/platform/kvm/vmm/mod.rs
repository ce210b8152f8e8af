//! The virtual machine monitor of the KVM platform (one concern per file):
//! - [`layout`]: guest-physical and guest-virtual layout;
//! - [`host_mapping`]: host memory behind the slots;
//! - [`vcpu_thread`]: `KVM_RUN` on a thread of its own (the sentry stays warm);
//! - [`vm`]: `/dev/kvm`, the VM, the vCPU and its slots;
//! - [`long_mode`]: GDT, IDT, TSS, control registers;
//! - [`page_tables`]: the guest's 4-level page tables;
//! - [`exits`]: the exit protocol (ports, shared page, numbers);
//! - [`machine`]: a loaded VM turned into protocol events;
//! - [`sample_timer`]: the guest sampler's clock (a timer signal to the vCPU thread);
//! - [`guest_unwind`]: the guest's frame-pointer chain;
//! - [`guest_sampler`]: samples of the guest's stacks, folded;
//! - [`stop_walker`]: the sampler's stops handled on the vCPU thread;
//! - [`vcpu_pmu`]: the seam for hardware cycles:HG samples of the vCPU thread.

pub mod exits;
pub mod guest_sampler;
pub mod guest_unwind;
pub mod host_mapping;
pub mod layout;
pub mod long_mode;
pub mod machine;
pub mod page_tables;
pub mod sample_timer;
pub mod stop_walker;
pub mod vcpu_pmu;
pub mod vcpu_thread;
pub mod vm;
