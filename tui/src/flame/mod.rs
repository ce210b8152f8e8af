//! The flame view's data side: the tree of call paths, its layout on a grid
//! of cells, moving the selection and searching frame names. Nothing here
//! knows about terminals.

pub mod layout;
pub mod nav;
pub mod search;
pub mod split;
pub mod tree;

pub use layout::{columns_of, layout, FlameCell, LayoutParams};
pub use search::SearchMatches;
pub use split::path_split;
pub use tree::{FlameTree, FrameKind, NodeId, ROOT};

#[cfg(test)]
mod tests;
