//! Separate debug files: where the symbols (and DWARF) of a stripped ELF
//! object live. Looked up as gdb and perf do:
//!
//! 1. by build-id: `/usr/lib/debug/.build-id/xx/rest.debug` (the first byte
//!    of the build-id in hex, then the rest);
//! 2. else by `.gnu_debuglink` (a file name and a CRC-32 of the debug
//!    file): next to the object, in its `.debug/` subdirectory, then under
//!    `/usr/lib/debug/<the object's directory>/`; a candidate whose CRC
//!    differs is not the object's debug file and is passed over.
//!
//! Debian's `libc6-dbg` installs the build-id files of libc and ld.so.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};

/// The root of the system's debug files.
pub const DEBUG_ROOT: &str = "/usr/lib/debug";

/// How a debug file was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugLink {
    BuildId,
    GnuDebuglink,
}

/// A debug file found for an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugFile {
    pub path: PathBuf,
    pub found_by: DebugLink,
}

/// Where the build-id debug file of `build_id` would be under `root`.
pub fn build_id_path(root: &Path, build_id: &[u8]) -> Option<PathBuf> {
    let (first, rest) = build_id.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let hex: String = rest.iter().map(|b| format!("{b:02x}")).collect();
    Some(
        root.join(".build-id")
            .join(format!("{first:02x}"))
            .join(format!("{hex}.debug")),
    )
}

/// The debug file of the object at `path` whose parsed ELF is `obj`
/// (`build_id` overrides the one in `obj`, e.g. the one a perf.data
/// recorded), looked up under [`DEBUG_ROOT`].
pub fn find_debug_file(
    path: &Path,
    obj: &object::File<'_>,
    build_id: Option<&[u8]>,
) -> Option<DebugFile> {
    find_debug_file_in(Path::new(DEBUG_ROOT), path, obj, build_id)
}

/// [`find_debug_file`] with another debug root (tests).
pub fn find_debug_file_in(
    root: &Path,
    path: &Path,
    obj: &object::File<'_>,
    build_id: Option<&[u8]>,
) -> Option<DebugFile> {
    let own_id = obj.build_id().ok().flatten();
    if let Some(p) = build_id.or(own_id).and_then(|id| build_id_path(root, id)) {
        if p.is_file() && p != path {
            return Some(DebugFile {
                path: p,
                found_by: DebugLink::BuildId,
            });
        }
    }
    let (name, crc) = obj.gnu_debuglink().ok().flatten()?;
    let name = Path::new(std::str::from_utf8(name).ok()?);
    let dir = path.parent().unwrap_or(Path::new("/"));
    let under_root = root.join(dir.strip_prefix("/").unwrap_or(dir));
    [
        dir.join(name),
        dir.join(".debug").join(name),
        under_root.join(name),
    ]
    .into_iter()
    .find(|c| c != path && c.is_file() && file_crc32(c) == Some(crc))
    .map(|path| DebugFile {
        path,
        found_by: DebugLink::GnuDebuglink,
    })
}

/// The CRC-32 (the one `.gnu_debuglink` records) of a file's bytes.
pub fn file_crc32(path: &Path) -> Option<u32> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: a read-only private mapping of a file only read here; a
    // concurrent truncation could fault, the risk every symbolizer takes.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    Some(crc32fast::hash(&bytes))
}

/// Whether the ELF has a `.symtab` with any symbol (a stripped library has
/// only `.dynsym`).
pub fn has_symtab(obj: &object::File<'_>) -> bool {
    obj.section_by_name(".symtab").is_some_and(|s| s.size() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_path_splits_first_byte() {
        let p = build_id_path(Path::new("/r"), &[0x93, 0xac, 0x61]).unwrap();
        assert_eq!(p, Path::new("/r/.build-id/93/ac61.debug"));
        assert!(build_id_path(Path::new("/r"), &[0x93]).is_none());
        assert!(build_id_path(Path::new("/r"), &[]).is_none());
    }

    #[test]
    fn crc_is_the_debuglink_crc() {
        // The zlib CRC-32 of "123456789" is 0xcbf43926.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"123456789").unwrap();
        assert_eq!(file_crc32(&f), Some(0xcbf4_3926));
    }

    /// The system libc, when libc6-dbg is installed: its debug file is
    /// found by build-id and holds a `.symtab` the library lacks.
    #[test]
    fn system_libc_debug_file_by_build_id() {
        let libc = Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6");
        let Ok(bytes) = std::fs::read(libc) else {
            println!("SKIP: no {}", libc.display());
            return;
        };
        let obj = object::File::parse(&*bytes).unwrap();
        let Some(found) = find_debug_file(libc, &obj, None) else {
            println!("SKIP: no debug file for libc (apt-get install libc6-dbg)");
            return;
        };
        assert_eq!(found.found_by, DebugLink::BuildId);
        let dbg = std::fs::read(&found.path).unwrap();
        assert!(has_symtab(&object::File::parse(&*dbg).unwrap()));
    }

    /// A debuglink is followed only when the CRC matches: a stripped copy
    /// of this test binary linked (objcopy) to its debug file.
    #[test]
    fn debuglink_found_next_to_object_and_checks_crc() {
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let dbg = dir.path().join("t.debug");
        let stripped = dir.path().join("t");
        let objcopy = |args: &[&std::ffi::OsStr]| {
            std::process::Command::new("objcopy")
                .args(args)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !objcopy(&[
            "--only-keep-debug".as_ref(),
            exe.as_os_str(),
            dbg.as_os_str(),
        ]) {
            println!("SKIP: objcopy (binutils) is not usable here");
            return;
        }
        let link = format!("--add-gnu-debuglink={}", dbg.display());
        assert!(objcopy(&[
            "--strip-all".as_ref(),
            link.as_ref(),
            exe.as_os_str(),
            stripped.as_os_str()
        ]));
        let bytes = std::fs::read(&stripped).unwrap();
        let obj = object::File::parse(&*bytes).unwrap();
        assert!(!has_symtab(&obj));
        let root = tempfile::tempdir().unwrap();
        let found = find_debug_file_in(root.path(), &stripped, &obj, None).unwrap();
        assert_eq!(found.path, dbg);
        assert_eq!(found.found_by, DebugLink::GnuDebuglink);
        // Another file under that name: its CRC differs, it is not used.
        std::fs::write(&dbg, b"not the debug file").unwrap();
        assert_eq!(find_debug_file_in(root.path(), &stripped, &obj, None), None);
    }
}
