//! The kind of memory a region holds, from its `/proc/PID/maps` name (or
//! from the kind of source for images and the sentry's memory file).

use serde::{Deserialize, Serialize};

use crate::proc_maps::MapEntry;

/// What a region of memory is, for the split of sharing by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingKind {
    /// A file-backed mapping of a shared object (`*.so`, `*.so.N`).
    Library,
    /// Another file-backed mapping: executables, data files, fonts, locales.
    File,
    /// The `brk` heap (`[heap]`).
    Heap,
    /// A thread's stack (`[stack]`).
    Stack,
    /// Anonymous memory: private or shared, unnamed or named
    /// (`[anon:...]`), memfds other than the sentry's, SysV segments.
    Anonymous,
    /// The sentry's memory file: `memory.img` of a bundle, or a live mapping
    /// of a memfd whose name contains "sentry".
    SentryMemoryFile,
    /// A raw memory image file given with `--image`.
    Image,
    /// Anything else (`[vdso]`, `[vvar]`, ...).
    Other,
}

impl MappingKind {
    /// Every kind, in report order.
    pub const ALL: [MappingKind; 8] = [
        MappingKind::Library,
        MappingKind::File,
        MappingKind::Heap,
        MappingKind::Stack,
        MappingKind::Anonymous,
        MappingKind::SentryMemoryFile,
        MappingKind::Image,
        MappingKind::Other,
    ];

    /// Stable short name (the JSON spelling).
    pub fn name(self) -> &'static str {
        match self {
            MappingKind::Library => "library",
            MappingKind::File => "file",
            MappingKind::Heap => "heap",
            MappingKind::Stack => "stack",
            MappingKind::Anonymous => "anonymous",
            MappingKind::SentryMemoryFile => "sentry_memory_file",
            MappingKind::Image => "image",
            MappingKind::Other => "other",
        }
    }

    /// Index into [`MappingKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Classify a mapping of a live process by its name.
pub fn classify_mapping(entry: &MapEntry) -> MappingKind {
    classify_path(&entry.path)
}

/// Classify by the path column of `/proc/PID/maps`.
pub fn classify_path(path: &str) -> MappingKind {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    if path.is_empty() {
        return MappingKind::Anonymous;
    }
    if path == "[heap]" {
        return MappingKind::Heap;
    }
    if path == "[stack]" || path.starts_with("[stack:") {
        return MappingKind::Stack;
    }
    if path.starts_with("[anon:") || path.starts_with("[anon_shmem:") {
        return MappingKind::Anonymous;
    }
    if path.starts_with('[') {
        return MappingKind::Other;
    }
    if let Some(name) = path.strip_prefix("/memfd:") {
        return if name.contains("sentry") {
            MappingKind::SentryMemoryFile
        } else {
            MappingKind::Anonymous
        };
    }
    if path.starts_with("/SYSV") || path == "/dev/zero" {
        return MappingKind::Anonymous;
    }
    if is_shared_object(path) {
        MappingKind::Library
    } else {
        MappingKind::File
    }
}

/// `libc.so.6`, `ld-linux-x86-64.so.2`, `_ssl.cpython-311-x86_64-linux-gnu.so`.
fn is_shared_object(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut rest = name;
    while let Some(i) = rest.find(".so") {
        let after = &rest[i + 3..];
        if after.is_empty() || after.starts_with('.') {
            return true;
        }
        rest = after;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kinds() {
        let cases = [
            ("/usr/lib/x86_64-linux-gnu/libc.so.6", MappingKind::Library),
            ("/usr/lib64/ld-linux-x86-64.so.2", MappingKind::Library),
            (
                "/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so",
                MappingKind::Library,
            ),
            ("/usr/lib/libfoo.so.1.0 (deleted)", MappingKind::Library),
            ("/usr/bin/python3.11", MappingKind::File),
            ("/usr/lib/locale/locale-archive", MappingKind::File),
            ("/tmp/some.socket", MappingKind::File),
            ("[heap]", MappingKind::Heap),
            ("[stack]", MappingKind::Stack),
            ("[stack:1234]", MappingKind::Stack),
            ("", MappingKind::Anonymous),
            ("[anon:scudo]", MappingKind::Anonymous),
            (
                "/memfd:sentry-memory (deleted)",
                MappingKind::SentryMemoryFile,
            ),
            ("/memfd:wayland (deleted)", MappingKind::Anonymous),
            ("/SYSV00000000 (deleted)", MappingKind::Anonymous),
            ("[vdso]", MappingKind::Other),
            ("[vvar]", MappingKind::Other),
        ];
        for (path, kind) in cases {
            assert_eq!(classify_path(path), kind, "{path}");
        }
    }

    #[test]
    fn kind_indices_follow_all() {
        for (i, k) in MappingKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }
}
