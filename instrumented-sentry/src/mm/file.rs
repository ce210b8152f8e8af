//! Sentry files: mappables with an identity, a size and a page cache in the
//! memory file (gVisor: a `memmap.Mappable` such as a tmpfs regular file).
//!
//! Shared mappings of a file map its cached pages directly, so a write
//! through one mapping is seen through every other. Private mappings copy
//! a file page into a fresh memory-file page at first fault.
//!
//! Files made by [`crate::mm::MemoryManager::create_file`] live as long as
//! the memory manager. Internal files (behind shared anonymous mappings,
//! gVisor's shm segment) are freed when their last mapped byte goes away.

use std::collections::HashMap;

/// Identity of a sentry file (two VMAs merge only if they map the same one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub(crate) u32);

impl FileId {
    /// The numeric id.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// One file.
#[derive(Debug, Default)]
pub(crate) struct SentryFile {
    /// Size in bytes.
    pub size: u64,
    /// File page index → memory-file offset of its cached page.
    pub cache: HashMap<u64, u64>,
    /// Behind a shared anonymous mapping: freed when no longer mapped.
    pub internal: bool,
    /// Bytes of VMAs mapping the file.
    pub mapped_bytes: u64,
    /// Removed (slot kept so ids stay unique).
    pub dead: bool,
}

/// All files of a memory manager.
#[derive(Debug, Default)]
pub(crate) struct FileTable {
    files: Vec<SentryFile>,
}

impl FileTable {
    pub fn create(&mut self, size: u64, internal: bool) -> Option<FileId> {
        let id = u32::try_from(self.files.len()).ok()?;
        self.files.push(SentryFile {
            size,
            internal,
            ..SentryFile::default()
        });
        Some(FileId(id))
    }

    pub fn get(&self, id: FileId) -> Option<&SentryFile> {
        self.files.get(id.0 as usize).filter(|f| !f.dead)
    }

    pub fn get_mut(&mut self, id: FileId) -> Option<&mut SentryFile> {
        self.files.get_mut(id.0 as usize).filter(|f| !f.dead)
    }

    /// Live files.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SentryFile)> {
        self.files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.dead)
            .map(|(i, f)| (FileId(i as u32), f))
    }
}
