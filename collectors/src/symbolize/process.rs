//! What is known about the sampled tasks: the address space of each
//! process and the name of each thread, from `/proc/self` or from the
//! side-band records (MMAP2, COMM, FORK) of a recording.

use std::collections::HashMap;

use super::maps::{Mapping, MemoryMap};
use crate::perf::SideRecord;

/// Address spaces and names of the sampled tasks.
#[derive(Debug, Clone, Default)]
pub struct ProcessView {
    spaces: Vec<MemoryMap>,
    pid_space: HashMap<u32, u32>,
    comms: HashMap<u32, String>,
    /// Used for pids with no space or name of their own.
    default_space: Option<u32>,
    default_comm: String,
}

impl ProcessView {
    /// This process: `/proc/self/maps` and `/proc/self/comm`, for every pid.
    pub fn this_process() -> std::io::Result<Self> {
        let maps = MemoryMap::this_process()?;
        let comm = std::fs::read_to_string("/proc/self/comm")
            .map(|s| s.trim_end().to_string())
            .unwrap_or_else(|_| "sentryprof".to_string());
        Ok(ProcessView {
            spaces: vec![maps],
            pid_space: HashMap::new(),
            comms: HashMap::new(),
            default_space: Some(0),
            default_comm: comm,
        })
    }

    /// Replay side-band records (sorted by time by the caller) of the
    /// processes `root_pid` started: forks copy the parent's mappings,
    /// an exec starts an empty address space, mmaps add to it.
    pub fn from_side_band(records: &[SideRecord], default_comm: &str) -> Self {
        let mut v = ProcessView {
            default_comm: default_comm.to_string(),
            ..ProcessView::default()
        };
        for r in records {
            match r {
                SideRecord::Fork(f) => {
                    if f.pid != f.ppid {
                        let copy = v
                            .pid_space
                            .get(&f.ppid)
                            .map(|&s| v.spaces[s as usize].clone())
                            .unwrap_or_default();
                        let id = v.spaces.len() as u32;
                        v.spaces.push(copy);
                        v.pid_space.insert(f.pid, id);
                    }
                    if let Some(c) = v.comms.get(&f.ptid).cloned() {
                        v.comms.insert(f.tid, c);
                    }
                }
                SideRecord::Comm(c) => {
                    v.comms.insert(c.tid, c.name.clone());
                    if c.exec && c.pid == c.tid {
                        let id = v.spaces.len() as u32;
                        v.spaces.push(MemoryMap::new());
                        v.pid_space.insert(c.pid, id);
                    }
                }
                SideRecord::Mmap(m) => {
                    if m.prot & libc::PROT_EXEC as u32 == 0 {
                        continue;
                    }
                    let id = match v.pid_space.get(&m.pid) {
                        Some(&id) => id,
                        None => {
                            let id = v.spaces.len() as u32;
                            v.spaces.push(MemoryMap::new());
                            v.pid_space.insert(m.pid, id);
                            id
                        }
                    };
                    v.spaces[id as usize].push(Mapping {
                        start: m.start,
                        end: m.start.saturating_add(m.len),
                        pgoff: m.pgoff,
                        path: m.filename.clone(),
                    });
                }
            }
        }
        for s in &mut v.spaces {
            s.finish();
        }
        v
    }

    /// The address space id of `pid` and its map.
    pub fn space(&self, pid: u32) -> Option<(u32, &MemoryMap)> {
        let id = self.pid_space.get(&pid).copied().or(self.default_space)?;
        Some((id, self.spaces.get(id as usize)?))
    }

    /// The name of thread `tid` (of process `pid`).
    pub fn comm(&self, pid: u32, tid: u32) -> &str {
        self.comms
            .get(&tid)
            .or_else(|| self.comms.get(&pid))
            .map(String::as_str)
            .unwrap_or(&self.default_comm)
    }

    /// Number of address spaces known.
    pub fn spaces(&self) -> usize {
        self.spaces.len()
    }
}
