//! The memory manager: a small re-creation of gVisor's `pkg/sentry/mm`.
//!
//! # Layering (top to bottom)
//!
//! 1. **Syscalls** (`syscalls.rs`): `mmap`, `munmap`, `mprotect`, `brk`,
//!    `mremap`, with Linux's argument checks; errors are [`MmError`] values.
//! 2. **VMAs** (`vma.rs`): what the application mapped, in a segment set
//!    with max-gap tracking. `createVMA` validates, calls `findAvailable`
//!    (top-down below the mmap base by default, bottom-up on request; hint,
//!    `MAP_FIXED`, `MAP_FIXED_NOREPLACE`) and inserts with gVisor's merge
//!    rule: same mappable and identity, contiguous file offsets, same
//!    permissions and sharing. Private anonymous mappings merge; repeated
//!    `mmap(NULL, len, .., MAP_PRIVATE, fd, 0)` does not (offsets not
//!    contiguous): the study's O(n) case under the linear gap search.
//! 3. **PMAs** (`pma.rs`): which memory-file bytes back which addresses.
//!    `getPMAs` allocates (anonymous, private file copy) or looks up (shared
//!    file page cache) memory-file pages.
//! 4. **Memory file and page allocator** (`memory_file.rs`,
//!    `page_allocator.rs`): a real `memfd`, grown in chunks; its own
//!    allocation set (max-gap tracked) hands out offsets top-down and reuses
//!    freed pages.
//! 5. **Address space** (`address_space.rs`): `mapAS` tells the platform's
//!    [`AddressSpace`](crate::platform::AddressSpace) about new PMAs
//!    (in-process: host `mmap` into an arena; KVM: guest page tables).
//! 6. **Faults** (`fault.rs`): touching a page with a VMA but no PMA runs
//!    getPMAs + mapAS for a window around it. Private anonymous mappings of
//!    at most 2 MiB (gVisor's `privateAllocUnit`: `MMap` populates when
//!    `Mappable == nil && length <= privateAllocUnit`) are populated at
//!    mmap time instead.
//!
//! Every step is wrapped in an rdtsc probe (`crate::probes`): sites
//! `mmap`, `create_vma`, `find_available`, `get_pmas`, `map_as`, `fault`;
//! the functions are `#[inline(never)]` so profiles show them by name.
//!
//! # Example
//! ```
//! use instrumented_sentry::addr::Access;
//! use instrumented_sentry::mm::{MemoryManager, MmConfig, MmapRequest};
//! use instrumented_sentry::platform::inproc_address_space::InProcConfig;
//! use instrumented_sentry::segment::GapSearch;
//!
//! let mut mm = MemoryManager::inproc(MmConfig::with_search(GapSearch::MaxGap), &InProcConfig::default()).unwrap();
//! let file = mm.create_file(1 << 20).unwrap();
//! let a = mm.mmap(&MmapRequest::file(file, 0, 4096)).unwrap();
//! let b = mm.mmap(&MmapRequest::file(file, 0, 4096)).unwrap();
//! assert_eq!(mm.vma_count(), 2); // private file mappings at offset 0 never merge
//! mm.touch(a, 4096, Access::Write, 7).unwrap();
//! let report = mm.probes().report(1000);
//! assert!(report.sites.iter().any(|s| s.site.name() == "find_available" && s.calls == 2));
//! # let _ = b;
//! ```

mod address_space;
pub mod error;
mod fault;
pub mod file;
mod manager;
pub mod memory_file;
pub mod page_allocator;
pub mod pma;
mod syscalls;
pub mod vma;

pub use error::MmError;
pub use file::FileId;
pub use manager::{Layout, MemoryManager, MmConfig, MmStats};
pub use memory_file::{MemoryFile, MemoryFileConfig, MemoryFileError, MEMFD_NAME};
pub use pma::Pma;
pub use syscalls::{MmapRequest, MremapFlags};
pub use vma::{Backing, MmapDirection, Placement, Vma};
