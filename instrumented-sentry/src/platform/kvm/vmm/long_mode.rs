//! 64-bit long mode for the guest: GDT, IDT, TSS and the control registers.
//!
//! The vCPU starts directly at CPL 3 (user code and stack segments, IOPL 3 so
//! `out` is allowed); only the IDT's fault entries run at ring 0, on the
//! stack the TSS's RSP0 names.

use kvm_bindings::{kvm_segment, kvm_sregs};

use super::exits::{EXIT_PORT_FIRST, EXIT_PORT_LAST};
use super::host_mapping::{HostMapping, HostMappingError};
use super::layout::{
    sys_gva, GDT_OFF, IDT_OFF, R0_STACK_TOP_OFF, SEL_KERNEL_CODE, SEL_TSS, SEL_USER_CODE,
    SEL_USER_DATA, TSS_OFF,
};

const CR0_PE: u64 = 1 << 0;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// RFLAGS for CPL-3 guest code: reserved bit 1 and IOPL 3 (port I/O allowed
/// at CPL 3); interrupts stay off (there are none).
pub const USER_RFLAGS: u64 = 0x2 | (1 << 9) | (3 << 12);

const GDT_ENTRIES: [u64; 5] = [
    0,
    0x00af_9a00_0000_ffff, // ring-0 64-bit code
    0x00cf_9200_0000_ffff, // ring-0 data
    0x00cf_f200_0000_ffff, // ring-3 data
    0x00af_fa00_0000_ffff, // ring-3 64-bit code
];
/// The TSS: 104 bytes, then an I/O permission bitmap covering ports 0..32
/// (the exit ports allowed, the rest denied) and its terminating byte.
const TSS_BASE_LEN: usize = 104;
const IO_BITMAP: [u8; 4] = io_bitmap();
const TSS_LIMIT: u64 = (TSS_BASE_LEN + IO_BITMAP.len() - 1) as u64;

/// Bitmap bytes for ports 0..24 plus the 0xff terminator: a 0 bit allows the
/// port at CPL 3. The hypervisor here clears RFLAGS.IOPL for the guest, so
/// the bitmap is what lets CPL-3 `out` reach the VMM.
const fn io_bitmap() -> [u8; 4] {
    let mut bytes = [0xffu8; 4];
    let mut port = EXIT_PORT_FIRST as usize;
    while port <= EXIT_PORT_LAST as usize {
        bytes[port / 8] &= !(1 << (port % 8));
        port += 1;
    }
    bytes
}

/// Writes the GDT (with a 64-bit TSS descriptor), the TSS (RSP0 = top of the
/// ring-0 stack) and an IDT whose gate `v` points at `gates[v]` (ring-0
/// interrupt gates; a zero entry leaves the vector absent).
pub fn write_tables(mem: &HostMapping, gates: &[u64; 256]) -> Result<(), HostMappingError> {
    for (i, desc) in GDT_ENTRIES.iter().enumerate() {
        mem.write_u64(GDT_OFF + 8 * i as u64, *desc)?;
    }
    let tss_base = sys_gva(TSS_OFF);
    let low = TSS_LIMIT
        | ((tss_base & 0xff_ffff) << 16)
        | (0x89 << 40) // present, DPL 0, available 64-bit TSS
        | (((tss_base >> 24) & 0xff) << 56);
    let high = tss_base >> 32;
    let tss_slot = GDT_OFF + u64::from(SEL_TSS);
    mem.write_u64(tss_slot, low)?;
    mem.write_u64(tss_slot + 8, high)?;

    let mut tss = [0u8; TSS_BASE_LEN + IO_BITMAP.len()];
    tss[4..12].copy_from_slice(&sys_gva(R0_STACK_TOP_OFF).to_le_bytes());
    tss[102..104].copy_from_slice(&(TSS_BASE_LEN as u16).to_le_bytes());
    tss[TSS_BASE_LEN..].copy_from_slice(&IO_BITMAP);
    mem.write_bytes(TSS_OFF, &tss)?;

    for (vector, &handler) in gates.iter().enumerate() {
        let slot = IDT_OFF + 16 * vector as u64;
        if handler == 0 {
            mem.write_u64(slot, 0)?;
            mem.write_u64(slot + 8, 0)?;
            continue;
        }
        let low = (handler & 0xffff)
            | (u64::from(SEL_KERNEL_CODE) << 16)
            | (0x8e << 40) // present, DPL 0, 64-bit interrupt gate, IST 0
            | (((handler >> 16) & 0xffff) << 48);
        mem.write_u64(slot, low)?;
        mem.write_u64(slot + 8, handler >> 32)?;
    }
    Ok(())
}

fn segment(selector: u16, code: bool, dpl: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        dpl,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Special registers for a vCPU entering CPL-3 code in long mode with the
/// page tables at `cr3`.
pub fn user_sregs(mut sregs: kvm_sregs, cr3: u64) -> kvm_sregs {
    let data = segment(SEL_USER_DATA, false, 3);
    sregs.cs = segment(SEL_USER_CODE, true, 3);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = kvm_segment {
        base: sys_gva(TSS_OFF),
        limit: TSS_LIMIT as u32,
        selector: SEL_TSS,
        type_: 0xb, // busy 64-bit TSS
        present: 1,
        dpl: 0,
        db: 0,
        s: 0,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    sregs.ldt = kvm_segment {
        selector: 0,
        type_: 0x2,
        present: 1,
        limit: 0xffff,
        ..Default::default()
    };
    sregs.gdt.base = sys_gva(GDT_OFF);
    sregs.gdt.limit = (u64::from(SEL_TSS) + 16 - 1) as u16;
    sregs.idt.base = sys_gva(IDT_OFF);
    sregs.idt.limit = 256 * 16 - 1;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = cr3;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
    sregs
}
