//! Multi-version concurrency: per-page version chains and registered
//! reader snapshots.

pub mod readers;
pub mod versions;

pub use readers::{ReaderTable, ReaderToken};
pub use versions::{VersionData, VersionStore};
