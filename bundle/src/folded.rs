//! Folded stacks: `frame;frame;frame weight` per line, root first, the format
//! inferno and every flamegraph tool read. Parsing and writing live here so
//! collectors, renderers and the TUI agree on one format.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use thiserror::Error;

/// A malformed line of folded text.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FoldedError {
    #[error("{source_name}:{line}: {problem}")]
    Malformed {
        source_name: String,
        line: usize,
        problem: String,
    },
}

/// Folded stacks aggregated by stack: each distinct stack once, with the sum
/// of its weights. Stacks are kept sorted, so writing is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldedStacks {
    stacks: BTreeMap<String, u64>,
}

impl FoldedStacks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `weight` to the stack given as frames, root first. Semicolons in
    /// frame names would split them, so they are replaced by ':'.
    pub fn add_frames<S: AsRef<str>>(&mut self, frames: &[S], weight: u64) {
        if frames.is_empty() || weight == 0 {
            return;
        }
        let mut key = String::new();
        for (i, f) in frames.iter().enumerate() {
            if i > 0 {
                key.push(';');
            }
            let f = f.as_ref();
            if f.contains(';') {
                key.push_str(&f.replace(';', ":"));
            } else {
                key.push_str(f);
            }
        }
        self.add_joined(key, weight);
    }

    /// Add `weight` to a stack already joined with ';'.
    pub fn add_joined(&mut self, stack: String, weight: u64) {
        if weight == 0 {
            return;
        }
        *self.stacks.entry(stack).or_insert(0) += weight;
    }

    /// Merge another set of stacks into this one.
    pub fn merge(&mut self, other: &FoldedStacks) {
        for (s, w) in &other.stacks {
            *self.stacks.entry(s.clone()).or_insert(0) += *w;
        }
    }

    /// Distinct stacks.
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Sum of all weights.
    pub fn total_weight(&self) -> u64 {
        self.stacks.values().sum()
    }

    /// Stacks (joined with ';') and weights, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.stacks.iter().map(|(s, w)| (s.as_str(), *w))
    }

    /// Parse folded text. `source_name` names the input in errors. Blank
    /// lines are skipped; a line without a trailing integer weight, or with
    /// an empty stack, is an error carrying its line number.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, FoldedError> {
        let mut out = FoldedStacks::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |problem: &str| FoldedError::Malformed {
                source_name: source_name.to_string(),
                line: i + 1,
                problem: problem.to_string(),
            };
            let (stack, weight) = line
                .rsplit_once(' ')
                .ok_or_else(|| malformed("expected 'stack weight'"))?;
            let weight: u64 = weight
                .parse()
                .map_err(|_| malformed(&format!("weight {weight:?} is not a whole number")))?;
            let stack = stack.trim();
            if stack.is_empty() {
                return Err(malformed("empty stack"));
            }
            out.add_joined(stack.to_string(), weight);
        }
        Ok(out)
    }

    /// The folded text, one stack a line, sorted.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.stacks.len() * 64);
        for (stack, w) in &self.stacks {
            let _ = writeln!(s, "{stack} {w}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_aggregates_and_writes_sorted() {
        let f = FoldedStacks::parse("b;c 2\na 1\n\nb;c 3\n", "t").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f.total_weight(), 6);
        assert_eq!(f.to_text(), "a 1\nb;c 5\n");
    }

    #[test]
    fn frames_with_spaces_and_semicolons() {
        let mut f = FoldedStacks::new();
        f.add_frames(&["my comm", "ns::f;g", "h"], 4);
        assert_eq!(f.to_text(), "my comm;ns::f:g;h 4\n");
        let back = FoldedStacks::parse(&f.to_text(), "t").unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn malformed_lines_are_named() {
        let e = FoldedStacks::parse("a 1\nb x\n", "in.folded").unwrap_err();
        assert_eq!(
            e.to_string(),
            "in.folded:2: weight \"x\" is not a whole number"
        );
        let e = FoldedStacks::parse("nospace\n", "in").unwrap_err();
        assert!(e.to_string().starts_with("in:1:"));
    }
}
