//! Samples → folded stacks, weighted by period.
//!
//! Each stack is rooted at the thread's name, then runs from the outermost
//! frame to the leaf: user frames, then kernel frames suffixed `_[k]`.
//! Samples taken while a vCPU ran guest code are rooted at
//! `[guest];[perf guest mode]` (`bundle::PERF_GUEST_FRAME`: apart from the
//! VMM guest sampler's walked stacks under `[guest]`) and their frames
//! suffixed `_[g]`, so host and guest never mix. Where the join knows the
//! vCPU threads of the joined VM, guest-mode samples of any other thread
//! (another VM: kvm's raw-exit and calibration guests) are one frame,
//! `[guest of another VM]`.
//!
//! Identical call chains are merged before symbolization, and every address
//! is symbolized once ([`Symbolizer`] caches), so the cost grows with the
//! number of distinct chains and addresses rather than samples.

use std::collections::HashMap;
use std::sync::Arc;

use crate::boundary_join::{from_innermost_frame, from_kernel_entry, FramesFrom, Join, NO_PREFIX};
pub use crate::fast_map::{FastHasher, FastMap};
use crate::perf::records::{context_marker, CpuMode, Sample};
use crate::symbolize::{ProcessView, Symbolizer};
use bundle::folded::FoldedStacks;
use bundle::{OTHER_VM_GUEST_ROOT, PERF_GUEST_FRAME};

/// Root frame of guest samples (defined beside the stub's root, where the
/// boundary join roots workload stacks; one constant).
pub use crate::boundary_join::GUEST_ROOT;

/// What folding produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldOutput {
    pub folded: FoldedStacks,
    pub samples: u64,
    pub host_samples: u64,
    pub guest_samples: u64,
    /// Sum of periods.
    pub total_weight: u64,
}

struct Unique<'s> {
    sample: &'s Sample,
    comm: u32,
    /// Boundary prefix id ([`NO_PREFIX`]: none).
    prefix: u32,
    weight: u64,
}

fn chain_hash(s: &Sample, space: u32, comm: u32, prefix: u32) -> u64 {
    use std::hash::Hasher;
    let mut h = FastHasher::default();
    h.write_u64(u64::from(space) << 32 | u64::from(comm));
    h.write_u32(prefix);
    h.write_u64(u64::from(s.mode.is_guest()) << 63 ^ s.callchain.len() as u64);
    h.write_u64(s.ip);
    for &a in &s.callchain {
        h.write_u64(a);
    }
    h.finish()
}

fn same_chain(a: &Sample, b: &Sample) -> bool {
    a.mode.is_guest() == b.mode.is_guest() && a.ip == b.ip && a.callchain == b.callchain
}

/// Fold `samples` using `view` for address spaces and thread names.
pub fn fold_samples(samples: &[Sample], view: &ProcessView, sym: &mut Symbolizer) -> FoldOutput {
    fold_joined(samples, &Join::none(samples.len()), view, sym)
}

/// [`fold_samples`], with the samples `join` puts inside a boundary
/// window rooted at the workload's stack and the window's marker instead
/// of the thread name, the sentry's frames kept from the serving frame on
/// (all of them when no frame has its name).
///
/// Preconditions: `join` was made from `samples`.
pub fn fold_joined(
    samples: &[Sample],
    join: &Join<'_>,
    view: &ProcessView,
    sym: &mut Symbolizer,
) -> FoldOutput {
    let mut out = FoldOutput::default();
    // 1. Merge identical chains (same address space, same thread name,
    //    same mode, same addresses): threads of one name fold together.
    let mut comm_ids: FastMap<(u32, u32, bool), (u32, u32)> = FastMap::default();
    let mut comm_names: Vec<String> = Vec::new();
    let mut comm_index: HashMap<String, u32> = HashMap::new();
    let mut index: FastMap<u64, Vec<u32>> = FastMap::default();
    let mut uniques: Vec<Unique<'_>> = Vec::new();
    for (s, &prefix) in samples.iter().zip(&join.prefix_of) {
        let guest = s.mode.is_guest();
        out.samples += 1;
        if guest {
            out.guest_samples += 1;
        } else {
            out.host_samples += 1;
        }
        out.total_weight += s.period;
        let (space, comm) = *comm_ids.entry((s.pid, s.tid, guest)).or_insert_with(|| {
            let space = view.space(s.pid).map_or(u32::MAX, |(id, _)| id);
            // perf's guest-mode samples: `[guest];[perf guest mode]`, or
            // the root of another VM's guest (its frames dropped below).
            let name = match (guest, guest && join.other_vm(s.tid)) {
                (true, true) => OTHER_VM_GUEST_ROOT.to_string(),
                (true, false) => format!("{GUEST_ROOT};{PERF_GUEST_FRAME}"),
                (false, _) => view.comm(s.pid, s.tid).replace(';', ":"),
            };
            let id = *comm_index.entry(name.clone()).or_insert_with(|| {
                comm_names.push(name);
                (comm_names.len() - 1) as u32
            });
            (space, id)
        });
        let bucket = index.entry(chain_hash(s, space, comm, prefix)).or_default();
        match bucket.iter().find(|&&i| {
            let u = &uniques[i as usize];
            u.comm == comm && u.prefix == prefix && u.sample.pid == s.pid && same_chain(u.sample, s)
        }) {
            Some(&i) => uniques[i as usize].weight += s.period,
            None => {
                bucket.push(uniques.len() as u32);
                uniques.push(Unique {
                    sample: s,
                    comm,
                    prefix,
                    weight: s.period,
                });
            }
        }
    }
    // 2. Symbolize and join each distinct chain.
    let mut stacks: HashMap<String, u64> = HashMap::with_capacity(uniques.len());
    let mut frames: Vec<Arc<str>> = Vec::with_capacity(128);
    let mut key = String::with_capacity(1024);
    let mut sentry = String::with_capacity(1024);
    let mut prefix_texts: HashMap<u32, String> = HashMap::new();
    for u in &uniques {
        frames.clear();
        let s = u.sample;
        collect_frames(s, view, sym, &mut frames);
        if frames.is_empty() {
            continue;
        }
        key.clear();
        if comm_names[u.comm as usize] == OTHER_VM_GUEST_ROOT {
            key.push_str(OTHER_VM_GUEST_ROOT);
        } else if u.prefix == NO_PREFIX {
            key.push_str(&comm_names[u.comm as usize]);
            for f in frames.iter().rev() {
                key.push(';');
                key.push_str(f);
            }
        } else {
            sentry.clear();
            for (i, f) in frames.iter().rev().enumerate() {
                if i > 0 {
                    sentry.push(';');
                }
                sentry.push_str(f);
            }
            let prefix = prefix_texts
                .entry(u.prefix)
                .or_insert_with(|| join.prefix_text(u.prefix, view, sym));
            key.push_str(prefix);
            key.push(';');
            let kept = match join.frames_from(u.prefix) {
                FramesFrom::Frame(f) => from_innermost_frame(&sentry, f),
                FramesFrom::KernelEntry => Some(from_kernel_entry(&sentry)),
            };
            match kept {
                Some(kept) => key.push_str(kept),
                None => {
                    key.push_str(&comm_names[u.comm as usize]);
                    key.push(';');
                    key.push_str(&sentry);
                }
            }
        }
        match stacks.get_mut(key.as_str()) {
            Some(w) => *w += u.weight,
            None => {
                stacks.insert(key.clone(), u.weight);
            }
        }
    }
    for (k, w) in stacks {
        out.folded.add_joined(k, w);
    }
    out
}

/// Frames of one sample, leaf first, each already symbolized (one entry may
/// hold several `;`-joined inlined frames).
fn collect_frames(s: &Sample, view: &ProcessView, sym: &mut Symbolizer, out: &mut Vec<Arc<str>>) {
    let guest = s.mode.is_guest();
    let space = view.space(s.pid);
    let mut resolve =
        |mode: CpuMode, addr: u64, first_in_context: bool, out: &mut Vec<Arc<str>>| {
            // Return addresses point after the call: look up the call itself.
            let a = if first_in_context {
                addr
            } else {
                addr.saturating_sub(1)
            };
            let name = match mode {
                CpuMode::GuestKernel | CpuMode::GuestUser => sym.guest(a),
                CpuMode::Kernel | CpuMode::Hypervisor => sym.kernel(a),
                CpuMode::User | CpuMode::Unknown => {
                    let (id, maps) = match space {
                        Some((id, m)) => (id, Some(m)),
                        None => (u32::MAX - 2, None),
                    };
                    sym.user(id, maps, a)
                }
            };
            out.push(name);
        };
    let mut mode = s.mode;
    let mut first = true;
    let mut any = false;
    for &v in &s.callchain {
        if let Some(m) = context_marker(v) {
            mode = m;
            first = true;
            continue;
        }
        // Guest samples: only guest-context entries belong to the guest.
        if guest != mode.is_guest() {
            continue;
        }
        resolve(mode, v, first, out);
        first = false;
        any = true;
    }
    if !any {
        resolve(s.mode, s.ip, true, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolize::{GuestSymbolMap, Kallsyms};
    use perf_event_open_sys::bindings as b;

    fn sample(mode: CpuMode, ip: u64, chain: Vec<u64>, period: u64) -> Sample {
        Sample {
            mode,
            ip,
            pid: 1,
            tid: 1,
            time: 0,
            period,
            callchain: chain,
            user_stack: None,
        }
    }

    #[test]
    fn kernel_user_and_guest_frames_fold() {
        let k = Kallsyms::parse("ffffffff81000000 T entry\nffffffff81000100 T handler\n");
        let mut sym = Symbolizer::new().with_kallsyms(k);
        sym.set_guest_symbols(GuestSymbolMap::new([(
            0x1000,
            0x1100,
            "guest_loop".to_string(),
        )]));
        let view = ProcessView::default();
        let samples = vec![
            sample(
                CpuMode::Kernel,
                0xffffffff81000110,
                vec![
                    b::PERF_CONTEXT_KERNEL,
                    0xffffffff81000110,
                    0xffffffff81000010,
                    b::PERF_CONTEXT_USER,
                    0x400000,
                ],
                10,
            ),
            sample(
                CpuMode::Kernel,
                0xffffffff81000110,
                vec![
                    b::PERF_CONTEXT_KERNEL,
                    0xffffffff81000110,
                    0xffffffff81000010,
                    b::PERF_CONTEXT_USER,
                    0x400000,
                ],
                5,
            ),
            sample(CpuMode::GuestKernel, 0x1008, vec![], 7),
        ];
        let out = fold_samples(&samples, &view, &mut sym);
        assert_eq!(out.samples, 3);
        assert_eq!(out.guest_samples, 1);
        assert_eq!(out.total_weight, 22);
        // With no ProcessView default comm, the root is empty-named: use a
        // view of this process to check naming separately.
        assert_eq!(
            out.folded.to_text(),
            ";[unknown];entry_[k];handler_[k] 15\n[guest];[perf guest mode];guest_loop_[g] 7\n"
        );
    }

    #[test]
    fn a_sample_inside_a_boundary_window_is_rooted_at_the_workloads_stack() {
        use instrumented_sentry::platform::boundary::{BoundaryWindow, StackSpace};
        let k = Kallsyms::parse("ffffffff81000000 T entry\n");
        let mut sym = Symbolizer::new().with_kallsyms(k);
        sym.set_guest_symbols(GuestSymbolMap::new([
            (0x1000, 0x1100, "_start".to_string()),
            (0x1100, 0x1200, "mmap_loop".to_string()),
        ]));
        let view = ProcessView::default();
        let chain = vec![b::PERF_CONTEXT_KERNEL, 0xffffffff81000010];
        let mut inside = sample(CpuMode::Kernel, 0xffffffff81000010, chain.clone(), 3);
        inside.time = 150;
        let mut outside = sample(CpuMode::Kernel, 0xffffffff81000010, chain, 4);
        outside.time = 250;
        let windows = [BoundaryWindow {
            tid: 1,
            start_ns: 100,
            end_ns: 200,
            kind: "exit: io",
            space: StackSpace::Guest,
            pcs: vec![0x1150, 0x1011],
            broken: None,
            serve_from: "run_until_stop",
            workload_from: "",
            run: None,
        }];
        let samples = [inside, outside];
        let join = Join::new(&samples, &windows);
        let out = fold_joined(&samples, &join, &view, &mut sym);
        // No serving frame in this chain: the thread's name and every
        // frame follow the marker.
        assert_eq!(
            out.folded.to_text(),
            ";entry_[k] 4\n[guest];_start_[g];mmap_loop_[g];[exit: io];;entry_[k] 3\n"
        );
        assert_eq!(out.samples, 2);
    }

    #[test]
    fn a_vcpu_kernel_sample_in_the_run_before_an_exit_gets_the_exits_stack() {
        use instrumented_sentry::platform::boundary::{BoundaryWindow, RunSpan, StackSpace};
        let k = Kallsyms::parse("ffffffff81000000 T kvm_arch_vcpu_ioctl_run\n");
        let mut sym = Symbolizer::new().with_kallsyms(k);
        sym.set_guest_symbols(GuestSymbolMap::new([
            (0x1000, 0x1100, "_start".to_string()),
            (0x1100, 0x1200, "mmap_loop".to_string()),
        ]));
        let view = ProcessView::default();
        let chain = vec![b::PERF_CONTEXT_KERNEL, 0xffffffff81000010];
        // The vCPU thread (tid 2) in the host kernel inside KVM_RUN
        // (100..290), before the exit the sentry (tid 1) serves at
        // 300..400; the same thread after KVM_RUN returned stays outside.
        let mut in_run = sample(CpuMode::Kernel, 0xffffffff81000010, chain.clone(), 3);
        in_run.tid = 2;
        in_run.time = 150;
        let mut after = sample(CpuMode::Kernel, 0xffffffff81000010, chain, 4);
        after.tid = 2;
        after.time = 295;
        let windows = [BoundaryWindow {
            tid: 1,
            start_ns: 300,
            end_ns: 400,
            kind: "exit: io",
            space: StackSpace::Guest,
            pcs: vec![0x1150, 0x1011],
            broken: None,
            serve_from: "run_until_stop",
            workload_from: "",
            run: Some(RunSpan {
                tid: 2,
                entered_ns: 100,
                left_ns: 290,
            }),
        }];
        // Guest mode on that vCPU thread stays the guest's (perf's
        // marker under the root); guest mode on another thread is another
        // VM's guest (no window ran there), kept apart and unnamed.
        let mut guest = sample(CpuMode::GuestUser, 0x1150, vec![], 5);
        guest.tid = 2;
        guest.time = 200;
        let mut other_vm = sample(CpuMode::GuestUser, 0x1150, vec![], 6);
        other_vm.tid = 9;
        let samples = [in_run, after, guest, other_vm];
        let join = Join::new(&samples, &windows);
        let out = fold_joined(&samples, &join, &view, &mut sym);
        assert_eq!(
            out.folded.to_text(),
            ";kvm_arch_vcpu_ioctl_run_[k] 4\n\
             [guest of another VM] 6\n\
             [guest];[perf guest mode];mmap_loop_[g] 5\n\
             [guest];_start_[g];mmap_loop_[g];[exit: io];kvm_arch_vcpu_ioctl_run_[k] 3\n"
        );
        assert_eq!(out.guest_samples, 2);
    }
}
