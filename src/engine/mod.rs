//! The engine behind every handle on one database: opening and recovery,
//! the commit path (stage -> sequence -> write -> durable -> publish),
//! snapshot reads, checkpoints and the background worker. Each file holds
//! one concern; all of them add to one `Engine` (its parts are in
//! `parts.rs`).

mod checkpoint;
mod commit;
mod fence;
mod follow;
mod lifecycle;
mod lineage;
mod open;
mod parts;
mod read;
mod role;
mod shared;
mod ship;
mod snapshot;
mod space;
mod worker;

pub use parts::{Engine, ReaderGuard};
