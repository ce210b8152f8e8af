//! Guest / exit / sentry weight of the stacks through one flame path
//! (issue 13): each node's own weight gets the side its path from the root
//! gives (`flamegraph::boundary_split::SideTracker`, the rule the report's
//! per-point split uses), summed over the subtree. Computed on demand, in
//! one pass over the subtree's id range.

use flamegraph::boundary_split::{SideTracker, SideWeights};

use super::tree::{FlameTree, NodeId, ROOT};

/// The side weights of every stack through `id`.
pub fn path_split(tree: &FlameTree, id: NodeId) -> SideWeights {
    let mut weights = SideWeights::default();
    if tree.is_empty() {
        return weights;
    }
    let mut at = SideTracker::default();
    for n in tree.path(id) {
        at = at.push(tree.name(n));
    }
    // trackers[d]: the path's tracker at depth d below `id` (0 = `id`).
    let base = tree.node(id).depth;
    let mut trackers = vec![at];
    for n in id..tree.node(id).end {
        let node = tree.node(n);
        let d = (node.depth - base) as usize;
        if n != id {
            let parent = trackers[d - 1];
            trackers.truncate(d);
            trackers.push(parent.push(tree.name(n)));
        }
        if node.self_weight > 0 && n != ROOT {
            weights.add(trackers[d].side(), node.self_weight);
        }
    }
    weights
}
