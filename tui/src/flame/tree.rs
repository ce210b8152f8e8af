//! The flame tree: every distinct call path of a [`FoldedStacks`] once, with
//! its weight, built once when a bundle is opened.
//!
//! Invariants (checked by `check_invariants` in the tests):
//! - Node 0 is the synthetic root `all`, depth 0, weight = the sum of all
//!   stack weights.
//! - Nodes are numbered in depth-first pre-order with children visited in
//!   name order, so the subtree of node `n` is exactly the id range
//!   `n .. end(n)`; "is `a` inside `n`" is two comparisons.
//! - `total(n) = self_weight(n) + sum(total(c) for c in children(n))`.
//! - Frame names are interned: each distinct name is stored once and nodes
//!   refer to it by [`NameId`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bundle::folded::FoldedStacks;
use flamegraph::flame::frame_kind;

/// Index of a node of a [`FlameTree`].
pub type NodeId = u32;
/// Index of an interned frame name.
pub type NameId = u32;

/// The root node's id.
pub const ROOT: NodeId = 0;
/// Name shown for the synthetic root.
pub const ROOT_NAME: &str = "all";

pub use flamegraph::flame::FrameKind;

/// One call path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Interned frame name.
    pub name: NameId,
    /// Parent node; the root is its own parent.
    pub parent: NodeId,
    /// Distance from the root (root = 0).
    pub depth: u32,
    /// Weight of every stack passing through this path.
    pub total: u64,
    /// Weight of the stacks ending exactly here.
    pub self_weight: u64,
    /// One past the last node of this subtree (pre-order numbering).
    pub end: NodeId,
    /// First entry of this node's children in the shared children array.
    children_start: u32,
    /// Number of children.
    children_len: u32,
}

/// Folded stacks as a tree of call paths, ready to lay out.
#[derive(Debug, Clone, Default)]
pub struct FlameTree {
    names: Vec<Box<str>>,
    kinds: Vec<FrameKind>,
    nodes: Vec<Node>,
    children: Vec<NodeId>,
    max_depth: u32,
}

/// Node under construction (ids in insertion order). Children form a
/// singly linked list, so building allocates nothing per node.
struct BuildNode {
    name: NameId,
    self_weight: u64,
    total: u64,
    first_child: u32,
    next_sibling: u32,
    child_count: u32,
}

/// No node: end of a child list.
const NONE: u32 = u32::MAX;

/// Children of a node are found by scanning its child list up to this many;
/// nodes with more children are looked up in a map instead.
const SCAN_FANOUT: u32 = 8;

/// The nodes of a tree being built, and how to find a child by name.
struct Builder {
    nodes: Vec<BuildNode>,
    /// (parent, name) → child, only for parents with more than
    /// [`SCAN_FANOUT`] children.
    wide: FastMap<(u32, NameId), u32>,
}

impl Builder {
    fn child(&mut self, parent: u32, name: NameId) -> u32 {
        let p = &self.nodes[parent as usize];
        if p.child_count > SCAN_FANOUT {
            if let Some(&n) = self.wide.get(&(parent, name)) {
                return n;
            }
        } else {
            let mut k = p.first_child;
            while k != NONE {
                let kid = &self.nodes[k as usize];
                if kid.name == name {
                    return k;
                }
                k = kid.next_sibling;
            }
        }
        self.add_child(parent, name)
    }

    fn add_child(&mut self, parent: u32, name: NameId) -> u32 {
        let n = self.nodes.len() as u32;
        let p = &mut self.nodes[parent as usize];
        let sibling = p.first_child;
        p.first_child = n;
        p.child_count += 1;
        let count = p.child_count;
        self.nodes.push(BuildNode {
            name,
            self_weight: 0,
            total: 0,
            first_child: NONE,
            next_sibling: sibling,
            child_count: 0,
        });
        if count == SCAN_FANOUT + 1 {
            // Crossing over to the map: index every child so far.
            let mut k = n;
            while k != NONE {
                let kid = &self.nodes[k as usize];
                self.wide.insert((parent, kid.name), k);
                k = kid.next_sibling;
            }
        } else if count > SCAN_FANOUT + 1 {
            self.wide.insert((parent, name), n);
        }
        n
    }
}

/// A fast hash for the build's maps (interned names, parent-name edges):
/// the keys are not attacker-chosen, and SipHash would dominate the build.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

impl FlameTree {
    /// Build the tree of `stacks`.
    ///
    /// Cost: one map lookup per frame after the prefix a stack shares with
    /// the previous one (stacks come sorted, so neighbours share long
    /// prefixes), and no allocation per node.
    ///
    /// Postconditions: the invariants of the module hold; a tree of empty
    /// stacks is the root alone with weight 0.
    pub fn from_folded(stacks: &FoldedStacks) -> FlameTree {
        let mut name_ids: FastMap<&str, NameId> = FastMap::default();
        let mut names: Vec<&str> = vec![ROOT_NAME];
        let mut builder = Builder {
            nodes: vec![BuildNode {
                name: 0,
                self_weight: 0,
                total: 0,
                first_child: NONE,
                next_sibling: NONE,
                child_count: 0,
            }],
            wide: FastMap::default(),
        };
        // The previous stack's frames and the nodes they led to.
        let mut prev_frames: Vec<&str> = Vec::new();
        let mut prev_path: Vec<u32> = Vec::new();
        for (stack, weight) in stacks.iter() {
            let mut at = 0u32;
            builder.nodes[0].total += weight;
            let mut shared = true;
            let mut level = 0;
            for frame in stack.split(';') {
                let next = if shared && prev_frames.get(level) == Some(&frame) {
                    prev_path[level]
                } else {
                    if shared {
                        shared = false;
                        prev_frames.truncate(level);
                        prev_path.truncate(level);
                    }
                    let name = *name_ids.entry(frame).or_insert_with(|| {
                        names.push(frame);
                        (names.len() - 1) as NameId
                    });
                    let n = builder.child(at, name);
                    prev_frames.push(frame);
                    prev_path.push(n);
                    n
                };
                builder.nodes[next as usize].total += weight;
                at = next;
                level += 1;
            }
            if shared {
                prev_frames.truncate(level);
                prev_path.truncate(level);
            }
            builder.nodes[at as usize].self_weight += weight;
        }
        drop(name_ids);
        let build = builder.nodes;
        // Rank of each name in byte order: children sort by rank.
        let mut order: Vec<NameId> = (0..names.len() as NameId).collect();
        order.sort_unstable_by(|&a, &b| names[a as usize].cmp(names[b as usize]));
        let mut rank = vec![0u32; names.len()];
        for (r, &n) in order.iter().enumerate() {
            rank[n as usize] = r as u32;
        }
        let mut tree = FlameTree {
            names: names.iter().map(|s| Box::<str>::from(*s)).collect(),
            kinds: names.iter().map(|s| frame_kind(s)).collect(),
            nodes: Vec::with_capacity(build.len()),
            children: Vec::with_capacity(build.len().saturating_sub(1)),
            max_depth: 0,
        };
        tree.kinds[0] = FrameKind::Host;
        // Iterative pre-order walk over (old id, new parent, depth); each
        // node's children, sorted by name, are recorded by old id and
        // renumbered once the walk has given every node its new id.
        let mut new_id = vec![0u32; build.len()];
        let mut stack: Vec<(u32, NodeId, u32)> = vec![(0, ROOT, 0)];
        let mut kids: Vec<u32> = Vec::new();
        while let Some((old, parent, depth)) = stack.pop() {
            let id = tree.nodes.len() as NodeId;
            new_id[old as usize] = id;
            let b = &build[old as usize];
            kids.clear();
            let mut k = b.first_child;
            while k != NONE {
                kids.push(k);
                k = build[k as usize].next_sibling;
            }
            kids.sort_unstable_by_key(|&k| rank[build[k as usize].name as usize]);
            tree.nodes.push(Node {
                name: b.name,
                parent,
                depth,
                total: b.total,
                self_weight: b.self_weight,
                end: id + 1,
                children_start: tree.children.len() as u32,
                children_len: kids.len() as u32,
            });
            tree.children.extend_from_slice(&kids);
            tree.max_depth = tree.max_depth.max(depth);
            for &kid in kids.iter().rev() {
                stack.push((kid, id, depth + 1));
            }
        }
        for c in tree.children.iter_mut() {
            *c = new_id[*c as usize];
        }
        // Subtree ends: children have larger ids than parents, so a reverse
        // sweep sees every child before its parent.
        for id in (1..tree.nodes.len()).rev() {
            let end = tree.nodes[id].end;
            let parent = tree.nodes[id].parent as usize;
            if tree.nodes[parent].end < end {
                tree.nodes[parent].end = end;
            }
        }
        tree
    }

    /// Number of nodes, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree holds no stack (only the root, weight 0).
    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// The node `id`. Precondition: `id < len()`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// Frame name of node `id`.
    pub fn name(&self, id: NodeId) -> &str {
        &self.names[self.nodes[id as usize].name as usize]
    }

    /// Where node `id`'s frame ran.
    pub fn kind(&self, id: NodeId) -> FrameKind {
        self.kinds[self.nodes[id as usize].name as usize]
    }

    /// Every interned name, indexed by [`NameId`].
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }

    /// Children of `id`, in name order.
    pub fn children(&self, id: NodeId) -> &[NodeId] {
        let n = &self.nodes[id as usize];
        let start = n.children_start as usize;
        &self.children[start..start + n.children_len as usize]
    }

    /// Weight of the whole tree.
    pub fn total(&self) -> u64 {
        self.nodes.first().map(|n| n.total).unwrap_or(0)
    }

    /// Deepest node's depth.
    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }

    /// Whether `id` lies in the subtree of `ancestor` (itself included).
    pub fn is_within(&self, id: NodeId, ancestor: NodeId) -> bool {
        id >= ancestor && id < self.nodes[ancestor as usize].end
    }

    /// The frames from the root's child down to `id` (the root excluded).
    pub fn path(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut at = id;
        while at != ROOT {
            out.push(at);
            at = self.nodes[at as usize].parent;
        }
        out.reverse();
        out
    }

    /// The folded stacks of the subtree of `id`: every stack through `id`,
    /// keeping the frames from the root down, so an export of a zoomed view
    /// shows where it sits.
    pub fn subtree_folded(&self, id: NodeId) -> FoldedStacks {
        let mut out = FoldedStacks::new();
        let mut frames: Vec<&str> = self.path(id).iter().map(|&n| self.name(n)).collect();
        self.collect_folded(id, &mut frames, &mut out);
        out
    }

    fn collect_folded<'a>(&'a self, id: NodeId, frames: &mut Vec<&'a str>, out: &mut FoldedStacks) {
        let node = self.node(id);
        if node.self_weight > 0 && !frames.is_empty() {
            out.add_joined(frames.join(";"), node.self_weight);
        }
        for &kid in self.children(id) {
            frames.push(self.name(kid));
            self.collect_folded(kid, frames, out);
            frames.pop();
        }
    }
}
