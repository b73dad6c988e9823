//! The main page file: checkpointed pages, shadow-paged.
//!
//! Layout: two header copies (4 KiB each), then page-sized slots. A page
//! map (pgno -> slot, length, CRC32C) lives in a run of slots; the current
//! header names it. A checkpoint never overwrites a slot the current
//! header can reach: it writes new images and a new map into free slots,
//! syncs, then writes the other header copy with a higher generation and
//! syncs again. A crash at any point leaves the old or the new state, both
//! complete. Disk use follows the pages written, not the largest pgno.

mod batch;
mod file;
mod free;
mod map;

pub use file::{require_parent_dir, CheckpointPage, MainFile};
