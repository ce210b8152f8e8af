//! Guest, exit and sentry time of one path, side by side (issue 13): the
//! sampled weight of stacks that cross the guest boundary, split by where
//! each sample was taken, and the rdtsc figures of one call beside it.
//! `sentryprof report` prints it per point and the TUI per selected point
//! and flame path, both from this one computation.
//!
//! A stack's side, read frame by frame from its root ([`SideTracker`]):
//! - not rooted at `[guest]` or `[stub]`: [`Side::Outside`] (the sentry's
//!   other threads, the run loop; not part of the split);
//! - rooted there, no exit or trap marker: [`Side::Guest`] (the workload's
//!   own code running: the VMM guest sampler's stacks and perf's
//!   guest-mode samples on kvm);
//! - after the marker (`[exit: …]`, `[trap: …]`), through one of the
//!   sentry's serving frames (`dispatch` on kvm and `mmap` on the trap
//!   platforms, as in [`crate::boundary_figure::serving_frame`], and
//!   `handle_fault` for faults): [`Side::Sentry`], `kernel` when its leaf is
//!   a host kernel frame (`_[k]`);
//! - after the marker but outside every serving frame: [`Side::Exit`] (the
//!   sentry's loop taking the exit: reading it, the guest's registers and
//!   stack, handing back).
//!
//! Shares are of guest + exit + sentry (they sum to 100%); the host kernel
//! under the sentry is a part of the sentry's share.
//!
//! Two samplers see the guest on kvm: perf's cpu-clock samples taken in
//! guest mode and the VMM's guest sampler, both weighing nanoseconds, both
//! of the same guest time. Exit and sentry samples are perf's, so the guest
//! share counts perf's guest samples alone where there are any, else the
//! guest sampler's. perf's carry [`PERF_GUEST_FRAME`] under the root
//! (`[guest];[perf guest mode];…`), so a flame path of the merged stacks
//! tells them apart as a point does. Bundles written before that frame
//! existed: a point takes the guest sampler's weight
//! (`extra.guest_sampler.samples × weight_ns`) out; a flame path counts
//! every guest stack.

use bundle::folded::FoldedStacks;
use bundle::{LoadedBundle, Point, KERNEL_FRAME_SUFFIX, PERF_GUEST_FRAME};
use serde::Serialize;

use crate::boundary_figure::{serving_frame, time_split};
use crate::create_vma_figure::frame_is;
use crate::source::load_point_folded;
use crate::table::Table;
use crate::Result;

/// Title of the report's table.
pub const SPLIT_TITLE: &str = "Guest / exit / sentry per point: shares of the samples that cross the boundary (host kernel: part of the sentry's); one call by rdtsc (median TSC cycles, shares of the call)";

/// Roots of stacks that carry a workload's stack.
const WORKLOAD_ROOTS: [&str; 2] = ["[guest]", "[stub]"];
/// Serving frame of faults, on every platform.
const FAULT_FRAME: &str = "handle_fault";

/// Where a sample was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `perf`: one of perf's guest-mode samples ([`PERF_GUEST_FRAME`]);
    /// else the VMM guest sampler's (or a bundle's from before the frame).
    Guest {
        perf: bool,
    },
    Exit,
    Sentry {
        kernel: bool,
    },
    Outside,
}

/// A stack's side so far, one frame at a time (the TUI's flame tree feeds
/// it the frames of a path; [`side_of`] those of a folded line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SideTracker {
    frames: u32,
    rooted: bool,
    /// The serving frame of the marker's platform (None: no marker yet).
    serving: Option<&'static str>,
    served: bool,
    kernel_leaf: bool,
    /// The frame under the root is [`PERF_GUEST_FRAME`].
    perf_guest: bool,
}

impl SideTracker {
    /// The tracker after one more frame.
    pub fn push(self, frame: &str) -> SideTracker {
        let mut t = self;
        if t.frames == 0 {
            t.rooted = WORKLOAD_ROOTS.contains(&frame);
        } else if t.rooted && t.serving.is_none() {
            t.perf_guest |= t.frames == 1 && frame == PERF_GUEST_FRAME;
            t.serving = if frame.starts_with("[exit: ") {
                serving_frame("kvm").map(|f| f.1)
            } else if frame.starts_with("[trap: ") {
                serving_frame("systrap").map(|f| f.1)
            } else {
                None
            };
        } else if let Some(serving) = t.serving {
            t.served |= frame_is(frame, serving) || frame_is(frame, FAULT_FRAME);
        }
        t.kernel_leaf = frame.ends_with(KERNEL_FRAME_SUFFIX);
        t.frames += 1;
        t
    }

    /// The side of a stack that ends here.
    pub fn side(&self) -> Side {
        match (self.rooted, self.serving, self.served) {
            (false, _, _) => Side::Outside,
            (true, None, _) => Side::Guest {
                perf: self.perf_guest,
            },
            (true, Some(_), false) => Side::Exit,
            (true, Some(_), true) => Side::Sentry {
                kernel: self.kernel_leaf,
            },
        }
    }
}

/// The side of one folded stack.
pub fn side_of(stack: &str) -> Side {
    stack
        .split(';')
        .fold(SideTracker::default(), SideTracker::push)
        .side()
}

/// Sampled weight on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SideWeights {
    pub guest: u64,
    pub exit: u64,
    /// The sentry's, its host kernel frames included.
    pub sentry: u64,
    /// The part of `sentry` whose leaf is a host kernel frame.
    pub sentry_kernel: u64,
    /// Stacks outside the boundary (not in the shares).
    pub outside: u64,
    /// The part of `guest` the VMM guest sampler gave (a point's
    /// `extra.guest_sampler`; 0 when not known).
    pub guest_sampler: u64,
    /// The part of `guest` that is perf's guest-mode samples (stacks
    /// marked [`PERF_GUEST_FRAME`]).
    pub guest_perf: u64,
}

impl SideWeights {
    /// Count `weight` on `side`.
    pub fn add(&mut self, side: Side, weight: u64) {
        match side {
            Side::Guest { perf } => {
                self.guest += weight;
                if perf {
                    self.guest_perf += weight;
                }
            }
            Side::Exit => self.exit += weight,
            Side::Sentry { kernel } => {
                self.sentry += weight;
                if kernel {
                    self.sentry_kernel += weight;
                }
            }
            Side::Outside => self.outside += weight,
        }
    }

    /// The guest weight the shares count: perf's guest-mode samples where
    /// there are any (marked, or, in a bundle from before the mark, what is
    /// left when the guest sampler's known part is taken out), else all of
    /// `guest` (the guest sampler's).
    pub fn guest_counted(&self) -> u64 {
        if self.guest_perf > 0 {
            return self.guest_perf;
        }
        let perf = self.guest.saturating_sub(self.guest_sampler);
        if self.guest_sampler > 0 && perf > 0 {
            perf
        } else {
            self.guest
        }
    }

    /// Whose guest samples [`Self::guest_counted`] counts, in words.
    pub fn guest_source(&self) -> &'static str {
        let counted = self.guest_counted();
        if counted == self.guest_perf && counted > 0 {
            if counted == self.guest {
                "guest: perf's guest-mode samples (no VMM guest sampler stack on this path)"
            } else {
                "guest: perf's guest-mode samples (the VMM guest sampler's, of the same time, left out)"
            }
        } else if counted != self.guest {
            "guest: perf's guest-mode samples (the VMM guest sampler's, of the same time, left out)"
        } else if self.guest_sampler > 0 {
            "guest: the VMM guest sampler's stacks (perf sampled no guest mode)"
        } else {
            "guest: every guest stack (none marked [perf guest mode]: the VMM guest sampler's, or a bundle from before the mark)"
        }
    }

    /// Guest + exit + sentry: the weight the shares divide.
    pub fn crossing(&self) -> u64 {
        self.guest_counted() + self.exit + self.sentry
    }

    /// Guest, exit, sentry and the sentry's host kernel as fractions of
    /// [`Self::crossing`] (the first three sum to 1); None when no stack
    /// crosses the boundary.
    pub fn shares(&self) -> Option<[f64; 4]> {
        let all = self.crossing();
        (all > 0).then(|| {
            [
                self.guest_counted(),
                self.exit,
                self.sentry,
                self.sentry_kernel,
            ]
            .map(|w| w as f64 / all as f64)
        })
    }
}

/// The weights of every stack of `stacks`.
pub fn split_stacks(stacks: &FoldedStacks) -> SideWeights {
    let mut w = SideWeights::default();
    for (stack, weight) in stacks.iter() {
        w.add(side_of(stack), weight);
    }
    w
}

/// One call's time by rdtsc (median TSC cycles), as the report's boundary
/// table reads it ([`time_split`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallSplit {
    /// The call as the workload timed it.
    pub call: f64,
    /// A raw exit measured next to the trial (kvm only).
    pub exit: Option<f64>,
    /// The sentry's `mmap` probe.
    pub sentry: f64,
    /// call − exit − sentry.
    pub rest: f64,
}

impl CallSplit {
    /// Of a point, when it has a call time and the mmap probe.
    pub fn of(p: &Point) -> Option<CallSplit> {
        match time_split(p) {
            [Some(call), exit, Some(sentry), Some(rest)] if call > 0.0 => Some(CallSplit {
                call,
                exit,
                sentry,
                rest,
            }),
            _ => None,
        }
    }

    /// Exit, sentry and rest as fractions of the call.
    pub fn shares(&self) -> [f64; 3] {
        [self.exit.unwrap_or(0.0), self.sentry, self.rest].map(|c| c / self.call)
    }
}

/// One point's split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointSplit {
    /// Index of the point in `run.json`.
    pub index: usize,
    pub point: String,
    pub platform: String,
    pub samples: SideWeights,
    pub call: Option<CallSplit>,
}

/// The split of a point from its folded stacks; None when none of them
/// crosses the boundary (no guest data).
pub fn point_split(index: usize, p: &Point, stacks: &FoldedStacks) -> Option<PointSplit> {
    let mut samples = split_stacks(stacks);
    let sampler = |k: &str| {
        p.extra
            .get("guest_sampler")
            .and_then(|g| g.get(k))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    samples.guest_sampler = (sampler("samples") * sampler("weight_ns")).min(samples.guest);
    (samples.crossing() > 0).then(|| PointSplit {
        index,
        point: p.label(),
        platform: p.platform.clone(),
        samples,
        call: CallSplit::of(p),
    })
}

/// The split of every point whose folded stacks cross the boundary.
///
/// Errors: a point's folded file is missing or malformed.
pub fn point_splits(b: &LoadedBundle) -> Result<Vec<PointSplit>> {
    let mut out = Vec::new();
    for (i, p) in b.run.points.iter().enumerate() {
        if let Some(stacks) = load_point_folded(b, p)? {
            out.extend(point_split(i, p, &stacks));
        }
    }
    Ok(out)
}

/// A share as the report and the TUI print it.
pub fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The rows as a table.
pub fn split_table(rows: &[PointSplit]) -> Table {
    let mut t = Table::new([
        "point",
        "guest",
        "exit",
        "sentry",
        "host kernel",
        "call cycles",
        "call: exit",
        "call: mmap probe",
        "call: rest",
    ]);
    for r in rows {
        let Some([g, e, s, k]) = r.samples.shares() else {
            continue;
        };
        let mut row = vec![r.point.clone(), pct(g), pct(e), pct(s), pct(k)];
        match &r.call {
            Some(c) => {
                let [ce, cs, cr] = c.shares();
                row.push(format!("{:.0}", c.call));
                row.push(c.exit.map_or("-".into(), |_| pct(ce)));
                row.push(pct(cs));
                row.push(pct(cr));
            }
            None => row.extend(["-", "-", "-", "-"].map(String::from)),
        }
        t.push(row);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stack_gets_its_side() {
        assert_eq!(
            side_of("[guest];_start_[g];mmap_loop_[g]"),
            Side::Guest { perf: false }
        );
        assert_eq!(
            side_of("[guest];[perf guest mode];mmap_loop_[g]"),
            Side::Guest { perf: true },
            "perf's guest-mode sample"
        );
        assert_eq!(
            side_of("[guest];[broken guest stack];a_[g]"),
            Side::Guest { perf: false },
            "a broken chain is still the guest's"
        );
        assert_eq!(side_of("[guest of another VM]"), Side::Outside);
        assert_eq!(
            side_of("[guest];_start_[g];mmap_loop_[g];[exit: mmio];run_until_stop;next_event;open_window;regs;__GI___ioctl;do_syscall_64_[k]"),
            Side::Exit
        );
        assert_eq!(
            side_of("[guest];_start_[g];mmap_loop_[g];[exit: io];run_until_stop;dispatch;mmap;create_vma;find_available"),
            Side::Sentry { kernel: false }
        );
        assert_eq!(
            side_of("[guest];_start_[g];touch_[g];[exit: fault];run_until_stop;handle_fault<X>;map_as;clear_page_erms_[k]"),
            Side::Sentry { kernel: true }
        );
        assert_eq!(
            side_of("[stub];child_main;mmap_loop;[trap: seccomp];serve;mmap;create_vma"),
            Side::Sentry { kernel: false }
        );
        assert_eq!(
            side_of("[stub];child_main;[trap: seccomp];serve;wait_for_stub"),
            Side::Exit
        );
        // A dispatch frame before the marker is the guest's, not the sentry's.
        assert_eq!(side_of("[guest];dispatch_[g]"), Side::Guest { perf: false });
        assert_eq!(
            side_of("sentryprof;main;run_until_stop;dispatch;mmap"),
            Side::Outside
        );
    }

    #[test]
    fn shares_of_guest_exit_and_sentry_sum_to_one() {
        let stacks = FoldedStacks::parse(
            "[guest];_start_[g];mmap_loop_[g] 60\n\
             [guest];_start_[g];mmap_loop_[g];[exit: mmio];run_until_stop;next_event 10\n\
             [guest];_start_[g];mmap_loop_[g];[exit: mmio];run_until_stop;dispatch;mmap 20\n\
             [guest];_start_[g];mmap_loop_[g];[exit: mmio];run_until_stop;dispatch;mmap;do_mmap_[k] 10\n\
             sentryprof;main;run 500\n",
            "test",
        )
        .expect("parses");
        let w = split_stacks(&stacks);
        assert_eq!(
            w,
            SideWeights {
                guest: 60,
                exit: 10,
                sentry: 30,
                sentry_kernel: 10,
                outside: 500,
                guest_sampler: 0,
                guest_perf: 0,
            }
        );
        let [g, e, s, k] = w.shares().expect("crossing");
        assert!((g + e + s - 1.0).abs() < 1e-12);
        assert_eq!([g, e, s, k], [0.6, 0.1, 0.3, 0.1]);
        assert_eq!(SideWeights::default().shares(), None);
        // 20 of the 60 guest weight are the VMM sampler's: perf's 40 count.
        let both = SideWeights {
            guest_sampler: 20,
            ..w
        };
        assert_eq!(both.guest_counted(), 40);
        assert_eq!(both.shares().expect("crossing")[0], 0.5);
        // All of it the sampler's (perf sampled no guest mode): all counts.
        let vmm_only = SideWeights {
            guest_sampler: 60,
            ..w
        };
        assert_eq!(vmm_only.guest_counted(), 60);
        // Marked perf samples: counted alone, with no point figures.
        let marked = split_stacks(
            &FoldedStacks::parse(
                "[guest];_start_[g];mmap_loop_[g] 60\n\
                 [guest];[perf guest mode];mmap_loop_[g] 30\n\
                 [guest];_start_[g];mmap_loop_[g];[exit: mmio];run_until_stop;next_event 10\n",
                "test",
            )
            .expect("parses"),
        );
        assert_eq!((marked.guest, marked.guest_perf), (90, 30));
        assert_eq!(marked.guest_counted(), 30);
        assert_eq!(marked.shares().expect("crossing")[0], 0.75);
    }

    #[test]
    fn the_call_split_reads_the_boundary_table_figures() {
        let mut p = Point {
            platform: "kvm".into(),
            extra: serde_json::json!({
                "guest_call_cycles": {"median": 10000},
                "raw_exit_this_trial": {"median_cycles": 6000},
            }),
            ..Point::default()
        };
        assert_eq!(CallSplit::of(&p), None, "no mmap probe");
        p.sites.insert(
            bundle::SITE_MMAP.to_string(),
            bundle::SiteStats {
                median_cycles: 1000.0,
                ..Default::default()
            },
        );
        let c = CallSplit::of(&p).expect("split");
        assert_eq!(c.shares(), [0.6, 0.1, 0.3]);
    }
}
