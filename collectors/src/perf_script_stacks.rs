//! The stacks of a `perf script` fold, held as interned frame names: each
//! distinct name once, each stack a list of name ids. A stack line's text
//! after its address is named once (the rules of
//! [`push_frame_names`]) and its frames reused for
//! every later line with the same text; a comm is named once. The folded
//! stack strings are built once per distinct stack, at the end.

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
    /// Stack-line text after the address → its frames' range in
    /// `line_frames`; one map for Java comms (which name frames
    /// differently), one for others.
    lines: [FastMap<Box<str>, (u32, u32)>; 2],
    line_frames: Vec<u32>,
    /// Comm as written → the id of its frame name (spaces made `_`).
    comms: FastMap<Box<str>, u32>,
    stacks: FastMap<Box<[u32]>, u64>,
    /// Scratch for the names of one stack line met for the first time.
    scratch: Vec<String>,
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
        // What `stack_line_parts` reads depends only on the text after
        // the address and its space.
        let Some(rest) = after_address(line) else {
            return false;
        };
        let cache = usize::from(is_java);
        if let Some(&(start, end)) = self.lines[cache].get(rest) {
            frames.extend_from_slice(&self.line_frames[start as usize..end as usize]);
            return true;
        }
        let Some((_, sym, module)) = stack_line_parts(line) else {
            return false;
        };
        let mut names = std::mem::take(&mut self.scratch);
        names.clear();
        push_frame_names(sym, module, is_java, &mut names);
        let start = self.line_frames.len() as u32;
        for name in &names {
            let id = self.intern(name);
            self.line_frames.push(id);
        }
        self.scratch = names;
        let end = self.line_frames.len() as u32;
        self.lines[cache].insert(rest.into(), (start, end));
        frames.extend_from_slice(&self.line_frames[start as usize..end as usize]);
        true
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

/// The text after the address of a stack line and the space ending it
/// (`line.trim_start().split_once(' ')`'s second part), read byte by byte:
/// the address is short.
fn after_address(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t'))?;
    if bytes[start] >= 0x80 || bytes[start].is_ascii_whitespace() || bytes[start] == 0x0b {
        // Other white space: let `str` find where it ends.
        return line.trim_start().split_once(' ').map(|(_, rest)| rest);
    }
    let space = bytes[start..].iter().position(|&b| b == b' ')?;
    Some(&line[start + space + 1..])
}
