//! Memory sources: live processes, raw image files and the sentry's memory
//! file. Each is opened into regions (a mapping, or the whole file), lists
//! the byte runs of a region that are backed (resident pages, file data
//! extents) and reads runs of bytes into a buffer.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::classify::{classify_mapping, MappingKind};
use super::granule::{SharingError, PAGE_SIZE};
use super::sys::{process_vm_readv, seek_data_or_hole, MAX_IOVECS};
use crate::proc_maps::parse_maps;

/// A source named by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A live process. `range` (start, end) restricts the scan to the part
    /// of its mappings inside those addresses.
    Process { pid: i32, range: Option<(u64, u64)> },
    /// A raw memory image file.
    Image { path: PathBuf },
    /// The sentry's memory file saved by `sentryprof run --keep-memory`.
    SentryMemoryFile { path: PathBuf },
}

impl SourceSpec {
    /// A whole live process.
    pub fn process(pid: i32) -> Self {
        SourceSpec::Process { pid, range: None }
    }
}

/// What kind of source a scanned source was (the JSON spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Process,
    Image,
    SentryMemoryFile,
}

/// A contiguous part of a source: one mapping of a process, or a whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub kind: MappingKind,
    /// Mapping path or pseudo-name, or the file's path.
    pub name: String,
    /// Address (processes) or file offset (files) of the first byte.
    pub start: u64,
    pub len: u64,
}

/// Why reading failed.
#[derive(Debug)]
pub enum ReadError {
    /// The process exited (or became a zombie): nothing more can be read.
    Vanished,
    /// This range could not be read (unmapped since, a device mapping, EIO).
    Fault(io::Error),
}

/// A run of bytes to read: `len` bytes at `offset` into region `region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub region: u32,
    pub offset: u64,
    pub len: usize,
}

/// An opened source.
#[derive(Debug)]
pub struct OpenSource {
    /// "pid 1234 (python3)", "image /tmp/a.img", ...
    pub label: String,
    pub kind: SourceKind,
    pub pid: Option<i32>,
    pub path: Option<PathBuf>,
    pub regions: Vec<Region>,
    /// Things the user should know about how this source was read.
    pub notes: Vec<String>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    Process(ProcessMemory),
    File(File),
}

#[derive(Debug)]
struct ProcessMemory {
    pid: i32,
    pagemap: Option<File>,
    /// `/proc/PID/mem`, used when `process_vm_readv` is refused.
    mem: Option<File>,
}

impl OpenSource {
    /// Open a file source (image or sentry memory file). Errors name the
    /// file: a source the user named that cannot be read is bad input.
    pub fn open_file(path: &Path, kind: SourceKind) -> Result<OpenSource, SharingError> {
        let image_err = |source| SharingError::Image {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(image_err)?;
        let meta = file.metadata().map_err(image_err)?;
        if !meta.is_file() {
            return Err(SharingError::BadSource {
                path: path.to_path_buf(),
                problem: "not a regular file".to_string(),
            });
        }
        // Read one byte to find unreadable files (EIO, directories on odd fs).
        if meta.len() > 0 {
            let mut b = [0u8; 1];
            file.read_at(&mut b, 0).map_err(image_err)?;
        }
        let (region_kind, label) = match kind {
            SourceKind::SentryMemoryFile => (
                MappingKind::SentryMemoryFile,
                format!("sentry memory file {}", path.display()),
            ),
            _ => (MappingKind::Image, format!("image {}", path.display())),
        };
        Ok(OpenSource {
            label,
            kind,
            pid: None,
            path: Some(path.to_path_buf()),
            regions: vec![Region {
                kind: region_kind,
                name: "(whole file)".to_string(),
                start: 0,
                len: meta.len(),
            }],
            notes: Vec::new(),
            backend: Backend::File(file),
        })
    }

    /// Open a live process. The error is a one-line note naming the process
    /// (it does not exist, or its memory may not be read).
    pub fn open_process(pid: i32, range: Option<(u64, u64)>) -> Result<OpenSource, String> {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let comm = std::fs::read_to_string(proc_dir.join("comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        let label = if comm.is_empty() {
            format!("pid {pid}")
        } else {
            format!("pid {pid} ({comm})")
        };
        if pid <= 0 {
            return Err(format!("{label}: not a process id"));
        }
        let maps_text = std::fs::read_to_string(proc_dir.join("maps")).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                format!("{label}: no such process")
            } else {
                format!("{label}: cannot read /proc/{pid}/maps: {e}")
            }
        })?;
        let maps = parse_maps(&maps_text)
            .map_err(|e| format!("{label}: unreadable /proc/{pid}/maps: {e}"))?;
        let mut regions = Vec::new();
        for m in maps
            .iter()
            .filter(|m| m.readable() && m.path != "[vsyscall]")
        {
            let (mut start, mut end) = (m.start, m.end);
            if let Some((lo, hi)) = range {
                start = start.max(lo);
                end = end.min(hi);
            }
            // Page-align inwards (a range given by the user may not be).
            let start = start.div_ceil(PAGE_SIZE as u64) * PAGE_SIZE as u64;
            let end = end / PAGE_SIZE as u64 * PAGE_SIZE as u64;
            if end > start {
                regions.push(Region {
                    kind: classify_mapping(m),
                    name: if m.path.is_empty() {
                        "[anonymous]".to_string()
                    } else {
                        m.path.clone()
                    },
                    start,
                    len: end - start,
                });
            }
        }
        if regions.is_empty() {
            return Err(match range {
                Some((lo, hi)) => {
                    format!("{label}: no readable mapping between {lo:#x} and {hi:#x}")
                }
                None => format!("{label}: no readable mappings"),
            });
        }
        let mut notes = Vec::new();
        let pagemap = match File::open(proc_dir.join("pagemap")) {
            Ok(f) => Some(f),
            Err(e) => {
                notes.push(format!(
                    "{label}: /proc/{pid}/pagemap unreadable ({e}): scanning every mapped page, untouched ones read as zero"
                ));
                None
            }
        };
        let mut memory = ProcessMemory {
            pid,
            pagemap,
            mem: None,
        };
        // Probe one byte: tells "may not read" apart before any counting.
        let first = &regions[0];
        let mut probe = [0u8; 1];
        match process_vm_readv(pid, &mut probe, &[(first.start, 1)]) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                return Err(format!("{label}: no such process (it exited)"));
            }
            Err(vm_err) => {
                // Refused (EPERM, or ENOSYS under seccomp): try /proc/PID/mem.
                let mem = File::open(proc_dir.join("mem")).map_err(|e| {
                    format!(
                        "{label}: may not read its memory (process_vm_readv: {vm_err}; /proc/{pid}/mem: {e})"
                    )
                })?;
                if let Err(e) = mem.read_at(&mut probe, first.start) {
                    if e.raw_os_error() != Some(libc::EIO) {
                        return Err(format!(
                            "{label}: may not read its memory (process_vm_readv: {vm_err}; /proc/{pid}/mem: {e})"
                        ));
                    }
                }
                notes.push(format!(
                    "{label}: process_vm_readv refused ({vm_err}); reading /proc/{pid}/mem instead"
                ));
                memory.mem = Some(mem);
            }
        }
        Ok(OpenSource {
            label,
            kind: SourceKind::Process,
            pid: Some(pid),
            path: None,
            regions,
            notes,
            backend: Backend::Process(memory),
        })
    }

    /// Append to `out` the backed byte ranges (offset, len), relative to
    /// region `region`, within `offset..offset + len` of it: resident or
    /// swapped pages of a process, data extents of a file.
    ///
    /// Preconditions: `offset + len <= regions[region].len`; for processes
    /// `offset` is page-aligned.
    /// Postconditions: ranges are ascending, disjoint and inside the window.
    pub fn backed_ranges(
        &mut self,
        region: usize,
        offset: u64,
        len: u64,
        out: &mut Vec<(u64, u64)>,
        scratch: &mut Vec<u8>,
    ) -> Result<(), ReadError> {
        let r = &self.regions[region];
        let base = r.start + offset;
        match &mut self.backend {
            Backend::Process(p) => {
                let Some(pagemap) = &p.pagemap else {
                    out.push((offset, len));
                    return Ok(());
                };
                let pages = len.div_ceil(PAGE_SIZE as u64) as usize;
                scratch.resize(pages * 8, 0);
                let at = base / PAGE_SIZE as u64 * 8;
                if let Err(e) = pagemap.read_exact_at(scratch, at) {
                    return Err(if process_gone(p.pid) {
                        ReadError::Vanished
                    } else {
                        ReadError::Fault(e)
                    });
                }
                let mut run_start: Option<u64> = None;
                for (i, e) in scratch.chunks_exact(8).enumerate() {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(e);
                    let entry = u64::from_ne_bytes(word);
                    let backed = entry & (3 << 62) != 0; // present or swapped
                    let page_off = offset + (i * PAGE_SIZE) as u64;
                    match (backed, run_start) {
                        (true, None) => run_start = Some(page_off),
                        (false, Some(s)) => {
                            out.push((s, page_off - s));
                            run_start = None;
                        }
                        _ => {}
                    }
                }
                if let Some(s) = run_start {
                    out.push((s, offset + len - s));
                }
                Ok(())
            }
            Backend::File(file) => {
                let end = base + len;
                let mut pos = base;
                while pos < end {
                    let data = match seek_data_or_hole(file, pos, true) {
                        Ok(Some(d)) => d,
                        Ok(None) => break,
                        Err(_) => {
                            // No SEEK_DATA support: treat the rest as data.
                            out.push((pos - r.start, end - pos));
                            break;
                        }
                    };
                    if data >= end {
                        break;
                    }
                    let hole = match seek_data_or_hole(file, data, false) {
                        Ok(Some(h)) => h.min(end),
                        _ => end,
                    };
                    if hole > data {
                        out.push((data - r.start, hole - data));
                    }
                    pos = hole.max(data + 1);
                }
                Ok(())
            }
        }
    }

    /// Read `runs` back to back into the start of `buf`.
    ///
    /// Preconditions: the run lengths sum to at most `buf.len()`.
    /// Postconditions: returns the bytes filled and, when fewer than asked,
    /// why the byte at that position could not be read.
    pub fn read_runs(&mut self, runs: &[Run], buf: &mut [u8]) -> (usize, Option<ReadError>) {
        let mut filled = 0usize;
        let regions = &self.regions;
        let addr_of = |run: &Run| regions[run.region as usize].start + run.offset;
        match &mut self.backend {
            Backend::Process(p) => {
                if let Some(mem) = &p.mem {
                    for run in runs {
                        let dst = &mut buf[filled..filled + run.len];
                        if let Err(e) = mem.read_exact_at(dst, addr_of(run)) {
                            return (filled, Some(classify_failure(p.pid, e)));
                        }
                        filled += run.len;
                    }
                    return (filled, None);
                }
                let mut remote: Vec<(u64, usize)> = Vec::with_capacity(runs.len().min(MAX_IOVECS));
                for chunk in runs.chunks(MAX_IOVECS) {
                    remote.clear();
                    remote.extend(chunk.iter().map(|r| (addr_of(r), r.len)));
                    let want: usize = chunk.iter().map(|r| r.len).sum();
                    match process_vm_readv(p.pid, &mut buf[filled..], &remote) {
                        Ok(n) => {
                            filled += n;
                            if n < want {
                                let e = io::Error::from_raw_os_error(libc::EFAULT);
                                return (filled, Some(classify_failure(p.pid, e)));
                            }
                        }
                        Err(e) => return (filled, Some(classify_failure(p.pid, e))),
                    }
                }
                (filled, None)
            }
            Backend::File(file) => {
                for run in runs {
                    let dst = &mut buf[filled..filled + run.len];
                    if let Err(e) = file.read_exact_at(dst, addr_of(run)) {
                        return (filled, Some(ReadError::Fault(e)));
                    }
                    filled += run.len;
                }
                (filled, None)
            }
        }
    }

    /// Read `buf.len()` bytes at `offset` into region `region` (to re-read a
    /// representative of a content).
    pub fn read_at(&mut self, region: u32, offset: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let run = Run {
            region,
            offset,
            len: buf.len(),
        };
        match self.read_runs(&[run], buf) {
            (n, None) if n == buf.len() => Ok(()),
            (_, Some(e)) => Err(e),
            _ => Err(ReadError::Fault(io::Error::from(
                io::ErrorKind::UnexpectedEof,
            ))),
        }
    }

    /// Where a position of a region lies, for people: ("address", 0x...) for
    /// processes, ("file_offset", n) for files.
    pub fn position(&self, region: u32, offset: u64) -> u64 {
        self.regions[region as usize].start + offset
    }
}

/// ESRCH, or any failure once the process is gone, means it vanished.
fn classify_failure(pid: i32, e: io::Error) -> ReadError {
    if e.raw_os_error() == Some(libc::ESRCH) || process_gone(pid) {
        ReadError::Vanished
    } else {
        ReadError::Fault(e)
    }
}

/// Whether process `pid` no longer exists or is a zombie (no memory left).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            // "pid (comm) S ...": the state follows the last ')'.
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next());
            matches!(state, Some("Z") | Some("X") | Some("x"))
        }
    }
}
