//! What writers leave beside their outputs, and who is writing now.
//!
//! A bundle `NAME` is built in `.NAME.tmp-PID` (locked with `flock` by its
//! writer for as long as it lives); when it replaces an earlier bundle, the
//! earlier one is renamed to `NAME.old` first (or, when `NAME.old` is
//! something other than a bundle, waits in `.NAME.old-PID` for a moment). A rendered file
//! `F` is written as `.F.tmp-PID` and an earlier `F` waits in `.F.bak-PID`
//! while a set of files is renamed. Renames of a bundle happen under an
//! `flock` of the parent directory, so a writer that holds that lock sees
//! every `.NAME.old-PID` as left by a killed writer.
//!
//! After a SIGKILL the next writer of the same name sweeps: a staging
//! directory that no live writer holds is removed; an earlier bundle caught
//! in `.NAME.old-PID` is put back (at `NAME` if that is empty, else at
//! `NAME.old`), never deleted; a file caught in `.F.bak-PID` is put back
//! when `F` is missing.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::schema::RUN_JSON;

/// An `flock` on a directory, released when dropped (and by the kernel
/// when the process dies, even by SIGKILL).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: fs::File,
}

/// Lock `dir` exclusively. `wait` blocks until it is free; otherwise
/// `Ok(None)` says another open file holds it.
pub(crate) fn lock_dir(dir: &Path, wait: bool) -> io::Result<Option<DirLock>> {
    let f = fs::File::open(dir)?;
    let op = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    // SAFETY: flock() on a descriptor this function owns; no memory is
    // touched.
    let r = unsafe { libc::flock(f.as_raw_fd(), op) };
    if r == 0 {
        return Ok(Some(DirLock { _file: f }));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(None)
    } else {
        Err(e)
    }
}

/// The process `pid` exists.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A staging directory of `NAME` held by a live writer.
#[derive(Debug)]
pub(crate) struct Busy {
    /// Its process.
    pub pid: u32,
}

/// What a sweep did, for the note the writer prints.
#[derive(Debug, Default)]
pub(crate) struct Swept {
    /// Staging directories removed.
    pub removed_dirs: Vec<PathBuf>,
    /// Temporary files removed.
    pub removed_files: Vec<PathBuf>,
    /// (from, to): earlier bundles or files put back.
    pub restored: Vec<(PathBuf, PathBuf)>,
}

/// `(pid, is_old)` when `file_name` is `.NAME.tmp-PID` (false) or
/// `.NAME.old-PID` (true).
fn staging_pid(file_name: &str, name: &str) -> Option<(u32, bool)> {
    let (tmp, old) = (format!(".{name}.tmp-"), format!(".{name}.old-"));
    if let Some(p) = file_name.strip_prefix(&tmp) {
        return p.parse().ok().map(|p| (p, false));
    }
    file_name
        .strip_prefix(&old)
        .and_then(|p| p.parse().ok())
        .map(|p| (p, true))
}

/// Sweep what killed writers of bundle `NAME` left in `parent` (the
/// caller holds the parent's lock); `Err` when a live writer holds a
/// staging directory of the same name.
pub(crate) fn sweep_bundle(parent: &Path, name: &str, kept: &Path) -> Result<Swept, Busy> {
    let own = std::process::id();
    let mut swept = Swept::default();
    let Ok(entries) = fs::read_dir(parent) else {
        return Ok(swept);
    };
    let mut tmp_dirs = Vec::new();
    let mut olds = Vec::new();
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, is_old)) = staging_pid(&file_name, name) else {
            continue;
        };
        if pid == own {
            continue;
        }
        let path = e.path();
        if is_old {
            olds.push(path);
        } else if path.is_dir() {
            // A live writer holds its staging directory's lock.
            if alive(pid) && matches!(lock_dir(&path, false), Ok(None)) {
                return Err(Busy { pid });
            }
            tmp_dirs.push(path);
        } else if !alive(pid) {
            tmp_dirs.push(path);
        }
    }
    let final_dir = parent.join(name);
    for old in olds {
        if !old.join(RUN_JSON).is_file() {
            tmp_dirs.push(old);
            continue;
        }
        // The earlier bundle of a writer killed while replacing it: back
        // at NAME when that is empty, else it is the newest earlier bundle
        // and becomes NAME.old. Never deleted.
        let to = if final_dir.join(RUN_JSON).is_file() {
            if kept.join(RUN_JSON).is_file() {
                let _ = fs::remove_dir_all(kept);
            }
            kept.to_path_buf()
        } else {
            let _ = fs::remove_dir(&final_dir);
            final_dir.clone()
        };
        if !to.exists() && fs::rename(&old, &to).is_ok() {
            swept.restored.push((old, to));
        }
    }
    for path in tmp_dirs {
        if path.is_dir() {
            if fs::remove_dir_all(&path).is_ok() {
                swept.removed_dirs.push(path);
            }
        } else if fs::remove_file(&path).is_ok() {
            swept.removed_files.push(path);
        }
    }
    swept.removed_dirs.sort();
    Ok(swept)
}

/// Sweep what killed writers of the file `path` left beside it: their
/// `.F.tmp-PID` files are removed and an earlier `F` caught in
/// `.F.bak-PID` is put back when `F` is missing.
pub(crate) fn sweep_file(path: &Path, swept: &mut Swept) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let (tmp, bak) = (format!(".{name}.tmp-"), format!(".{name}.bak-"));
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let (pid, is_bak) = match (file_name.strip_prefix(&tmp), file_name.strip_prefix(&bak)) {
            (Some(p), _) => (p.parse::<u32>().ok(), false),
            (_, Some(p)) => (p.parse::<u32>().ok(), true),
            _ => continue,
        };
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || alive(pid) || !e.path().is_file() {
            continue;
        }
        if is_bak && !path.exists() && fs::rename(e.path(), path).is_ok() {
            swept.restored.push((e.path(), path.to_path_buf()));
        } else if fs::remove_file(e.path()).is_ok() {
            swept.removed_files.push(e.path());
        }
    }
}

/// One line saying what a sweep removed and put back, if anything.
pub(crate) fn swept_note(swept: &Swept) -> Option<String> {
    let mut parts = Vec::new();
    let kinds = [
        (
            &swept.removed_dirs,
            "staging directory",
            "staging directories",
        ),
        (&swept.removed_files, "temporary file", "temporary files"),
    ];
    for (paths, one, many) in kinds {
        if let Some(first) = paths.first() {
            let n = paths.len();
            parts.push(format!(
                "removed {n} {} left by a killed earlier run ({}{})",
                if n == 1 { one } else { many },
                first.display(),
                if n > 1 { ", ..." } else { "" }
            ));
        }
    }
    for (from, to) in &swept.restored {
        parts.push(format!(
            "put back {} from {}, where a killed earlier run had left it",
            to.display(),
            from.display()
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
