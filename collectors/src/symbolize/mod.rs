//! Symbolization, done after sampling (never in the sampling path): user
//! addresses through the mapped ELF objects ([`elf`], with their separate
//! debug files: [`debug_file`]), kernel addresses
//! through `/proc/kallsyms` ([`kallsyms`]), guest addresses through a
//! platform-supplied [`guest::GuestSymbolMap`]. Every address is resolved
//! once and cached.

pub mod debug_file;
pub mod elf;
pub mod guest;
pub mod kallsyms;
pub mod maps;
pub mod process;
pub mod unwind;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bundle::KERNEL_FRAME_SUFFIX;

pub use elf::ElfObject;
pub use guest::{guest_frame_name, GuestSymbol, GuestSymbolMap};
pub use kallsyms::Kallsyms;
pub use maps::{Mapping, MemoryMap};
pub use process::ProcessView;

/// Cache key space for kernel addresses (user spaces are small indices).
const KERNEL_SPACE: u32 = u32::MAX;
/// Cache key space for guest addresses.
const GUEST_SPACE: u32 = u32::MAX - 1;

/// Resolves addresses to folded-stack text (frames joined with `;`,
/// outermost first, kernel frames suffixed `_[k]`, guest frames `_[g]`),
/// caching every answer.
#[derive(Default)]
pub struct Symbolizer {
    kernel: Option<Arc<Kallsyms>>,
    kernel_loaded: bool,
    guest: Option<GuestSymbolMap>,
    objects: HashMap<String, Option<ElfObject>>,
    cache: crate::fast_map::FastMap<(u32, u64), Arc<str>>,
    /// Objects that could not be opened, with why (reported once each).
    pub problems: Vec<String>,
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizer")
            .field("objects", &self.objects.len())
            .field("cached", &self.cache.len())
            .finish()
    }
}

fn sanitize(name: &str) -> String {
    if name.contains(';') {
        name.replace(';', ":")
    } else {
        name.to_string()
    }
}

impl Symbolizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this kallsyms table instead of reading `/proc/kallsyms`.
    pub fn with_kallsyms(mut self, k: Option<Kallsyms>) -> Self {
        self.kernel = k.map(Arc::new);
        self.kernel_loaded = true;
        self
    }

    /// Symbols for guest addresses.
    pub fn set_guest_symbols(&mut self, map: GuestSymbolMap) {
        self.guest = Some(map);
        self.cache.retain(|k, _| k.0 != GUEST_SPACE);
    }

    /// Distinct addresses resolved so far.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// A host kernel address.
    pub fn kernel(&mut self, addr: u64) -> Arc<str> {
        if let Some(s) = self.cache.get(&(KERNEL_SPACE, addr)) {
            return Arc::clone(s);
        }
        if !self.kernel_loaded {
            self.kernel = kallsyms::shared();
            self.kernel_loaded = true;
        }
        let name = match self.kernel.as_ref().and_then(|k| k.find(addr)) {
            Some(n) => format!("{}{KERNEL_FRAME_SUFFIX}", sanitize(n)),
            None => format!("[kernel.kallsyms]{KERNEL_FRAME_SUFFIX}"),
        };
        let s: Arc<str> = name.into();
        self.cache.insert((KERNEL_SPACE, addr), Arc::clone(&s));
        s
    }

    /// A guest address.
    pub fn guest(&mut self, addr: u64) -> Arc<str> {
        if let Some(s) = self.cache.get(&(GUEST_SPACE, addr)) {
            return Arc::clone(s);
        }
        let name = guest_frame_name(self.guest.as_ref(), addr);
        let s: Arc<str> = name.into();
        self.cache.insert((GUEST_SPACE, addr), Arc::clone(&s));
        s
    }

    /// A user address of address space `space` (an index chosen by the
    /// caller, stable for `maps`).
    pub fn user(&mut self, space: u32, maps: Option<&MemoryMap>, addr: u64) -> Arc<str> {
        if let Some(s) = self.cache.get(&(space, addr)) {
            return Arc::clone(s);
        }
        let name = self.resolve_user(maps, addr);
        let s: Arc<str> = name.into();
        self.cache.insert((space, addr), Arc::clone(&s));
        s
    }

    fn resolve_user(&mut self, maps: Option<&MemoryMap>, addr: u64) -> String {
        let Some(m) = maps.and_then(|m| m.find(addr)) else {
            return "[unknown]".to_string();
        };
        let base = m.path.rsplit('/').next().unwrap_or(&m.path);
        let fallback = format!("[{}]", sanitize(base));
        if m.path.starts_with('[') || m.path.is_empty() {
            return fallback;
        }
        let path = m.path.strip_suffix(" (deleted)").unwrap_or(&m.path);
        let off = addr - m.start + m.pgoff;
        if !self.objects.contains_key(path) {
            let obj = match ElfObject::open(Path::new(path)) {
                Ok(o) => Some(o),
                Err(e) => {
                    self.problems.push(e.to_string());
                    None
                }
            };
            self.objects.insert(path.to_string(), obj);
        }
        let Some(Some(obj)) = self.objects.get(path) else {
            return fallback;
        };
        let Some(svma) = obj.file_offset_to_svma(off) else {
            return fallback;
        };
        let frames = obj.frames(svma);
        if frames.is_empty() {
            return fallback;
        }
        let mut out = String::new();
        for (i, f) in frames.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            out.push_str(&sanitize(f));
        }
        out
    }
}
