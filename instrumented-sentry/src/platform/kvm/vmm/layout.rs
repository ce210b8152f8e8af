//! The guest's fixed memory layout: where the system structures live in
//! guest-physical and guest-virtual memory, and where the memory file's
//! slots start.
//!
//! Guest-physical memory has two kinds of slots:
//! - slots 0 and 1, the *system region*: anonymous host memory owned by the
//!   VMM, holding the GDT, IDT, TSS, ring-0 stack, the shared exit page, the
//!   guest program, the user stack, the result buffer (slot 0) and the
//!   page-table pool (slot 1);
//! - slots 2.., the *memory file*: the sentry page allocator's memfd, mapped
//!   at [`MEMFILE_GPA`] + file offset, one slot per range the file grew by.
//!
//! Guest-virtual memory: the sentry's managed user range (wherever the memory
//! manager's bounds say) plus the system region mapped at [`SYS_GVA`], which
//! sits above any user range the memory manager hands out.
//!
//! The page-table pool has its own memory slot so that the VMM can make
//! KVM drop every translation derived from the tables (by deleting and
//! re-adding that slot) after it removed entries.

/// Size of a guest page: the sentry's page size.
pub use crate::addr::PAGE_SIZE;

/// Guest-physical base of the system region (slot 0).
pub const SYS_GPA: u64 = 0;
/// Guest-virtual base of the system region.
pub const SYS_GVA: u64 = 0x7f00_0000_0000;
/// Size of the system region (reserved with `MAP_NORESERVE`; only touched
/// pages cost host memory).
pub const SYS_SIZE: u64 = 512 << 20;

/// Offset of the GDT in the system region.
pub const GDT_OFF: u64 = 0x1000;
/// Offset of the IDT in the system region (256 16-byte gates).
pub const IDT_OFF: u64 = 0x2000;
/// Offset of the TSS in the system region.
pub const TSS_OFF: u64 = 0x3000;
/// Offset of the lowest byte of the ring-0 stack.
pub const R0_STACK_OFF: u64 = 0x4000;
/// Offset one past the top of the ring-0 stack (TSS RSP0).
pub const R0_STACK_TOP_OFF: u64 = 0x8000;
/// Offset of the shared exit page (guest "system call" arguments/results).
pub const SHARED_OFF: u64 = 0x1_0000;
/// Offset of the guest program's code.
pub const CODE_OFF: u64 = 0x10_0000;
/// Largest guest program, in bytes.
pub const CODE_MAX: u64 = 0x10_0000;
/// Offset of the user stack's lowest byte.
pub const USER_STACK_OFF: u64 = 0x20_0000;
/// Offset one past the top of the user stack.
pub const USER_STACK_TOP_OFF: u64 = 0x30_0000;
/// Offset of the data region (per-call timings, replay tables).
pub const DATA_OFF: u64 = 0x40_0000;
/// Largest data region, in bytes.
pub const DATA_MAX: u64 = 0x0fc0_0000;
/// Offset of the page-table pool (never mapped into the guest).
pub const PT_POOL_OFF: u64 = 0x1000_0000;
/// Size of the page-table pool.
pub const PT_POOL_SIZE: u64 = SYS_SIZE - PT_POOL_OFF;

/// Guest-physical base of the memory file: memfd offset `o` is at
/// `MEMFILE_GPA + o`.
pub const MEMFILE_GPA: u64 = 1 << 36;
/// Largest memory file the guest can address.
pub const MEMFILE_MAX: u64 = 1 << 36;

/// Lowest guest-virtual address the memory manager may hand out.
pub const USER_MIN: u64 = 0x1_0000;
/// One past the highest guest-virtual address the memory manager may hand
/// out (the system region starts above it).
pub const USER_MAX: u64 = SYS_GVA;

/// GDT selector of the 64-bit ring-0 code segment.
pub const SEL_KERNEL_CODE: u16 = 0x08;
/// GDT selector of the ring-0 data segment.
pub const SEL_KERNEL_DATA: u16 = 0x10;
/// GDT selector (with RPL 3) of the ring-3 data segment.
pub const SEL_USER_DATA: u16 = 0x18 | 3;
/// GDT selector (with RPL 3) of the 64-bit ring-3 code segment.
pub const SEL_USER_CODE: u16 = 0x20 | 3;
/// GDT selector of the 64-bit TSS (two GDT slots).
pub const SEL_TSS: u16 = 0x28;

/// Guest-virtual address of a system-region offset.
pub const fn sys_gva(off: u64) -> u64 {
    SYS_GVA + off
}

/// Guest-physical address of a system-region offset.
pub const fn sys_gpa(off: u64) -> u64 {
    SYS_GPA + off
}
