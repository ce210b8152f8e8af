//! Import of a perf.data file (as `perf record -g` writes it) into folded
//! stacks, the same stacks `perf script | inferno-collapse-perf` makes of it
//! with default options, without the text in between.
//!
//! - The file is checked first ([`layout`]): bad magic, a header cut short,
//!   a section past the end, a corrupt or truncated record are refused with
//!   the byte offset.
//! - Records are read with the `linux-perf-data` crate, in time order
//!   (it sorts by `FINISHED_ROUND`), and side-band records replayed per
//!   pid/tid ([`tasks`]).
//! - A sample's stack is its call chain, leaf first, read as perf reads it:
//!   `PERF_CONTEXT_KERNEL`/`USER`/`HV` switch the mode of the addresses
//!   after them, any other marker (guest) discards the chain, at most 127
//!   addresses are kept; without a call chain, the sample's ip. Addresses
//!   are looked up as they are (return addresses are not moved back).
//! - Kernel addresses are named from `/proc/kallsyms`, user addresses from
//!   the mapped object's symbols ([`dso_symbols`], debug files by the
//!   build-id recorded in the file's header), `[vdso]` from this process's
//!   own vDSO; frame names then get inferno's rules (shared with
//!   `perf_script`): `[unknown]` takes the object's base name, argument
//!   lists dropped, and so on. No `_[k]` suffix, as with inferno's defaults.
//! - The root frame is the thread's comm at the time of the sample (spaces
//!   become `_`; `:TID` for a thread never named), weights are periods,
//!   and only the first event name met is folded.
//! - A chain seen before (same thread name, same address space at the
//!   same state, same addresses) only adds its weight; a new one is named
//!   frame by frame, each distinct (object, address) named once.

pub mod dso_symbols;
pub mod error;
pub mod layout;
pub mod sample;
pub mod tasks;

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use linux_perf_data::linux_perf_event_reader::{CpuMode, EventRecord};
use linux_perf_data::{PerfFileReader, PerfFileRecord};

use bundle::folded::FoldedStacks;
pub use dso_symbols::SymbolTable;
pub use error::PerfDataError;
use sample::{read_sample, SampleFields};
use tasks::{Map, Tasks};

use crate::fast_map::FastMap;
use crate::perf_script::ImportedProfile;
use crate::perf_script_names::push_frame_names;

const PERF_CONTEXT_HV: u64 = -32i64 as u64;
const PERF_CONTEXT_KERNEL: u64 = -128i64 as u64;
const PERF_CONTEXT_USER: u64 = -512i64 as u64;
const PERF_CONTEXT_MAX: u64 = -4095i64 as u64;
const PERF_RECORD_MISC_MMAP_DATA: u16 = 1 << 13;
const PERF_RECORD_SAMPLE: u32 = 9;
/// perf script's call-chain depth (`PERF_MAX_STACK_DEPTH`).
const MAX_STACK: usize = 127;
/// Object index of the kernel in the name cache.
const KERNEL_DSO: u32 = u32::MAX;
/// Object index of addresses no mapping holds.
const NO_DSO: u32 = u32::MAX - 1;

/// Read and fold `path`.
pub fn import_perf_data(path: &Path) -> Result<ImportedProfile, PerfDataError> {
    let name = path.display().to_string();
    let read_err = |source| PerfDataError::Read {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    // SAFETY: a read-only private mapping of the input, only read while
    // `bytes` lives; a concurrent truncation could fault, as for perf.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(read_err)?;
    fold_perf_data(&bytes, &name)
}

/// Fold the perf.data `bytes` (named `name` in errors).
pub fn fold_perf_data(bytes: &[u8], name: &str) -> Result<ImportedProfile, PerfDataError> {
    let layout = layout::check(bytes, name)?;
    let corrupt = |offset: u64, problem: String| PerfDataError::Corrupt {
        path: name.to_string(),
        offset,
        problem,
    };
    let PerfFileReader {
        mut perf_file,
        mut record_iter,
    } = PerfFileReader::parse_file(Cursor::new(bytes))
        .map_err(|e| corrupt(0, format!("unreadable header: {e}")))?;
    let build_ids: HashMap<Vec<u8>, Vec<u8>> = perf_file
        .build_ids()
        .map_err(|e| corrupt(0, format!("unreadable build-id section: {e}")))?
        .into_values()
        .map(|d| (d.path, d.build_id))
        .collect();
    let events: Vec<String> = (perf_file.event_attributes().iter())
        .map(|a| a.name().unwrap_or("unknown").to_string())
        .collect();
    let mut st = State {
        tasks: Tasks::default(),
        names: FrameNames::new(build_ids),
        chains: Vec::new(),
        chain_index: HashMap::new(),
        raw_index: FastMap::default(),
        raw: Vec::with_capacity(MAX_STACK + 8),
        scratch: Vec::with_capacity(MAX_STACK + 8),
        chain: Vec::with_capacity(MAX_STACK + 1),
        event: None,
        samples: 0,
        skipped: 0,
        total: 0,
    };
    loop {
        let rec = match record_iter.next_record(&mut perf_file) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                return Err(corrupt(
                    layout.data_offset,
                    format!("unreadable records: {e}"),
                ))
            }
        };
        let PerfFileRecord::EventRecord { attr_index, record } = rec else {
            continue;
        };
        let misc = record.misc;
        let event = events.get(attr_index).map_or("unknown", |s| s.as_str());
        if record.record_type.0 == PERF_RECORD_SAMPLE {
            let mut chain = std::mem::take(&mut st.scratch);
            let fields = match read_sample(&record, &mut chain) {
                Ok(f) => f,
                Err(e) => {
                    let body = record.data.as_slice();
                    let at =
                        layout::locate_body(bytes, layout, &body).unwrap_or(layout.data_offset);
                    return Err(corrupt(at, format!("corrupt sample record: {e}")));
                }
            };
            st.on_sample(&fields, &chain, event)
                .map_err(|()| PerfDataError::WeightOverflow {
                    path: name.to_string(),
                })?;
            st.scratch = chain;
            continue;
        }
        let parsed = match record.parse() {
            Ok(p) => p,
            Err(e) => {
                let body = record.data.as_slice();
                let at = layout::locate_body(bytes, layout, &body).unwrap_or(layout.data_offset);
                return Err(corrupt(
                    at,
                    format!("corrupt record (type {}): {e}", record.record_type.0),
                ));
            }
        };
        st.on_record(parsed, misc);
    }
    st.finish(name)
}

struct State {
    tasks: Tasks,
    names: FrameNames,
    /// Distinct named chains: comm id (or `u32::MAX` for `:TID`, then the
    /// tid) followed by the frame-name ids leaf first, and their weight.
    chains: Vec<(Vec<u32>, u64)>,
    chain_index: HashMap<Vec<u32>, u32>,
    /// Raw chains already named: (thread name, address space and its
    /// version, the call chain as recorded) → index in `chains`
    /// (`u32::MAX`: a chain that names no frame).
    raw_index: FastMap<Vec<u64>, u32>,
    raw: Vec<u64>,
    /// The call chain of the sample being read.
    scratch: Vec<u64>,
    chain: Vec<u32>,
    event: Option<String>,
    samples: u64,
    skipped: u64,
    total: u64,
}

impl State {
    fn on_record(&mut self, rec: EventRecord<'_>, misc: u16) {
        match rec {
            EventRecord::Comm(c) => {
                let n = c.name.as_slice();
                self.tasks.comm(c.pid, c.tid, &String::from_utf8_lossy(&n));
            }
            EventRecord::Fork(f) => self.tasks.fork(f.pid, f.ppid, f.tid, f.ptid),
            EventRecord::Mmap(m) if m.pid != -1 && misc & PERF_RECORD_MISC_MMAP_DATA == 0 => {
                let path = m.path.as_slice();
                self.on_mmap(m.pid, m.tid, m.address, m.length, m.page_offset, &path);
            }
            EventRecord::Mmap2(m) if m.pid != -1 && misc & PERF_RECORD_MISC_MMAP_DATA == 0 => {
                let path = m.path.as_slice();
                self.on_mmap(m.pid, m.tid, m.address, m.length, m.page_offset, &path);
            }
            _ => {}
        }
    }

    /// An executable mapping (MMAP or MMAP2 record) of `pid`/`tid`.
    fn on_mmap(&mut self, pid: i32, tid: i32, address: u64, length: u64, pgoff: u64, path: &[u8]) {
        let dso = self.names.dso(path);
        let map = Map {
            start: address,
            end: address.saturating_add(length),
            pgoff,
            dso,
        };
        self.tasks.mmap(pid, tid, map);
    }

    /// A sample of event `event` (its call chain in `chain`).
    fn on_sample(&mut self, s: &SampleFields, chain: &[u64], event: &str) -> Result<(), ()> {
        match &self.event {
            None => self.event = Some(event.to_string()),
            Some(e) if e != event => {
                self.skipped += 1;
                return Ok(());
            }
            Some(_) => {}
        }
        let (pid, tid) = (s.pid, s.tid);
        let (comm, space) = self.tasks.sampled(pid, tid);
        let w = s.period.unwrap_or(1);
        // The chain as recorded, with what gives its addresses and
        // root their meaning: seen before, it needs no lookup.
        self.raw.clear();
        match comm {
            Some(c) => self.raw.push(u64::from(c)),
            None => self.raw.extend([u64::MAX, u64::from(tid as u32)]),
        }
        self.raw
            .push(u64::from(space) << 32 | u64::from(self.tasks.version(space)));
        match s.has_chain {
            true => match leaf_of(chain) {
                // The leaf named at once (its address varies from
                // sample to sample, its name far less), the rest
                // of the chain as recorded.
                Some((at, mode)) => {
                    let ip = chain[at];
                    let map = self.tasks.space(space).find(ip);
                    let is_java = comm.is_some_and(|c| self.tasks.comm_name(c).starts_with("java"));
                    let leaf = match mode {
                        CpuMode::Kernel => self.names.kernel(ip, is_java),
                        CpuMode::User => self.names.user(map, ip, is_java),
                        _ => self.names.user(None, ip, is_java),
                    };
                    self.raw.extend([LEAF_TAG, u64::from(leaf)]);
                    self.raw.extend_from_slice(&chain[at + 1..]);
                }
                None => self.raw.extend_from_slice(chain),
            },
            false => self
                .raw
                .extend([u64::MAX, mode_number(s.cpu_mode), s.ip.unwrap_or(0)]),
        }
        let idx = match self.raw_index.get(self.raw.as_slice()) {
            Some(&idx) => idx,
            None => {
                let idx = self.name_chain(s, chain, comm, tid, space);
                self.raw_index.insert(self.raw.clone(), idx);
                idx
            }
        };
        if idx == u32::MAX {
            return Ok(());
        }
        self.total = self.total.checked_add(w).ok_or(())?;
        self.samples += 1;
        self.chains[idx as usize].1 += w;
        Ok(())
    }

    /// Name the frames of sample `s` (thread name `comm`, address space
    /// `space`): the index of its named chain in `chains`, `u32::MAX` when
    /// no frame is left.
    fn name_chain(
        &mut self,
        s: &SampleFields,
        chain: &[u64],
        comm: Option<u32>,
        tid: i32,
        space: u32,
    ) -> u32 {
        let is_java = comm.is_some_and(|c| self.tasks.comm_name(c).starts_with("java"));
        self.chain.clear();
        match comm {
            Some(c) => self.chain.push(c),
            None => self.chain.extend([u32::MAX, tid as u32]),
        }
        let first = self.chain.len();
        let space = self.tasks.space(space);
        let names = &mut self.names;
        let mut push = |mode: CpuMode, addr: u64, chain: &mut Vec<u32>| {
            let id = match mode {
                CpuMode::Kernel => names.kernel(addr, is_java),
                CpuMode::User => names.user(space.find(addr), addr, is_java),
                _ => names.user(None, addr, is_java),
            };
            chain.push(id);
        };
        match s.has_chain {
            true => {
                let mut mode = CpuMode::User;
                let mut kept = 0;
                for &ip in chain {
                    if kept >= MAX_STACK {
                        break;
                    }
                    if ip >= PERF_CONTEXT_MAX {
                        mode = match ip {
                            PERF_CONTEXT_KERNEL => CpuMode::Kernel,
                            PERF_CONTEXT_USER => CpuMode::User,
                            PERF_CONTEXT_HV => CpuMode::Hypervisor,
                            _ => {
                                // perf discards a chain with a marker it does not know.
                                self.chain.truncate(first);
                                break;
                            }
                        };
                        continue;
                    }
                    kept += 1;
                    push(mode, ip, &mut self.chain);
                }
            }
            false => {
                if let Some(ip) = s.ip {
                    push(s.cpu_mode, ip, &mut self.chain);
                }
            }
        }
        // Frames that name nothing (a symbol starting with '(') are
        // dropped, as inferno drops them.
        let empty = self.names.empty_id;
        self.chain.retain(|&id| id != empty);
        if self.chain.len() == first {
            return u32::MAX;
        }
        if let Some(&i) = self.chain_index.get(self.chain.as_slice()) {
            return i;
        }
        let i = self.chains.len() as u32;
        self.chains.push((self.chain.clone(), 0));
        self.chain_index.insert(self.chain.clone(), i);
        i
    }

    /// Join the distinct chains into folded stacks.
    fn finish(self, name: &str) -> Result<ImportedProfile, PerfDataError> {
        if self.samples == 0 {
            return Err(PerfDataError::Empty {
                path: name.to_string(),
            });
        }
        let mut stacks: HashMap<String, u64> = HashMap::with_capacity(self.chains.len());
        let mut key = String::with_capacity(1024);
        for (chain, w) in self.chains {
            if w == 0 {
                continue;
            }
            key.clear();
            let frames = match chain[0] {
                u32::MAX => {
                    key.push_str(&format!(":{}", chain[1] as i32));
                    &chain[2..]
                }
                c => {
                    key.extend(
                        self.tasks
                            .comm_name(c)
                            .chars()
                            .map(|c| if c == ' ' { '_' } else { c }),
                    );
                    &chain[1..]
                }
            };
            for &id in frames.iter().rev() {
                for f in self.names.frames[id as usize].iter().rev() {
                    key.push(';');
                    key.push_str(f);
                }
            }
            *stacks.entry(key.clone()).or_insert(0) += w;
        }
        let mut folded = FoldedStacks::new();
        for (k, w) in stacks {
            folded.add_joined(k, w);
        }
        Ok(ImportedProfile {
            folded,
            event: self.event.unwrap_or_default(),
            samples: self.samples,
            skipped_other_events: self.skipped,
            odd_lines: 0,
            odd_line_numbers: Vec::new(),
        })
    }
}

/// Frame names of (object, address) pairs, each made once: `frames[id]`
/// holds the frames of one address, leaf first (several when a name splits
/// on `->`, none when it is dropped).
struct FrameNames {
    build_ids: HashMap<Vec<u8>, Vec<u8>>,
    dso_paths: Vec<String>,
    dso_index: HashMap<Vec<u8>, u32>,
    tables: Vec<Option<Option<SymbolTable>>>,
    kernel: Option<Option<SymbolTable>>,
    cache: FastMap<(u32, u64, bool), u32>,
    frames: Vec<Vec<String>>,
    frame_ids: HashMap<Vec<String>, u32>,
    empty_id: u32,
}

impl FrameNames {
    fn new(build_ids: HashMap<Vec<u8>, Vec<u8>>) -> Self {
        let mut n = FrameNames {
            build_ids,
            dso_paths: Vec::new(),
            dso_index: HashMap::new(),
            tables: Vec::new(),
            kernel: None,
            cache: FastMap::default(),
            frames: Vec::new(),
            frame_ids: HashMap::new(),
            empty_id: 0,
        };
        n.empty_id = n.intern(Vec::new());
        n
    }

    fn dso(&mut self, path: &[u8]) -> u32 {
        if let Some(&i) = self.dso_index.get(path) {
            return i;
        }
        let i = self.dso_paths.len() as u32;
        self.dso_paths
            .push(String::from_utf8_lossy(path).into_owned());
        self.tables.push(None);
        self.dso_index.insert(path.to_vec(), i);
        i
    }

    fn intern(&mut self, frames: Vec<String>) -> u32 {
        if let Some(&i) = self.frame_ids.get(&frames) {
            return i;
        }
        let i = self.frames.len() as u32;
        self.frames.push(frames.clone());
        self.frame_ids.insert(frames, i);
        i
    }

    fn name(&mut self, sym: Option<&str>, module: &str, is_java: bool) -> u32 {
        let mut frames = Vec::with_capacity(1);
        push_frame_names(sym.unwrap_or("[unknown]"), module, is_java, &mut frames);
        self.intern(frames)
    }

    fn kernel(&mut self, addr: u64, is_java: bool) -> u32 {
        if let Some(&id) = self.cache.get(&(KERNEL_DSO, addr, is_java)) {
            return id;
        }
        let table = self.kernel.get_or_insert_with(|| {
            std::fs::read_to_string("/proc/kallsyms")
                .ok()
                .and_then(|t| SymbolTable::from_kallsyms(&t))
        });
        let sym = table
            .as_ref()
            .and_then(|t| t.find(addr))
            .map(str::to_string);
        let id = self.name(sym.as_deref(), "[kernel.kallsyms]", is_java);
        self.cache.insert((KERNEL_DSO, addr, is_java), id);
        id
    }

    fn user(&mut self, map: Option<&Map>, addr: u64, is_java: bool) -> u32 {
        let Some(map) = map else {
            if let Some(&id) = self.cache.get(&(NO_DSO, 0, is_java)) {
                return id;
            }
            let id = self.name(None, "[unknown]", is_java);
            self.cache.insert((NO_DSO, 0, is_java), id);
            return id;
        };
        let off = addr - map.start + map.pgoff;
        if let Some(&id) = self.cache.get(&(map.dso, off, is_java)) {
            return id;
        }
        let d = map.dso as usize;
        if self.tables[d].is_none() {
            let table = self.load(d);
            self.tables[d] = Some(table);
        }
        let sym = (self.tables[d].as_ref())
            .and_then(|t| t.as_ref())
            .and_then(|t| t.find(off))
            .map(str::to_string);
        let module = self.dso_paths[d].clone();
        let id = self.name(sym.as_deref(), &module, is_java);
        self.cache.insert((map.dso, off, is_java), id);
        id
    }

    /// The symbol table of object `d`: `[vdso]` from this process's vDSO,
    /// files from disk (with their debug files).
    fn load(&self, d: usize) -> Option<SymbolTable> {
        let path = &self.dso_paths[d];
        let build_id = self.build_ids.get(path.as_bytes()).map(Vec::as_slice);
        if path == "[vdso]" {
            let image = own_vdso()?;
            return SymbolTable::from_elf(Path::new(path), &image, None);
        }
        if path.starts_with('[') {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        SymbolTable::from_elf(Path::new(path), &bytes, build_id)
    }
}

/// Marks a raw-chain key whose leaf is given by its frame-name id.
const LEAF_TAG: u64 = u64::MAX - 2;

/// The position of a call chain's first address and its mode, when only
/// known context markers come before it.
fn leaf_of(chain: &[u64]) -> Option<(usize, CpuMode)> {
    let mut mode = CpuMode::User;
    for (i, &ip) in chain.iter().enumerate() {
        if ip < PERF_CONTEXT_MAX {
            return Some((i, mode));
        }
        mode = match ip {
            PERF_CONTEXT_KERNEL => CpuMode::Kernel,
            PERF_CONTEXT_USER => CpuMode::User,
            PERF_CONTEXT_HV => CpuMode::Hypervisor,
            _ => return None,
        };
    }
    None
}

/// A number for a sample's cpu mode (part of the raw-chain key).
fn mode_number(m: CpuMode) -> u64 {
    match m {
        CpuMode::Kernel => 1,
        CpuMode::User => 2,
        CpuMode::Hypervisor => 3,
        CpuMode::GuestKernel => 4,
        CpuMode::GuestUser => 5,
        _ => 0,
    }
}

/// A copy of this process's vDSO image (the kernel's, so the same one the
/// recorded processes had when recorded on this kernel).
fn own_vdso() -> Option<Vec<u8>> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with("[vdso]"))?;
    let range = line.split_whitespace().next()?;
    let (a, b) = range.split_once('-')?;
    let (start, end) = (
        usize::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(b, 16).ok()?,
    );
    // SAFETY: the vDSO is mapped readable in every process for its whole
    // life and never unmapped; `[start, end)` is its mapping as
    // /proc/self/maps lists it; the bytes are copied out at once.
    let image = unsafe { std::slice::from_raw_parts(start as *const u8, end.checked_sub(start)?) };
    Some(image.to_vec())
}
