//! The virtual machine monitor of the KVM platform (one concern per file):
//! - [`layout`]: guest-physical and guest-virtual layout;
//! - [`host_mapping`]: host memory behind the slots;
//! - [`vcpu_thread`]: `KVM_RUN` on a thread of its own (the sentry stays warm);
//! - [`vm`]: `/dev/kvm`, the VM, the vCPU and its slots;
//! - [`long_mode`]: GDT, IDT, TSS, control registers;
//! - [`page_tables`]: the guest's 4-level page tables;
//! - [`exits`]: the exit protocol (ports, shared page, numbers);
//! - [`machine`]: a loaded VM turned into protocol events.

pub mod exits;
pub mod host_mapping;
pub mod layout;
pub mod long_mode;
pub mod machine;
pub mod page_tables;
pub mod vcpu_thread;
pub mod vm;
