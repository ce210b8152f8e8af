//! DWARF unwinding of user stacks, where the kernel's frame-pointer call
//! chain breaks: a sample whose leaf is in code built without frame
//! pointers (libc's malloc, open) gets a chain that goes through a
//! clobbered rbp, to an address in no mapping (`[unknown]`) or past the
//! caller. Each sample carries its user registers and a copy of its user
//! stack ([`UserStack`]); this module unwinds that copy with the objects'
//! `.eh_frame` (the `framehop` crate) and splices the result into the
//! chain's user part, done after sampling, before folding.
//!
//! The DWARF frames are used up to the first return address the
//! frame-pointer chain also holds; from there the frame-pointer chain goes
//! on (it is not bounded by the stack copy). Where they share no address,
//! the DWARF frames replace a chain that holds an address in no mapping or
//! that is shorter; otherwise the chain is kept. Kernel frames are never
//! touched. A stack DWARF cannot finish ends at what it recovered.

use std::collections::HashMap;
use std::ops::{Deref, Range};
use std::path::Path;
use std::sync::Arc;

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, Module, Unwinder};
use object::{Object, ObjectSection, ObjectSegment};

use super::maps::MemoryMap;
use super::process::ProcessView;
use crate::perf::records::{context_marker, CpuMode, Sample, UserStack};

/// Most frames taken from one stack copy (a loop guard).
const MAX_FRAMES: usize = 1024;

/// A section of a mapped object file.
#[derive(Clone)]
struct Section {
    map: Arc<memmap2::Mmap>,
    range: Range<usize>,
}

impl Deref for Section {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map[self.range.clone()]
    }
}

type Dwarf = UnwinderX86_64<Section>;

/// What repairing a set of samples did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnwindStats {
    /// Samples with a user stack copy.
    pub with_stack: u64,
    /// Samples whose user chain was changed by DWARF frames.
    pub repaired: u64,
}

/// Unwinders per address space, modules read once per file.
#[derive(Default)]
pub struct StackUnwinder {
    spaces: HashMap<u32, Dwarf>,
    files: HashMap<String, Option<Arc<memmap2::Mmap>>>,
    cache: Option<Box<CacheX86_64>>,
}

impl std::fmt::Debug for StackUnwinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackUnwinder")
            .field("spaces", &self.spaces.len())
            .finish()
    }
}

impl StackUnwinder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Splice DWARF frames into the user part of every sample's chain
    /// where the frame-pointer chain breaks, and drop the stack copies.
    pub fn repair(&mut self, samples: &mut [Sample], view: &ProcessView) -> UnwindStats {
        let mut stats = UnwindStats::default();
        let mut cache = self
            .cache
            .take()
            .unwrap_or_else(|| Box::new(CacheX86_64::new()));
        for s in samples.iter_mut() {
            let Some(stack) = s.user_stack.take() else {
                continue;
            };
            stats.with_stack += 1;
            let Some((id, maps)) = view.space(s.pid) else {
                continue;
            };
            if !self.spaces.contains_key(&id) {
                let u = self.unwinder_for(maps);
                self.spaces.insert(id, u);
            }
            let Some(u) = self.spaces.get(&id) else {
                continue;
            };
            let Some(user) = user_part(&s.callchain) else {
                continue;
            };
            let fp = &s.callchain[user];
            // The walk must start where the chain does (see `splice`).
            if fp.first() != Some(&stack.ip) {
                continue;
            }
            let dwarf = unwind_stack(u, &mut cache, &stack, &fp[1..]);
            if splice(&mut s.callchain, &dwarf, maps) {
                stats.repaired += 1;
            }
        }
        self.cache = Some(cache);
        stats
    }

    /// An unwinder with a module for every file-backed object of `maps`.
    fn unwinder_for(&mut self, maps: &MemoryMap) -> Dwarf {
        let mut u = Dwarf::new();
        // An object's executable mappings, by path: [start, end), and the
        // load bias from the first one.
        let mut objects: Vec<(&str, u64, u64, u64)> = Vec::new();
        for m in maps.mappings() {
            if m.path.starts_with('[') || m.path.is_empty() {
                continue;
            }
            match objects.iter_mut().find(|o| o.0 == m.path) {
                Some(o) => {
                    o.1 = o.1.min(m.start);
                    o.2 = o.2.max(m.end);
                }
                None => objects.push((&m.path, m.start, m.end, m.start.wrapping_sub(m.pgoff))),
            }
        }
        for (path, start, end, _) in objects {
            let Some(first) = maps.find(start) else {
                continue;
            };
            let file = self
                .files
                .entry(path.to_string())
                .or_insert_with(|| map_file(path))
                .clone();
            if let Some(map) = file {
                if let Some(module) = module(
                    path,
                    start..end,
                    first.start,
                    first.end - first.start,
                    first.pgoff,
                    map,
                ) {
                    u.add_module(module);
                }
            }
        }
        u
    }
}

fn map_file(path: &str) -> Option<Arc<memmap2::Mmap>> {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let file = std::fs::File::open(Path::new(path)).ok()?;
    // SAFETY: a read-only private mapping of an object file; the bytes are
    // only parsed (a file truncated meanwhile reads as zeros or SIGBUS, as
    // for every mapped ELF reader, including the symbolizer's).
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    Some(Arc::new(map))
}

/// The framehop module of one object mapped at `avma`, whose mapping at
/// `map_start` holds file offset `pgoff`.
fn module(
    path: &str,
    avma: Range<u64>,
    map_start: u64,
    map_len: u64,
    pgoff: u64,
    map: Arc<memmap2::Mmap>,
) -> Option<Module<Section>> {
    let file = object::File::parse(&**map).ok()?;
    // The load bias, from the executable segment the mapping holds (its
    // file offset need not be page aligned: it can share a page with the
    // segment before it, so the mapping's `pgoff` may be inside that one).
    let base_avma = file.segments().find_map(|seg| {
        let (off, size) = seg.file_range();
        let exec =
            matches!(seg.flags(), object::SegmentFlags::Elf { p_flags, .. } if p_flags.0 & 1 != 0);
        (exec && off >= pgoff && off < pgoff + map_len && size > 0)
            .then(|| (map_start + (off - pgoff)).wrapping_sub(seg.address()))
    })?;
    let section = |name: &str| -> (Option<Range<u64>>, Option<Section>) {
        let Some(s) = file.section_by_name(name) else {
            return (None, None);
        };
        let range = s.address()..s.address() + s.size();
        let data = s.file_range().and_then(|(off, size)| {
            let (off, size) = (usize::try_from(off).ok()?, usize::try_from(size).ok()?);
            (off.checked_add(size)? <= map.len()).then(|| Section {
                map: Arc::clone(&map),
                range: off..off + size,
            })
        });
        (Some(range), data)
    };
    let (text_svma, text) = section(".text");
    let (eh_frame_svma, eh_frame) = section(".eh_frame");
    let (eh_frame_hdr_svma, eh_frame_hdr) = section(".eh_frame_hdr");
    let (got_svma, _) = section(".got");
    eh_frame.as_ref()?;
    let info = ExplicitModuleSectionInfo {
        base_svma: 0,
        text_svma,
        text,
        got_svma,
        eh_frame_svma,
        eh_frame,
        eh_frame_hdr_svma,
        eh_frame_hdr,
        stubs_svma: None,
        stub_helper_svma: None,
        unwind_info: None,
        debug_frame: None,
        text_segment_svma: None,
        text_segment: None,
    };
    Some(Module::new(path.to_string(), avma, base_avma, info))
}

/// The user frames of `stack`, leaf (its ip) first, then return
/// addresses, as far as `.eh_frame` and the copy reach, or up to and
/// including the first return address that `meet` (the frame-pointer
/// chain's return addresses) also holds: [`splice`] takes the chain from
/// there, so walking further would only be thrown away.
fn unwind_stack(u: &Dwarf, cache: &mut CacheX86_64, stack: &UserStack, meet: &[u64]) -> Vec<u64> {
    let bytes = &stack.bytes;
    let sp = stack.sp;
    let mut read = |addr: u64| -> Result<u64, ()> {
        let off = usize::try_from(addr.checked_sub(sp).ok_or(())?).map_err(|_| ())?;
        let b = bytes.get(off..off.checked_add(8).ok_or(())?).ok_or(())?;
        Ok(u64::from_ne_bytes(b.try_into().map_err(|_| ())?))
    };
    let regs = UnwindRegsX86_64::new(stack.ip, stack.sp, stack.bp);
    let mut it = u.iter_frames(stack.ip, regs, cache, &mut read);
    let mut out = Vec::new();
    while let Ok(Some(f)) = it.next() {
        let a = f.address();
        out.push(a);
        if out.len() >= MAX_FRAMES || (out.len() > 1 && meet.contains(&a)) {
            break;
        }
    }
    out
}

/// The user part of a call chain: the frames after its
/// `PERF_CONTEXT_USER` marker, up to the next marker.
fn user_part(chain: &[u64]) -> Option<Range<usize>> {
    let marker = chain
        .iter()
        .position(|&v| context_marker(v) == Some(CpuMode::User))?;
    let start = marker + 1;
    let end = chain[start..]
        .iter()
        .position(|&v| context_marker(v).is_some())
        .map_or(chain.len(), |i| start + i);
    Some(start..end)
}

/// Replace the user part of `chain` (after its `PERF_CONTEXT_USER`
/// marker) as the module doc says. True when it changed.
fn splice(chain: &mut Vec<u64>, dwarf: &[u64], maps: &MemoryMap) -> bool {
    let Some(user) = user_part(chain) else {
        return false;
    };
    let (start, end) = (user.start, user.end);
    let fp = &chain[start..end];
    // The DWARF walk must start where the chain does; a return address in
    // no mapping means it went wrong there: it ends before that.
    let mapped = dwarf
        .iter()
        .position(|&a| maps.find(a.saturating_sub(1)).is_none())
        .unwrap_or(dwarf.len());
    let dwarf = &dwarf[..mapped];
    if dwarf.len() < 2 || fp.first() != dwarf.first() {
        return false;
    }
    let meet = dwarf
        .iter()
        .enumerate()
        .skip(1)
        .find_map(|(i, a)| fp.iter().skip(1).position(|b| b == a).map(|j| (i, j + 1)));
    let user: Vec<u64> = match meet {
        Some((i, j)) => dwarf[..i].iter().chain(&fp[j..]).copied().collect(),
        None => {
            let broken = fp.iter().any(|&a| maps.find(a.saturating_sub(1)).is_none());
            if !broken && dwarf.len() <= fp.len() {
                return false;
            }
            dwarf.to_vec()
        }
    };
    if user == fp {
        return false;
    }
    chain.splice(start..end, user);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolize::maps::Mapping;
    use perf_event_open_sys::bindings as b;

    fn maps() -> MemoryMap {
        let mut m = MemoryMap::new();
        m.push(Mapping {
            start: 0x1000,
            end: 0x9000,
            pgoff: 0,
            path: "/bin/x".into(),
        });
        m.finish();
        m
    }

    #[test]
    fn dwarf_frames_join_the_frame_pointer_chain_where_they_meet() {
        // fp skipped the caller 0x2000: DWARF has it, then meets at 0x3000.
        let mut chain = vec![b::PERF_CONTEXT_USER, 0x1500, 0x3000, 0x4000, 0x5000];
        assert!(splice(&mut chain, &[0x1500, 0x2000, 0x3000], &maps()));
        assert_eq!(
            chain,
            vec![b::PERF_CONTEXT_USER, 0x1500, 0x2000, 0x3000, 0x4000, 0x5000]
        );
    }

    #[test]
    fn a_chain_into_no_mapping_is_replaced_and_kernel_frames_kept() {
        let k = b::PERF_CONTEXT_KERNEL;
        let mut chain = vec![k, 0xffff_8000, b::PERF_CONTEXT_USER, 0x1500, 0xdead_0000];
        assert!(splice(&mut chain, &[0x1500, 0x2000, 0x3000], &maps()));
        assert_eq!(
            chain,
            vec![k, 0xffff_8000, b::PERF_CONTEXT_USER, 0x1500, 0x2000, 0x3000]
        );
    }

    #[test]
    fn a_sound_longer_chain_is_kept() {
        let mut chain = vec![b::PERF_CONTEXT_USER, 0x1500, 0x3000, 0x4000];
        let before = chain.clone();
        assert!(!splice(&mut chain, &[0x1500, 0x2000], &maps()));
        // A walk that starts elsewhere is not used.
        assert!(!splice(
            &mut chain,
            &[0x1600, 0x2000, 0x2500, 0x2600],
            &maps()
        ));
        assert_eq!(chain, before);
    }

    #[test]
    fn a_garbage_stack_copy_ends_the_walk_without_panic() {
        // Modules of this very process; a stack copy of 0xff bytes at an
        // sp that is not this thread's: the walk ends, it does not panic.
        let view = ProcessView::this_process().expect("own maps");
        let (_, m) = view.space(0).expect("space");
        let mut u = StackUnwinder::new();
        let dw = u.unwinder_for(m);
        let mut cache = CacheX86_64::new();
        let stack = UserStack {
            ip: a_garbage_stack_copy_ends_the_walk_without_panic as *const () as usize as u64,
            sp: 0x7000,
            bp: 0,
            bytes: vec![0xff; 64],
        };
        let frames = unwind_stack(&dw, &mut cache, &stack, &[]);
        assert_eq!(frames.first(), Some(&stack.ip));
        assert!(frames.len() < 4, "{frames:x?}");
    }
}
