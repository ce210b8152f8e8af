//! Segment set: a B-tree of non-overlapping ranges with optional max-gap tracking.
