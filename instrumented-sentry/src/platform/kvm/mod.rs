//! The KVM platform: the workload runs as CPL-3 guest code in a real VM made
//! through `/dev/kvm`; the sentry (this process) is its kernel. Guest system
//! calls and page faults exit to the VMM, which runs the same memory manager
//! as the in-process platform; `mapAS` writes the guest's page tables over
//! memory slots that hold the page allocator's memfd.
//!
//! Here is what does not need the memory manager:
//! - [`vmm`]: the virtual machine monitor (`/dev/kvm`, the VM and its
//!   vCPU thread, long mode, page tables, the guest layout, the exit
//!   protocol, a loaded VM as protocol events);
//! - [`guest`]: guest programs (the runtime every guest starts with, the
//!   assembler wrapper and symbol map; the exit-mechanism guest and the
//!   choice of the system call exit);
//! - [`address_space`]: the platform seam (`mapAS` writes page tables).
//!
//! What runs the memory manager and the workloads in the guest (the VMM
//! loop, guest system calls, guest workloads, the runner) is in
//! `runners::kvm`.

pub mod address_space;
pub mod guest;
pub mod vmm;
