//! Guests that fault in ways the sentry cannot handle stop with a report
//! that names what happened and carries the guest's registers, instead of
//! hanging or taking the host down.

use iced_x86::code_asm::*;
use instrumented_sentry::platform::kvm::guest::program::{GuestProgram, ProgramBuilder};
use instrumented_sentry::platform::kvm::vmm::layout::{
    sys_gva, PAGE_SIZE, R0_STACK_OFF, R0_STACK_TOP_OFF,
};
use instrumented_sentry::platform::kvm::vmm::machine::{Machine, MachineError};
use instrumented_sentry::runners::kvm::runner::kvm_available;

fn program(body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> GuestProgram {
    let mut b = ProgramBuilder::new().expect("runtime");
    b.function("_start").expect("label");
    body(b.asm()).expect("body");
    b.finish().expect("assemble")
}

fn machine(p: GuestProgram) -> Option<Machine> {
    if let Err(why) = kvm_available() {
        skip_line(format_args!("SKIP: {why}"));
        return None;
    }
    Some(Machine::new(p, 4096).expect("machine"))
}

#[test]
fn invalid_opcode_at_cpl3_is_reported_with_registers() {
    let p = program(|a| {
        a.mov(r15, 0x1234_5678u64)?;
        a.ud2()
    });
    let Some(mut m) = machine(p) else {
        return;
    };
    match m.next_event() {
        Err(MachineError::Crash(c)) => {
            assert!(c.reason.contains("#UD"), "{}", c.reason);
            assert!(c.reason.contains("(_start)"), "{}", c.reason);
            let regs = c.regs.expect("registers read");
            assert_eq!(regs.r15, 0x1234_5678);
            let text = c.to_string();
            assert!(text.contains("r15=0x12345678"), "{text}");
        }
        other => panic!("expected a crash report, got {other:?}"),
    }
}

#[test]
fn fault_with_no_ring0_stack_is_a_reported_triple_fault() {
    // Touching unmapped memory raises #PF; with the RSP0 stack unmapped the
    // CPU cannot deliver it (nor the #DF that follows): a triple fault.
    let p = program(|a| {
        a.mov(rax, 0x10_0000_0000u64)?;
        a.mov(qword_ptr(rax), 1)?;
        a.hlt()
    });
    let Some(mut m) = machine(p) else {
        return;
    };
    {
        let (vm, pt) = m.vm_and_tables();
        let mut off = R0_STACK_OFF;
        while off < R0_STACK_TOP_OFF {
            pt.unmap(vm.sys(), sys_gva(off)).expect("unmap");
            off += PAGE_SIZE;
        }
    }
    match m.next_event() {
        Err(MachineError::Crash(c)) => {
            assert!(c.reason.contains("triple fault"), "{c}");
            assert!(c.regs.is_some());
        }
        other => panic!("expected a triple-fault report, got {other:?}"),
    }
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
