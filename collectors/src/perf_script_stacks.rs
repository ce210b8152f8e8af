//! The stacks of a `perf script` fold, held as interned frame names: each
//! distinct name once, each stack a list of name ids. A stack line's
//! symbol (without its offset) and module are named once (the rules of
//! [`push_frame_names`]) and their frames reused for every later line of
//! the same function; a comm is named once. The folded stack strings are
//! built once per distinct stack, at the end.

use std::collections::HashMap;

use crate::fast_map::FastMap;
use crate::perf_script_line::stack_line_parts;
use crate::perf_script_names::push_frame_names;

/// Frame names, the frames each stack-line text gives, and the weight of
/// each stack (comm id first, then frame ids leaf first).
#[derive(Default)]
pub(crate) struct StackTable {
    /// Name of each id.
    names: Vec<Box<str>>,
    ids: FastMap<Box<str>, u32>,
    /// `MODULE SYMBOL` of a stack line, the symbol without its `+0x`
    /// offset → its frames' range in `line_frames`; one map for Java comms
    /// (which name frames differently), one for others.
    lines: [FastMap<Box<str>, (u32, u32)>; 2],
    line_frames: Vec<u32>,
    /// Comm as written → the id of its frame name (spaces made `_`).
    comms: FastMap<Box<str>, u32>,
    stacks: FastMap<Box<[u32]>, u64>,
    /// Scratch for the names of one stack line met for the first time.
    scratch: Vec<String>,
    /// Scratch for a `lines` key.
    key: String,
}

impl StackTable {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    /// The name id of the comm's root frame (spaces become `_`).
    pub(crate) fn comm(&mut self, comm: &str) -> u32 {
        if let Some(&id) = self.comms.get(comm) {
            return id;
        }
        let name = comm.replace(' ', "_");
        let id = self.intern(&name);
        self.comms.insert(comm.into(), id);
        id
    }

    /// Push the frames of stack line `line` (leaf first) onto `frames`;
    /// false (nothing pushed) when it is not a stack line.
    pub(crate) fn push_line(&mut self, line: &str, is_java: bool, frames: &mut Vec<u32>) -> bool {
        let Some((_, sym, module)) = stack_line_parts(line) else {
            return false;
        };
        // The names depend on the module and the symbol without its
        // offset: one entry for all the addresses of a function.
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        key.push_str(module);
        key.push(' ');
        key.push_str(without_offset(sym));
        let cache = usize::from(is_java);
        let found = self.lines[cache].get(key.as_str()).copied();
        let (start, end) = match found {
            Some(range) => range,
            None => {
                let range = self.name_line(sym, module, is_java);
                self.lines[cache].insert(key.as_str().into(), range);
                range
            }
        };
        self.key = key;
        frames.extend_from_slice(&self.line_frames[start as usize..end as usize]);
        true
    }

    /// Name the frames of a stack line's symbol and module; their range
    /// in `line_frames`.
    fn name_line(&mut self, sym: &str, module: &str, is_java: bool) -> (u32, u32) {
        let mut names = std::mem::take(&mut self.scratch);
        names.clear();
        push_frame_names(sym, module, is_java, &mut names);
        let start = self.line_frames.len() as u32;
        for name in &names {
            let id = self.intern(name);
            self.line_frames.push(id);
        }
        self.scratch = names;
        (start, self.line_frames.len() as u32)
    }

    /// Add `weight` to the stack `key` (comm id, then frame ids leaf first).
    pub(crate) fn add(&mut self, key: &[u32], weight: u64) {
        match self.stacks.get_mut(key) {
            Some(w) => *w += weight,
            None => {
                self.stacks.insert(key.into(), weight);
            }
        }
    }

    /// The folded stacks: `comm;root;...;leaf` → weight. Stacks of other
    /// ids that read the same are added together.
    pub(crate) fn into_folded(self) -> HashMap<String, u64> {
        let mut out: HashMap<String, u64> = HashMap::with_capacity(self.stacks.len());
        for (key, weight) in self.stacks {
            let Some((&comm, frames)) = key.split_first() else {
                continue;
            };
            let name = |id: u32| &*self.names[id as usize];
            let len = name(comm).len() + frames.iter().map(|&f| name(f).len() + 1).sum::<usize>();
            let mut s = String::with_capacity(len);
            s.push_str(name(comm));
            for &f in frames.iter().rev() {
                s.push(';');
                s.push_str(name(f));
            }
            *out.entry(s).or_insert(0) += weight;
        }
        out
    }
}

/// `sym` without the `+0x...` offset [`push_frame_names`] strips (the
/// last `+0x` followed by hex digits only), found from the end without a
/// substring search.
fn without_offset(sym: &str) -> &str {
    let hex = sym.bytes().rev().take_while(u8::is_ascii_hexdigit).count();
    let head = &sym[..sym.len() - hex];
    head.strip_suffix("+0x").unwrap_or(sym)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stripped_as_push_frame_names_strips_them() {
        for (sym, want) in [
            ("main+0x20", "main"),
            ("main+0x", "main"),
            ("f+0x0+0x1f", "f+0x0"),
            ("a+0x12+0xzz", "a+0x12+0xzz"),
            ("a+0x0x5", "a+0x0x5"),
            ("h0x1", "h0x1"),
            ("[unknown]", "[unknown]"),
            ("+0xab", ""),
            ("caf\u{e9}+0xab", "caf\u{e9}"),
        ] {
            assert_eq!(without_offset(sym), want, "{sym}");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            push_frame_names(sym, "m", false, &mut a);
            push_frame_names(want, "m", false, &mut b);
            if !want.contains("+0x") {
                assert_eq!(a, b, "{sym}");
            }
        }
    }
}
