//! A trace translated up front into the call list a stub process replays
//! (`platform::trap`, [`Shape::Replay`](crate::platform::trap::Shape)): the
//! native, ptrace and systrap platforms run the traced calls inside the
//! stub, with no sentry between two calls on native, so the translation of
//! [`replay`](super::replay) cannot run call by call. It runs here instead,
//! with the same rules, over *places* rather than addresses: a traced range
//! is at "the result of call `j` plus an offset", and the stub computes the
//! address from the results it recorded ([`Relocation`]).
//!
//! Differences from the call-by-call replay, all of them towards safety:
//!
//! - an address the translation cannot place (never mapped by the trace,
//!   or the base call failed in the replay) becomes [`foreign`]: above
//!   every user address, so the call fails on every platform, as it fails
//!   on inproc (outside the sentry's range), instead of reaching memory of
//!   the stub (which is a fork of sentryprof);
//! - a computed range must lie inside the application range
//!   (`APP_BASE`, 64 GiB), and a `brk` address must not fall below the
//!   first break; otherwise the call gets the foreign address and fails;
//! - a range is forgotten after a `munmap` the trace says succeeded (the
//!   call-by-call replay forgets it when the replayed `munmap` succeeds).

use super::addr_map::{AddrMap, ResultOf};
use super::model::{Trace, TraceOp, TraceResult};
use super::replay::{assign_spaces, file_size, overflow_error, SpacePlan};
use crate::addr::page_round_up;
use crate::platform::trap::{foreign, Relocation, ReplayCall, MAX_ITERATIONS};
use crate::workload::target::{TargetError, MAP_ANONYMOUS, MREMAP_DONTUNMAP, MREMAP_FIXED};

/// Most calls one address space of a trace may have to be replayed on the
/// stub (its result array's bound).
pub const MAX_STUB_CALLS: usize = MAX_ITERATIONS as usize;

/// `MAP_FIXED` and `MAP_FIXED_NOREPLACE`: an address that is not a hint.
const MAP_FIXED_ANY: u32 = 0x10 | 0x10_0000;

/// A file a stub's replay maps: what the trace's descriptor `trace_fd`
/// stands for, `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubFile {
    /// The descriptor in the trace.
    pub trace_fd: i32,
    /// Bytes (page-rounded).
    pub size: u64,
}

/// One address space of the trace, as one stub's replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StubSpace {
    /// Files the calls map (index `k` in [`file_of_call`](Self::file_of_call)).
    pub files: Vec<StubFile>,
    /// For each stub call, the index of its call in the trace.
    pub trace_calls: Vec<usize>,
    /// The calls. An mmap of file `k` has argument 4 (the descriptor) to be
    /// set by the runner to what file `k` is in the stub.
    pub calls: Vec<ReplayCall>,
    /// For each stub call, the file whose descriptor goes into argument 4.
    pub file_of_call: Vec<Option<usize>>,
}

/// A whole trace as stub replays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StubReplay {
    /// One replay per address space, in the order of the call-by-call
    /// replay's targets.
    pub spaces: Vec<StubSpace>,
    /// How the trace's calls fall into address spaces.
    pub plan: SpacePlan,
}

/// The translation state of one address space.
#[derive(Default)]
struct SpaceState {
    map: AddrMap<ResultOf>,
    /// (first traced break, the stub call whose result is the first
    /// replayed break).
    brk_base: Option<(u64, usize)>,
}

/// Argument for trace address `addr`: relocated where the trace mapped
/// it, foreign otherwise. `in_app_range`: a range argument (else brk's).
fn place(state: &SpaceState, addr: u64) -> (u64, Option<Relocation>) {
    match state.map.lookup(addr) {
        Some(at) => (
            0,
            Some(Relocation {
                base: at.call,
                offset: at.offset,
                fallback: foreign(addr),
                in_app_range: true,
            }),
        ),
        None => (foreign(addr), None),
    }
}

/// Translates `trace` into stub replays.
///
/// Errors: a file mapping whose offset + length passes 2^64 (as the
/// call-by-call replay), or an address space with more than
/// [`MAX_STUB_CALLS`] calls (named with the trace).
pub fn stub_replay(trace: &Trace) -> Result<StubReplay, TargetError> {
    if let Some(c) = trace.overflowing_file_mapping() {
        return Err(overflow_error(trace, c));
    }
    let plan = assign_spaces(trace);
    let mut files = Vec::new();
    for (&fd, &size) in &trace.file_sizes() {
        files.push(StubFile {
            trace_fd: fd,
            size: file_size(size)?,
        });
    }
    let mut spaces: Vec<StubSpace> = (0..plan.count)
        .map(|_| StubSpace {
            files: files.clone(),
            ..StubSpace::default()
        })
        .collect();
    let mut states: Vec<SpaceState> = (0..plan.count).map(|_| SpaceState::default()).collect();
    for (t, (call, &s)) in trace.calls.iter().zip(&plan.of_call).enumerate() {
        let (Some(space), Some(state)) = (spaces.get_mut(s), states.get_mut(s)) else {
            continue;
        };
        let i = space.calls.len();
        if i >= MAX_STUB_CALLS {
            return Err(TargetError::Unsupported(format!(
                "{}: more than {MAX_STUB_CALLS} calls in one address space, more than a stub replays (use inproc or kvm for this trace)",
                trace.source
            )));
        }
        let traced = match call.result {
            TraceResult::Value(v) => Some(v),
            _ => None,
        };
        let (stub_call, file) = translate(&call.op, traced, state, &space.files, i);
        space.trace_calls.push(t);
        space.calls.push(stub_call);
        space.file_of_call.push(file);
    }
    Ok(StubReplay { spaces, plan })
}

/// One call: its stub form (and the file of an mmap), updating the
/// translation with what the trace says the call did.
fn translate(
    op: &TraceOp,
    traced: Option<u64>,
    state: &mut SpaceState,
    files: &[StubFile],
    i: usize,
) -> (ReplayCall, Option<usize>) {
    let result_at = |offset| ResultOf { call: i, offset };
    match *op {
        TraceOp::Mmap {
            addr,
            len,
            prot,
            flags,
            fd,
            offset,
        } => {
            let file = match fd {
                Some(fd) if flags & MAP_ANONYMOUS == 0 => {
                    files.iter().position(|f| f.trace_fd == fd)
                }
                _ => None,
            };
            let (a0, r0) = if addr == 0 && flags & MAP_FIXED_ANY == 0 {
                (0, None)
            } else {
                place(state, addr)
            };
            if let (Some(v), Some(rlen)) = (traced, page_round_up(len)) {
                state.map.insert(v, rlen, result_at(0));
            }
            let call = ReplayCall {
                nr: libc::SYS_mmap,
                args: [a0, len, u64::from(prot), u64::from(flags), u64::MAX, offset],
                reloc: [r0, None],
            };
            (call, file)
        }
        TraceOp::Munmap { addr, len } => {
            let (a0, r0) = place(state, addr);
            if let (Some(_), Some(rlen)) = (traced, page_round_up(len)) {
                state.map.remove(addr, rlen);
            }
            let call = ReplayCall {
                nr: libc::SYS_munmap,
                args: [a0, len, 0, 0, 0, 0],
                reloc: [r0, None],
            };
            (call, None)
        }
        TraceOp::Mprotect { addr, len, prot } => {
            let (a0, r0) = place(state, addr);
            let call = ReplayCall {
                nr: libc::SYS_mprotect,
                args: [a0, len, u64::from(prot), 0, 0, 0],
                reloc: [r0, None],
            };
            (call, None)
        }
        TraceOp::Brk { addr } => {
            if state.brk_base.is_none() && addr == 0 {
                if let Some(v) = traced {
                    state.brk_base = Some((v, i));
                }
            }
            let (a0, r0) = match state.brk_base {
                Some((base, j)) if j < i && addr >= base => (
                    0,
                    Some(Relocation {
                        base: j,
                        offset: addr - base,
                        fallback: foreign(addr),
                        in_app_range: false,
                    }),
                ),
                _ if addr == 0 => (0, None),
                _ => (foreign(addr), None),
            };
            let call = ReplayCall {
                nr: libc::SYS_brk,
                args: [a0, 0, 0, 0, 0, 0],
                reloc: [r0, None],
            };
            (call, None)
        }
        TraceOp::Mremap {
            old_addr,
            old_len,
            new_len,
            flags,
            new_addr,
        } => {
            let (a0, r0) = place(state, old_addr);
            let (a4, r4) = if flags & MREMAP_FIXED != 0 {
                place(state, new_addr)
            } else {
                (0, None)
            };
            if let (Some(v), Some(ol), Some(nl)) =
                (traced, page_round_up(old_len), page_round_up(new_len))
            {
                if flags & MREMAP_DONTUNMAP == 0 {
                    state.map.remove(old_addr, ol);
                }
                state.map.insert(v, nl, result_at(0));
            }
            let call = ReplayCall {
                nr: libc::SYS_mremap,
                args: [a0, old_len, new_len, u64::from(flags), a4, 0],
                reloc: [r0, r4],
            };
            (call, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::trace::parse_trace;

    fn lower(text: &str) -> StubReplay {
        let trace = parse_trace("t.trace", text).expect("parse");
        stub_replay(&trace).expect("lower")
    }

    #[test]
    fn fixed_maps_inside_a_reservation_are_relative_to_it() {
        let r = lower(
            "mmap(NULL, 16384, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n\
             mmap(0x7f0000002000, 4096, PROT_READ, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = 0x7f0000002000\n\
             munmap(0x7f0000000000, 4096) = 0\n\
             munmap(0x7f0000000000, 4096) = 0\n\
             mprotect(0x55550000, 4096, PROT_READ) = 0\n",
        );
        let c = &r.spaces[0].calls;
        assert_eq!(c[0].args[0], 0);
        assert!(c[0].reloc[0].is_none());
        let rel = c[1].reloc[0].expect("relocated");
        assert_eq!((rel.base, rel.offset, rel.in_app_range), (0, 0x2000, true));
        assert_eq!(rel.fallback, foreign(0x7f0000002000));
        assert_eq!(c[2].reloc[0].map(|r| (r.base, r.offset)), Some((0, 0)));
        // Unmapped by the previous call: foreign, so it fails everywhere.
        assert!(c[3].reloc[0].is_none());
        assert_eq!(c[3].args[0], foreign(0x7f0000000000));
        assert_eq!(c[4].args[0], foreign(0x55550000));
    }

    #[test]
    fn brk_is_relative_to_the_first_break_and_never_below_it() {
        let r = lower(
            "brk(NULL) = 0x5600000\n\
             brk(0x5621000) = 0x5621000\n\
             brk(0x5500000) = 0x5621000\n",
        );
        let c = &r.spaces[0].calls;
        assert_eq!(c[0].args[0], 0);
        let rel = c[1].reloc[0].expect("relative");
        assert_eq!(
            (rel.base, rel.offset, rel.in_app_range),
            (0, 0x21000, false)
        );
        assert!(c[2].reloc[0].is_none());
        assert!(c[2].args[0] >= crate::platform::trap::FOREIGN_BASE);
    }

    #[test]
    fn a_fixed_map_at_zero_is_not_passed_as_zero() {
        let r = lower(
            "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, -1, 0) = -1 EPERM (Operation not permitted)\n",
        );
        assert_eq!(r.spaces[0].calls[0].args[0], foreign(0));
    }
}
