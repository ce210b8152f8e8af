//! Which samples of a CPU-wide sampler belong to this process and the
//! processes it forks (the stubs of the trapped platforms and `native`).
//!
//! A CPU-wide event (pid -1) samples every task on its CPU and is never
//! switched in or out with a task, so sampling adds nothing to a context
//! switch (a per-task event cancels and re-arms its timer at each switch).
//! The price is this filter: FORK records add a child to the tree, EXIT
//! records of a process remove it (pids are reused), and samples of other
//! processes are dropped. A sample whose pid is not known yet is held for
//! one drain: the child's fork record may sit in the ring of a CPU read
//! before the kernel wrote it.

use std::collections::HashSet;

use super::records::{Fork, Sample};

/// The pids of one process tree, built from FORK and EXIT records.
#[derive(Debug, Clone)]
pub struct ProcessTree {
    root: u32,
    pids: HashSet<u32>,
    /// Samples of unknown pids from the previous drain.
    pending: Vec<Sample>,
    /// Samples dropped as belonging to other processes.
    pub foreign: u64,
}

impl ProcessTree {
    /// The tree rooted at process `root` (this process: `std::process::id()`).
    pub fn new(root: u32) -> Self {
        ProcessTree {
            root,
            pids: HashSet::from([root]),
            pending: Vec::new(),
            foreign: 0,
        }
    }

    /// Whether `pid` is in the tree now.
    pub fn contains(&self, pid: u32) -> bool {
        self.pids.contains(&pid)
    }

    /// One drain's records (any order across CPUs): forks are applied
    /// first (by time), then the samples are filtered, then exits applied.
    /// Returns the samples of the tree, oldest held ones first.
    pub fn filter(
        &mut self,
        mut forks: Vec<Fork>,
        samples: Vec<Sample>,
        mut exits: Vec<Fork>,
    ) -> Vec<Sample> {
        forks.sort_by_key(|f| f.time);
        for f in &forks {
            if self.pids.contains(&f.ppid) {
                self.pids.insert(f.pid);
            }
        }
        let mut kept = Vec::with_capacity(samples.len() + self.pending.len());
        for s in std::mem::take(&mut self.pending) {
            if self.pids.contains(&s.pid) {
                kept.push(s);
            } else {
                self.foreign += 1;
            }
        }
        for s in samples {
            if self.pids.contains(&s.pid) {
                kept.push(s);
            } else {
                self.pending.push(s);
            }
        }
        exits.sort_by_key(|e| e.time);
        for e in &exits {
            // A thread's exit (tid != pid) leaves its process in the tree.
            if e.pid == e.tid && e.pid != self.root {
                self.pids.remove(&e.pid);
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::records::CpuMode;

    fn sample(pid: u32, time: u64) -> Sample {
        Sample {
            mode: CpuMode::User,
            ip: 0x1000,
            pid,
            tid: pid,
            time,
            period: 1,
            callchain: vec![0x1000],
            user_stack: None,
        }
    }

    fn task(pid: u32, ppid: u32, time: u64) -> Fork {
        Fork {
            pid,
            ppid,
            tid: pid,
            ptid: ppid,
            time,
        }
    }

    #[test]
    fn keeps_the_root_and_its_forked_children_and_drops_others() {
        let mut t = ProcessTree::new(100);
        let kept = t.filter(
            vec![task(101, 100, 5), task(300, 200, 6), task(102, 101, 7)],
            vec![
                sample(100, 1),
                sample(101, 8),
                sample(102, 9),
                sample(300, 9),
            ],
            vec![],
        );
        let pids: Vec<u32> = kept.iter().map(|s| s.pid).collect();
        assert_eq!(pids, vec![100, 101, 102]);
        // pid 300 (another process) is held once, then dropped.
        let kept = t.filter(vec![], vec![], vec![]);
        assert!(kept.is_empty());
        assert_eq!(t.foreign, 1);
    }

    #[test]
    fn a_sample_seen_before_its_fork_record_is_kept_at_the_next_drain() {
        let mut t = ProcessTree::new(100);
        assert!(t.filter(vec![], vec![sample(101, 8)], vec![]).is_empty());
        let kept = t.filter(vec![task(101, 100, 5)], vec![], vec![]);
        assert_eq!(kept.len(), 1);
        assert_eq!(t.foreign, 0);
    }

    #[test]
    fn an_exited_child_pid_reused_by_another_process_is_dropped() {
        let mut t = ProcessTree::new(100);
        t.filter(
            vec![task(101, 100, 1)],
            vec![sample(101, 2)],
            vec![task(101, 100, 3)],
        );
        assert!(!t.contains(101));
        // A thread of the root exiting keeps the root.
        let mut thread_exit = task(100, 100, 4);
        thread_exit.tid = 105;
        t.filter(vec![], vec![], vec![thread_exit]);
        assert!(t.contains(100));
        // pid 101 reused by someone else's process.
        t.filter(vec![task(101, 50, 5)], vec![sample(101, 6)], vec![]);
        t.filter(vec![], vec![], vec![]);
        assert_eq!(t.foreign, 1);
    }
}
