//! Property test: random mmap/munmap/mprotect/brk/mremap/touch sequences
//! against a plain oracle (a `BTreeMap` of page → attributes), run on two
//! memory managers at once (linear and max-gap gap search). After every
//! operation: same results from both managers and the oracle, VMAs equal
//! to the oracle's maximal mergeable runs, cached counters recomputed
//! (`check_invariants`), and the host-mapping model equal to the kernel's
//! count in `/proc/self/maps` (every few steps).

use instrumented_sentry::addr::{Access, Perms, PAGE_SIZE};
use instrumented_sentry::mm::{
    Backing, FileId, MemoryFileConfig, MemoryManager, MmConfig, MmError, MmapRequest, MremapFlags,
    Placement,
};
use instrumented_sentry::platform::inproc_address_space::{InProcAddressSpace, InProcConfig};
use instrumented_sentry::segment::GapSearch;
use std::collections::{BTreeMap, HashMap};

const ARENA_PAGES: u64 = 512;

/// xorshift64*: deterministic, seedable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Anon,
    /// Oracle file id (user files: the FileId number; internal: 1000 + n), page index.
    File(u32, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Page {
    perms: Perms,
    shared: bool,
    kind: Kind,
    /// Private anonymous page content (first byte).
    value: u8,
}

struct Oracle {
    base: u64,
    end: u64,
    pages: BTreeMap<u64, Page>,
    brk: u64,
    file_pages: HashMap<u32, u64>,
    file_data: HashMap<(u32, u64), u8>,
    next_internal: u32,
}

impl Oracle {
    fn free(&self, s: u64, len: u64) -> bool {
        s >= self.base && s + len <= self.end && self.pages.range(s..s + len).next().is_none()
    }

    fn find(&self, len: u64) -> Option<u64> {
        let mut s = self.end.checked_sub(len)?;
        loop {
            if self.free(s, len) {
                return Some(s);
            }
            // Jump below the highest occupied page in [s, s+len).
            let occ = *self.pages.range(s..s + len).next_back()?.0;
            let _ = occ;
            let lowest_occ = *self.pages.range(s..s + len).next()?.0;
            s = lowest_occ.checked_sub(len)?;
            if s < self.base {
                return None;
            }
        }
    }

    fn unmap(&mut self, s: u64, len: u64) {
        let keys: Vec<u64> = self.pages.range(s..s + len).map(|(k, _)| *k).collect();
        for k in keys {
            self.pages.remove(&k);
        }
    }

    fn mergeable(a: &Page, b: &Page) -> bool {
        a.perms == b.perms
            && a.shared == b.shared
            && match (a.kind, b.kind) {
                (Kind::Anon, Kind::Anon) => true,
                (Kind::File(f, i), Kind::File(g, j)) => f == g && j == i + 1,
                _ => false,
            }
    }

    /// Maximal mergeable runs: (start, end, first page).
    fn vmas(&self) -> Vec<(u64, u64, Page)> {
        let mut out: Vec<(u64, u64, Page)> = Vec::new();
        let mut last: Option<Page> = None;
        for (&a, p) in &self.pages {
            match (out.last_mut(), last) {
                (Some(run), Some(lp)) if run.1 == a && Self::mergeable(&lp, p) => {
                    run.1 = a + PAGE_SIZE
                }
                _ => out.push((a, a + PAGE_SIZE, *p)),
            }
            last = Some(*p);
        }
        out
    }

    fn vma_of(&self, addr: u64) -> Option<(u64, u64)> {
        self.vmas()
            .into_iter()
            .find(|v| v.0 <= addr && addr < v.1)
            .map(|v| (v.0, v.1))
    }

    fn readable(&self, p: &Page) -> Option<u8> {
        match p.kind {
            Kind::Anon => Some(p.value),
            Kind::File(f, i) if p.shared => Some(*self.file_data.get(&(f, i)).unwrap_or(&0)),
            Kind::File(..) => None,
        }
    }
}

type Mm = MemoryManager<InProcAddressSpace>;

fn new_mm(search: GapSearch) -> Mm {
    let cfg = MmConfig {
        memory_file: MemoryFileConfig {
            chunk_size: 256 << 10,
            max_size: 64 << 20,
        },
        ..MmConfig::with_search(search)
    };
    MemoryManager::inproc(
        cfg,
        &InProcConfig {
            arena_size: ARENA_PAGES * PAGE_SIZE,
            max_host_mappings: None,
        },
    )
    .unwrap()
}

fn errno<T>(r: &Result<T, MmError>) -> Option<i32> {
    r.as_ref().err().map(|e| e.errno())
}

fn perms(rng: &mut Rng) -> Perms {
    [Perms::RW, Perms::RW, Perms::READ, Perms::NONE][rng.below(4) as usize]
}

/// The state of one sequence: the random source, the memory manager, the
/// oracle, the two user files and the results so far.
struct Run {
    rng: Rng,
    mm: Mm,
    o: Oracle,
    files: Vec<FileId>,
    trace: Vec<String>,
}

/// Runs one sequence on one memory manager against the oracle; returns the
/// results with addresses made relative to the arena, so runs with the two
/// search strategies can be compared.
fn run(seed: u64, steps: usize, search: GapSearch) -> Vec<String> {
    let mut r = new_run(seed, search);
    for step in 0..steps {
        let op = r.rng.below(100);
        let ctx = format!("seed {seed} step {step} op {op}");
        match op {
            0..40 => op_mmap(&mut r, &ctx),
            40..55 => op_munmap(&mut r, &ctx),
            55..67 => op_mprotect(&mut r, &ctx),
            67..72 => op_brk(&mut r, &ctx),
            72..82 => op_mremap(&mut r, &ctx),
            _ => op_touch(&mut r, &ctx),
        }
        check_structure(&r, step, &ctx);
    }
    r.trace
}

fn new_run(seed: u64, search: GapSearch) -> Run {
    let rng = Rng(seed | 1);
    let mut mm = new_mm(search);
    let base = mm.layout().range.start;
    let mut o = Oracle {
        base,
        end: base + ARENA_PAGES * PAGE_SIZE,
        pages: BTreeMap::new(),
        brk: base,
        file_pages: HashMap::new(),
        file_data: HashMap::new(),
        next_internal: 1000,
    };
    // Two user files of 8 and 32 pages.
    let mut files = Vec::new();
    for pages in [8u64, 32] {
        let a = mm.create_file(pages * PAGE_SIZE).unwrap();
        o.file_pages.insert(a.get(), pages);
        files.push(a);
    }
    Run {
        rng,
        mm,
        o,
        files,
        trace: Vec::new(),
    }
}

/// A random page-aligned address of the arena.
fn rand_addr(rng: &mut Rng, base: u64) -> u64 {
    base + rng.below(ARENA_PAGES) * PAGE_SIZE
}

/// A random page the oracle has mapped, if any.
fn random_page(rng: &mut Rng, o: &Oracle) -> Option<u64> {
    o.pages
        .keys()
        .nth(rng.below(o.pages.len().max(1) as u64) as usize)
        .copied()
}

/// Structure checks after every operation.
fn check_structure(r: &Run, step: usize, ctx: &str) {
    let (mm, o) = (&r.mm, &r.o);
    if let Err(e) = mm.check_invariants() {
        panic!("{ctx}: invariants: {e}");
    }
    let got: Vec<(u64, u64, Perms, bool)> = mm
        .vmas()
        .map(|(r, v)| (r.start, r.end, v.perms, v.shared))
        .collect();
    let want: Vec<(u64, u64, Perms, bool)> = o
        .vmas()
        .into_iter()
        .map(|(s, e, p)| (s, e, p.perms, p.shared))
        .collect();
    assert_eq!(got, want, "{ctx}: VMAs differ from the oracle's runs");
    for (r, v) in mm.vmas() {
        let first = o.pages[&r.start];
        match (v.backing, first.kind) {
            (Backing::Anonymous, Kind::Anon) => {}
            (Backing::File { file, offset }, Kind::File(f, i)) if f < 1000 => {
                assert_eq!((file.get(), offset / PAGE_SIZE), (f, i), "{ctx}")
            }
            (Backing::File { offset, .. }, Kind::File(_, i)) => {
                assert_eq!(offset / PAGE_SIZE, i, "{ctx}")
            }
            other => panic!("{ctx}: backing mismatch {other:?}"),
        }
    }
    if step % 25 == 0 {
        assert_eq!(
            Some(mm.host_mappings()),
            mm.address_space().host_mappings_from_proc(),
            "{ctx}: host mapping model vs /proc/self/maps"
        );
    }
}

/// One random mmap step, checked against the oracle.
fn op_mmap(r: &mut Run, ctx: &str) {
    let Run {
        rng,
        mm,
        o,
        files,
        trace,
    } = r;
    let base = o.base;
    // mmap
    let len_pages = 1 + rng.below(8);
    let len = len_pages * PAGE_SIZE;
    let p = perms(rng);
    let shared = rng.below(3) == 0;
    let kind_sel = rng.below(3);
    let file = files[rng.below(2) as usize];
    let off_pages = rng.below(4);
    let mut req = if kind_sel == 0 {
        MmapRequest::anonymous(len)
    } else {
        MmapRequest::file(file, off_pages * PAGE_SIZE, len)
    }
    .with_perms(p);
    if shared {
        req = req.shared();
    }
    let pl = rng.below(10);
    let addr = rand_addr(rng, base);
    req = req.at(match pl {
        0 => Placement::Fixed(addr),
        1 => Placement::FixedNoReplace(addr),
        2 => Placement::Hint(addr),
        _ => Placement::Any,
    });
    let rl = mm.mmap(&req);
    trace.push(format!("{:?}", rel(&rl, base)));
    // Oracle.
    let expect: Result<u64, i32> = match req.placement {
        Placement::Fixed(a) => {
            if a + len <= o.end {
                Ok(a)
            } else {
                Err(libc::ENOMEM)
            }
        }
        Placement::FixedNoReplace(a) => {
            if o.pages.range(a..a + len).next().is_some() {
                Err(libc::EEXIST)
            } else if a + len <= o.end {
                Ok(a)
            } else {
                Err(libc::ENOMEM)
            }
        }
        Placement::Hint(a) if o.free(a, len) => Ok(a),
        _ => o.find(len).ok_or(libc::ENOMEM),
    };
    assert_eq!(
        rl.as_ref().map_err(|e| e.errno()).copied(),
        expect,
        "{ctx}: oracle disagrees on {req:?}"
    );
    if let Ok(a) = expect {
        o.unmap(a, len);
        let internal = if shared && kind_sel == 0 {
            let id = o.next_internal;
            o.next_internal += 1;
            o.file_pages.insert(id, len_pages);
            Some(id)
        } else {
            None
        };
        for i in 0..len_pages {
            let kind = match (kind_sel, internal) {
                (0, Some(id)) => Kind::File(id, i),
                (0, None) => Kind::Anon,
                _ => Kind::File(file.get(), off_pages + i),
            };
            o.pages.insert(
                a + i * PAGE_SIZE,
                Page {
                    perms: p,
                    shared,
                    kind,
                    value: 0,
                },
            );
        }
    }
}

/// One random munmap step, checked against the oracle.
fn op_munmap(r: &mut Run, ctx: &str) {
    let Run {
        rng, mm, o, trace, ..
    } = r;
    let base = o.base;
    let a = rand_addr(rng, base);
    let len = (1 + rng.below(12)) * PAGE_SIZE;
    let rl = mm.munmap(a, len);
    trace.push(format!("{:?}", errno(&rl)));
    let expect = if a + len <= o.end {
        None
    } else {
        Some(libc::EINVAL)
    };
    assert_eq!(errno(&rl), expect, "{ctx}: munmap");
    if expect.is_none() {
        o.unmap(a, len);
    }
}

/// One random mprotect step, checked against the oracle.
fn op_mprotect(r: &mut Run, ctx: &str) {
    let Run {
        rng, mm, o, trace, ..
    } = r;
    let base = o.base;
    let a = rand_addr(rng, base);
    let len = (1 + rng.below(6)) * PAGE_SIZE;
    let p = perms(rng);
    let rl = mm.mprotect(a, len, p);
    trace.push(format!("{:?}", errno(&rl)));
    let covered = a + len <= o.end
        && (0..len / PAGE_SIZE).all(|i| o.pages.contains_key(&(a + i * PAGE_SIZE)));
    assert_eq!(
        rl.is_ok(),
        covered,
        "{ctx}: mprotect {a:#x}+{len:#x} {rl:?}"
    );
    if covered {
        for i in 0..len / PAGE_SIZE {
            if let Some(pg) = o.pages.get_mut(&(a + i * PAGE_SIZE)) {
                pg.perms = p;
            }
        }
    }
}

/// One random brk step, checked against the oracle.
fn op_brk(r: &mut Run, ctx: &str) {
    let Run {
        rng, mm, o, trace, ..
    } = r;
    let base = o.base;
    let target = base + rng.below(64) * PAGE_SIZE + rng.below(PAGE_SIZE);
    let rl = mm.brk(target).unwrap();
    trace.push(format!("{:?}", rl - base));
    let old_end = o.brk.next_multiple_of(PAGE_SIZE);
    let new_end = target.next_multiple_of(PAGE_SIZE);
    let expect = if new_end < old_end {
        o.unmap(new_end, old_end - new_end);
        target
    } else if new_end > old_end {
        if o.pages.range(old_end..new_end).next().is_some() {
            o.brk
        } else {
            for p in (old_end..new_end).step_by(PAGE_SIZE as usize) {
                o.pages.insert(
                    p,
                    Page {
                        perms: Perms::RW,
                        shared: false,
                        kind: Kind::Anon,
                        value: 0,
                    },
                );
            }
            target
        }
    } else {
        target
    };
    o.brk = expect;
    assert_eq!(rl, expect, "{ctx}: brk");
}

/// One random mremap of an existing page range (or a random one), checked
/// against the oracle.
fn op_mremap(r: &mut Run, ctx: &str) {
    let Run {
        rng, mm, o, trace, ..
    } = r;
    let base = o.base;
    let a = match random_page(rng, o) {
        Some(a) if rng.below(5) != 0 => a,
        _ => rand_addr(rng, base),
    };
    let old_len = (1 + rng.below(4)) * PAGE_SIZE;
    let new_len = (1 + rng.below(8)) * PAGE_SIZE;
    let flags = MremapFlags {
        may_move: rng.below(2) == 0,
        fixed: None,
    };
    let rl = mm.mremap(a, old_len, new_len, flags);
    trace.push(format!("{:?}", rel(&rl, base)));
    let expect = match o.vma_of(a) {
        Some((_, ve)) if a + old_len <= ve => {
            if new_len <= old_len {
                o.unmap(a + new_len, old_len - new_len);
                Ok(a)
            } else {
                let ext = a + old_len;
                let extra = new_len - old_len;
                let last = o.pages[&(ext - PAGE_SIZE)];
                let cont = |i: u64| Page {
                    kind: match last.kind {
                        Kind::Anon => Kind::Anon,
                        Kind::File(f, j) => Kind::File(f, j + 1 + i),
                    },
                    value: 0,
                    ..last
                };
                if ve == ext && o.free(ext, extra) {
                    for i in 0..extra / PAGE_SIZE {
                        o.pages.insert(ext + i * PAGE_SIZE, cont(i));
                    }
                    Ok(a)
                } else if !flags.may_move {
                    Err(libc::ENOMEM)
                } else if let Some(n) = o.find(new_len) {
                    let moved: Vec<Page> = (0..old_len / PAGE_SIZE)
                        .map(|i| o.pages[&(a + i * PAGE_SIZE)])
                        .collect();
                    o.unmap(a, old_len);
                    for (i, p) in moved.into_iter().enumerate() {
                        o.pages.insert(n + i as u64 * PAGE_SIZE, p);
                    }
                    for i in 0..extra / PAGE_SIZE {
                        o.pages.insert(n + old_len + i * PAGE_SIZE, cont(i));
                    }
                    Ok(n)
                } else {
                    Err(libc::ENOMEM)
                }
            }
        }
        _ => Err(libc::EFAULT),
    };
    assert_eq!(
        rl.as_ref().map_err(|e| e.errno()).copied(),
        expect,
        "{ctx}: mremap {a:#x} {old_len:#x}->{new_len:#x} {flags:?}"
    );
}

/// One random touch of one page (write or read), checked against the
/// oracle, and the data compared.
fn op_touch(r: &mut Run, ctx: &str) {
    let Run {
        rng, mm, o, trace, ..
    } = r;
    let base = o.base;
    let a = match random_page(rng, o) {
        Some(a) => a,
        None => rand_addr(rng, base),
    };
    let write = rng.below(2) == 0;
    let v = (rng.below(250) + 1) as u8;
    let access = if write { Access::Write } else { Access::Read };
    let rl = mm.touch(a, 1, access, v);
    trace.push(format!("{:?}", rl.as_ref().map_err(|e| e.errno())));
    let expect = match o.pages.get(&a).copied() {
        None => Err(libc::EFAULT),
        Some(p) => {
            let ok = if write {
                p.perms.write()
            } else {
                p.perms.read() || p.perms.write()
            };
            let beyond = match p.kind {
                Kind::File(f, i) => i >= o.file_pages[&f],
                Kind::Anon => false,
            };
            // No permission: SIGSEGV; beyond the file: SIGBUS. Both EFAULT.
            if !ok || beyond {
                Err(libc::EFAULT)
            } else {
                if write {
                    match p.kind {
                        Kind::Anon => {
                            if let Some(pg) = o.pages.get_mut(&a) {
                                pg.value = v;
                            }
                        }
                        Kind::File(f, i) if p.shared => {
                            o.file_data.insert((f, i), v);
                        }
                        Kind::File(..) => {}
                    }
                }
                Ok(())
            }
        }
    };
    assert_eq!(
        rl.as_ref().map(|_| ()).map_err(|e| e.errno()),
        expect,
        "{ctx}: touch {a:#x} write={write}"
    );
    if expect.is_ok() {
        let pg = o.pages[&a];
        if let Some(want) = o.readable(&pg) {
            if pg.perms.read() || pg.perms.write() {
                let mut b = [0u8; 1];
                mm.read(a, &mut b).unwrap();
                assert_eq!(b[0], want, "{ctx}: content at {a:#x}");
            }
        }
    }
}

fn rel<T: Copy + Into<u64>>(r: &Result<T, MmError>, base: u64) -> Result<i128, i32> {
    match r {
        Ok(v) => Ok(i128::from((*v).into()) - i128::from(base)),
        Err(e) => Err(e.errno()),
    }
}

#[test]
fn random_sequences_match_the_oracle() {
    for seed in 1..=12u64 {
        let seed = seed * 0x9E37_79B9_7F4A_7C15;
        let linear = run(seed, 1500, GapSearch::Linear);
        let maxgap = run(seed, 1500, GapSearch::MaxGap);
        assert_eq!(
            linear, maxgap,
            "seed {seed}: linear and max-gap results differ"
        );
        // The sequence must exercise real work, not only error paths.
        let ok = linear
            .iter()
            .filter(|t| t.starts_with("Ok") || t.starts_with("None"))
            .count();
        assert!(
            ok * 2 > linear.len(),
            "seed {seed}: only {ok} of {} operations succeeded",
            linear.len()
        );
    }
}
