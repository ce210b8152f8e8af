//! The access type of a fault seen through ptrace. A SIGSEGV stop carries
//! the address (`si_addr`) but not the page-fault error code, so the
//! platform decodes the faulting instruction: a memory first operand of an
//! instruction that writes it (anything but the compare/test family) is a
//! write. The systrap stub reads the error code from its ucontext instead.

use iced_x86::{Decoder, DecoderOptions, Mnemonic, OpKind};

/// Whether the instruction in `bytes` (at `rip`) writes its memory operand.
pub fn writes_memory(bytes: &[u8], rip: u64) -> bool {
    let mut d = Decoder::with_ip(64, bytes, rip, DecoderOptions::NONE);
    let ins = d.decode();
    if ins.is_invalid() || ins.op_count() == 0 || ins.op0_kind() != OpKind::Memory {
        return false;
    }
    !matches!(
        ins.mnemonic(),
        Mnemonic::Cmp
            | Mnemonic::Test
            | Mnemonic::Bt
            | Mnemonic::Push
            | Mnemonic::Ucomiss
            | Mnemonic::Ucomisd
            | Mnemonic::Comiss
            | Mnemonic::Comisd
            | Mnemonic::Prefetchnta
            | Mnemonic::Prefetcht0
            | Mnemonic::Prefetcht1
            | Mnemonic::Prefetcht2
            | Mnemonic::Jmp
            | Mnemonic::Call
    )
}

#[cfg(test)]
mod tests {
    use super::writes_memory;

    #[test]
    fn stores_are_writes_loads_are_not() {
        // mov [rax], rcx
        assert!(writes_memory(&[0x48, 0x89, 0x08], 0x1000));
        // mov rcx, [rax]
        assert!(!writes_memory(&[0x48, 0x8b, 0x08], 0x1000));
        // cmp [rax], rcx
        assert!(!writes_memory(&[0x48, 0x39, 0x08], 0x1000));
        // add [rax], 1
        assert!(writes_memory(&[0x48, 0x83, 0x00, 0x01], 0x1000));
    }
}
