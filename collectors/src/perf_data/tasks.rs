//! Threads and address spaces replayed from the side-band records of a
//! perf.data file, in time order, as perf does: COMM names a thread (an
//! exec keeps the earlier mappings, later ones hide them), FORK of a new
//! process copies its parent's mappings and of a thread shares them, and
//! MMAP/MMAP2 add an executable mapping to the process (a later mapping
//! hides what it overlaps). A thread first met in a sample is named
//! `:TID` and shares its process's space.

use std::collections::{BTreeMap, HashMap};

use crate::fast_map::FastMap;

/// One executable mapping: `[start, end)` holds file offset `pgoff` on of
/// object `dso` (an index of the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map {
    pub start: u64,
    pub end: u64,
    pub pgoff: u64,
    pub dso: u32,
}

/// The mappings of one address space, keyed by start, disjoint.
#[derive(Debug, Clone, Default)]
pub struct Space {
    maps: BTreeMap<u64, Map>,
}

impl Space {
    /// Add `m`, trimming or splitting the mappings it overlaps.
    pub fn insert(&mut self, m: Map) {
        if m.end <= m.start {
            return;
        }
        let overlapping: Vec<Map> = self
            .maps
            .range(..m.end)
            .rev()
            .take_while(|(_, o)| o.end > m.start)
            .map(|(_, o)| *o)
            .collect();
        for o in overlapping {
            self.maps.remove(&o.start);
            if o.start < m.start {
                self.maps.insert(o.start, Map { end: m.start, ..o });
            }
            if o.end > m.end {
                let pgoff = o.pgoff + (m.end - o.start);
                self.maps.insert(
                    m.end,
                    Map {
                        start: m.end,
                        pgoff,
                        ..o
                    },
                );
            }
        }
        self.maps.insert(m.start, m);
    }

    /// The mapping holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&Map> {
        let (_, m) = self.maps.range(..=addr).next_back()?;
        (addr < m.end).then_some(m)
    }
}

#[derive(Debug, Clone)]
struct Thread {
    /// Index into `Tasks::comms`, or None for the default `:TID`.
    comm: Option<u32>,
    space: u32,
}

/// Every thread and address space met so far.
#[derive(Debug, Default)]
pub struct Tasks {
    threads: FastMap<i32, Thread>,
    pid_space: FastMap<i32, u32>,
    spaces: Vec<Space>,
    /// Per space, how many mappings were added to it so far (a sample's
    /// addresses mean the same while this stays the same).
    versions: Vec<u32>,
    comms: Vec<String>,
    comm_ids: HashMap<String, u32>,
}

impl Tasks {
    fn new_space(&mut self, copy_of: Option<u32>) -> u32 {
        let s = copy_of
            .and_then(|i| self.spaces.get(i as usize).cloned())
            .unwrap_or_default();
        self.spaces.push(s);
        self.versions.push(0);
        (self.spaces.len() - 1) as u32
    }

    fn space_of_pid(&mut self, pid: i32) -> u32 {
        if let Some(&s) = self.pid_space.get(&pid) {
            return s;
        }
        let s = self.new_space(None);
        self.pid_space.insert(pid, s);
        s
    }

    fn thread(&mut self, pid: i32, tid: i32) -> &mut Thread {
        if !self.threads.contains_key(&tid) {
            let space = self.space_of_pid(pid);
            self.threads.insert(tid, Thread { comm: None, space });
        }
        self.threads.get_mut(&tid).expect("inserted above")
    }

    fn comm_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.comm_ids.get(name) {
            return id;
        }
        self.comms.push(name.to_string());
        let id = (self.comms.len() - 1) as u32;
        self.comm_ids.insert(name.to_string(), id);
        id
    }

    /// PERF_RECORD_COMM.
    pub fn comm(&mut self, pid: i32, tid: i32, name: &str) {
        let id = self.comm_id(name);
        self.thread(pid, tid).comm = Some(id);
    }

    /// PERF_RECORD_FORK: `tid` of process `pid` created by `ptid` of `ppid`.
    pub fn fork(&mut self, pid: i32, ppid: i32, tid: i32, ptid: i32) {
        let parent = self.thread(ppid, ptid).clone();
        let space = if pid == ppid {
            parent.space
        } else {
            let s = self.new_space(Some(parent.space));
            self.pid_space.insert(pid, s);
            s
        };
        self.threads.insert(
            tid,
            Thread {
                comm: parent.comm,
                space,
            },
        );
    }

    /// PERF_RECORD_MMAP / MMAP2 of an executable mapping.
    pub fn mmap(&mut self, pid: i32, tid: i32, map: Map) {
        let space = self.thread(pid, tid).space;
        self.spaces[space as usize].insert(map);
        self.versions[space as usize] = self.versions[space as usize].wrapping_add(1);
    }

    /// How many mappings space `id` has been given so far.
    pub fn version(&self, id: u32) -> u32 {
        self.versions[id as usize]
    }

    /// The comm id (`None`: unnamed) and space of a sampled thread.
    pub fn sampled(&mut self, pid: i32, tid: i32) -> (Option<u32>, u32) {
        let t = self.thread(pid, tid);
        (t.comm, t.space)
    }

    pub fn space(&self, id: u32) -> &Space {
        &self.spaces[id as usize]
    }

    pub fn comm_name(&self, id: u32) -> &str {
        &self.comms[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: u64, end: u64, pgoff: u64, dso: u32) -> Map {
        Map {
            start,
            end,
            pgoff,
            dso,
        }
    }

    #[test]
    fn later_mapping_splits_earlier() {
        let mut s = Space::default();
        s.insert(m(0, 100, 0, 1));
        s.insert(m(40, 60, 0, 2));
        assert_eq!(s.find(10), Some(&m(0, 40, 0, 1)));
        assert_eq!(s.find(50), Some(&m(40, 60, 0, 2)));
        assert_eq!(s.find(70), Some(&m(60, 100, 60, 1)));
        assert_eq!(s.find(100), None);
        s.insert(m(30, 200, 0, 3));
        assert_eq!(s.find(50).unwrap().dso, 3);
        assert_eq!(s.find(20).unwrap().dso, 1);
    }

    #[test]
    fn fork_copies_process_and_shares_threads() {
        let mut t = Tasks::default();
        t.comm(10, 10, "parent");
        t.mmap(10, 10, m(0, 100, 0, 1));
        t.fork(11, 10, 11, 10); // a new process: a copy
        t.fork(10, 10, 12, 10); // a thread: shared
        t.mmap(11, 11, m(0, 100, 0, 2));
        t.mmap(10, 12, m(200, 300, 0, 3));
        let (c, s10) = t.sampled(10, 10);
        assert_eq!(t.comm_name(c.unwrap()), "parent");
        assert_eq!(t.space(s10).find(5).unwrap().dso, 1);
        assert_eq!(t.space(s10).find(205).unwrap().dso, 3);
        let (c11, s11) = t.sampled(11, 11);
        assert_eq!(t.comm_name(c11.unwrap()), "parent");
        assert_eq!(t.space(s11).find(5).unwrap().dso, 2);
        assert!(t.space(s11).find(205).is_none());
        assert_eq!(t.sampled(99, 98).0, None);
    }
}
