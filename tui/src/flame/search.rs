//! Regex search over frame names: which nodes match and what share of the
//! samples passes through a match.

use regex::Regex;

use super::tree::{FlameTree, NodeId};

/// The nodes whose frame name matches a pattern.
#[derive(Debug, Clone)]
pub struct SearchMatches {
    /// The pattern as typed.
    pub pattern: String,
    /// Matching nodes in pre-order (left to right, callers first).
    pub nodes: Vec<NodeId>,
    /// Per interned name: does it match.
    name_matches: Vec<bool>,
}

impl SearchMatches {
    /// Match `re` against every interned name once, then collect the nodes.
    pub fn find(tree: &FlameTree, pattern: &str, re: &Regex) -> SearchMatches {
        let name_matches: Vec<bool> = tree
            .names()
            .iter()
            .enumerate()
            .map(|(i, n)| i != 0 && re.is_match(n))
            .collect();
        let nodes = (1..tree.len() as NodeId)
            .filter(|&id| name_matches[tree.node(id).name as usize])
            .collect();
        SearchMatches {
            pattern: pattern.to_string(),
            nodes,
            name_matches,
        }
    }

    /// Whether node `id` matches.
    pub fn is_match(&self, tree: &FlameTree, id: NodeId) -> bool {
        self.name_matches
            .get(tree.node(id).name as usize)
            .copied()
            .unwrap_or(false)
    }

    /// Weight of the samples inside `within` that pass through at least one
    /// match (nested matches counted once), and the weight of `within`.
    pub fn matched_weight(&self, tree: &FlameTree, within: NodeId) -> (u64, u64) {
        let mut sum = 0u64;
        let mut covered_end: NodeId = 0;
        let start = self.nodes.partition_point(|&n| n < within);
        for &id in &self.nodes[start..] {
            if !tree.is_within(id, within) {
                break;
            }
            if id < covered_end {
                continue;
            }
            let node = tree.node(id);
            sum += node.total;
            covered_end = node.end;
        }
        (sum, tree.node(within).total)
    }

    /// The first match after `sel` in pre-order, wrapping around.
    pub fn next_after(&self, sel: NodeId) -> Option<NodeId> {
        let i = self.nodes.partition_point(|&n| n <= sel);
        self.nodes.get(i).or_else(|| self.nodes.first()).copied()
    }

    /// The last match before `sel` in pre-order, wrapping around.
    pub fn prev_before(&self, sel: NodeId) -> Option<NodeId> {
        let i = self.nodes.partition_point(|&n| n < sel);
        if i == 0 {
            self.nodes.last().copied()
        } else {
            self.nodes.get(i - 1).copied()
        }
    }
}
