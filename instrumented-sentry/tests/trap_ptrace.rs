//! `--platform ptrace` mechanism: a stub traced with `PTRACE_SYSEMU`,
//! served by a handler that injects real memfd mappings.

mod trap_support;

use instrumented_sentry::platform::trap::Mechanism;

#[test]
fn injected_mappings_are_real() {
    trap_support::mapping_is_real(Mechanism::Ptrace, false);
}

#[test]
fn injected_populated_mappings_are_real() {
    trap_support::mapping_is_real(Mechanism::Ptrace, true);
}

#[test]
fn fault_path_maps_on_first_touch() {
    trap_support::fault_maps_lazily(Mechanism::Ptrace);
}

#[test]
fn unresolved_fault_fails_the_trial() {
    trap_support::unresolved_fault_fails(Mechanism::Ptrace);
}

#[test]
fn stub_killed_mid_trial_is_reported_and_reaped() {
    trap_support::kill_mid_trial(Mechanism::Ptrace);
}

#[test]
fn refused_ptrace_is_a_one_line_error() {
    trap_support::refused_is_unavailable(Mechanism::Ptrace, "refused_ptrace_is_a_one_line_error");
}
