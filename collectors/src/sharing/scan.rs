//! The scan: sources are read in large batches of backed runs, every granule
//! is hashed with xxh3 in a tight loop, zero granules are counted apart and
//! the others go through the [`ContentTable`](super::table).

use std::time::Instant;

use xxhash_rust::xxh3::xxh3_64;

use super::classify::MappingKind;
use super::content_index::{Confirm, ContentTable, Location, Seen};
use super::granule::{Granularity, SharingError, PAGE_SIZE};
use super::ksm::read_host_ksm;
use super::report::{
    ConfirmationReport, KindReport, Place, ScanTiming, SharingReport, SourceReport, SourceStatus,
    TopContent, Totals,
};
use super::source::{OpenSource, ReadError, Run, SourceKind, SourceSpec};
use super::sys::MAX_IOVECS;

/// Address space covered by one read of `/proc/PID/pagemap` (or one
/// SEEK_DATA walk): 64 MiB, i.e. 128 KiB of pagemap entries.
const RESIDENCY_WINDOW: u64 = 64 << 20;

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub granularity: Granularity,
    /// How many of the most duplicated contents to report.
    pub top: usize,
    /// Bytes read per batch (one `process_vm_readv`, up to 1024 runs).
    pub batch_bytes: usize,
    /// Bytes of duplicated contents kept to compare later copies without
    /// re-reading the first one from its source.
    pub cache_limit_bytes: usize,
    /// Later locations remembered per duplicated content (for the report).
    pub examples_per_content: usize,
    /// Read the kernel's KSM counters into the report.
    pub read_ksm: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            granularity: Granularity::default(),
            top: 10,
            batch_bytes: 1 << 20,
            cache_limit_bytes: 32 << 20,
            examples_per_content: 3,
            read_ksm: true,
        }
    }
}

/// Reported after every batch (tests use it to end a process mid-scan).
#[derive(Debug, Clone)]
pub struct ScanProgress<'a> {
    /// Index of the source in the list of opened sources.
    pub source_index: usize,
    pub label: &'a str,
    /// Bytes hashed so far in this source.
    pub bytes_scanned: u64,
}

/// Per-source counters while scanning.
#[derive(Debug, Default, Clone)]
struct SourceCounters {
    scanned: u64,
    zero: u64,
    self_dup: u64,
    cross_dup: u64,
    not_backed: u64,
    unreadable: u64,
    tail: u64,
    partial: bool,
    notes: Vec<String>,
}

/// Per-kind counters while scanning.
#[derive(Debug, Default, Clone, Copy)]
struct KindCounters {
    scanned: u64,
    zero: u64,
    self_dup: u64,
    cross_dup: u64,
}

/// A batch read into the buffer: `runs` back to back from byte 0.
struct Batch<'a> {
    source: u32,
    runs: &'a [Run],
    /// Buffer position of each run.
    starts: &'a [usize],
    buf: &'a [u8],
}

impl Batch<'_> {
    /// Buffer position of `loc` if it lies in this batch.
    fn find(&self, loc: &Location, g: usize) -> Option<usize> {
        if loc.source != self.source {
            return None;
        }
        let key = (loc.region, loc.offset);
        let i = self
            .runs
            .partition_point(|r| (r.region, r.offset) <= key)
            .checked_sub(1)?;
        let r = &self.runs[i];
        let within = loc.offset.checked_sub(r.offset)? as usize;
        let pos = self.starts[i] + within;
        (r.region == loc.region && within + g <= r.len && pos + g <= self.buf.len()).then_some(pos)
    }
}

/// The scanner: the table of contents and the counters.
struct Scanner {
    g: usize,
    zero_hash: u64,
    table: ContentTable,
    per_source: Vec<SourceCounters>,
    per_kind: [KindCounters; MappingKind::ALL.len()],
    /// Representatives read again from their source (granules).
    rereads: u64,
    /// Batched reads of representatives (calls of `prefetch` per source).
    reread_batches: u64,
    reread_buf: Vec<u8>,
    /// Hashes of the granules of the batch in hand, in order.
    hashes: Vec<u64>,
    /// Representatives to read for the batch in hand, sorted.
    wanted: Vec<Location>,
    prefetched: Vec<bool>,
    prefetch_buf: Vec<u8>,
}

impl Scanner {
    /// Hash every whole granule in the first `filled` bytes of the batch and
    /// count it. Three passes: hash; read in one go the representatives the
    /// comparisons will need from earlier batches (one `process_vm_readv`
    /// per source instead of one per granule); compare and count.
    fn hash_batch(&mut self, batch: &Batch<'_>, sources: &mut [OpenSource], filled: usize) {
        let g = self.g;
        self.hashes.clear();
        for (i, run) in batch.runs.iter().enumerate() {
            let start = batch.starts[i];
            if start >= filled {
                break;
            }
            let end = (start + run.len).min(filled);
            let mut pos = start;
            while pos + g <= end {
                self.hashes.push(xxh3_64(&batch.buf[pos..pos + g]));
                pos += g;
            }
        }
        self.prefetch(batch, sources);
        let s = batch.source as usize;
        let Scanner {
            table,
            per_source,
            per_kind,
            rereads,
            reread_buf,
            zero_hash,
            hashes,
            wanted,
            prefetched,
            prefetch_buf,
            ..
        } = self;
        let mut k = 0usize;
        for (i, run) in batch.runs.iter().enumerate() {
            let start = batch.starts[i];
            if start >= filled {
                break;
            }
            let end = (start + run.len).min(filled);
            let kind = sources[s].regions[run.region as usize].kind;
            let kc = &mut per_kind[kind.index()];
            let sc = &mut per_source[s];
            let mut pos = start;
            while pos + g <= end {
                let bytes = &batch.buf[pos..pos + g];
                let h = hashes[k];
                k += 1;
                kc.scanned += 1;
                sc.scanned += 1;
                if h == *zero_hash && bytes.iter().all(|&b| b == 0) {
                    kc.zero += 1;
                    sc.zero += 1;
                } else {
                    let loc = Location {
                        source: batch.source,
                        region: run.region,
                        offset: run.offset + (pos - start) as u64,
                    };
                    let seen = table.observe(h, bytes, loc, kind as u8, |rep, bytes| {
                        let same = |other: &[u8]| {
                            if other == bytes {
                                Confirm::Equal
                            } else {
                                Confirm::Different
                            }
                        };
                        if let Some(p) = batch.find(rep, g) {
                            return same(&batch.buf[p..p + g]);
                        }
                        if let Ok(w) = wanted.binary_search(rep) {
                            if prefetched[w] {
                                return same(&prefetch_buf[w * g..(w + 1) * g]);
                            }
                        }
                        *rereads += 1;
                        reread_buf.resize(g, 0);
                        match sources[rep.source as usize]
                            .read_at(rep.region, rep.offset, reread_buf)
                        {
                            Ok(()) => same(reread_buf),
                            Err(_) => Confirm::Unavailable,
                        }
                    });
                    match seen {
                        Seen::New => {}
                        Seen::SelfDuplicate => {
                            kc.self_dup += 1;
                            sc.self_dup += 1;
                        }
                        Seen::CrossDuplicate => {
                            kc.cross_dup += 1;
                            sc.cross_dup += 1;
                        }
                    }
                }
                pos += g;
            }
        }
    }

    /// Read the representatives that the granules hashed in `self.hashes`
    /// will be compared with and that are neither cached nor in the batch:
    /// sorted into `wanted`, their bytes in `prefetch_buf`, `prefetched[i]`
    /// telling which could be read (the others are re-read one by one, or
    /// found unavailable, when compared).
    fn prefetch(&mut self, batch: &Batch<'_>, sources: &mut [OpenSource]) {
        let g = self.g;
        self.wanted.clear();
        for &h in &self.hashes {
            if h != self.zero_hash {
                self.table.uncached_reps(h, &mut self.wanted);
            }
        }
        self.wanted.retain(|l| batch.find(l, g).is_none());
        self.wanted.sort_unstable();
        self.wanted.dedup();
        let n = self.wanted.len();
        self.prefetched.clear();
        self.prefetched.resize(n, false);
        self.prefetch_buf.resize(n * g, 0);
        let mut i = 0;
        while i < n {
            let src = self.wanted[i].source;
            let j = i + self.wanted[i..].partition_point(|l| l.source == src);
            let runs: Vec<Run> = self.wanted[i..j]
                .iter()
                .map(|l| Run {
                    region: l.region,
                    offset: l.offset,
                    len: g,
                })
                .collect();
            let (filled, _) =
                sources[src as usize].read_runs(&runs, &mut self.prefetch_buf[i * g..j * g]);
            let got = filled / g;
            self.prefetched[i..i + got].fill(true);
            self.rereads += got as u64;
            self.reread_batches += 1;
            i = j;
        }
    }

    /// Read and hash `runs` of source `s`, skipping runs that cannot be
    /// read. Returns false when the process vanished (stop this source).
    fn flush(
        &mut self,
        s: usize,
        runs: &[Run],
        sources: &mut [OpenSource],
        buf: &mut [u8],
        starts: &mut Vec<usize>,
    ) -> bool {
        let g = self.g;
        let mut rest = runs;
        while !rest.is_empty() {
            let (filled, err) = sources[s].read_runs(rest, buf);
            starts.clear();
            let mut p = 0;
            for r in rest {
                starts.push(p);
                p += r.len;
            }
            let batch = Batch {
                source: s as u32,
                runs: rest,
                starts,
                buf: &*buf,
            };
            self.hash_batch(&batch, sources, filled);
            let Some(err) = err else { return true };
            // The run holding byte `filled` failed from its granule on.
            let i = starts.partition_point(|&st| st <= filled).saturating_sub(1);
            let failed_from = (filled - starts[i]) / g * g;
            let lost = (rest[i].len - failed_from) as u64;
            let region = &sources[s].regions[rest[i].region as usize];
            match err {
                ReadError::Vanished => {
                    let left: u64 = rest[i + 1..].iter().map(|r| r.len as u64).sum();
                    let c = &mut self.per_source[s];
                    c.partial = true;
                    c.unreadable += lost + left;
                    return false;
                }
                ReadError::Fault(e) => {
                    let c = &mut self.per_source[s];
                    c.unreadable += lost;
                    if c.notes.len() < 8 {
                        c.notes.push(format!(
                            "{} {}: {} bytes at {:#x} unreadable ({e})",
                            sources[s].label,
                            region.name,
                            lost,
                            region.start + rest[i].offset + failed_from as u64
                        ));
                    }
                }
            }
            rest = &rest[i + 1..];
        }
        true
    }

    /// Scan every region of source `s`.
    fn scan_source(
        &mut self,
        s: usize,
        sources: &mut [OpenSource],
        buf: &mut [u8],
        progress: &mut dyn FnMut(&ScanProgress<'_>),
    ) {
        let g = self.g as u64;
        let batch_cap = buf.len();
        let mut pending: Vec<Run> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let mut scratch: Vec<u8> = Vec::new();
        let mut starts: Vec<usize> = Vec::new();
        for region in 0..sources[s].regions.len() {
            let len = sources[s].regions[region].len;
            let usable = len / g * g;
            self.per_source[s].tail += len - usable;
            let mut off = 0u64;
            while off < usable {
                let win = (usable - off).min(RESIDENCY_WINDOW);
                ranges.clear();
                match sources[s].backed_ranges(region, off, win, &mut ranges, &mut scratch) {
                    Ok(()) => {}
                    Err(ReadError::Vanished) => {
                        self.flush(s, &pending, sources, buf, &mut starts);
                        self.per_source[s].partial = true;
                        return;
                    }
                    Err(ReadError::Fault(e)) => {
                        let c = &mut self.per_source[s];
                        c.unreadable += win;
                        if c.notes.len() < 8 {
                            c.notes.push(format!(
                                "{} {}: residency unknown ({e}); {win} bytes skipped",
                                sources[s].label, sources[s].regions[region].name
                            ));
                        }
                        off += win;
                        continue;
                    }
                }
                let mut backed = 0u64;
                // End of what is already queued in this window: rounding to
                // whole granules must not queue a granule twice.
                let mut cursor = off;
                for &(ro, rl) in &ranges {
                    let a = (ro / g * g).max(cursor);
                    let b = ((ro + rl).div_ceil(g) * g).min(off + win);
                    if b <= a {
                        continue;
                    }
                    cursor = b;
                    backed += b - a;
                    let mut at = a;
                    while at < b {
                        let take = ((b - at) as usize).min(batch_cap - pending_bytes);
                        match pending.last_mut() {
                            Some(last)
                                if last.region == region as u32
                                    && last.offset + last.len as u64 == at =>
                            {
                                last.len += take;
                            }
                            _ => pending.push(Run {
                                region: region as u32,
                                offset: at,
                                len: take,
                            }),
                        }
                        pending_bytes += take;
                        at += take as u64;
                        if pending_bytes == batch_cap || pending.len() == MAX_IOVECS {
                            let alive = self.flush(s, &pending, sources, buf, &mut starts);
                            pending.clear();
                            pending_bytes = 0;
                            progress(&ScanProgress {
                                source_index: s,
                                label: &sources[s].label,
                                bytes_scanned: self.per_source[s].scanned * g,
                            });
                            if !alive {
                                return;
                            }
                        }
                    }
                }
                self.per_source[s].not_backed += win - backed;
                off += win;
            }
        }
        if !pending.is_empty() {
            self.flush(s, &pending, sources, buf, &mut starts);
            progress(&ScanProgress {
                source_index: s,
                label: &sources[s].label,
                bytes_scanned: self.per_source[s].scanned * g,
            });
        }
    }
}

/// Open the sources, scan them all and build the report.
///
/// Image and bundle sources that cannot be read are errors (the user named a
/// file); processes that cannot be read become notes and the others are
/// scanned. Fails with [`SharingError::NothingScanned`] when no source could
/// be read at all.
pub fn analyze(
    specs: &[SourceSpec],
    opts: &ScanOptions,
    progress: &mut dyn FnMut(&ScanProgress<'_>),
) -> Result<SharingReport, SharingError> {
    if specs.is_empty() {
        return Err(SharingError::NoSources);
    }
    let mut sources: Vec<OpenSource> = Vec::new();
    let mut failed: Vec<SourceReport> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for spec in specs {
        match spec {
            SourceSpec::Image { path } => {
                sources.push(OpenSource::open_file(path, SourceKind::Image)?)
            }
            SourceSpec::SentryMemoryFile { path } => {
                sources.push(OpenSource::open_file(path, SourceKind::SentryMemoryFile)?)
            }
            SourceSpec::Process { pid, range } => match OpenSource::open_process(*pid, *range) {
                Ok(src) => sources.push(src),
                Err(note) => {
                    notes.push(note.clone());
                    failed.push(SourceReport::failed(format!("pid {pid}"), Some(*pid), note));
                }
            },
        }
    }
    if sources.is_empty() {
        return Err(SharingError::NothingScanned { notes });
    }
    let g = opts.granularity.bytes();
    let mut scanner = Scanner {
        g,
        zero_hash: xxh3_64(&vec![0u8; g]),
        table: ContentTable::new(g, opts.cache_limit_bytes, opts.examples_per_content),
        per_source: vec![SourceCounters::default(); sources.len()],
        per_kind: [KindCounters::default(); MappingKind::ALL.len()],
        rereads: 0,
        reread_batches: 0,
        reread_buf: Vec::new(),
        hashes: Vec::new(),
        wanted: Vec::new(),
        prefetched: Vec::new(),
        prefetch_buf: Vec::new(),
    };
    // The batch buffer: whole pages, at least one.
    let batch = opts.batch_bytes.max(PAGE_SIZE) / PAGE_SIZE * PAGE_SIZE;
    let mut buf = vec![0u8; batch];
    let started = Instant::now();
    for s in 0..sources.len() {
        scanner.scan_source(s, &mut sources, &mut buf, progress);
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(buf);

    let any_read = scanner.per_source.iter().any(|c| c.scanned > 0);
    if !any_read {
        let mut notes = notes;
        notes.extend(sources.iter().zip(&scanner.per_source).map(|(s, c)| {
            if c.partial {
                format!("{}: exited before any page was read", s.label)
            } else {
                format!("{}: holds no data to scan", s.label)
            }
        }));
        return Err(SharingError::NothingScanned { notes });
    }
    Ok(build_report(
        scanner,
        &mut sources,
        failed,
        notes,
        opts,
        seconds,
    ))
}

fn build_report(
    scanner: Scanner,
    sources: &mut [OpenSource],
    failed: Vec<SourceReport>,
    mut notes: Vec<String>,
    opts: &ScanOptions,
    seconds: f64,
) -> SharingReport {
    let g = scanner.g;
    let table = &scanner.table;
    let mut src_unique = vec![0u64; sources.len()];
    let mut kind_unique = [0u64; MappingKind::ALL.len()];
    let mut kind_first = [0u64; MappingKind::ALL.len()];
    let mut totals = Totals::default();
    for c in table.contents() {
        totals.distinct_contents += 1;
        if c.count == 1 {
            totals.unique_pages += 1;
            kind_unique[c.first_kind as usize] += 1;
            src_unique[c.rep.source as usize] += 1;
        } else {
            totals.duplicated_contents += 1;
            kind_first[c.first_kind as usize] += 1;
        }
    }
    let mut reports = Vec::new();
    let mut partial = false;
    for (i, (src, c)) in sources.iter().zip(&scanner.per_source).enumerate() {
        partial |= c.partial;
        totals.pages_scanned += c.scanned;
        totals.zero_pages += c.zero;
        totals.self_sharing_pages += c.self_dup;
        totals.cross_sharing_pages += c.cross_dup;
        let mut src_notes = src.notes.clone();
        src_notes.extend(c.notes.iter().cloned());
        if c.partial {
            src_notes.push(format!(
                "{}: exited during the scan; its counts cover the {} pages read before",
                src.label, c.scanned
            ));
        }
        notes.extend(src_notes.iter().cloned());
        reports.push(SourceReport {
            label: src.label.clone(),
            kind: Some(src.kind),
            pid: src.pid,
            path: src.path.as_ref().map(|p| p.display().to_string()),
            status: if c.partial {
                SourceStatus::Partial
            } else {
                SourceStatus::Complete
            },
            regions: src.regions.len() as u64,
            pages_scanned: c.scanned,
            zero_pages: c.zero,
            unique_pages: src_unique[i],
            self_sharing_pages: c.self_dup,
            cross_sharing_pages: c.cross_dup,
            bytes_scanned: c.scanned * g as u64,
            not_backed_bytes: c.not_backed,
            unreadable_bytes: c.unreadable,
            tail_bytes_skipped: c.tail,
            notes: src_notes,
        });
    }
    reports.extend(failed);
    totals.sharable_pages = totals.self_sharing_pages + totals.cross_sharing_pages;
    totals.finish();

    let by_kind = MappingKind::ALL
        .iter()
        .filter_map(|&k| {
            let c = scanner.per_kind[k.index()];
            (c.scanned > 0).then(|| KindReport {
                kind: k,
                pages_scanned: c.scanned,
                zero_pages: c.zero,
                unique_pages: kind_unique[k.index()],
                first_copies: kind_first[k.index()],
                sharable_pages: c.self_dup + c.cross_dup,
                self_sharing_pages: c.self_dup,
                cross_sharing_pages: c.cross_dup,
            })
        })
        .collect();

    let top = top_contents(&scanner, sources, opts.top);
    let bytes_scanned = totals.pages_scanned * g as u64;
    SharingReport {
        granularity: g,
        partial,
        sources: reports,
        totals,
        by_kind,
        top,
        confirmation: ConfirmationReport {
            hash: "xxh3-64".to_string(),
            confirmed: table.counters.confirmed,
            rejected: table.counters.rejected,
            unconfirmed: table.counters.unconfirmed,
            rereads: scanner.rereads,
            reread_batches: scanner.reread_batches,
            cache_bytes: table.cache_bytes_used() as u64,
            table_entries: table.contents().len() as u64,
            table_bytes: table.memory_bytes() as u64,
        },
        scan: ScanTiming {
            seconds,
            bytes_scanned,
            bytes_per_second: if seconds > 0.0 {
                bytes_scanned as f64 / seconds
            } else {
                0.0
            },
        },
        ksm: if opts.read_ksm { read_host_ksm() } else { None },
        notes,
    }
}

/// The `n` contents with most copies (ties: first seen first).
fn top_contents(scanner: &Scanner, sources: &mut [OpenSource], n: usize) -> Vec<TopContent> {
    let table = &scanner.table;
    let mut ids: Vec<usize> = table
        .contents()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.count > 1)
        .map(|(i, _)| i)
        .collect();
    ids.sort_by(|&a, &b| {
        table.contents()[b]
            .count
            .cmp(&table.contents()[a].count)
            .then(a.cmp(&b))
    });
    ids.truncate(n);
    let mut bytes = vec![0u8; scanner.g];
    ids.into_iter()
        .map(|id| {
            let c = &table.contents()[id];
            let preview = match table.cached_bytes(id) {
                Some(b) => describe(b),
                None => match sources[c.rep.source as usize].read_at(
                    c.rep.region,
                    c.rep.offset,
                    &mut bytes,
                ) {
                    Ok(()) if xxh3_64(&bytes) == c.hash => describe(&bytes),
                    _ => "(content no longer readable)".to_string(),
                },
            };
            let examples = std::iter::once(c.rep)
                .chain(table.examples(id))
                .map(|l| place(sources, &l))
                .collect();
            TopContent {
                hash: format!("{:016x}", c.hash),
                copies: u64::from(c.count),
                sources: u64::from(c.sources),
                preview,
                examples,
            }
        })
        .collect()
}

fn place(sources: &[OpenSource], l: &Location) -> Place {
    let src = &sources[l.source as usize];
    let region = &src.regions[l.region as usize];
    let pos = src.position(l.region, l.offset);
    let is_process = src.kind == SourceKind::Process;
    Place {
        source: src.label.clone(),
        mapping: region.name.clone(),
        kind: region.kind,
        address: is_process.then(|| format!("{pos:#x}")),
        file_offset: (!is_process).then_some(pos),
    }
}

/// "all bytes 0xff", "2-byte pattern 0102...", or the first 16 bytes in hex.
fn describe(bytes: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    if let Some(&first) = bytes.first() {
        if bytes.iter().all(|&b| b == first) {
            return format!("all bytes 0x{first:02x}");
        }
    }
    for period in [2usize, 4, 8, 16] {
        if bytes.len() > period && bytes.iter().zip(&bytes[period..]).all(|(a, b)| a == b) {
            return format!("{period}-byte pattern {}", hex(&bytes[..period]));
        }
    }
    let n = bytes.len().min(16);
    format!("starts {}…", hex(&bytes[..n]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_patterns() {
        assert_eq!(describe(&[0xffu8; 64]), "all bytes 0xff");
        let two: Vec<u8> = (0..64).map(|i| if i % 2 == 0 { 1 } else { 2 }).collect();
        assert_eq!(describe(&two), "2-byte pattern 0102");
        let ramp: Vec<u8> = (0..64).collect();
        assert!(describe(&ramp).starts_with("starts 000102"));
    }
}
