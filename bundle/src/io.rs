//! Writing and reading bundles: atomic creation, version checks, clear errors.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::schema::{RunJson, FORMAT_MAJOR, RUN_JSON};
use crate::staging::{self, DirLock, Swept};

/// Errors from reading or writing a bundle. Each names the file concerned.
#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{path}: {}", io_text(source))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a sentryprof bundle (no {RUN_JSON})")]
    NotABundle { path: PathBuf },
    #[error("{path}: corrupt run.json: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: bundle format version {found} is not readable by this sentryprof (reads {FORMAT_MAJOR}.x)")]
    Version { path: PathBuf, found: String },
    #[error("{path}: {field} names {rel:?}, which is outside the bundle (only relative paths inside it are read)")]
    OutsideBundle {
        path: PathBuf,
        field: String,
        rel: String,
    },
    #[error(
        "{path}: output already exists and is not a sentryprof bundle; refusing to replace it"
    )]
    WouldClobber { path: PathBuf },
    #[error("{path}: another sentryprof (pid {pid}) is writing this bundle now; wait for it to end or choose another --out")]
    Busy { path: PathBuf, pid: u32 },
}

/// An I/O error as its message says it, with the errno's name for the
/// ones a user acts on: `No space left on device (ENOSPC, os error 28)`.
fn io_text(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::ENOSPC) => "ENOSPC",
        Some(libc::EDQUOT) => "EDQUOT",
        Some(libc::EROFS) => "EROFS",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EPERM) => "EPERM",
        Some(libc::EIO) => "EIO",
        _ => return e.to_string(),
    };
    e.to_string()
        .replacen("(os error", &format!("({name}, os error"), 1)
}

impl BundleError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        BundleError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory and
/// a rename, so `path` is either its old content or the whole new content,
/// never empty or partial. Returns a note when temporary files of a killed
/// earlier writer were swept first ([`write_files_atomic`]).
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<Option<String>, BundleError> {
    write_files_atomic(&[(path.to_path_buf(), bytes)])
}

/// Write several files all or nothing: every one goes to a temporary file
/// beside its final path first (written and synced); only when all are
/// written are they renamed into place. A failure while writing (a full
/// disk) removes the temporary files and leaves every final path as it was.
/// A SIGKILL leaves each final path whole, old or new; the next writer of
/// the same files sweeps what was left and returns one line saying so.
pub fn write_files_atomic(files: &[(PathBuf, &[u8])]) -> Result<Option<String>, BundleError> {
    let mut swept = Swept::default();
    for (path, _) in files {
        staging::sweep_file(path, &mut swept);
    }
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    let result = (|| {
        for (path, bytes) in files {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            fs::create_dir_all(&dir).map_err(|e| BundleError::io(&dir, e))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let tmp = dir.join(format!(
                ".{}.tmp-{}",
                name.unwrap_or_else(|| "out".into()),
                std::process::id()
            ));
            staged.push((tmp.clone(), path));
            let write = || -> std::io::Result<()> {
                let mut f = fs::File::create(&tmp)?;
                f.write_all(bytes)?;
                f.sync_all()
            };
            write().map_err(|e| BundleError::io(path, e))?;
        }
        Ok(())
    })()
    .and_then(|()| rename_all(&staged));
    for (tmp, _) in &staged {
        let _ = fs::remove_file(tmp);
    }
    result.map(|()| staging::swept_note(&swept))
}

/// Rename every temporary file onto its final path; on a failure, put back
/// what the earlier renames replaced (or removed what they created).
fn rename_all(staged: &[(PathBuf, &Path)]) -> Result<(), BundleError> {
    // (final path, where its earlier file was moved to, if it had one)
    let mut done: Vec<(&Path, Option<PathBuf>)> = Vec::new();
    let mut result = Ok(());
    for (tmp, path) in staged {
        let had_file = fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
        let bak = had_file.then(|| bak_path(path));
        if let Some(b) = &bak {
            if let Err(e) = fs::rename(path, b) {
                result = Err(BundleError::io(path, e));
                break;
            }
        }
        if let Err(e) = fs::rename(tmp, path) {
            if let Some(b) = &bak {
                let _ = fs::rename(b, path);
            }
            result = Err(BundleError::io(path, e));
            break;
        }
        done.push((path, bak));
    }
    for (path, bak) in done.into_iter().rev() {
        match (&result, bak) {
            (Ok(()), Some(b)) => {
                let _ = fs::remove_file(b);
            }
            (Ok(()), None) => {}
            (Err(_), Some(b)) => {
                let _ = fs::rename(b, path);
            }
            (Err(_), None) => {
                let _ = fs::remove_file(path);
            }
        }
    }
    result
}

/// `.F.bak-PID` beside `path`: where its earlier file waits while a set is
/// renamed.
fn bak_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(
        ".{}.bak-{}",
        name.unwrap_or_else(|| "out".into()),
        std::process::id()
    ))
}

/// Check, before any work, that a bundle may be written at `dir`: it does
/// not exist, is an empty directory, or is an earlier bundle. Anything else
/// (a file, a directory with other content) would be lost and is refused.
pub fn check_out_dir(dir: &Path) -> Result<(), BundleError> {
    // An earlier bundle is kept as NAME.old: that path must be free for it.
    let old = old_path(dir);
    if dir.join(RUN_JSON).is_file() && old.exists() && !old.join(RUN_JSON).is_file() {
        return Err(BundleError::WouldClobber { path: old });
    }
    if dir.exists() && !dir.join(RUN_JSON).is_file() {
        let empty_dir = fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty_dir {
            return Err(BundleError::WouldClobber {
                path: dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Where the earlier bundle at `dir` is kept when a new one replaces it:
/// `NAME.old` beside it (as perf keeps `perf.data.old`).
pub fn old_path(dir: &Path) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "bundle".into());
    name.push(".old");
    dir.with_file_name(name)
}

/// A bundle being written. Files go into a temporary directory beside the
/// final path, locked while this writer lives; [`finish`](Self::finish)
/// writes `run.json` and renames the directory into place. Dropping it
/// unfinished removes the temporary directory and leaves any earlier bundle
/// at the final path untouched.
#[derive(Debug)]
pub struct BundleWriter {
    final_dir: PathBuf,
    tmp_dir: PathBuf,
    finished: bool,
    swept: Swept,
    _lock: Option<DirLock>,
}

/// The directory a bundle at `dir` is renamed in.
fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl BundleWriter {
    /// Start a bundle that will end up at `dir`. Fails if `dir` exists and is
    /// something other than an earlier bundle (it will not be replaced).
    pub fn create(dir: &Path) -> Result<Self, BundleError> {
        check_out_dir(dir)?;
        let parent = parent_of(dir);
        fs::create_dir_all(&parent).map_err(|e| BundleError::io(&parent, e))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".to_string());
        let tmp_dir = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        // Under the parent's lock: no other writer is renaming a bundle
        // here, and none can claim this name between the sweep and our
        // staging directory's lock.
        let parent_lock = staging::lock_dir(&parent, true).ok().flatten();
        let swept = staging::sweep_bundle(&parent, &name, &old_path(dir)).map_err(|b| {
            BundleError::Busy {
                path: dir.to_path_buf(),
                pid: b.pid,
            }
        })?;
        // Errors name the output asked for, not the hidden staging path.
        if tmp_dir.exists() {
            fs::remove_dir_all(&tmp_dir).map_err(|e| BundleError::io(dir, e))?;
        }
        fs::create_dir_all(&tmp_dir).map_err(|e| BundleError::io(dir, e))?;
        let lock = staging::lock_dir(&tmp_dir, false).ok().flatten();
        drop(parent_lock);
        Ok(BundleWriter {
            final_dir: dir.to_path_buf(),
            tmp_dir,
            finished: false,
            swept,
            _lock: lock,
        })
    }

    /// One line saying that the output holds an earlier bundle and where
    /// it will be kept, if it does.
    pub fn replace_note(&self) -> Option<String> {
        self.final_dir.join(RUN_JSON).is_file().then(|| {
            format!(
                "{} holds an earlier bundle: it is kept as {} once this one is complete",
                self.final_dir.display(),
                old_path(&self.final_dir).display()
            )
        })
    }

    /// One line saying which staging directories of killed earlier writers
    /// [`create`](Self::create) removed, and which earlier bundle it put
    /// back, if any.
    pub fn stale_note(&self) -> Option<String> {
        staging::swept_note(&self.swept)
    }

    /// Where the bundle will be once finished.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// The temporary directory files are written into before `finish`.
    pub fn staging_dir(&self) -> &Path {
        &self.tmp_dir
    }

    /// Write a file (relative path) into the bundle being built.
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<(), BundleError> {
        let path = self.tmp_dir.join(rel);
        let shown = self.final_dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| BundleError::io(&shown, e))?;
        }
        fs::write(&path, bytes).map_err(|e| BundleError::io(&shown, e))
    }

    /// Write `run.json` and move the bundle into place, replacing an earlier
    /// bundle at the same path only now that the new one is complete; the
    /// earlier one is kept as `NAME.old` ([`old_path`]).
    pub fn finish(mut self, run: &RunJson) -> Result<PathBuf, BundleError> {
        let json = serde_json::to_vec_pretty(run).map_err(|e| BundleError::Corrupt {
            path: self.final_dir.join(RUN_JSON),
            source: e,
        })?;
        self.write_file(RUN_JSON, &json)?;
        // The renames under the parent's lock: a writer that gets the lock
        // sees a `.NAME.old-PID` only when its writer was killed here.
        let parent = parent_of(&self.final_dir);
        let _parent_lock = staging::lock_dir(&parent, true).ok().flatten();
        let kept = old_path(&self.final_dir);
        let old = if self.final_dir.exists() {
            // The earlier bundle goes straight to NAME.old (an older
            // NAME.old is replaced now rather than after the new bundle is
            // in place, as perf replaces perf.data.old when it starts): a
            // SIGKILL between the two renames then leaves the earlier
            // bundle at NAME.old, where a user looks, and no bundle at NAME.
            if kept.join(RUN_JSON).is_file() {
                let _ = fs::remove_dir_all(&kept);
            }
            let to = if kept.exists() {
                // NAME.old is something else: keep the earlier bundle in
                // `.NAME.old-PID` for the moment (the next writer's sweep
                // puts it back if this one is killed).
                parent.join(format!(
                    ".{}.old-{}",
                    self.final_dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::process::id()
                ))
            } else {
                kept.clone()
            };
            fs::rename(&self.final_dir, &to).map_err(|e| BundleError::io(&self.final_dir, e))?;
            Some(to)
        } else {
            None
        };
        if let Err(e) = fs::rename(&self.tmp_dir, &self.final_dir) {
            if let Some(old) = &old {
                let _ = fs::rename(old, &self.final_dir);
            }
            return Err(BundleError::io(&self.final_dir, e));
        }
        if let Some(old) = old.filter(|o| *o != kept) {
            // If NAME.old still cannot take it, it stays in `.NAME.old-PID`
            // for the next writer's sweep: an earlier bundle is never
            // deleted.
            let _ = fs::rename(&old, &kept);
        }
        self.finished = true;
        Ok(self.final_dir.clone())
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

/// A bundle read from disk.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    /// The bundle's directory, as messages and rendered files name it.
    pub dir: PathBuf,
    pub run: RunJson,
    /// Where its files are while it is still being written (the staging
    /// directory of a [`BundleWriter`]); None for a bundle in place.
    pub staging: Option<PathBuf>,
}

impl LoadedBundle {
    /// A bundle being written to `dir` whose files are still in `staging`:
    /// read from there, named as `dir` in messages and rendered files.
    pub fn staged(dir: &Path, staging: &Path, run: RunJson) -> Self {
        LoadedBundle {
            dir: dir.to_path_buf(),
            run,
            staging: Some(staging.to_path_buf()),
        }
    }

    /// Path to read a file of the bundle given relative to it.
    pub fn path_of(&self, rel: &str) -> PathBuf {
        self.staging.as_ref().unwrap_or(&self.dir).join(rel)
    }

    /// Path of a file of the bundle as messages name it (under [`Self::dir`]).
    pub fn shown_path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Read a file of the bundle (relative path) as text. A path that leaves
    /// the bundle (absolute, `..`, or a symbolic link pointing out of it) is
    /// refused.
    pub fn read_text(&self, rel: &str) -> Result<String, BundleError> {
        let outside = || BundleError::OutsideBundle {
            path: self.dir.join(RUN_JSON),
            field: "a file name".to_string(),
            rel: rel.to_string(),
        };
        if !is_inside_rel(rel) {
            return Err(outside());
        }
        let p = self.path_of(rel);
        let root = self.staging.as_ref().unwrap_or(&self.dir);
        if let (Ok(real), Ok(root)) = (fs::canonicalize(&p), fs::canonicalize(root)) {
            if !real.starts_with(&root) {
                return Err(outside());
            }
        }
        fs::read_to_string(&p).map_err(|e| BundleError::io(&self.shown_path(rel), e))
    }
}

/// True when `rel` is a non-empty relative path made of plain names only
/// (no root, no drive prefix, no `..`): joined to a directory it stays in it.
pub fn is_inside_rel(rel: &str) -> bool {
    use std::path::Component;
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Every relative path `run.json` names must stay inside the bundle.
fn check_paths_inside(run: &RunJson, json_path: &Path) -> Result<(), BundleError> {
    let mut named: Vec<(String, &str)> = Vec::new();
    if let Some(p) = &run.profile {
        named.push(("profile.folded".to_string(), &p.folded));
    }
    for (i, pt) in run.points.iter().enumerate() {
        if let Some(f) = &pt.folded {
            named.push((format!("points[{i}].folded"), f));
        }
        for (k, f) in pt.trial_folded.iter().enumerate() {
            named.push((format!("points[{i}].trial_folded[{k}]"), f));
        }
    }
    for (i, f) in run.files.iter().enumerate() {
        named.push((format!("files[{i}]"), f));
    }
    match named.into_iter().find(|(_, rel)| !is_inside_rel(rel)) {
        Some((field, rel)) => Err(BundleError::OutsideBundle {
            path: json_path.to_path_buf(),
            field,
            rel: rel.to_string(),
        }),
        None => Ok(()),
    }
}

/// Read a bundle directory (or a `run.json` path), checking its format
/// version: any minor of this build's major is accepted.
pub fn read_bundle(path: &Path) -> Result<LoadedBundle, BundleError> {
    let (dir, json_path) = if path.is_dir() {
        (path.to_path_buf(), path.join(RUN_JSON))
    } else if path.file_name().map(|n| n == RUN_JSON).unwrap_or(false) {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    } else if !path.exists() {
        return Err(BundleError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such bundle"),
        ));
    } else {
        return Err(BundleError::NotABundle {
            path: path.to_path_buf(),
        });
    };
    if !json_path.is_file() {
        return Err(BundleError::NotABundle { path: dir });
    }
    let bytes = fs::read(&json_path).map_err(|e| BundleError::io(&json_path, e))?;
    let run = parse_run_json(&bytes, &json_path)?;
    Ok(LoadedBundle {
        dir,
        run,
        staging: None,
    })
}

/// Parse the bytes of a `run.json` (`json_path` names it in errors): the
/// format version first, then the schema, then every path it names must stay
/// inside the bundle. The entry point of `read_bundle` and of the fuzz target.
pub fn parse_run_json(bytes: &[u8], json_path: &Path) -> Result<RunJson, BundleError> {
    // Check the version before the full schema, so a newer major is reported
    // as such rather than as a schema mismatch.
    let version: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| BundleError::Corrupt {
            path: json_path.to_path_buf(),
            source: e,
        })?;
    let (found, major) = describe_version(version.get("format_version"));
    if major != Some(FORMAT_MAJOR) {
        return Err(BundleError::Version {
            path: json_path.to_path_buf(),
            found,
        });
    }
    let run: RunJson = serde_json::from_value(version).map_err(|e| BundleError::Corrupt {
        path: json_path.to_path_buf(),
        source: e,
    })?;
    check_paths_inside(&run, json_path)?;
    Ok(run)
}

/// What a `format_version` field holds, as the error message shows it, and
/// its major when it is a string `"M.m"`.
fn describe_version(v: Option<&serde_json::Value>) -> (String, Option<u32>) {
    match v {
        None => ("(the format_version field is missing)".to_string(), None),
        Some(serde_json::Value::String(s)) => (
            format!("{s:?}"),
            s.split('.').next().and_then(|m| m.parse::<u32>().ok()),
        ),
        Some(other) => (
            format!(
                "{other} (a JSON {}, expected a string like \"{FORMAT_MAJOR}.0\")",
                json_kind(other)
            ),
            None,
        ),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{BundleKind, Point};

    #[test]
    fn round_trip_and_atomic_replace() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("b");
        let mut run = RunJson::new(BundleKind::Run);
        run.points.push(Point {
            platform: "inproc".into(),
            mapping: "private".into(),
            ..Point::default()
        });
        let w = BundleWriter::create(&dir).unwrap();
        w.write_file("stacks.folded", b"a;b 1\n").unwrap();
        w.finish(&run).unwrap();
        let b = read_bundle(&dir).unwrap();
        assert_eq!(b.run.points.len(), 1);
        assert_eq!(b.read_text("stacks.folded").unwrap(), "a;b 1\n");

        // An unfinished writer leaves the earlier bundle as it was.
        let w = BundleWriter::create(&dir).unwrap();
        w.write_file("stacks.folded", b"x 2\n").unwrap();
        drop(w);
        assert_eq!(
            read_bundle(&dir)
                .unwrap()
                .read_text("stacks.folded")
                .unwrap(),
            "a;b 1\n"
        );
        let leftovers: Vec<_> = fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary directory left behind");
    }

    #[test]
    fn newer_major_is_refused_by_name() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join(RUN_JSON), r#"{"format_version":"2.0"}"#).unwrap();
        let err = read_bundle(root.path()).unwrap_err().to_string();
        assert!(err.contains("run.json") && err.contains("2.0"), "{err}");
    }

    #[test]
    fn numeric_or_missing_version_names_what_was_found() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join(RUN_JSON), r#"{"format_version":1}"#).unwrap();
        let err = read_bundle(root.path()).unwrap_err().to_string();
        assert!(err.contains("version 1 (a JSON number"), "{err}");
        fs::write(root.path().join(RUN_JSON), r#"{"kind":"run"}"#).unwrap();
        let err = read_bundle(root.path()).unwrap_err().to_string();
        assert!(err.contains("format_version field is missing"), "{err}");
        assert!(!err.contains("\"\""), "{err}");
    }

    #[test]
    fn paths_read_from_a_bundle_stay_inside_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("b");
        fs::write(root.path().join("secret"), b"s 1\n").unwrap();
        let mut run = RunJson::new(BundleKind::Run);
        run.profile = Some(crate::schema::ProfileInfo {
            event: "cycles".into(),
            folded: "../../../../etc/passwd".into(),
            ..Default::default()
        });
        let w = BundleWriter::create(&dir).unwrap();
        w.finish(&run).unwrap();
        let err = read_bundle(&dir).unwrap_err().to_string();
        assert!(
            err.contains("profile.folded") && err.contains("outside the bundle"),
            "{err}"
        );
        run.profile = None;
        run.files = vec!["/etc/passwd".into()];
        fs::write(dir.join(RUN_JSON), serde_json::to_vec(&run).unwrap()).unwrap();
        assert!(read_bundle(&dir)
            .unwrap_err()
            .to_string()
            .contains("files[0]"));
        // A symbolic link inside the bundle that points out of it.
        run.files.clear();
        fs::write(dir.join(RUN_JSON), serde_json::to_vec(&run).unwrap()).unwrap();
        std::os::unix::fs::symlink(root.path().join("secret"), dir.join("link.folded")).unwrap();
        let b = read_bundle(&dir).unwrap();
        let err = b.read_text("link.folded").unwrap_err().to_string();
        assert!(err.contains("outside the bundle"), "{err}");
        assert!(b.read_text("../secret").is_err());
    }

    #[test]
    fn errors_name_the_output_not_its_staging_path() {
        let err = BundleWriter::create(Path::new("/proc/sentryprof-x"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/proc/sentryprof-x:"), "{err}");
        assert!(!err.contains(".tmp-"), "{err}");
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("b");
        let w = BundleWriter::create(&dir).unwrap();
        fs::write(w.staging_dir().join("sub"), b"a file").unwrap();
        let err = w.write_file("sub/x.svg", b"").unwrap_err().to_string();
        assert!(
            err.contains(&*dir.join("sub/x.svg").to_string_lossy()),
            "{err}"
        );
        let staged = LoadedBundle::staged(&dir, w.staging_dir(), RunJson::new(BundleKind::Run));
        let err = staged.read_text("missing.folded").unwrap_err().to_string();
        assert!(
            err.starts_with(&*dir.join("missing.folded").to_string_lossy()),
            "{err}"
        );
    }

    #[test]
    fn stale_staging_of_dead_processes_is_removed_with_a_note() {
        let root = tempfile::tempdir().unwrap();
        // A process that has exited: its pid is free (until reused).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = root.path().join(format!(".b.tmp-{dead}"));
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join("stacks.folded"), b"x 1\n").unwrap();
        // One of a live process that does not hold its lock is stale too
        // (a reused pid): a live writer always holds it.
        let unlocked = root
            .path()
            .join(format!(".b.tmp-{}", std::os::unix::process::parent_id()));
        fs::create_dir(&unlocked).unwrap();
        let w = BundleWriter::create(&root.path().join("b")).unwrap();
        assert!(!stale.exists() && !unlocked.exists());
        let note = w.stale_note().unwrap();
        assert!(
            note.contains("removed 2 staging directories") && note.contains(".b.tmp-"),
            "{note}"
        );
        drop(w);
        let w = BundleWriter::create(&root.path().join("b")).unwrap();
        assert!(w.stale_note().is_none());
    }

    /// A pid that was in use and is now free (until reused).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn a_bundle_another_live_writer_holds_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let held = root
            .path()
            .join(format!(".b.tmp-{}", std::os::unix::process::parent_id()));
        fs::create_dir(&held).unwrap();
        let lock = staging::lock_dir(&held, false).unwrap();
        assert!(lock.is_some());
        let err = BundleWriter::create(&root.path().join("b")).unwrap_err();
        assert!(matches!(err, BundleError::Busy { .. }), "{err}");
        assert!(
            err.to_string().contains("is writing this bundle now"),
            "{err}"
        );
        assert!(held.exists(), "a live writer's staging is never swept");
        drop(lock);
        // Another test thread's child, between its fork and exec, may hold
        // a copy of the lock's descriptor for a moment: the lock is free
        // once that child has exec'd (the descriptor is close-on-exec).
        let freed = (0..100).any(|_| {
            let ok = BundleWriter::create(&root.path().join("b")).is_ok();
            if !ok {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            ok
        });
        assert!(freed, "the bundle stays refused after its writer let go");
    }

    #[test]
    fn a_bundle_caught_mid_replace_by_a_kill_is_put_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("b");
        // Killed after moving the earlier bundle aside, before the new one
        // took its place: b is missing, its bundle waits in .b.old-PID.
        let caught = root.path().join(format!(".b.old-{}", dead_pid()));
        fs::create_dir(&caught).unwrap();
        fs::write(caught.join(RUN_JSON), b"{}").unwrap();
        let w = BundleWriter::create(&dir).unwrap();
        assert!(dir.join(RUN_JSON).is_file() && !caught.exists());
        let note = w.stale_note().unwrap();
        assert!(
            note.contains("put back") && note.contains("b from"),
            "{note}"
        );
        drop(w);
        // Killed after the new one took its place: the caught one is the
        // newest earlier bundle and becomes b.old.
        let caught = root.path().join(format!(".b.old-{}", dead_pid()));
        fs::create_dir(&caught).unwrap();
        fs::write(caught.join(RUN_JSON), b"{}").unwrap();
        fs::write(caught.join("mark"), b"newest").unwrap();
        let _w = BundleWriter::create(&dir).unwrap();
        assert_eq!(fs::read(root.path().join("b.old/mark")).unwrap(), b"newest");
        assert!(dir.join(RUN_JSON).is_file() && !caught.exists());
    }

    #[test]
    fn temporary_files_of_a_killed_writer_are_swept_with_a_note() {
        let root = tempfile::tempdir().unwrap();
        let dead = dead_pid();
        let report = root.path().join("report.txt");
        let tmp = root.path().join(format!(".report.txt.tmp-{dead}"));
        let bak = root.path().join(format!(".report.txt.bak-{dead}"));
        fs::write(&tmp, b"half").unwrap();
        fs::write(&bak, b"earlier").unwrap();
        // Killed between moving report.txt aside and the new one in: the
        // earlier one is put back, then replaced whole.
        let note = write_file_atomic(&report, b"new").unwrap().unwrap();
        assert!(note.contains("removed 1 temporary file"), "{note}");
        assert!(note.contains("put back"), "{note}");
        assert_eq!(fs::read(&report).unwrap(), b"new");
        let left: Vec<_> = fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "report.txt only: {left:?}");
        assert!(write_file_atomic(&report, b"again").unwrap().is_none());
    }

    #[test]
    fn a_replaced_bundle_is_kept_as_old() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("b");
        let write = |body: &[u8]| {
            let w = BundleWriter::create(&dir).unwrap();
            w.write_file("stacks.folded", body).unwrap();
            w.finish(&RunJson::new(BundleKind::Run)).unwrap();
        };
        write(b"first 1\n");
        assert!(BundleWriter::create(&dir).unwrap().replace_note().is_some());
        write(b"second 1\n");
        let old = root.path().join("b.old");
        assert_eq!(fs::read(old.join("stacks.folded")).unwrap(), b"first 1\n");
        write(b"third 1\n");
        assert_eq!(fs::read(old.join("stacks.folded")).unwrap(), b"second 1\n");
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            2,
            "b and b.old only"
        );
        // A b.old that is not a bundle is not replaced: refused up front.
        fs::remove_dir_all(&old).unwrap();
        fs::write(&old, b"precious").unwrap();
        assert!(matches!(
            BundleWriter::create(&dir),
            Err(BundleError::WouldClobber { .. })
        ));
    }

    #[test]
    fn a_set_of_files_is_written_all_or_nothing() {
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("report.txt");
        fs::write(&a, b"old").unwrap();
        // The second file cannot be written (its directory is a file).
        fs::write(root.path().join("blocked"), b"").unwrap();
        let files: Vec<(PathBuf, &[u8])> = vec![
            (a.clone(), b"new"),
            (root.path().join("blocked/x.csv"), b"x"),
        ];
        let err = write_files_atomic(&files).unwrap_err().to_string();
        assert!(err.contains("blocked"), "{err}");
        assert_eq!(fs::read(&a).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        // A final path taken by a directory fails at the renames: the
        // earlier renamed file is put back.
        fs::create_dir(root.path().join("dir.csv")).unwrap();
        let files2: Vec<(PathBuf, &[u8])> =
            vec![(a.clone(), b"new"), (root.path().join("dir.csv"), b"x")];
        assert!(write_files_atomic(&files2).is_err());
        assert_eq!(fs::read(&a).unwrap(), b"old");
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 3);
        write_files_atomic(&files[..1]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new");
    }

    #[test]
    fn corrupt_and_missing_are_named() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join(RUN_JSON), b"{not json").unwrap();
        assert!(matches!(
            read_bundle(root.path()),
            Err(BundleError::Corrupt { .. })
        ));
        let missing = root.path().join("nope");
        assert!(read_bundle(&missing)
            .unwrap_err()
            .to_string()
            .contains("nope"));
    }

    #[test]
    fn refuses_to_clobber_a_non_bundle() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("precious.txt"), b"keep").unwrap();
        assert!(matches!(
            BundleWriter::create(root.path()),
            Err(BundleError::WouldClobber { .. })
        ));
    }
}
