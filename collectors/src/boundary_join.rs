//! The join of perf samples with the platforms' boundary windows: a sample
//! of a window's thread taken inside it (start ≤ time ≤ end, both edges
//! included) was taken while the sentry served that call, so its stack
//! gets the workload's stack at the call in front of the sentry's frames:
//!
//! `[guest];_start_[g];mmap_loop_[g];sys_call_[g];[exit: io];run_until_stop;dispatch;mmap;…`
//! `[stub];…;stub_loop;[trap: seccomp];serve;handle;mmap;…`
//!
//! On kvm a window also holds the `KVM_RUN` that ended in its exit
//! ([`RunSpan`]): a host sample (not guest mode) of the thread that ran it,
//! taken between its entry and its return, is the host kernel taking the
//! guest out and back in (or an interrupt while the guest ran), so it gets
//! the same prefix in front of its own frames from the `KVM_RUN` ioctl on
//! ([`FramesFrom::KernelEntry`]):
//!
//! `[guest];_start_[g];mmap_loop_[g];[exit: io];__GI___ioctl;…;kvm_arch_vcpu_ioctl_run_[k];…`
//!
//! Both clocks are `CLOCK_MONOTONIC` (the sampler's `use_clockid`, the
//! platforms' `clock_gettime`). Windows of one thread do not overlap in
//! practice; where they do, the one that started last wins (the innermost).
//! A walk that broke shows `[broken stack: REASON]` next to the root.

use std::collections::{HashMap, HashSet};

use crate::perf::Sample;
use crate::symbolize::{ProcessView, Symbolizer};
use bundle::{GUEST_FRAME_SUFFIX, KERNEL_FRAME_SUFFIX};
use instrumented_sentry::platform::boundary::{BoundaryWindow, RunSpan, StackSpace};

/// `prefix_of` value of a sample outside every window.
pub const NO_PREFIX: u32 = u32::MAX;

/// Root frame of a stub's stack.
pub const STUB_ROOT: &str = "[stub]";

/// Root frame of guest stacks: guest samples and the guest's stack at an
/// exit (`collectors::stack_fold::GUEST_ROOT` is this one).
pub const GUEST_ROOT: &str = "[guest]";

/// One thread's windows, sorted by start.
struct ThreadWindows {
    starts: Vec<u64>,
    ends: Vec<u64>,
    /// `max_end[i]`: the latest end among windows `0..=i`.
    max_end: Vec<u64>,
    /// Index of each span in `WindowIndex::spans`.
    index: Vec<usize>,
}

/// Where in a window a sample was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// On the serving thread, while the sentry served the call.
    Serving,
    /// On the thread that called `KVM_RUN`, inside the run that ended in
    /// the window's exit ([`BoundaryWindow::run`]).
    Run,
}

/// Which of a joined sample's own frames follow the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramesFrom {
    /// From the innermost frame of this name (the sentry's serving frame);
    /// all of them, after the thread's name, when none has it.
    Frame(&'static str),
    /// From the user frame that entered the host kernel (the `KVM_RUN`
    /// ioctl) on; the leaf alone when the sample has no kernel frame.
    KernelEntry,
}

/// A window's time on one thread: its serving span or its run span.
#[derive(Clone, Copy)]
struct Span {
    tid: u32,
    start: u64,
    end: u64,
    window: usize,
    part: Part,
}

fn spans(windows: &[BoundaryWindow]) -> Vec<Span> {
    let mut out = Vec::with_capacity(windows.len() * 2);
    for (i, w) in windows.iter().enumerate() {
        out.push(Span {
            tid: w.tid,
            start: w.start_ns,
            end: w.end_ns,
            window: i,
            part: Part::Serving,
        });
        if let Some(RunSpan {
            tid,
            entered_ns,
            left_ns,
        }) = w.run
        {
            out.push(Span {
                tid,
                start: entered_ns,
                end: left_ns,
                window: i,
                part: Part::Run,
            });
        }
    }
    out
}

/// Windows by thread, for finding the window of a sample.
pub struct WindowIndex {
    spans: Vec<Span>,
    threads: HashMap<u32, ThreadWindows>,
}

impl WindowIndex {
    pub fn new(windows: &[BoundaryWindow]) -> Self {
        let spans = spans(windows);
        let mut by_tid: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, sp) in spans.iter().enumerate() {
            if sp.end >= sp.start {
                by_tid.entry(sp.tid).or_default().push(i);
            }
        }
        let threads = by_tid
            .into_iter()
            .map(|(tid, mut idx)| {
                idx.sort_by_key(|&i| (spans[i].start, spans[i].end));
                let starts = idx.iter().map(|&i| spans[i].start).collect();
                let ends: Vec<u64> = idx.iter().map(|&i| spans[i].end).collect();
                let max_end = ends
                    .iter()
                    .scan(0u64, |m, &e| {
                        *m = (*m).max(e);
                        Some(*m)
                    })
                    .collect();
                let t = ThreadWindows {
                    starts,
                    ends,
                    max_end,
                    index: idx,
                };
                (tid, t)
            })
            .collect();
        WindowIndex { spans, threads }
    }

    /// The window of thread `tid` holding `time`: of those that hold it,
    /// the one that started last.
    pub fn find(&self, tid: u32, time: u64) -> Option<usize> {
        self.find_part(tid, time).map(|(w, _)| w)
    }

    /// [`WindowIndex::find`], with the part of the window holding `time`.
    pub fn find_part(&self, tid: u32, time: u64) -> Option<(usize, Part)> {
        let t = self.threads.get(&tid)?;
        let mut i = t.starts.partition_point(|&s| s <= time);
        while i > 0 {
            i -= 1;
            if t.max_end[i] < time {
                return None;
            }
            if t.ends[i] >= time {
                let sp = &self.spans[t.index[i]];
                return Some((sp.window, sp.part));
            }
        }
        None
    }
}

/// Samples joined with windows: each sample's prefix (or [`NO_PREFIX`]),
/// prefixes shared by windows with the same stack, kind and serving frame.
pub struct Join<'w> {
    /// Per sample, in order: its prefix id or [`NO_PREFIX`].
    pub prefix_of: Vec<u32>,
    /// One window per prefix id (the first met), and the part.
    prefixes: Vec<(&'w BoundaryWindow, Part)>,
    /// Threads that ran a window's `KVM_RUN` (the joined VM's vCPU).
    run_tids: HashSet<u32>,
}

type PrefixKey<'w> = (
    &'static str,
    StackSpace,
    &'w [u64],
    Option<&'static str>,
    &'static str,
    &'static str,
    Part,
);

impl<'w> Join<'w> {
    /// Joins `samples` with `windows`. Guest-mode samples (perf's samples
    /// of the guest running) are never joined: they are the guest's.
    pub fn new(samples: &[Sample], windows: &'w [BoundaryWindow]) -> Self {
        let index = WindowIndex::new(windows);
        let mut ids: HashMap<PrefixKey<'w>, u32> = HashMap::new();
        let mut prefixes = Vec::new();
        let prefix_of = samples
            .iter()
            .map(|s| {
                if s.mode.is_guest() {
                    return NO_PREFIX;
                }
                let Some((i, part)) = index.find_part(s.tid, s.time) else {
                    return NO_PREFIX;
                };
                let w = &windows[i];
                let key = (
                    w.kind,
                    w.space,
                    w.pcs.as_slice(),
                    w.broken,
                    w.serve_from,
                    w.workload_from,
                    part,
                );
                *ids.entry(key).or_insert_with(|| {
                    prefixes.push((w, part));
                    (prefixes.len() - 1) as u32
                })
            })
            .collect();
        let run_tids = windows
            .iter()
            .filter_map(|w| w.run.map(|r| r.tid))
            .collect();
        Join {
            prefix_of,
            prefixes,
            run_tids,
        }
    }

    /// A join that joins nothing (no windows).
    pub fn none(samples: usize) -> Self {
        Join {
            prefix_of: vec![NO_PREFIX; samples],
            prefixes: Vec::new(),
            run_tids: HashSet::new(),
        }
    }

    /// Whether a guest-mode sample of thread `tid` is of another VM than
    /// the joined one: windows name the threads that ran their exits'
    /// `KVM_RUN`, and `tid` is none of them (false when no window does).
    pub fn other_vm(&self, tid: u32) -> bool {
        !self.run_tids.is_empty() && !self.run_tids.contains(&tid)
    }

    /// Samples that got a prefix.
    pub fn joined(&self) -> usize {
        self.prefix_of.iter().filter(|&&p| p != NO_PREFIX).count()
    }

    /// Which of the sample's own frames follow prefix `id`.
    pub fn frames_from(&self, id: u32) -> FramesFrom {
        match self.prefixes[id as usize] {
            (w, Part::Serving) => FramesFrom::Frame(w.serve_from),
            (_, Part::Run) => FramesFrom::KernelEntry,
        }
    }

    /// The folded text of prefix `id`, outermost first, ending with the
    /// marker frame: `[guest];_start_[g];…;[exit: io]`. Stub addresses are
    /// named with this process's symbols (the stub is a fork of it).
    pub fn prefix_text(&self, id: u32, view: &ProcessView, sym: &mut Symbolizer) -> String {
        let (w, _) = self.prefixes[id as usize];
        let space = view.space(std::process::id());
        let mut names = Vec::with_capacity(w.pcs.len());
        for (depth, &pc) in w.pcs.iter().enumerate().rev() {
            // Return addresses point after the call: name the call.
            let a = if depth == 0 { pc } else { pc.saturating_sub(1) };
            names.push(match w.space {
                StackSpace::Guest => sym.guest(a),
                StackSpace::Stub => match space {
                    Some((id, maps)) => sym.user(id, Some(maps), a),
                    None => sym.user(u32::MAX - 2, None, a),
                },
            });
        }
        let joined = names.join(";");
        let own = if w.workload_from.is_empty() {
            None
        } else {
            from_innermost_frame(&joined, w.workload_from)
        };
        let mut out = String::from(match w.space {
            StackSpace::Guest => GUEST_ROOT,
            StackSpace::Stub => STUB_ROOT,
        });
        if let (Some(why), None) = (w.broken, own) {
            out.push_str(&format!(";[broken stack: {why}]"));
        }
        let frames = own.unwrap_or(&joined);
        if !frames.is_empty() {
            out.push(';');
            out.push_str(frames);
        }
        out.push_str(&format!(";[{}]", w.kind));
        out
    }
}

/// The frames (`;`-joined, outermost first, no root) from the
/// innermost frame named `serve_from` (generic arguments, paths and the
/// guest suffix ignored: the trap runners' own `serve` calls the platform's `serve`)
/// on; `None` when no frame has that name.
pub fn from_innermost_frame<'a>(frames: &'a str, serve_from: &str) -> Option<&'a str> {
    let mut at = 0;
    let mut found = None;
    for f in frames.split(';') {
        let base = f.strip_suffix(GUEST_FRAME_SUFFIX).unwrap_or(f);
        let base = base.split('<').next().unwrap_or(base);
        let base = base.rsplit("::").next().unwrap_or(base);
        if base == serve_from {
            found = Some(at);
        }
        at += f.len() + 1;
    }
    found.map(|at| &frames[at..])
}

/// The frames (`;`-joined, outermost first) from the user frame that
/// entered the host kernel (the one before the first `_[k]` frame) on; the
/// leaf alone when no frame is the kernel's.
pub fn from_kernel_entry(frames: &str) -> &str {
    let mut prev = None;
    let mut at = 0;
    for f in frames.split(';') {
        if f.ends_with(KERNEL_FRAME_SUFFIX) {
            return &frames[prev.unwrap_or(at)..];
        }
        prev = Some(at);
        at += f.len() + 1;
    }
    &frames[prev.unwrap_or(0)..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::records::CpuMode;

    fn window(tid: u32, start: u64, end: u64, pcs: Vec<u64>) -> BoundaryWindow {
        BoundaryWindow {
            tid,
            start_ns: start,
            end_ns: end,
            kind: "exit: io",
            space: StackSpace::Guest,
            pcs,
            broken: None,
            serve_from: "run_until_stop",
            workload_from: "",
            run: None,
        }
    }

    fn sample(tid: u32, time: u64) -> Sample {
        Sample {
            mode: CpuMode::User,
            ip: 0x10,
            pid: 1,
            tid,
            time,
            period: 1,
            callchain: vec![],
            user_stack: None,
        }
    }

    #[test]
    fn samples_inside_a_window_of_their_thread_are_joined_edges_included() {
        let w = vec![window(7, 100, 200, vec![1]), window(7, 300, 400, vec![2])];
        let idx = WindowIndex::new(&w);
        assert_eq!(idx.find(7, 100), Some(0), "on the start edge");
        assert_eq!(idx.find(7, 200), Some(0), "on the end edge");
        assert_eq!(idx.find(7, 150), Some(0));
        assert_eq!(idx.find(7, 201), None, "between windows");
        assert_eq!(idx.find(7, 99), None, "before any window");
        assert_eq!(idx.find(7, 401), None, "after every window");
        assert_eq!(idx.find(7, 350), Some(1));
        assert_eq!(idx.find(8, 150), None, "another thread");
        assert_eq!(WindowIndex::new(&[]).find(7, 150), None, "no window");
    }

    #[test]
    fn overlapping_windows_give_the_innermost_and_a_long_one_still_counts() {
        // A long window 0..1000 with a short one 100..200 inside it, and a
        // third 300..310 (ended) before a sample at 500.
        let w = vec![
            window(1, 0, 1000, vec![1]),
            window(1, 100, 200, vec![2]),
            window(1, 300, 310, vec![3]),
        ];
        let idx = WindowIndex::new(&w);
        assert_eq!(idx.find(1, 150), Some(1));
        assert_eq!(idx.find(1, 500), Some(0));
        assert_eq!(idx.find(1, 305), Some(2));
        assert_eq!(idx.find(1, 1001), None);
    }

    #[test]
    fn windows_with_the_same_stack_share_a_prefix_and_guest_samples_stay_alone() {
        let w = vec![
            window(1, 0, 10, vec![5, 6]),
            window(1, 20, 30, vec![5, 6]),
            window(1, 40, 50, vec![9]),
        ];
        let mut guest = sample(1, 5);
        guest.mode = CpuMode::GuestUser;
        let samples = vec![
            sample(1, 5),
            sample(1, 25),
            sample(1, 45),
            sample(2, 5),
            guest,
        ];
        let j = Join::new(&samples, &w);
        assert_eq!(j.prefix_of, vec![0, 0, 1, NO_PREFIX, NO_PREFIX]);
        assert_eq!(j.joined(), 3);
        assert_eq!(Join::none(2).prefix_of, vec![NO_PREFIX; 2]);
    }

    #[test]
    fn a_host_sample_inside_the_run_that_ended_in_an_exit_joins_that_exit() {
        // The sentry (tid 1) serves the exit 300..400; the vCPU thread
        // (tid 2) ran the guest 100..290 and the run ended in that exit.
        let mut w = window(1, 300, 400, vec![5, 6]);
        w.run = Some(RunSpan {
            tid: 2,
            entered_ns: 100,
            left_ns: 290,
        });
        let mut next = window(1, 700, 800, vec![9]);
        next.run = Some(RunSpan {
            tid: 2,
            entered_ns: 410,
            left_ns: 690,
        });
        let windows = vec![w, next];
        let idx = WindowIndex::new(&windows);
        assert_eq!(idx.find_part(2, 100), Some((0, Part::Run)), "entry edge");
        assert_eq!(idx.find_part(2, 290), Some((0, Part::Run)), "return edge");
        assert_eq!(idx.find_part(2, 295), None, "after the return");
        assert_eq!(idx.find_part(2, 500), Some((1, Part::Run)));
        assert_eq!(idx.find_part(1, 350), Some((0, Part::Serving)));
        assert_eq!(idx.find_part(1, 150), None, "the sentry waiting");
        let mut guest = sample(2, 150);
        guest.mode = CpuMode::GuestUser;
        let mut kernel = sample(2, 150);
        kernel.mode = CpuMode::Kernel;
        let samples = vec![kernel, guest, sample(1, 350), sample(2, 295)];
        let j = Join::new(&samples, &windows);
        // The kernel sample gets a prefix of its own (same stack, other
        // part); the guest-mode one stays the guest's.
        assert_eq!(j.prefix_of, vec![0, NO_PREFIX, 1, NO_PREFIX]);
        assert_eq!(j.frames_from(0), FramesFrom::KernelEntry);
        assert_eq!(j.frames_from(1), FramesFrom::Frame("run_until_stop"));
    }

    #[test]
    fn kernel_entry_keeps_the_ioctl_and_the_kernel_frames() {
        assert_eq!(
            from_kernel_entry("main;vcpu_loop;__GI___ioctl;entry_[k];kvm_run_[k]"),
            "__GI___ioctl;entry_[k];kvm_run_[k]"
        );
        assert_eq!(
            from_kernel_entry("entry_[k];kvm_run_[k]"),
            "entry_[k];kvm_run_[k]"
        );
        assert_eq!(
            from_kernel_entry("main;vcpu_loop;__GI___ioctl"),
            "__GI___ioctl"
        );
        assert_eq!(from_kernel_entry("leaf"), "leaf");
    }

    #[test]
    fn a_prefix_names_guest_frames_and_ends_with_the_marker() {
        let mut sym = Symbolizer::new();
        sym.set_guest_symbols(crate::symbolize::GuestSymbolMap::new([
            (0x100, 0x200, "_start".to_string()),
            (0x200, 0x300, "mmap_loop".to_string()),
            (0x300, 0x400, "sys_call".to_string()),
        ]));
        let mut w = window(1, 0, 10, vec![0x310, 0x251, 0x111]);
        let view = ProcessView::default();
        let s = [sample(1, 5)];
        let ws = [w.clone()];
        let j = Join::new(&s, &ws);
        assert_eq!(
            j.prefix_text(0, &view, &mut sym),
            "[guest];_start_[g];mmap_loop_[g];sys_call_[g];[exit: io]"
        );
        w.broken = Some("unmapped");
        w.pcs.truncate(2);
        let ws = [w];
        let j = Join::new(&s, &ws);
        assert_eq!(
            j.prefix_text(0, &view, &mut sym),
            "[guest];[broken stack: unmapped];mmap_loop_[g];sys_call_[g];[exit: io]"
        );
        // The workload's own stack starts at `workload_from`: outer
        // frames and a break beyond it are dropped.
        let mut w = ws[0].clone();
        w.workload_from = "mmap_loop";
        let ws = [w];
        let j = Join::new(&s, &ws);
        assert_eq!(
            j.prefix_text(0, &view, &mut sym),
            "[guest];mmap_loop_[g];sys_call_[g];[exit: io]"
        );
    }

    #[test]
    fn sentry_frames_are_kept_from_the_serving_frame() {
        let f = "main;run_trial;run_until_stop<X>;dispatch;mmap";
        assert_eq!(
            from_innermost_frame(f, "run_until_stop"),
            Some("run_until_stop<X>;dispatch;mmap")
        );
        assert_eq!(
            from_innermost_frame("a;serve;run;instrumented_sentry::ptrace::serve;h", "serve"),
            Some("instrumented_sentry::ptrace::serve;h")
        );
        assert_eq!(from_innermost_frame(f, "serve"), None);
    }
}
