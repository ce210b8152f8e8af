//! What one measured point is: the workload, the kind of mapping, whether
//! pages are touched, how many calls and how large each mapping is.
//!
//! A [`PointSpec`] is platform-neutral: the same spec runs on the native
//! platform (host syscalls), the in-process sentry, or a guest.

use std::fmt;
use std::sync::Arc;

use super::trace::Trace;
use crate::addr::page_round_up;

/// The kind of mapping an experiment makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mapping {
    /// `MAP_PRIVATE | MAP_ANONYMOUS`: merges into one VMA in Linux and gVisor.
    Anon,
    /// `MAP_PRIVATE` of a file at offset 0: never merges (the study's O(n) case).
    Private,
    /// `MAP_SHARED` of a file at offset 0: never merges either.
    Shared,
}

impl Mapping {
    /// Every mapping kind, in the order tables print them.
    pub const ALL: [Mapping; 3] = [Mapping::Anon, Mapping::Private, Mapping::Shared];

    /// The name used on the command line and in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            Mapping::Anon => "anon",
            Mapping::Private => "private",
            Mapping::Shared => "shared",
        }
    }

    /// Parse a name as [`name`](Self::name) prints it.
    pub fn from_name(s: &str) -> Option<Mapping> {
        Mapping::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether the mapping is backed by a file (private or shared).
    pub fn is_file_backed(self) -> bool {
        !matches!(self, Mapping::Anon)
    }
}

impl fmt::Display for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The workloads `sentryprof run` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// Latency against the number of existing mappings (the study's Exp1).
    Exp1,
    /// Latency against the mapping size (the study's Exp2).
    Exp2,
    /// The malloc benchmark (nofree), touch or no-touch.
    Malloc,
    /// A `strace -e trace=memory` log replayed.
    Replay,
}

impl WorkloadKind {
    /// Every workload, in the order help text lists them.
    pub const ALL: [WorkloadKind; 4] = [
        WorkloadKind::Exp1,
        WorkloadKind::Exp2,
        WorkloadKind::Malloc,
        WorkloadKind::Replay,
    ];

    /// The name used on the command line and in `run.json`.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Exp1 => "exp1",
            WorkloadKind::Exp2 => "exp2",
            WorkloadKind::Malloc => "malloc",
            WorkloadKind::Replay => "replay",
        }
    }

    /// Parse a name as [`name`](Self::name) prints it.
    pub fn from_name(s: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|w| w.name() == s)
    }

    /// The study's default iteration counts for this workload.
    ///
    /// Exp1 uses the file-backed series of the study's Figure 3 (5,000,
    /// 10,000, 25,000), which the linear search can finish; its anonymous
    /// and post-fix runs went to 500,000 (ask with `--iterations`). Exp2 and
    /// malloc use 25,000.
    pub fn default_iterations(self) -> &'static [u64] {
        match self {
            WorkloadKind::Exp1 => &[5_000, 10_000, 25_000],
            WorkloadKind::Exp2 | WorkloadKind::Malloc => &[25_000],
            WorkloadKind::Replay => &[],
        }
    }

    /// The study's default mapping sizes in bytes for this workload.
    ///
    /// Exp1: 4 KiB (the study also ran 16 KiB and 64 KiB). Exp2: 1 KiB to
    /// 1 MiB in powers of two. Malloc: 4 KiB to 1 MiB in powers of two,
    /// which crosses glibc's 128 KiB brk→mmap threshold.
    pub fn default_sizes(self) -> Vec<u64> {
        match self {
            WorkloadKind::Exp1 => vec![4 * 1024],
            WorkloadKind::Exp2 => (10..=20).map(|s| 1u64 << s).collect(),
            WorkloadKind::Malloc => (12..=20).map(|s| 1u64 << s).collect(),
            WorkloadKind::Replay => vec![],
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The operation a point repeats.
#[derive(Debug, Clone)]
pub enum PointWork {
    /// `iterations` calls of `mmap(NULL, size, PROT_READ|PROT_WRITE, flags, fd, 0)`
    /// (Exp1 and Exp2 differ only in which parameters they sweep).
    Mmap {
        /// The kind of mapping.
        mapping: Mapping,
    },
    /// `iterations` calls of `malloc(size)`, never freed inside the trial.
    Malloc,
    /// Every call of a parsed trace, in order.
    Replay {
        /// The trace, shared between points.
        trace: Arc<Trace>,
    },
}

/// One measured combination, independent of platform and search strategy.
#[derive(Debug, Clone)]
pub struct PointSpec {
    /// Which workload the point belongs to (for labels and `run.json`).
    pub workload: WorkloadKind,
    /// What each trial does.
    pub work: PointWork,
    /// Whether every page is written (one byte per 4 KiB page) right after
    /// it is allocated, inside the timed region.
    pub touch: bool,
    /// Calls per trial (for replay: the trace's calls).
    pub iterations: u64,
    /// Bytes per call (for replay: 0).
    pub size: u64,
}

impl PointSpec {
    /// Exp1: `iterations` mmaps of `size` bytes of `mapping` per trial,
    /// each written page by page or not (`touch`).
    pub fn exp1(mapping: Mapping, touch: bool, iterations: u64, size: u64) -> Self {
        Self {
            workload: WorkloadKind::Exp1,
            work: PointWork::Mmap { mapping },
            touch,
            iterations,
            size,
        }
    }

    /// The mapping name recorded in `run.json`: `anon`, `private`, `shared`
    /// for mmap workloads, `anon` for malloc (heap memory is anonymous),
    /// `trace` for replay (the trace decides per call).
    pub fn mapping_name(&self) -> &'static str {
        match &self.work {
            PointWork::Mmap { mapping } => mapping.name(),
            PointWork::Malloc => "anon",
            PointWork::Replay { .. } => "trace",
        }
    }

    /// Bytes of address space one trial maps at most (mapping sizes rounded
    /// to pages); `None` on overflow.
    pub fn mapped_bytes(&self) -> Option<u64> {
        match &self.work {
            PointWork::Mmap { .. } | PointWork::Malloc => {
                page_round_up(self.size)?.checked_mul(self.iterations)
            }
            PointWork::Replay { trace } => Some(trace.largest_mapped_bytes()),
        }
    }

    /// Bytes of memory one trial writes when it touches (0 without touch).
    pub fn touched_bytes(&self) -> Option<u64> {
        if !self.touch {
            return Some(0);
        }
        self.mapped_bytes()
    }

    /// A short label: "exp1 private 4096B x10000 notouch".
    pub fn label(&self) -> String {
        let touch = if self.touch { "touch" } else { "notouch" };
        format!(
            "{} {} {}B x{} {}",
            self.workload,
            self.mapping_name(),
            self.size,
            self.iterations,
            touch
        )
    }
}
