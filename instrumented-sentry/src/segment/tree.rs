//! The B-tree underneath a `SegmentSet`: node arena, navigation between
//! segments and gap slots, the max-gap cache, and the structural
//! primitives (insert into a leaf slot with node splits, remove with
//! rotations and node merges). Callers of the primitives flush the max-gap
//! cache (`flush_dirty`) before returning to the user.

use super::functions::SegmentFunctions;
use super::set::SegmentSet;
use crate::addr::Range;

/// "No node": the root's parent.
pub(super) const NIL: u32 = u32::MAX;

/// One B-tree node. Segments are stored in both leaves and internal nodes.
///
/// Laid out by hand (`repr(C)`, 64-byte aligned): the fields every descent
/// reads (links, max gap, keys, children) fill the first cache line, the
/// max-gap copies and values the second, so a node costs one aligned pair
/// of lines (which the hardware's adjacent-line prefetch fetches together).
#[repr(C, align(64))]
pub(super) struct Node<V> {
    /// Parent node, or [`NIL`] for the root.
    pub(super) parent: u32,
    /// Index of this node among its parent's children.
    pub(super) index: u32,
    /// Largest gap among the slots of this subtree (only if tracked).
    pub(super) max_gap: u64,
    /// The node's segments, sorted.
    pub(super) keys: Vec<Range>,
    /// `keys.len() + 1` children for an internal node, none for a leaf.
    pub(super) children: Vec<u32>,
    /// For an internal node, a copy of each child's `max_gap`, so searches
    /// and recomputations read one contiguous array instead of touching
    /// every child (only if tracked; empty otherwise).
    pub(super) child_gaps: Vec<u64>,
    /// One value per segment.
    pub(super) values: Vec<V>,
    /// False once the node is on the free list.
    pub(super) live: bool,
}

impl<V> Node<V> {
    pub(super) fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// A position in the tree: a segment `(node, idx)` or, for a leaf, a gap
/// slot `(leaf, idx)` with `idx <= keys.len()`. Valid until the next
/// mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) node: u32,
    pub(super) idx: usize,
}

/// Result of descending the tree for an address.
pub(super) enum Found {
    /// The address lies in this segment.
    Seg(Pos),
    /// The address lies in the gap of this leaf slot.
    Gap(Pos),
}

impl<F: SegmentFunctions> SegmentSet<F> {
    // ---- internal: arena -------------------------------------------------

    pub(super) fn alloc(
        &mut self,
        parent: u32,
        index: u32,
        keys: Vec<Range>,
        values: Vec<F::Value>,
        children: Vec<u32>,
    ) -> u32 {
        let node = Node {
            parent,
            index,
            keys,
            values,
            children,
            max_gap: 0,
            child_gaps: Vec::new(),
            live: true,
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                u32::try_from(self.nodes.len() - 1).expect("segment set node arena exceeds u32")
            }
        }
    }

    pub(super) fn release(&mut self, id: u32) {
        let n = &mut self.nodes[id as usize];
        n.live = false;
        n.keys = Vec::new();
        n.values = Vec::new();
        n.children = Vec::new();
        n.child_gaps = Vec::new();
        self.free.push(id);
    }

    // ---- internal: navigation -------------------------------------------

    #[inline]
    pub(super) fn node(&self, id: u32) -> &Node<F::Value> {
        &self.nodes[id as usize]
    }

    #[inline]
    pub(super) fn key(&self, p: Pos) -> Range {
        self.nodes[p.node as usize].keys[p.idx]
    }

    #[inline]
    pub(super) fn value(&self, p: Pos) -> &F::Value {
        &self.nodes[p.node as usize].values[p.idx]
    }

    pub(super) fn set_value(&mut self, p: Pos, v: F::Value) {
        self.nodes[p.node as usize].values[p.idx] = v;
    }

    /// Descends from the root to the segment or gap slot holding `addr`.
    pub(super) fn find(&self, addr: u64) -> Found {
        let mut n = self.root;
        loop {
            let node = self.node(n);
            let i = node.keys.partition_point(|k| k.end <= addr);
            if i < node.keys.len() && node.keys[i].start <= addr {
                return Found::Seg(Pos { node: n, idx: i });
            }
            if node.is_leaf() {
                return Found::Gap(Pos { node: n, idx: i });
            }
            n = node.children[i];
        }
    }

    /// The segment that starts at `start` (internal callers only use it
    /// for segments known to exist).
    pub(super) fn seg_at(&self, start: u64) -> Pos {
        match self.find(start) {
            Found::Seg(p) => p,
            Found::Gap(_) => panic!("segment set: no segment at {start:#x} (internal bug)"),
        }
    }

    pub(super) fn leftmost_leaf(&self, mut n: u32) -> u32 {
        while let Some(&c) = self.node(n).children.first() {
            n = c;
        }
        n
    }

    pub(super) fn rightmost_leaf(&self, mut n: u32) -> u32 {
        while let Some(&c) = self.node(n).children.last() {
            n = c;
        }
        n
    }

    pub(super) fn first_pos(&self) -> Option<Pos> {
        if self.len == 0 {
            return None;
        }
        Some(Pos {
            node: self.leftmost_leaf(self.root),
            idx: 0,
        })
    }

    pub(super) fn last_pos(&self) -> Option<Pos> {
        if self.len == 0 {
            return None;
        }
        let leaf = self.rightmost_leaf(self.root);
        Some(Pos {
            node: leaf,
            idx: self.node(leaf).keys.len() - 1,
        })
    }

    /// The segment before gap slot `slot`, if any.
    pub(super) fn gap_prev_seg(&self, slot: Pos) -> Option<Pos> {
        if slot.idx > 0 {
            return Some(Pos {
                node: slot.node,
                idx: slot.idx - 1,
            });
        }
        let mut c = slot.node;
        loop {
            let node = self.node(c);
            if node.parent == NIL {
                return None;
            }
            if node.index > 0 {
                return Some(Pos {
                    node: node.parent,
                    idx: node.index as usize - 1,
                });
            }
            c = node.parent;
        }
    }

    /// The segment after gap slot `slot`, if any.
    pub(super) fn gap_next_seg(&self, slot: Pos) -> Option<Pos> {
        if slot.idx < self.node(slot.node).keys.len() {
            return Some(slot);
        }
        let mut c = slot.node;
        loop {
            let node = self.node(c);
            if node.parent == NIL {
                return None;
            }
            if (node.index as usize) < self.node(node.parent).keys.len() {
                return Some(Pos {
                    node: node.parent,
                    idx: node.index as usize,
                });
            }
            c = node.parent;
        }
    }

    /// The gap (possibly empty) of leaf slot `slot`.
    pub(super) fn gap_range(&self, slot: Pos) -> Range {
        let start = self
            .gap_prev_seg(slot)
            .map_or(self.bounds.start, |p| self.key(p).end);
        let end = self
            .gap_next_seg(slot)
            .map_or(self.bounds.end, |p| self.key(p).start);
        Range::new(start, end)
    }

    /// The gap slot right after segment `p`.
    pub(super) fn gap_after(&self, p: Pos) -> Pos {
        let node = self.node(p.node);
        if node.is_leaf() {
            Pos {
                node: p.node,
                idx: p.idx + 1,
            }
        } else {
            Pos {
                node: self.leftmost_leaf(node.children[p.idx + 1]),
                idx: 0,
            }
        }
    }

    /// The gap slot right before segment `p`.
    pub(super) fn gap_before(&self, p: Pos) -> Pos {
        let node = self.node(p.node);
        if node.is_leaf() {
            p
        } else {
            let leaf = self.rightmost_leaf(node.children[p.idx]);
            Pos {
                node: leaf,
                idx: self.node(leaf).keys.len(),
            }
        }
    }

    /// The in-order successor of segment `p`.
    pub(super) fn next_seg(&self, p: Pos) -> Option<Pos> {
        let node = self.node(p.node);
        if node.is_leaf() {
            self.gap_next_seg(Pos {
                node: p.node,
                idx: p.idx + 1,
            })
        } else {
            Some(Pos {
                node: self.leftmost_leaf(node.children[p.idx + 1]),
                idx: 0,
            })
        }
    }

    /// The in-order predecessor of segment `p`.
    pub(super) fn prev_seg(&self, p: Pos) -> Option<Pos> {
        let node = self.node(p.node);
        if node.is_leaf() {
            self.gap_prev_seg(p)
        } else {
            let leaf = self.rightmost_leaf(node.children[p.idx]);
            Some(Pos {
                node: leaf,
                idx: self.node(leaf).keys.len() - 1,
            })
        }
    }

    /// The first segment whose end is greater than `addr`.
    pub(super) fn lower_bound_seg(&self, addr: u64) -> Option<Pos> {
        match self.find(addr) {
            Found::Seg(p) => Some(p),
            Found::Gap(slot) => self.gap_next_seg(slot),
        }
    }

    /// The last segment whose start is less than `addr`.
    pub(super) fn upper_bound_seg(&self, addr: u64) -> Option<Pos> {
        match self.find(addr) {
            Found::Seg(p) if self.key(p).start < addr => Some(p),
            Found::Seg(p) => self.prev_seg(p),
            Found::Gap(slot) => self.gap_prev_seg(slot),
        }
    }

    // ---- internal: max-gap cache ---------------------------------------

    #[inline]
    pub(super) fn mark(&mut self, n: u32) {
        if F::TRACK_MAX_GAP {
            self.dirty.push(n);
        }
    }

    /// Largest gap among the slots of leaf `n`.
    pub(super) fn leaf_max_gap(&self, n: u32) -> u64 {
        let keys = &self.node(n).keys;
        let k = keys.len();
        let mut best = self.gap_range(Pos { node: n, idx: 0 }).len();
        for j in 1..k {
            best = best.max(keys[j].start - keys[j - 1].end);
        }
        if k > 0 {
            best = best.max(self.gap_range(Pos { node: n, idx: k }).len());
        }
        best
    }

    pub(super) fn recompute_max_gap(&self, n: u32) -> u64 {
        let node = self.node(n);
        if node.is_leaf() {
            self.leaf_max_gap(n)
        } else {
            node.child_gaps.iter().copied().max().unwrap_or(0)
        }
    }

    /// Recomputes the cache of every marked node, then of its ancestors
    /// while the recomputed value differs from the stored one.
    ///
    /// First every marked internal node's `child_gaps` is rebuilt from its
    /// (possibly still stale) children, so that all arrays are aligned with
    /// the children. Then each marked node is recomputed and every change
    /// is passed up at once (`child_gaps` of the parent, then the parent's
    /// value). Stopping when a value does not change is sound in any
    /// order: every structurally changed node is recomputed at least once,
    /// and every later change of a child reaches its parent, so in the end
    /// every node agrees with its final children (or, for a leaf, with its
    /// slots).
    pub(super) fn flush_dirty(&mut self) {
        if !F::TRACK_MAX_GAP {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        dirty.retain(|&d| self.node(d).live);
        for &d in &dirty {
            let mut gaps = std::mem::take(&mut self.nodes[d as usize].child_gaps);
            gaps.clear();
            gaps.extend(self.node(d).children.iter().map(|&c| self.node(c).max_gap));
            self.nodes[d as usize].child_gaps = gaps;
        }
        for &d in &dirty {
            let mut n = d;
            loop {
                let g = self.recompute_max_gap(n);
                let node = &mut self.nodes[n as usize];
                if node.max_gap == g {
                    break;
                }
                node.max_gap = g;
                let (parent, index) = (node.parent, node.index as usize);
                if parent == NIL {
                    break;
                }
                self.nodes[parent as usize].child_gaps[index] = g;
                n = parent;
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    // ---- internal: structural primitives (callers flush) ----------------

    /// Changes the range of segment `p` in place.
    ///
    /// Preconditions: `range` is non-empty and does not overlap the
    /// neighbouring segments.
    pub(super) fn set_range(&mut self, p: Pos, range: Range) {
        let old = self.key(p);
        self.nodes[p.node as usize].keys[p.idx] = range;
        self.span = self.span - old.len() + range.len();
        if F::TRACK_MAX_GAP {
            let before = self.gap_before(p).node;
            let after = self.gap_after(p).node;
            self.mark(before);
            self.mark(after);
        }
    }

    /// Inserts a segment into leaf slot `slot`, splitting full nodes.
    ///
    /// Preconditions: `slot` is a leaf slot whose gap contains `range`.
    pub(super) fn insert_at_slot(&mut self, slot: Pos, range: Range, value: F::Value) {
        let n = slot.node;
        {
            let node = &mut self.nodes[n as usize];
            node.keys.insert(slot.idx, range);
            node.values.insert(slot.idx, value);
        }
        self.len += 1;
        self.span += range.len();
        self.mark(n);
        if self.node(n).keys.len() > 2 * self.min_degree - 1 {
            self.split_node(n);
        }
    }

    /// Moves one segment of overfull node `n` (2t segments) through the
    /// parent into a sibling that has room (B*-tree style), if there is
    /// one; returns whether it did. Sequential inserts (mmap places each
    /// new mapping next to the previous one) then fill nodes instead of
    /// leaving every node half full, which keeps the tree lower.
    fn redistribute_overflow(&mut self, n: u32) -> bool {
        let max = 2 * self.min_degree - 1;
        let (parent, pi) = (self.node(n).parent, self.node(n).index as usize);
        if parent == NIL {
            return false;
        }
        if pi > 0 {
            let l = self.node(parent).children[pi - 1];
            if self.node(l).keys.len() < max {
                // n's first segment goes up, the separator down into l.
                self.rotate_from_right(parent, pi - 1);
                self.mark(l);
                self.mark(n);
                self.mark(parent);
                return true;
            }
        }
        if pi < self.node(parent).keys.len() {
            let r = self.node(parent).children[pi + 1];
            if self.node(r).keys.len() < max {
                // n's last segment goes up, the separator down into r.
                self.rotate_from_left(parent, pi + 1);
                self.mark(r);
                self.mark(n);
                self.mark(parent);
                return true;
            }
        }
        false
    }

    /// Resolves overfull node `n` (2t segments): hands a segment to a
    /// sibling with room if possible, else splits `n` around its median,
    /// moving the median up, and repeats upwards while parents overflow.
    pub(super) fn split_node(&mut self, mut n: u32) {
        let t = self.min_degree;
        loop {
            if self.redistribute_overflow(n) {
                return;
            }
            let (right_keys, right_values, right_children, med_key, med_value, parent, index) = {
                let node = &mut self.nodes[n as usize];
                let right_keys = node.keys.split_off(t + 1);
                let right_values = node.values.split_off(t + 1);
                let med_key = node.keys.pop().expect("overfull node has a median");
                let med_value = node.values.pop().expect("overfull node has a median");
                let right_children = if node.is_leaf() {
                    Vec::new()
                } else {
                    node.children.split_off(t + 1)
                };
                (
                    right_keys,
                    right_values,
                    right_children,
                    med_key,
                    med_value,
                    node.parent,
                    node.index,
                )
            };
            let moved = right_children.clone();
            let right = self.alloc(parent, index + 1, right_keys, right_values, right_children);
            for (j, c) in moved.into_iter().enumerate() {
                let child = &mut self.nodes[c as usize];
                child.parent = right;
                child.index = j as u32;
            }
            self.mark(n);
            self.mark(right);
            if parent == NIL {
                let root = self.alloc(NIL, 0, vec![med_key], vec![med_value], vec![n, right]);
                self.nodes[n as usize].parent = root;
                self.nodes[n as usize].index = 0;
                self.nodes[right as usize].parent = root;
                self.nodes[right as usize].index = 1;
                self.root = root;
                self.mark(root);
                return;
            }
            let pi = index as usize;
            {
                let p = &mut self.nodes[parent as usize];
                p.keys.insert(pi, med_key);
                p.values.insert(pi, med_value);
                p.children.insert(pi + 1, right);
            }
            self.fix_child_indices(parent, pi + 1);
            self.mark(parent);
            if self.node(parent).keys.len() > 2 * t - 1 {
                n = parent;
            } else {
                return;
            }
        }
    }

    /// Rewrites parent links and indices of `n`'s children from `from` on.
    pub(super) fn fix_child_indices(&mut self, n: u32, from: usize) {
        let count = self.node(n).children.len();
        for j in from..count {
            let c = self.nodes[n as usize].children[j];
            let child = &mut self.nodes[c as usize];
            child.parent = n;
            child.index = j as u32;
        }
    }

    /// Removes segment `p`, rebalancing the tree.
    ///
    /// Postconditions: returns the removed segment; the gap that replaces
    /// it is marked for max-gap recomputation.
    pub(super) fn remove_at(&mut self, p: Pos) -> (Range, F::Value) {
        let leaf;
        let (range, value) = if self.node(p.node).is_leaf() {
            leaf = p.node;
            let node = &mut self.nodes[p.node as usize];
            (node.keys.remove(p.idx), node.values.remove(p.idx))
        } else {
            // Replace with the in-order predecessor, taken from a leaf.
            let l = self.rightmost_leaf(self.node(p.node).children[p.idx]);
            leaf = l;
            let (pk, pv) = {
                let ln = &mut self.nodes[l as usize];
                (
                    ln.keys.pop().expect("non-root leaf is never empty"),
                    ln.values.pop().expect("non-root leaf is never empty"),
                )
            };
            let node = &mut self.nodes[p.node as usize];
            let r = std::mem::replace(&mut node.keys[p.idx], pk);
            let v = std::mem::replace(&mut node.values[p.idx], pv);
            self.mark(p.node);
            (r, v)
        };
        self.len -= 1;
        self.span -= range.len();
        self.mark(leaf);
        self.rebalance(leaf);
        if F::TRACK_MAX_GAP {
            if let Found::Gap(slot) = self.find(range.start) {
                self.mark(slot.node);
            }
        }
        (range, value)
    }

    /// Restores the fill invariant from underfull node `n` upwards.
    pub(super) fn rebalance(&mut self, mut n: u32) {
        let t = self.min_degree;
        loop {
            if n == self.root {
                let root = self.node(n);
                if root.keys.is_empty() && !root.is_leaf() {
                    let child = root.children[0];
                    self.release(n);
                    let c = &mut self.nodes[child as usize];
                    c.parent = NIL;
                    c.index = 0;
                    self.root = child;
                    self.mark(child);
                }
                return;
            }
            if self.node(n).keys.len() >= t - 1 {
                return;
            }
            let parent = self.node(n).parent;
            let pi = self.node(n).index as usize;
            let parent_keys = self.node(parent).keys.len();
            if pi > 0 {
                let l = self.node(parent).children[pi - 1];
                if self.node(l).keys.len() > t - 1 {
                    self.rotate_from_left(parent, pi);
                    self.mark(l);
                    self.mark(n);
                    self.mark(parent);
                    return;
                }
            }
            if pi < parent_keys {
                let r = self.node(parent).children[pi + 1];
                if self.node(r).keys.len() > t - 1 {
                    self.rotate_from_right(parent, pi);
                    self.mark(r);
                    self.mark(n);
                    self.mark(parent);
                    return;
                }
            }
            let k = if pi > 0 { pi - 1 } else { pi };
            let left = self.merge_children(parent, k);
            self.mark(left);
            self.mark(parent);
            n = parent;
        }
    }

    /// Moves the last segment of child `pi - 1` up into the parent and the
    /// parent's separator down into child `pi`.
    pub(super) fn rotate_from_left(&mut self, parent: u32, pi: usize) {
        let l = self.node(parent).children[pi - 1];
        let n = self.node(parent).children[pi];
        let (lk, lv, lc) = {
            let ln = &mut self.nodes[l as usize];
            (
                ln.keys.pop().expect("donor has spare segments"),
                ln.values.pop().expect("donor has spare segments"),
                ln.children.pop(),
            )
        };
        let (sk, sv) = {
            let p = &mut self.nodes[parent as usize];
            (
                std::mem::replace(&mut p.keys[pi - 1], lk),
                std::mem::replace(&mut p.values[pi - 1], lv),
            )
        };
        let node = &mut self.nodes[n as usize];
        node.keys.insert(0, sk);
        node.values.insert(0, sv);
        if let Some(c) = lc {
            node.children.insert(0, c);
            self.fix_child_indices(n, 0);
        }
    }

    /// Moves the first segment of child `pi + 1` up into the parent and the
    /// parent's separator down into child `pi`.
    pub(super) fn rotate_from_right(&mut self, parent: u32, pi: usize) {
        let r = self.node(parent).children[pi + 1];
        let n = self.node(parent).children[pi];
        let (rk, rv, rc) = {
            let rn = &mut self.nodes[r as usize];
            let c = if rn.is_leaf() {
                None
            } else {
                Some(rn.children.remove(0))
            };
            (rn.keys.remove(0), rn.values.remove(0), c)
        };
        let (sk, sv) = {
            let p = &mut self.nodes[parent as usize];
            (
                std::mem::replace(&mut p.keys[pi], rk),
                std::mem::replace(&mut p.values[pi], rv),
            )
        };
        let node = &mut self.nodes[n as usize];
        node.keys.push(sk);
        node.values.push(sv);
        if let Some(c) = rc {
            node.children.push(c);
            let last = self.node(n).children.len() - 1;
            self.fix_child_indices(n, last);
            self.fix_child_indices(r, 0);
        }
    }

    /// Merges child `k + 1` of `parent` and the separator `k` into child
    /// `k`; returns child `k`.
    pub(super) fn merge_children(&mut self, parent: u32, k: usize) -> u32 {
        let (left, right, sk, sv) = {
            let p = &mut self.nodes[parent as usize];
            let left = p.children[k];
            let right = p.children.remove(k + 1);
            (left, right, p.keys.remove(k), p.values.remove(k))
        };
        self.fix_child_indices(parent, k + 1);
        let (rk, rv, rc) = {
            let rn = &mut self.nodes[right as usize];
            (
                std::mem::take(&mut rn.keys),
                std::mem::take(&mut rn.values),
                std::mem::take(&mut rn.children),
            )
        };
        let first_moved = {
            let ln = &mut self.nodes[left as usize];
            ln.keys.push(sk);
            ln.values.push(sv);
            ln.keys.extend(rk);
            ln.values.extend(rv);
            let first = ln.children.len();
            ln.children.extend(rc);
            first
        };
        self.fix_child_indices(left, first_moved);
        self.release(right);
        left
    }
}
