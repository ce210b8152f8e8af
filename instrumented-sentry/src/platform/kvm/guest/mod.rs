//! Guest programs of the KVM platform:
//! - [`program`]: the runtime every guest program starts with, the
//!   assembler wrapper and the symbol map;
//! - [`exit_choice`]: a guest that only exits, timing each round trip, for
//!   each exit mechanism (`out`, MMIO, hypercall); the choice of the one
//!   system calls use, made by the kvm runner at start-up and measured by
//!   `benches/kvm_exits.rs`.
//!
//! The workloads as guest programs (the mmap loop, the request server) are
//! in `runners::kvm::guest_workloads`.

pub mod exit_choice;
pub mod program;
