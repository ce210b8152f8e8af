//! User addresses → function names for one ELF object (executable or
//! shared library) through its DWARF (addr2line, inlined frames expanded)
//! or, without debug info, its symbol table; both read from the separate
//! debug file when one is installed ([`super::debug_file`]). Rust names are
//! demangled without their hashes.

use std::borrow::Cow;
use std::path::Path;

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};

/// A file-backed loadable segment: file offsets `[offset, offset+size)`
/// hold the bytes of virtual addresses `[address, address+size)`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    offset: u64,
    size: u64,
    address: u64,
}

/// One ELF object, opened for symbolization.
pub struct ElfObject {
    loader: addr2line::Loader,
    segments: Vec<Segment>,
    /// Function symbols (address, size, name) sorted by address: `.symtab`,
    /// or `.dynsym` for stripped libraries.
    symbols: Vec<(u64, u64, String)>,
}

impl std::fmt::Debug for ElfObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElfObject")
            .field("segments", &self.segments.len())
            .finish()
    }
}

/// Why an object could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ElfError {
    pub path: String,
    pub problem: String,
}

impl ElfObject {
    /// Open `path` (reads its program headers and prepares its DWARF).
    pub fn open(path: &Path) -> Result<Self, ElfError> {
        let err = |problem: String| ElfError {
            path: path.display().to_string(),
            problem,
        };
        // Map the file once to learn its segments and symbols (copied out);
        // addr2line's loader maps it again for the DWARF.
        let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        // SAFETY: a read-only private mapping of a file we only read while
        // `bytes` lives (this function); everything kept is copied out. If
        // another process truncates the file meanwhile, reads could fault,
        // the same risk every symbolizer (perf, addr2line) takes.
        let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| err(e.to_string()))?;
        let obj = object::File::parse(&*bytes).map_err(|e| err(e.to_string()))?;
        let segments = obj
            .segments()
            .filter_map(|s| {
                let (offset, size) = s.file_range();
                (size > 0).then_some(Segment {
                    offset,
                    size,
                    address: s.address(),
                })
            })
            .collect();
        // Symbols and DWARF from the separate debug file when there is one
        // (build-id, then .gnu_debuglink: `debug_file`), else the object's.
        let debug = super::debug_file::find_debug_file(path, &obj, None);
        let debug_bytes = match &debug {
            Some(d) => std::fs::File::open(&d.path)
                // SAFETY: as above, a read-only mapping only read here.
                .and_then(|f| unsafe { memmap2::Mmap::map(&f) })
                .ok(),
            None => None,
        };
        let debug_obj = debug_bytes
            .as_deref()
            .and_then(|b| object::File::parse(b).ok());
        let mut symbols = debug_obj.as_ref().map(text_symbols).unwrap_or_default();
        if symbols.is_empty() {
            symbols = text_symbols(&obj);
        }
        symbols.sort_by_key(|s| s.0);
        let dwarf_path = match (&debug, &debug_obj) {
            (Some(d), Some(_)) => d.path.as_path(),
            _ => path,
        };
        let loader = addr2line::Loader::new(dwarf_path).map_err(|e| err(e.to_string()))?;
        Ok(ElfObject {
            loader,
            segments,
            symbols,
        })
    }

    /// The virtual address (as stated in the file) of file offset `off`.
    pub fn file_offset_to_svma(&self, off: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| off >= s.offset && off < s.offset + s.size)
            .map(|s| off - s.offset + s.address)
    }

    /// Names of the functions at `svma`, outermost first (the function,
    /// then the functions inlined into it down to the innermost).
    pub fn frames(&self, svma: u64) -> Vec<String> {
        let mut names = Vec::new();
        if let Ok(mut it) = self.loader.find_frames(svma) {
            while let Ok(Some(frame)) = it.next() {
                if let Some(func) = frame.function {
                    if let Ok(name) = func.demangle() {
                        names.push(name.into_owned());
                    }
                }
            }
        }
        if names.is_empty() {
            if let Some(sym) = self.symbol(svma) {
                names.push(demangle(sym).into_owned());
            }
        }
        names.reverse();
        if let (Some(first), Some(label)) = (names.first_mut(), self.merged_label(svma)) {
            *first = label;
        }
        names
    }

    /// The Rust functions whose symbols share the start of the symbol
    /// holding `svma` (identical instances merged into one body by the
    /// compiler or linker), demangled, sorted, without repeats. Symbols of
    /// other languages at one address are one function's aliases
    /// (`mkdir`, `__mkdir`) and are not listed.
    pub fn merged_functions(&self, svma: u64) -> Vec<String> {
        let i = self.symbols.partition_point(|s| s.0 <= svma);
        let Some(hit) = i.checked_sub(1).and_then(|i| self.symbols.get(i)) else {
            return Vec::new();
        };
        if hit.1 != 0 && svma >= hit.0 + hit.1 {
            return Vec::new();
        }
        let start = self.symbols.partition_point(|s| s.0 < hit.0);
        let mut names: Vec<String> = self.symbols[start..]
            .iter()
            .take_while(|s| s.0 == hit.0)
            .filter(|s| rustc_demangle::try_demangle(&s.2).is_ok())
            .map(|s| demangle(&s.2).into_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The outermost frame's name when several Rust functions share its
    /// address: every name (up to 3), else the first 2 and how many more,
    /// so a flamegraph never blames one of them alone.
    fn merged_label(&self, svma: u64) -> Option<String> {
        let names = self.merged_functions(svma);
        match names.len() {
            0 | 1 => None,
            2 | 3 => Some(names.join(" | ")),
            n => Some(format!(
                "{} | {} | (+{} more at this address)",
                names[0],
                names[1],
                n - 2
            )),
        }
    }
}

impl ElfObject {
    /// The function symbol covering `svma` (a symbol of unknown size covers
    /// up to the next symbol).
    fn symbol(&self, svma: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|s| s.0 <= svma);
        let (start, size, name) = self.symbols.get(i.checked_sub(1)?)?;
        (*size == 0 || svma < start + size).then_some(name.as_str())
    }
}

/// Function symbols (address, size, name) of `.symtab`, or of `.dynsym`
/// when there is no `.symtab`.
fn text_symbols(obj: &object::File<'_>) -> Vec<(u64, u64, String)> {
    let collect = |syms: &mut dyn Iterator<Item = object::Symbol<'_, '_>>| {
        syms.filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .collect::<Vec<_>>()
    };
    let symbols = collect(&mut obj.symbols());
    if symbols.is_empty() {
        return collect(&mut obj.dynamic_symbols());
    }
    symbols
}

/// Demangle a symbol-table name: Rust (legacy or v0) without the hash,
/// anything else unchanged.
pub fn demangle(name: &str) -> Cow<'_, str> {
    match rustc_demangle::try_demangle(name) {
        Ok(d) => Cow::Owned(format!("{d:#}")),
        Err(_) => Cow::Borrowed(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn a_marker_function_for_symbolization(x: u64) -> u64 {
        std::hint::black_box(x.wrapping_mul(31).rotate_left(7))
    }

    #[test]
    fn demangles_without_hash() {
        assert_eq!(
            demangle("_ZN3std2rt19lang_start_internal17h540c897fe52ba9c5E"),
            "std::rt::lang_start_internal"
        );
        assert_eq!(demangle("memcpy"), "memcpy");
    }

    /// Where this test binary has Rust functions merged at one address,
    /// the frame names them all.
    #[test]
    fn merged_rust_functions_are_all_named() {
        let exe = std::env::current_exe().unwrap();
        let obj = ElfObject::open(&exe).unwrap();
        let Some(addr) = (obj.symbols.windows(2))
            .find(|w| w[0].0 == w[1].0 && obj.merged_functions(w[0].0).len() >= 2)
            .map(|w| w[0].0)
        else {
            println!("SKIP: no merged Rust functions in this test binary");
            return;
        };
        let merged = obj.merged_functions(addr);
        let outer = obj.frames(addr).first().cloned().unwrap_or_default();
        for n in merged.iter().take(2) {
            assert!(outer.contains(n.as_str()), "{outer} lacks {n}");
        }
        assert!(outer.contains(" | "), "{outer}");
    }

    #[test]
    fn symbolizes_a_function_of_this_test_binary() {
        let f: fn(u64) -> u64 = a_marker_function_for_symbolization;
        let addr = f as usize as u64;
        assert_eq!(a_marker_function_for_symbolization(1), f(1));
        let maps = super::super::maps::MemoryMap::this_process().unwrap();
        let m = maps.find(addr).expect("own code is mapped");
        let obj = ElfObject::open(Path::new(&m.path)).unwrap();
        let svma = obj.file_offset_to_svma(addr - m.start + m.pgoff).unwrap();
        let frames = obj.frames(svma);
        assert!(
            frames
                .last()
                .is_some_and(|n| n.ends_with("a_marker_function_for_symbolization")),
            "{frames:?}"
        );
    }
}
