//! The engine's side of `{path}-lineage`: reading it at open (a follower's
//! database refuses its callers' commits), and writing it as the shipper
//! and the follower move on.

use std::sync::atomic::Ordering;

use crate::error::Result;
use crate::replica::{Lineage, LineageFile, Part};

use super::parts::Engine;

impl Engine {
    /// Reads the lineage at open: a follower's database starts following.
    pub(super) fn load_lineage(&self) -> Result<()> {
        let following = self
            .read_lineage()?
            .is_some_and(|l| l.role == Part::Follower);
        self.lineage.following.store(following, Ordering::Release);
        Ok(())
    }

    /// The database's lineage record; None when it has none (it never
    /// shipped, followed or was restored).
    pub fn read_lineage(&self) -> Result<Option<Lineage>> {
        let mut g = self.lineage.file.lock();
        if g.is_none() {
            *g = LineageFile::open(self.opts.storage.as_ref(), &self.path, false)?;
        }
        match g.as_ref() {
            Some(f) => f.read(),
            None => Ok(None),
        }
    }

    /// Writes the lineage record (`sync`: durable before this returns).
    pub(super) fn write_lineage(&self, l: &Lineage, sync: bool) -> Result<()> {
        let mut g = self.lineage.file.lock();
        if g.is_none() {
            *g = LineageFile::open(self.opts.storage.as_ref(), &self.path, true)?;
        }
        let f = g.as_ref().expect("the lineage file was just opened");
        f.write(l, sync)
    }

    /// Promote requests other processes left in the lineage file.
    pub(super) fn promote_requests(&self) -> Result<u64> {
        let mut g = self.lineage.file.lock();
        if g.is_none() {
            *g = LineageFile::open(self.opts.storage.as_ref(), &self.path, false)?;
        }
        g.as_ref().map_or(Ok(0), |f| f.promote_requests())
    }

    /// Leaves a promote request for the process that follows; its number.
    pub(super) fn request_promote(&self) -> Result<u64> {
        let mut g = self.lineage.file.lock();
        if g.is_none() {
            *g = LineageFile::open(self.opts.storage.as_ref(), &self.path, true)?;
        }
        g.as_ref()
            .expect("the lineage file was just opened")
            .request_promote()
    }

    /// True when this process runs the shipper's or the follower's thread.
    pub fn has_background_replica_thread(&self) -> bool {
        self.lineage.thread.lock().is_some()
    }

    /// The replica URL this open ships to or follows ("" for none).
    pub(super) fn replica_url(&self) -> &str {
        self.opts.replica.as_deref().unwrap_or("")
    }

    /// True while the database follows its replica. A follower that was
    /// promoted (here, or by the process that follows) writes again.
    pub fn is_following(&self) -> Result<bool> {
        if !self.lineage.following.load(Ordering::Acquire) {
            return Ok(false);
        }
        let still = self
            .read_lineage()?
            .is_some_and(|l| l.role == Part::Follower);
        if !still {
            self.lineage.following.store(false, Ordering::Release);
        }
        Ok(still)
    }
}
