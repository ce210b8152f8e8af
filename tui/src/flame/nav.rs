//! Moving the selection around the flame tree: up to the caller, down to the
//! heaviest callee, left and right among the frames of the same depth.
//!
//! Pre-order numbering makes the frames of one depth appear left to right in
//! id order, so "next frame at this depth" is a forward scan that skips
//! whole subtrees.

use super::tree::{FlameTree, NodeId};

/// The caller of `sel`, but never above `zoom`.
pub fn up(tree: &FlameTree, zoom: NodeId, sel: NodeId) -> NodeId {
    if sel == zoom || !tree.is_within(sel, zoom) {
        zoom
    } else {
        tree.node(sel).parent
    }
}

/// The heaviest callee of `sel` at least `min_weight` heavy, or `sel`.
pub fn down(tree: &FlameTree, sel: NodeId, min_weight: u64) -> NodeId {
    tree.children(sel)
        .iter()
        .copied()
        .filter(|&k| tree.node(k).total >= min_weight.max(1))
        .max_by(|&a, &b| tree.node(a).total.cmp(&tree.node(b).total).then(b.cmp(&a)))
        .unwrap_or(sel)
}

/// The next frame to the right at `sel`'s depth inside `zoom`, at least
/// `min_weight` heavy, or `sel` when there is none.
pub fn right(tree: &FlameTree, zoom: NodeId, sel: NodeId, min_weight: u64) -> NodeId {
    if sel == zoom || !tree.is_within(sel, zoom) {
        return sel;
    }
    let depth = tree.node(sel).depth;
    let zoom_end = tree.node(zoom).end;
    let mut id = tree.node(sel).end;
    while id < zoom_end {
        let node = tree.node(id);
        if node.depth == depth {
            if node.total >= min_weight.max(1) {
                return id;
            }
            id = node.end;
        } else if node.depth < depth {
            id += 1;
        } else {
            // Cannot happen with pre-order ids, but never loop forever.
            id = node.end;
        }
    }
    sel
}

/// The next frame to the left at `sel`'s depth inside `zoom`, at least
/// `min_weight` heavy, or `sel` when there is none.
pub fn left(tree: &FlameTree, zoom: NodeId, sel: NodeId, min_weight: u64) -> NodeId {
    if sel == zoom || !tree.is_within(sel, zoom) {
        return sel;
    }
    let depth = tree.node(sel).depth;
    let mut id = sel;
    while id > zoom {
        id -= 1;
        let mut node = tree.node(id);
        if node.depth < depth {
            continue;
        }
        let mut at = id;
        while node.depth > depth {
            at = node.parent;
            node = tree.node(at);
        }
        if node.total >= min_weight.max(1) {
            return at;
        }
        id = at;
    }
    sel
}
