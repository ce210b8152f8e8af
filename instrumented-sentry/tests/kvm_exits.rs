//! The exit mechanisms on this machine's /dev/kvm: the raw `out` round trip
//! reaches the VMM once per iteration; MMIO and vmcall are measured and
//! either reach it or are reported unusable with a reason.

use instrumented_sentry::platform::kvm::exit_bench::{measure, ExitBenchError, ExitMechanism};
use instrumented_sentry::platform::kvm::machine::MachineError;
use instrumented_sentry::platform::kvm::vm::VmError;

fn skip_reason(e: &ExitBenchError) -> Option<String> {
    match e {
        ExitBenchError::Machine(MachineError::Vm(VmError::Open(_)))
        | ExitBenchError::Machine(MachineError::Vm(VmError::Ioctl { .. })) => Some(e.to_string()),
        _ => None,
    }
}

#[test]
fn out_round_trip_reaches_the_vmm_every_time() {
    if !std::path::Path::new("/dev/kvm").exists() {
        eprintln!("SKIP: /dev/kvm is absent");
        return;
    }
    let r = match measure(ExitMechanism::PortIo, 200) {
        Ok(r) => r,
        Err(e) => {
            if let Some(reason) = skip_reason(&e) {
                eprintln!("SKIP: /dev/kvm present but the VM cannot be made: {reason}");
                return;
            }
            panic!("{e}");
        }
    };
    assert_eq!(r.unusable, None);
    assert_eq!(r.exits_seen, 200);
    assert_eq!(r.cycles.len(), 200);
    assert!(r.median() > 0);
    for mech in [ExitMechanism::Mmio, ExitMechanism::Hypercall] {
        let r = measure(mech, 50).expect("benchmark VM");
        eprintln!(
            "{}: exits {} median {} cycles unusable {:?}",
            mech.name(),
            r.exits_seen,
            r.median(),
            r.unusable
        );
        assert!(r.unusable.is_some() || r.exits_seen == 50);
    }
}
