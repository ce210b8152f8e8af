//! Which frames are visible at a zoom and where they go on screen.
//!
//! Only nodes at least one column wide are visited: a node narrower than a
//! column has no visible descendants either, so drawing costs in proportion
//! to what is on screen, not to the size of the profile.

use super::tree::{FlameTree, NodeId};

/// A frame placed on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlameCell {
    /// The node drawn.
    pub node: NodeId,
    /// First column, relative to the view's left edge.
    pub x: u16,
    /// Columns covered (at least 1).
    pub width: u16,
    /// Row counted from the zoomed frame (0) downwards in call depth, minus
    /// the rows scrolled away: 0 is the first level shown.
    pub row: u16,
}

/// What part of the tree to lay out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutParams {
    /// The node that spans the whole width.
    pub zoom: NodeId,
    /// Columns available.
    pub width: u16,
    /// Levels below the zoomed frame scrolled out of view.
    pub first_level: u32,
    /// Levels (rows) available.
    pub rows: u16,
}

/// Lay out the visible frames of `tree` into `out` (cleared first), parents
/// before children.
///
/// Postconditions: every cell lies inside `width` x `rows`; cells of one row
/// do not overlap; a node appears only if it spans at least one column.
pub fn layout(tree: &FlameTree, params: LayoutParams, out: &mut Vec<FlameCell>) {
    out.clear();
    if params.width == 0 || params.rows == 0 || tree.is_empty() {
        return;
    }
    let zoom_total = tree.node(params.zoom).total;
    if zoom_total == 0 {
        return;
    }
    let scale = f64::from(params.width) / zoom_total as f64;
    let last_level = params.first_level + u32::from(params.rows);
    // (node, left edge in columns, level below the zoomed frame)
    let mut stack: Vec<(NodeId, f64, u32)> = vec![(params.zoom, 0.0, 0)];
    while let Some((id, x0, level)) = stack.pop() {
        let node = tree.node(id);
        let x1 = x0 + node.total as f64 * scale;
        let start = x0.round() as u32;
        let end = (x1.round() as u32).min(u32::from(params.width));
        if end <= start {
            continue;
        }
        if level >= params.first_level {
            out.push(FlameCell {
                node: id,
                x: start as u16,
                width: (end - start) as u16,
                row: (level - params.first_level) as u16,
            });
        }
        if level + 1 >= last_level {
            continue;
        }
        // Children from the left; pushed in reverse so the leftmost pops first.
        let kids = tree.children(id);
        let mut lefts = Vec::with_capacity(kids.len());
        let mut cursor = x0;
        for &kid in kids {
            lefts.push(cursor);
            cursor += tree.node(kid).total as f64 * scale;
        }
        for (i, &kid) in kids.iter().enumerate().rev() {
            let w = tree.node(kid).total as f64 * scale;
            if (lefts[i] + w).round() > lefts[i].round() {
                stack.push((kid, lefts[i], level + 1));
            }
        }
    }
}

/// Columns `[start, end)` of `id` when `zoom` spans `width` columns, or None
/// when `id` is outside the zoom or narrower than a column.
pub fn columns_of(tree: &FlameTree, zoom: NodeId, width: u16, id: NodeId) -> Option<(u16, u16)> {
    if !tree.is_within(id, zoom) {
        return None;
    }
    let zoom_total = tree.node(zoom).total;
    if zoom_total == 0 {
        return None;
    }
    let scale = f64::from(width) / zoom_total as f64;
    let mut x0 = 0.0;
    let mut at = zoom;
    while at != id {
        let mut next = at;
        for &kid in tree.children(at) {
            if tree.is_within(id, kid) {
                next = kid;
                break;
            }
            x0 += tree.node(kid).total as f64 * scale;
        }
        if next == at {
            return None;
        }
        at = next;
    }
    let start = x0.round() as u32;
    let end = ((x0 + tree.node(id).total as f64 * scale).round() as u32).min(u32::from(width));
    (end > start).then_some((start as u16, end as u16))
}
