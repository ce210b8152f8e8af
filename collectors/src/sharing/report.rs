//! The result of a sharing analysis ([`SharingReport`], written as
//! `sharing.json`) and its text table. Counts are in granules of
//! [`SharingReport::granularity`] bytes ("pages" at the default 4096).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::classify::MappingKind;
use super::ksm::KsmCounters;
use super::source::SourceKind;

/// Name of the report file in a sharing bundle.
pub const SHARING_JSON: &str = "sharing.json";

/// The whole analysis.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SharingReport {
    /// Bytes per granule (the unit of every `*_pages` count).
    pub granularity: usize,
    /// Some source was cut short (a process exited mid-scan): counts are
    /// lower bounds.
    pub partial: bool,
    pub sources: Vec<SourceReport>,
    pub totals: Totals,
    /// One row per mapping kind that had granules scanned, in report order.
    pub by_kind: Vec<KindReport>,
    /// The most duplicated contents, most copies first.
    pub top: Vec<TopContent>,
    pub confirmation: ConfirmationReport,
    pub scan: ScanTiming,
    /// The kernel's KSM counters, when this kernel has KSM.
    pub ksm: Option<KsmCounters>,
    /// One-line notes: processes that could not be read, fallbacks.
    pub notes: Vec<String>,
}

/// How completely a source was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    Complete,
    /// Cut short (the process exited): its counts cover what was read.
    Partial,
    /// Nothing could be read.
    Failed,
}

/// One source's figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceReport {
    pub label: String,
    pub kind: Option<SourceKind>,
    pub pid: Option<i32>,
    pub path: Option<String>,
    pub status: SourceStatus,
    pub regions: u64,
    pub pages_scanned: u64,
    pub zero_pages: u64,
    /// Contents first seen here that occur nowhere else.
    pub unique_pages: u64,
    pub self_sharing_pages: u64,
    pub cross_sharing_pages: u64,
    pub bytes_scanned: u64,
    /// Mapped but not resident (processes), or holes (sparse files): not read.
    pub not_backed_bytes: u64,
    /// Backed but unreadable (device mappings, unmapped during the scan).
    pub unreadable_bytes: u64,
    /// Trailing bytes shorter than one granule (files).
    pub tail_bytes_skipped: u64,
    pub notes: Vec<String>,
}

impl SourceReport {
    /// A source that could not be opened.
    pub fn failed(label: String, pid: Option<i32>, note: String) -> Self {
        SourceReport {
            label,
            kind: Some(SourceKind::Process),
            pid,
            path: None,
            status: SourceStatus::Failed,
            regions: 0,
            pages_scanned: 0,
            zero_pages: 0,
            unique_pages: 0,
            self_sharing_pages: 0,
            cross_sharing_pages: 0,
            bytes_scanned: 0,
            not_backed_bytes: 0,
            unreadable_bytes: 0,
            tail_bytes_skipped: 0,
            notes: vec![note],
        }
    }
}

/// Figures over all sources. See the module docs of `sharing` for the
/// definitions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    pub pages_scanned: u64,
    pub zero_pages: u64,
    /// Non-zero granules whose content occurs exactly once.
    pub unique_pages: u64,
    /// Distinct non-zero contents.
    pub distinct_contents: u64,
    /// Distinct non-zero contents occurring at least twice.
    pub duplicated_contents: u64,
    /// Σ (n(c) − 1) over non-zero contents: the saving of deduplication.
    pub sharable_pages: u64,
    pub self_sharing_pages: u64,
    pub cross_sharing_pages: u64,
    /// Sharable plus all zero granules but one.
    pub sharable_including_zero_pages: u64,
    pub zero_percent: f64,
    pub unique_percent: f64,
    pub sharable_percent: f64,
    pub sharable_including_zero_percent: f64,
}

/// Figures of one mapping kind. `pages_scanned = zero_pages + unique_pages +
/// first_copies + sharable_pages`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KindReport {
    pub kind: MappingKind,
    pub pages_scanned: u64,
    pub zero_pages: u64,
    pub unique_pages: u64,
    /// First occurrences of contents that recur (the copies that are kept).
    pub first_copies: u64,
    /// Later copies found in this kind (`self + cross`).
    pub sharable_pages: u64,
    pub self_sharing_pages: u64,
    pub cross_sharing_pages: u64,
}

/// Where a granule is, for people.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Place {
    pub source: String,
    pub mapping: String,
    pub kind: MappingKind,
    /// Address in the process (hex), for processes.
    pub address: Option<String>,
    /// Byte offset in the file, for files.
    pub file_offset: Option<u64>,
}

/// One of the most duplicated contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopContent {
    /// xxh3-64 of the content, hex.
    pub hash: String,
    pub copies: u64,
    pub sources: u64,
    /// "all bytes 0xff", or the first 16 bytes in hex.
    pub preview: String,
    /// The first occurrence, then a few later ones.
    pub examples: Vec<Place>,
}

/// How hash matches were confirmed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfirmationReport {
    pub hash: String,
    /// Hash matches found equal byte for byte.
    pub confirmed: u64,
    /// Hash matches whose bytes differed (a collision, or live memory that
    /// changed between hashing and comparing): counted as distinct.
    pub rejected: u64,
    /// Hash matches whose first copy could no longer be read (its process
    /// exited): counted as distinct.
    pub unconfirmed: u64,
    /// Representatives read again from their source to compare.
    pub rereads: u64,
    /// Batched reads those re-reads took (one per source per scan batch).
    pub reread_batches: u64,
    /// Bytes of duplicated contents kept to compare without re-reading.
    pub cache_bytes: u64,
    /// Entries in the table of distinct contents.
    pub table_entries: u64,
    /// Memory the table holds at the end (entries, index, cache, examples).
    pub table_bytes: u64,
}

/// How long the scan took.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ScanTiming {
    pub seconds: f64,
    pub bytes_scanned: u64,
    pub bytes_per_second: f64,
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl Totals {
    /// Fill in the percentages and the zero-inclusive saving from the counts.
    pub fn finish(&mut self) {
        self.sharable_including_zero_pages =
            self.sharable_pages + self.zero_pages.saturating_sub(1);
        self.zero_percent = pct(self.zero_pages, self.pages_scanned);
        self.unique_percent = pct(self.unique_pages, self.pages_scanned);
        self.sharable_percent = pct(self.sharable_pages, self.pages_scanned);
        self.sharable_including_zero_percent =
            pct(self.sharable_including_zero_pages, self.pages_scanned);
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl SharingReport {
    /// The text table printed by `sentryprof sharing`.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let g = self.granularity;
        let unit = if g == 4096 {
            "pages".to_string()
        } else {
            format!("{g}-byte granules")
        };
        let _ = writeln!(
            s,
            "Page sharing over {} source(s), granularity {g} B (counts in {unit}){}",
            self.sources.len(),
            if self.partial {
                "  [PARTIAL: a source was cut short]"
            } else {
                ""
            }
        );
        let _ = writeln!(s);
        self.write_sources(&mut s);
        self.write_totals(&mut s, g);
        self.write_kinds(&mut s);
        self.write_top(&mut s);
        self.write_checks(&mut s);
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// One line per source.
    fn write_sources(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "{:<40} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>12} {:>11}",
            "source",
            "status",
            "scanned",
            "zero",
            "unique",
            "self",
            "cross",
            "not backed",
            "unreadable"
        );
        for src in &self.sources {
            let status = match src.status {
                SourceStatus::Complete => "complete",
                SourceStatus::Partial => "PARTIAL",
                SourceStatus::Failed => "failed",
            };
            let _ = writeln!(
                s,
                "{:<40} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10.1}Mi {:>9.1}Mi",
                truncate(&src.label, 40),
                status,
                src.pages_scanned,
                src.zero_pages,
                src.unique_pages,
                src.self_sharing_pages,
                src.cross_sharing_pages,
                mib(src.not_backed_bytes),
                mib(src.unreadable_bytes)
            );
        }
    }

    /// The totals over all sources (`g`: granularity in bytes).
    fn write_totals(&self, s: &mut String, g: usize) {
        let t = &self.totals;
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "scanned   {:>10} ({:.1} MiB)",
            t.pages_scanned,
            mib(t.pages_scanned * g as u64)
        );
        let _ = writeln!(s, "zero      {:>10} ({:.1}%)", t.zero_pages, t.zero_percent);
        let _ = writeln!(
            s,
            "unique    {:>10} ({:.1}%)",
            t.unique_pages, t.unique_percent
        );
        let _ = writeln!(
            s,
            "sharable  {:>10} ({:.1}%) = self {} + cross {}   [non-zero contents: {} distinct, {} duplicated]",
            t.sharable_pages,
            t.sharable_percent,
            t.self_sharing_pages,
            t.cross_sharing_pages,
            t.distinct_contents,
            t.duplicated_contents
        );
        let _ = writeln!(
            s,
            "sharable including zero {:>10} ({:.1}%)",
            t.sharable_including_zero_pages, t.sharable_including_zero_percent
        );
        let _ = writeln!(s);
    }

    /// One line per mapping kind.
    fn write_kinds(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "{:<20} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "mapping kind",
            "scanned",
            "zero",
            "unique",
            "kept",
            "sharable",
            "self",
            "cross",
            "sharable%"
        );
        for k in &self.by_kind {
            let _ = writeln!(
                s,
                "{:<20} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8.1}%",
                k.kind.name(),
                k.pages_scanned,
                k.zero_pages,
                k.unique_pages,
                k.first_copies,
                k.sharable_pages,
                k.self_sharing_pages,
                k.cross_sharing_pages,
                pct(k.sharable_pages, k.pages_scanned)
            );
        }
    }

    /// The most duplicated contents, with where they were seen.
    fn write_top(&self, s: &mut String) {
        if !self.top.is_empty() {
            let _ = writeln!(s);
            let _ = writeln!(s, "most duplicated contents (zero excluded):");
            for (i, c) in self.top.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{:>3}. {:>8} copies in {} source(s)  {}  [{}]",
                    i + 1,
                    c.copies,
                    c.sources,
                    c.preview,
                    c.hash
                );
                for p in &c.examples {
                    let pos = match (&p.address, p.file_offset) {
                        (Some(a), _) => format!("at {a}"),
                        (None, Some(o)) => format!("at offset {o}"),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        s,
                        "       {} {} ({}) {pos}",
                        p.source,
                        p.mapping,
                        p.kind.name()
                    );
                }
            }
        }
    }

    /// KSM, how matches were confirmed, and the scan rate.
    fn write_checks(&self, s: &mut String) {
        let _ = writeln!(s);
        match &self.ksm {
            Some(k) => {
                let _ = writeln!(
                    s,
                    "{} (kernel, machine-wide, MADV_MERGEABLE areas only)",
                    k.summary()
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "KSM: not present in this kernel (/sys/kernel/mm/ksm absent)"
                );
            }
        }
        let c = &self.confirmation;
        let _ = writeln!(
            s,
            "hash {}: {} matches confirmed byte for byte, {} rejected, {} unconfirmed; {} re-reads in {} batches; {:.1} MiB cached; {} table entries ({:.1} MiB)",
            c.hash,
            c.confirmed,
            c.rejected,
            c.unconfirmed,
            c.rereads,
            c.reread_batches,
            mib(c.cache_bytes),
            c.table_entries,
            mib(c.table_bytes)
        );
        let _ = writeln!(
            s,
            "scan: {:.1} MiB in {:.3} s ({:.0} MiB/s)",
            mib(self.scan.bytes_scanned),
            self.scan.seconds,
            self.scan.bytes_per_second / (1024.0 * 1024.0)
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}
