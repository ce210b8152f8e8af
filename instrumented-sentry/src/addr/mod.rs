//! Address types: the bottom layer every other module builds on.
//!
//! - [`Range`] (`range.rs`): a half-open range of addresses `[start, end)`;
//! - [`Perms`] and [`Access`] (`perms.rs`): `PROT_*` permissions and the
//!   kind of access a fault or touch makes;
//! - [`PAGE_SIZE`], [`HUGE_PAGE_SIZE`] and page rounding (`page.rs`).
//!
//! This module imports nothing else of the crate.

mod page;
mod perms;
mod range;

pub use page::{is_page_aligned, page_round_down, page_round_up, HUGE_PAGE_SIZE, PAGE_SIZE};
pub use perms::{Access, Perms};
pub use range::Range;
