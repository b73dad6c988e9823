//! Simulated storage for crash and fault tests (being written).
use super::{OpenMode, Storage, StorageFile};
use std::io;
use std::path::{Path, PathBuf};

/// Which call a fault targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp { Write, SyncData, SyncDir, Allocate, Create, Rename, Remove }
/// What a fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind { Eio, Enospc }
/// Simulated file system.
#[derive(Debug, Default)]
pub struct SimStorage;
impl Storage for SimStorage {
    fn open(&self, _: &Path, _: OpenMode) -> io::Result<Box<dyn StorageFile>> { Err(io::Error::other("sim")) }
    fn exists(&self, _: &Path) -> io::Result<bool> { Ok(false) }
    fn dir_exists(&self, _: &Path) -> io::Result<bool> { Ok(true) }
    fn remove(&self, _: &Path) -> io::Result<()> { Ok(()) }
    fn rename(&self, _: &Path, _: &Path) -> io::Result<()> { Ok(()) }
    fn list(&self, _: &Path) -> io::Result<Vec<PathBuf>> { Ok(vec![]) }
    fn sync_dir(&self, _: &Path) -> io::Result<()> { Ok(()) }
}
