//! Page-sharing analysis: how much memory is identical page for page.
//!
//! The measurement of Barker et al. ("An Empirical Study of Memory Sharing in
//! Virtual Machines", USENIX ATC 2012), made open and repeatable: every
//! granule (a page, 4096 bytes by default, or a power-of-two fraction of one
//! down to 64 bytes) of one or more *sources* is hashed with xxh3; granules
//! with equal hashes are compared byte for byte before one is counted as
//! sharable.
//!
//! Sources ([`SourceSpec`]): live processes (mappings from `/proc/PID/maps`,
//! resident pages from `/proc/PID/pagemap`, contents through
//! `process_vm_readv`, falling back to `/proc/PID/mem`), raw memory image
//! files, and the sentry's memory file saved in a run bundle (`memory.img`).
//!
//! Layering, one concern per file:
//! - [`crate::proc_maps`] (beside this module, shared with symbolization):
//!   parsing `/proc/PID/maps`;
//! - `granule`: the page, the granularity a scan hashes at, and the
//!   analysis's errors ([`SharingError`]), which name those limits;
//! - [`classify`]: the mapping kind of a region (library, heap, stack, ...);
//! - `sys`: the only unsafe code (`process_vm_readv`, `lseek(SEEK_DATA)`);
//! - [`source`]: opening sources, listing their backed byte runs, reading them;
//! - `content_index`: the index of distinct contents (hash → representative location);
//! - [`scan`]: the scanning loop and the counters;
//! - [`report`]: the result ([`SharingReport`], serialised as `sharing.json`)
//!   and its text rendering;
//! - [`ksm`]: the kernel's KSM counters, shown beside the estimate.
//!
//! # Definitions (the numbers in the report)
//! Let a *content* be a distinct non-zero granule value, occurring `n(c)`
//! times over all sources and `n(c, s)` times in source `s`.
//! - *zero* granules are counted apart (they are trivially sharable);
//! - *unique* granules: contents with `n(c) = 1`;
//! - *sharable* granules: `Σ_c (n(c) − 1)`, the granules a perfect
//!   deduplication of the non-zero contents would free;
//! - *self-sharing*: `Σ_c Σ_s max(n(c, s) − 1, 0)`, what each source would
//!   free deduplicating on its own;
//! - *cross sharing*: `Σ_c (sources(c) − 1)`, the rest: the saving that
//!   needs sharing between sources.
//!
//! Self + cross = sharable, whatever the order of sources. Scanning in order,
//! a duplicate granule is *self* when its content was already seen in the
//! same source and *cross* when it was seen only in earlier sources; this is
//! how the split by mapping kind attributes each saved granule (to the kind
//! of the later copy, so the split by kind depends on source order; totals
//! do not).

pub mod classify;
mod content_index;
mod granule;
pub mod ksm;
pub mod report;
pub mod scan;
pub mod source;
mod sys;

pub use classify::MappingKind;
pub use granule::{Granularity, SharingError, MIN_GRANULARITY, PAGE_SIZE};
pub use report::SharingReport;
pub use scan::{analyze, ScanOptions, ScanProgress};
pub use source::SourceSpec;
