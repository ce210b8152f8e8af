//! Trace replay on the stub (native, ptrace, systrap): the trace is
//! translated up front ([`stub_replay`]) into one call list per traced
//! address space; each list runs in a stub of its own, which makes every
//! call through its workload `syscall` site and times it with `rdtsc`. On
//! native the calls run on the host kernel in the stub; on ptrace and
//! systrap they are trapped and served by a fresh memory manager per
//! address space, as the other shapes are. The results are counted
//! against the trace with [`ReplayCounts::record`], as inproc and kvm
//! count theirs; a call that fails is counted, not fatal.

use std::fs::File;
use std::os::fd::AsRawFd;

use serde_json::json;

use super::handler::{MmHandler, TrapMm, STUB_FILE_FD};
use super::placement::StubPlacement;
use super::stub_outcome::{point_error, serve, NoHandler, Served};
use crate::mm::FileId;
use crate::platform::trap::costs::median;
use crate::platform::trap::{Mechanism, ReplayCall, Trial, TrialReport, APP_BASE, APP_LEN};
use crate::probes::{Calibration, Probes};
use crate::runners::inproc::target_error;
use crate::runners::native::unlinked_temp_file;
use crate::runners::{PointError, TrialOutcome};
use crate::workload::target::Errno;
use crate::workload::trace::{stub_replay, ReplayCounts, StubSpace, Trace, TraceOp};

/// What one address space's stub did.
struct SpaceRun {
    report: TrialReport,
    probes: Option<Probes>,
    host_mappings: u64,
    trapped_calls: u64,
    faults: u64,
    host_calls: u64,
}

/// Replays `trace` on `mechanism`: one stub per address space, in order.
/// `new_mm` makes the memory manager of a trapped space (unused on
/// native). The trial's time is the sum of the calls' own cycles.
pub fn replay_on_stub(
    mechanism: Mechanism,
    trace: &Trace,
    placement: &StubPlacement,
    new_mm: &mut dyn FnMut() -> Result<TrapMm, PointError>,
) -> Result<TrialOutcome, PointError> {
    let platform = mechanism.name();
    let lowered = stub_replay(trace).map_err(|e| PointError::from_target(e, None))?;
    let mut results: Vec<Option<Result<u64, Errno>>> = vec![None; trace.calls.len()];
    let mut counts = ReplayCounts::for_trace(trace);
    counts.processes = lowered.plan.count as u64;
    counts.threads = lowered.plan.threads;
    let (mut cycles, mut per_call) = (0u64, Vec::new());
    let mut outcome = TrialOutcome::default();
    let (mut trapped, mut faults, mut host_calls) = (0, 0, 0);
    let mut outside_app = 0u64;
    for space in &lowered.spaces {
        if space.calls.is_empty() {
            continue;
        }
        counts.files += space.files.len() as u64;
        let run = if mechanism == Mechanism::Native {
            run_native(space, placement)?
        } else {
            run_trapped(mechanism, space, placement, new_mm()?)?
        };
        if run.report.calls.len() != space.calls.len() {
            return Err(PointError::Failed(format!(
                "{platform}: the replay stub finished {} of {} calls",
                run.report.calls.len(),
                space.calls.len()
            )));
        }
        for (i, c) in run.report.calls.iter().enumerate() {
            let c_cycles = c.returned.wrapping_sub(c.enter);
            cycles = cycles.wrapping_add(c_cycles);
            per_call.push(c_cycles);
            let Some(&t) = space.trace_calls.get(i) else {
                continue;
            };
            let Some(call) = trace.calls.get(t) else {
                continue;
            };
            let r = if (-4095..0).contains(&c.addr) {
                Err(Errno(-c.addr as i32))
            } else {
                match call.op {
                    // brk reports failure by returning the old break.
                    TraceOp::Brk { addr } if addr != 0 && c.addr as u64 != c.arg0 => {
                        Err(Errno::ENOMEM)
                    }
                    TraceOp::Mmap { .. } | TraceOp::Mremap { .. } => {
                        let at = c.addr as u64;
                        if !(APP_BASE..APP_BASE + APP_LEN).contains(&at) {
                            outside_app += 1;
                        }
                        Ok(at)
                    }
                    _ => Ok(c.addr as u64),
                }
            };
            if let Some(slot) = results.get_mut(t) {
                *slot = Some(r);
            }
        }
        outcome.host_mappings += run.host_mappings;
        outcome.probes.extend(run.probes);
        trapped += run.trapped_calls;
        faults += run.faults;
        host_calls += run.host_calls;
    }
    for (call, r) in trace.calls.iter().zip(&results) {
        if let Some(r) = r {
            counts.record(call, r);
        }
    }
    let mut extra = serde_json::to_value(&counts).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut extra {
        let mut add = |k: &str, v: serde_json::Value| {
            map.insert(k.to_string(), v);
        };
        if let serde_json::Value::Object(p) = placement.to_json() {
            for (k, v) in p {
                add(&k, v);
            }
        }
        add("stub_call_median_cycles", json!(median(per_call)));
        add("mapped_outside_app_range", json!(outside_app));
        if mechanism != Mechanism::Native {
            add("trapped_calls", json!(trapped));
            add("faults", json!(faults));
            add("host_calls", json!(host_calls));
        } else {
            add(
                "note",
                json!("native replay: host_mappings is not counted (the stub's kernel holds them)"),
            );
        }
    }
    outcome.elapsed_ns = Calibration::get().cycles_to_whole_ns(cycles);
    outcome.calls = trace.calls.len() as u64;
    outcome.extra = extra;
    Ok(outcome)
}

/// The space's calls with each file mmap's descriptor set (`fd_of(k)`).
fn calls_with_fds(space: &StubSpace, fd_of: &dyn Fn(usize) -> i32) -> Vec<ReplayCall> {
    space
        .calls
        .iter()
        .zip(&space.file_of_call)
        .map(|(c, f)| {
            let mut c = *c;
            if let Some(k) = f {
                c.args[4] = fd_of(*k) as i64 as u64;
            }
            c
        })
        .collect()
}

fn run_native(space: &StubSpace, placement: &StubPlacement) -> Result<SpaceRun, PointError> {
    let files: Vec<File> = space
        .files
        .iter()
        .map(|f| unlinked_temp_file(f.size))
        .collect::<Result<_, _>>()
        .map_err(|e| PointError::from_target(e, None))?;
    let fds: Vec<i32> = files.iter().map(|f| f.as_raw_fd()).collect();
    let calls = calls_with_fds(space, &|k| fds.get(k).copied().unwrap_or(-1));
    let trial = Trial::spawn_replay(Mechanism::Native, &calls).map_err(point_error)?;
    placement.pin_stub(trial.pid());
    let report = trial.run(&mut NoHandler).map_err(point_error)?;
    drop(files);
    Ok(SpaceRun {
        report,
        probes: None,
        host_mappings: 0,
        trapped_calls: 0,
        faults: 0,
        host_calls: 0,
    })
}

fn run_trapped(
    mechanism: Mechanism,
    space: &StubSpace,
    placement: &StubPlacement,
    mut mm: TrapMm,
) -> Result<SpaceRun, PointError> {
    let platform = mechanism.name();
    let mut files: Vec<(i32, FileId)> = Vec::new();
    for (k, f) in space.files.iter().enumerate() {
        let id = mm
            .create_file(f.size)
            .map_err(|e| PointError::from_target(target_error(e), None))?;
        files.push((STUB_FILE_FD + k as i32, id));
    }
    let calls = calls_with_fds(space, &|k| STUB_FILE_FD + k as i32);
    let trial = Trial::spawn_replay(mechanism, &calls).map_err(point_error)?;
    let mut handler = MmHandler::with_files(&mut mm, files);
    let Served {
        report,
        faults,
        calls: trapped_calls,
        ..
    } = serve(trial, placement, &mut handler, platform)?;
    Ok(SpaceRun {
        report,
        host_mappings: mm.host_mappings(),
        host_calls: mm.address_space().flushed(),
        probes: Some(mm.probes().clone()),
        trapped_calls,
        faults,
    })
}
