//! Recovery: find the durable prefix of the log and replay it - at open,
//! and when a process catches up on what others appended. Offline
//! recovery of a closed database (into its main file) is `crate::offline`.

mod frames;
mod listing;
mod replay;
mod scan;
mod scanner;

pub use replay::{newest_per_page, Record, Replay};
pub use scan::{scan, scan_tail};
