//! `check_invariants`: verifies every invariant of the module docs from
//! scratch, without trusting any cached value or navigation helper.

use super::error::InvariantError;
use super::functions::SegmentFunctions;
use super::set::SegmentSet;
use super::tree::NIL;
use crate::addr::Range;

/// State of one in-order walk over the tree.
struct Walk {
    leaf_depth: Option<usize>,
    count: usize,
    span: u64,
    reachable: usize,
    /// End of the previous segment in address order (initially the bounds'
    /// start).
    prev_end: u64,
    prev: Option<Range>,
    /// The most recently entered leaf: it owns the slot of the next gap.
    cur_leaf: u32,
    /// Largest gap per leaf, indexed by node id.
    leaf_max: Vec<u64>,
}

impl<F: SegmentFunctions> SegmentSet<F> {
    /// Verifies ordering, non-overlap, bounds, node fill, equal leaf depth,
    /// parent links, the cached length and span, the node arena, and (if
    /// tracked) every node's cached max gap against recomputation. O(n).
    ///
    /// Postconditions: `Ok(())` if every invariant holds, else the first
    /// violation found.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let mut walk = Walk {
            leaf_depth: None,
            count: 0,
            span: 0,
            reachable: 0,
            prev_end: self.bounds.start,
            prev: None,
            cur_leaf: self.root,
            leaf_max: if F::TRACK_MAX_GAP {
                vec![0; self.nodes.len()]
            } else {
                Vec::new()
            },
        };
        self.walk(self.root, 0, NIL, 0, &mut walk)?;
        // The final gap, up to the bounds' end.
        if F::TRACK_MAX_GAP {
            let g = self.bounds.end - walk.prev_end;
            let m = &mut walk.leaf_max[walk.cur_leaf as usize];
            *m = (*m).max(g);
        }
        if walk.count != self.len {
            return Err(InvariantError::Length {
                cached: self.len,
                counted: walk.count,
            });
        }
        if walk.span != self.span {
            return Err(InvariantError::SpanTotal {
                cached: self.span,
                recomputed: walk.span,
            });
        }
        let live = self.nodes.len() - self.free.len();
        let live_flags = self.nodes.iter().filter(|n| n.live).count();
        if walk.reachable != live || live_flags != live {
            return Err(InvariantError::Arena {
                reachable: walk.reachable,
                live,
            });
        }
        if F::TRACK_MAX_GAP {
            self.check_max_gap(self.root, &walk.leaf_max)?;
        }
        Ok(())
    }

    fn walk(
        &self,
        n: u32,
        depth: usize,
        parent: u32,
        index: u32,
        w: &mut Walk,
    ) -> Result<(), InvariantError> {
        let node = self.node(n);
        w.reachable += 1;
        if node.parent != parent || (parent != NIL && node.index != index) || !node.live {
            return Err(InvariantError::ParentLink {
                node: n,
                parent: node.parent,
                index: node.index,
                want_parent: parent,
                want_index: index,
            });
        }
        let k = node.keys.len();
        let leaf = node.children.is_empty();
        if node.values.len() != k || (!leaf && node.children.len() != k + 1) {
            return Err(InvariantError::Shape {
                node: n,
                children: node.children.len(),
                segments: k,
            });
        }
        let t = self.min_degree;
        let (min, max) = if parent != NIL {
            (t - 1, 2 * t - 1)
        } else if leaf {
            (0, 2 * t - 1)
        } else {
            (1, 2 * t - 1)
        };
        if k < min || k > max {
            return Err(InvariantError::Fill {
                node: n,
                count: k,
                min,
                max,
            });
        }
        if leaf {
            match w.leaf_depth {
                None => w.leaf_depth = Some(depth),
                Some(expected) if expected != depth => {
                    return Err(InvariantError::LeafDepth {
                        node: n,
                        depth,
                        expected,
                    })
                }
                Some(_) => {}
            }
            w.cur_leaf = n;
        }
        for i in 0..k {
            if !leaf {
                self.walk(node.children[i], depth + 1, n, i as u32, w)?;
            }
            self.visit_key(node.keys[i], w)?;
        }
        if !leaf {
            self.walk(node.children[k], depth + 1, n, k as u32, w)?;
        }
        Ok(())
    }

    fn visit_key(&self, r: Range, w: &mut Walk) -> Result<(), InvariantError> {
        if r.is_empty() {
            return Err(InvariantError::EmptySegment { range: r });
        }
        if !self.bounds.is_superset_of(&r) {
            return Err(InvariantError::OutOfBounds {
                range: r,
                bounds: self.bounds,
            });
        }
        if let Some(prev) = w.prev {
            if r.start < prev.end {
                return Err(InvariantError::Order { prev, next: r });
            }
        }
        if F::TRACK_MAX_GAP {
            let g = r.start - w.prev_end;
            let m = &mut w.leaf_max[w.cur_leaf as usize];
            *m = (*m).max(g);
        }
        w.prev = Some(r);
        w.prev_end = r.end;
        w.count += 1;
        w.span += r.len();
        Ok(())
    }

    /// Recomputes the max gap of subtree `n` from `leaf_max` and compares
    /// it with every cached value; returns the recomputed value.
    fn check_max_gap(&self, n: u32, leaf_max: &[u64]) -> Result<u64, InvariantError> {
        let node = self.node(n);
        let recomputed = if node.children.is_empty() {
            leaf_max[n as usize]
        } else {
            if node.child_gaps.len() != node.children.len() {
                return Err(InvariantError::Shape {
                    node: n,
                    children: node.children.len(),
                    segments: node.keys.len(),
                });
            }
            let mut best = 0;
            for (j, &c) in node.children.iter().enumerate() {
                let child = self.check_max_gap(c, leaf_max)?;
                if node.child_gaps[j] != child {
                    return Err(InvariantError::MaxGap {
                        node: c,
                        cached: node.child_gaps[j],
                        recomputed: child,
                    });
                }
                best = best.max(child);
            }
            best
        };
        if recomputed != node.max_gap {
            return Err(InvariantError::MaxGap {
                node: n,
                cached: node.max_gap,
                recomputed,
            });
        }
        Ok(recomputed)
    }
}
