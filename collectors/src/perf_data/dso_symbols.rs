//! Symbol tables built as perf builds them for `perf script`, so an import
//! names frames as `perf script` does:
//!
//! - the symbols of the object's debug file when one is installed
//!   (`symbolize::debug_file`: build-id, then `.gnu_debuglink`), else its
//!   own `.symtab`, else `.dynsym`; no DWARF, so no inlined frames;
//! - functions (`STT_FUNC`, `STT_GNU_IFUNC`), objects, and untyped labels
//!   in `text`/`data` sections that are not hidden; nothing absolute or
//!   outside allocated sections;
//! - addresses moved to file offsets through the object's loadable
//!   program headers (a sample's file offset is `ip - map start + pgoff`);
//! - a symbol of size 0 reaches the next symbol; several symbols at one
//!   address keep one, chosen as perf chooses (sized over unsized, strong
//!   over weak, global over local, fewer leading `_`, longer name);
//! - `NAME@plt` entries made from `.rela.plt` (perf 6.1's rule);
//! - names demangled: Rust without its hash, C++ without parameters.
//!
//! The kernel's table is `/proc/kallsyms`, sizeless symbols reaching the
//! next one, the last of several at one address kept (as perf shows them).

use std::path::Path;

use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader, SectionHeader, Sym};
use object::Endianness;

use crate::symbolize::debug_file::find_debug_file;

const STB_LOCAL: u8 = 0;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;

/// One symbol: `[start, end)` in the table's address space.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Symbol {
    start: u64,
    end: u64,
    binding: u8,
    name: String,
}

/// Which of several symbols at one address a table keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dupes {
    /// perf's `choose_best_symbol` (ELF tables).
    PerfChoice,
    /// The last one listed: kallsyms, where perf keeps them all but gives
    /// the earlier ones an empty range.
    Last,
}

/// A perf-like symbol table.
#[derive(Debug, Default)]
pub struct SymbolTable {
    syms: Vec<Symbol>,
}

fn leading_underscores(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b'_').count()
}

/// Whether perf keeps `a` over `b` of the same start (perf's
/// `choose_best_symbol`).
fn keep_first(a: &Symbol, b: &Symbol) -> bool {
    let (sa, sb) = (a.end - a.start, b.end - b.start);
    if sa > 0 && sb == 0 {
        return true;
    }
    if sa == 0 && sb > 0 {
        return false;
    }
    let (wa, wb) = (a.binding == STB_WEAK, b.binding == STB_WEAK);
    if wa != wb {
        return wb;
    }
    let (ga, gb) = (a.binding == STB_GLOBAL, b.binding == STB_GLOBAL);
    if ga != gb {
        return ga;
    }
    let (ua, ub) = (leading_underscores(&a.name), leading_underscores(&b.name));
    if ua != ub {
        return ua < ub;
    }
    a.name.len() >= b.name.len()
}

impl SymbolTable {
    /// Sort, drop duplicates of one address as perf does, extend sizeless
    /// symbols to the next one (the last to the end of its page + 4 KiB).
    fn finish(mut syms: Vec<Symbol>, dupes: Dupes) -> Self {
        syms.sort_by_key(|s| s.start); // stable: insertion order within a start
        let mut kept: Vec<Symbol> = Vec::with_capacity(syms.len());
        for s in syms {
            match kept.last_mut() {
                Some(last) if last.start == s.start => {
                    if dupes == Dupes::Last || !keep_first(last, &s) {
                        *last = s;
                    }
                }
                _ => kept.push(s),
            }
        }
        for i in 0..kept.len() {
            if kept[i].end == kept[i].start {
                kept[i].end = match kept.get(i + 1) {
                    Some(next) => next.start,
                    None => (kept[i].start / 4096 + 1) * 4096 + 4096,
                };
            }
        }
        SymbolTable { syms: kept }
    }

    /// The name of the symbol holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&str> {
        let i = self.syms.partition_point(|s| s.start <= addr);
        let s = self.syms.get(i.checked_sub(1)?)?;
        (addr < s.end).then_some(s.name.as_str())
    }

    pub fn len(&self) -> usize {
        self.syms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }

    /// The table of the ELF object `bytes` (read from `path`), with its
    /// debug file looked up by `build_id` (the recorded one) or its own.
    pub fn from_elf(path: &Path, bytes: &[u8], build_id: Option<&[u8]>) -> Option<Self> {
        let runtime = ElfFile64::<Endianness>::parse(bytes).ok()?;
        let generic = object::File::parse(bytes).ok()?;
        let debug =
            find_debug_file(path, &generic, build_id).and_then(|d| std::fs::read(d.path).ok());
        let from_debug = debug
            .as_deref()
            .and_then(|d| ElfFile64::<Endianness>::parse(d).ok())
            .and_then(|d| read_symbols(&d, &runtime, true));
        let syms = match from_debug {
            Some(s) => s,
            None => read_symbols(&runtime, &runtime, true)
                .or_else(|| read_symbols(&runtime, &runtime, false))?,
        };
        let mut table = Self::finish(syms, Dupes::PerfChoice);
        // perf adds the PLT entries after fixing ends and duplicates.
        table.syms.extend(plt_symbols(&runtime).unwrap_or_default());
        table.syms.sort_by_key(|s| s.start);
        Some(table)
    }

    /// The kernel's table from the text of `/proc/kallsyms`.
    pub fn from_kallsyms(text: &str) -> Option<Self> {
        let mut syms = Vec::new();
        for line in text.lines() {
            let mut it = line.split_ascii_whitespace();
            let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Some(ty) = ty.chars().next() else {
                continue;
            };
            if !matches!(ty.to_ascii_uppercase(), 'T' | 'W') {
                continue;
            }
            let Ok(start) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if start == 0 {
                continue;
            }
            let binding = match ty {
                'W' | 'w' => STB_WEAK,
                c if c.is_ascii_uppercase() => STB_GLOBAL,
                _ => STB_LOCAL,
            };
            syms.push(Symbol {
                start,
                end: start,
                binding,
                name: name.to_string(),
            });
        }
        (!syms.is_empty()).then(|| Self::finish(syms, Dupes::Last))
    }
}

/// The symbols of `file`'s `.symtab` (`symtab`) or `.dynsym`, their
/// addresses moved to file offsets with `runtime`'s program headers. None
/// when that table is missing or empty.
fn read_symbols(
    file: &ElfFile64<'_, Endianness>,
    runtime: &ElfFile64<'_, Endianness>,
    symtab: bool,
) -> Option<Vec<Symbol>> {
    let endian = file.endian();
    let data = file.data();
    let sections = file.elf_section_table();
    let kind = if symtab {
        elf::SHT_SYMTAB
    } else {
        elf::SHT_DYNSYM
    };
    let table = sections.symbols(endian, data, kind).ok()?;
    if table.is_empty() {
        return None;
    }
    let rt_endian = runtime.endian();
    let phdrs = runtime
        .elf_header()
        .program_headers(rt_endian, runtime.data())
        .ok()?;
    let mut out = Vec::new();
    for sym in table.symbols() {
        let ty = sym.st_type();
        let shndx = sym.st_shndx(endian);
        if sym.st_name(endian) == 0 || shndx == elf::SHN_UNDEF || shndx == elf::SHN_ABS {
            continue;
        }
        let is_func = ty == elf::STT_FUNC || ty == elf::STT_GNU_IFUNC;
        let is_label = ty == elf::STT_NOTYPE
            && sym.st_visibility() != elf::STV_HIDDEN
            && sym.st_visibility() != elf::STV_INTERNAL;
        if !(is_func || ty == elf::STT_OBJECT || is_label) {
            continue;
        }
        let Ok(section) = sections.section(object::SectionIndex(usize::from(shndx.0))) else {
            continue;
        };
        if section.sh_flags(endian).0 & elf::SHF_ALLOC.0 == 0 {
            continue;
        }
        if is_label {
            let name = sections.section_name(endian, section).unwrap_or(b"");
            let has = |w: &[u8]| name.windows(w.len()).any(|x| x == w);
            if !has(b"text") && !has(b"data") {
                continue;
            }
        }
        let value: u64 = sym.st_value(endian);
        let shift = phdrs
            .iter()
            .find(|p| {
                p.p_type(rt_endian) == elf::PT_LOAD && {
                    let v: u64 = p.p_vaddr(rt_endian);
                    let sz: u64 = p.p_memsz(rt_endian).max(p.p_filesz(rt_endian));
                    sz > 0 && value >= v && value < v + sz
                }
            })
            .map(|p| p.p_vaddr(rt_endian).wrapping_sub(p.p_offset(rt_endian)))
            .unwrap_or_else(|| {
                section
                    .sh_addr(endian)
                    .wrapping_sub(section.sh_offset(endian))
            });
        let Ok(raw) = table.symbol_name(endian, sym) else {
            continue;
        };
        let raw = String::from_utf8_lossy(raw);
        let start = value.wrapping_sub(shift);
        let size: u64 = sym.st_size(endian);
        out.push(Symbol {
            start,
            end: start.saturating_add(size),
            binding: sym.st_bind().0,
            name: demangle(&raw),
        });
    }
    (!out.is_empty()).then_some(out)
}

/// `NAME@plt` for each entry of `.plt`, as perf 6.1 makes them: the
/// `.rela.plt` (or `.rel.plt`) relocations in order, each naming its
/// `.dynsym` symbol, one `sh_entsize` entry each after the PLT's header
/// entry, at file offsets.
fn plt_symbols(file: &ElfFile64<'_, Endianness>) -> Option<Vec<Symbol>> {
    let endian = file.endian();
    let data = file.data();
    let sections = file.elf_section_table();
    let (_, plt) = sections.section_by_name(endian, b".plt")?;
    let (_, rel) = sections
        .section_by_name(endian, b".rela.plt")
        .or_else(|| sections.section_by_name(endian, b".rel.plt"))?;
    let dynsym = sections.symbols(endian, data, elf::SHT_DYNSYM).ok()?;
    if rel.sh_link(endian) as usize != dynsym.section().0 {
        return None;
    }
    let entry: u64 = plt.sh_entsize(endian);
    if entry == 0 {
        return None;
    }
    let sym_indices: Vec<u32> = match rel.rela(endian, data).ok()? {
        Some((relas, _)) => relas.iter().map(|r| r.r_sym(endian, false)).collect(),
        None => rel
            .rel(endian, data)
            .ok()??
            .0
            .iter()
            .map(|r| r.r_sym(endian))
            .collect(),
    };
    let mut at = plt.sh_offset(endian) + entry;
    let mut out = Vec::with_capacity(sym_indices.len());
    for i in sym_indices {
        // Index 0 (an IRELATIVE slot) names nothing: perf shows `@plt`.
        let name = match i {
            0 => &b""[..],
            _ => dynsym
                .symbol(object::SymbolIndex(i as usize))
                .and_then(|sym| dynsym.symbol_name(endian, sym))
                .unwrap_or(b""),
        };
        out.push(Symbol {
            start: at,
            end: at + entry,
            binding: STB_GLOBAL,
            name: format!("{}@plt", demangle(&String::from_utf8_lossy(name))),
        });
        at += entry;
    }
    Some(out)
}

/// Rust names without their hash (as perf prints them), C++ names without
/// their parameters (perf demangles without `DMGL_PARAMS`), others as is.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return format!("{d:#}");
    }
    if name.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(name) {
            let opts = cpp_demangle::DemangleOptions::new().no_params();
            if let Ok(d) = sym.demangle_with_options(&opts) {
                return d;
            }
        }
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(start: u64, size: u64, binding: u8, name: &str) -> Symbol {
        Symbol {
            start,
            end: start + size,
            binding,
            name: name.into(),
        }
    }

    #[test]
    fn duplicates_resolved_as_perf_does() {
        // mkdir (weak), __mkdir (local), __GI___mkdir (local), one address:
        // strong beats weak, then equal underscores, then the longer name.
        let t = SymbolTable::finish(
            vec![
                s(100, 10, STB_WEAK, "mkdir"),
                s(100, 10, STB_LOCAL, "__mkdir"),
                s(100, 10, STB_LOCAL, "__GI___mkdir"),
                s(200, 0, STB_GLOBAL, "sizeless"),
                s(300, 8, STB_GLOBAL, "last"),
            ],
            Dupes::PerfChoice,
        );
        assert_eq!(t.find(105), Some("__GI___mkdir"));
        assert_eq!(t.find(110), None); // the gap after a sized symbol
        assert_eq!(t.find(299), Some("sizeless"));
        assert_eq!(t.find(307), Some("last"));
        assert_eq!(t.find(308), None);
        let g = SymbolTable::finish(
            vec![
                s(0, 4, STB_LOCAL, "a_local_long_name"),
                s(0, 4, STB_GLOBAL, "g"),
            ],
            Dupes::PerfChoice,
        );
        assert_eq!(g.find(1), Some("g"));
    }

    #[test]
    fn kallsyms_sizeless_until_next_and_last_alias_wins() {
        // As perf shows `__pi_memcpy` where kallsyms lists `memcpy` first.
        let t = SymbolTable::from_kallsyms(
            "ffffffff81000000 T _stext\nffffffff81000100 T memcpy\nffffffff81000100 T __pi_memcpy\nffffffff81000050 D data_x\n",
        )
        .unwrap();
        assert_eq!(t.find(0xffffffff81000050), Some("_stext"));
        assert_eq!(t.find(0xffffffff81000150), Some("__pi_memcpy"));
    }

    #[test]
    fn demangles_like_perf() {
        assert_eq!(
            demangle("_ZN3std2rt19lang_start_internal17h540c897fe52ba9c5E"),
            "std::rt::lang_start_internal"
        );
        assert_eq!(demangle("_ZN3foo3barEi"), "foo::bar");
        assert_eq!(demangle("memcpy"), "memcpy");
    }
}
