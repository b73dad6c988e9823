//! An open simulated file: reads, writes, syncs and locks against the
//! machine's state, each one a step of its clock.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::mutex::Mutex;

use super::super::StorageFile;
use super::config::{enospc, FaultKind, FaultOp};
use super::content::DataOp;
use super::state::{pause_point, Lock, State};
use super::SIM_BLOCK_BYTES;

/// An open simulated file; dead after a power loss.
pub(super) struct SimFile {
    pub(super) process: u64,
    pub(super) state: Arc<Mutex<State>>,
    pub(super) path: PathBuf,
    pub(super) ino: u64,
    pub(super) id: u64,
    pub(super) generation: u64,
    pub(super) writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl SimFile {
    /// The file's current name (it may have been renamed since it was
    /// opened), so path-filtered faults and traces follow renames.
    fn name(&self, s: &State) -> PathBuf {
        s.names
            .iter()
            .find(|(_, &ino)| ino == self.ino)
            .map_or_else(|| self.path.clone(), |(p, _)| p.clone())
    }

    /// A failed sync or write-out (fsyncgate): some unsynced sectors reached
    /// the disk, the rest is marked clean and will never be written.
    fn lose_unsynced(&self, s: &mut State, kind: FaultKind) -> io::Error {
        let inode = s.inodes[&self.ino].clone();
        let kept = s.random_sectors(&inode);
        let inode = s.inode_mut(self.ino);
        inode.durable = kept;
        inode.pending.clear();
        kind.error()
    }

    /// [`State::enter`] for a call on this handle.
    fn enter(&self, s: &mut State, op: FaultOp, args: (u64, u64)) -> io::Result<Option<FaultKind>> {
        let name = self.name(s);
        s.enter(op, &name, Some(self.generation), self.process, args)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::EBADF))
        }
    }

    /// A failed write leaves a sector-aligned prefix of `buf` (possibly
    /// none) behind, like a short write followed by an error.
    fn partial_write(s: &mut State, ino: u64, buf: &[u8], offset: u64) {
        let keep = s.tear_point(offset, buf.len() as u64);
        Self::apply_write(s, ino, &buf[..keep as usize], offset);
    }

    fn apply_write(s: &mut State, ino: u64, buf: &[u8], offset: u64) {
        if buf.is_empty() {
            return;
        }
        let inode = s.inode_mut(ino);
        inode.data.write(offset, buf);
        inode.pending.push(DataOp::Write {
            offset,
            bytes: buf.to_vec(),
        });
    }

    /// How many leading bytes of a write fit on the disk.
    fn bytes_that_fit(s: &State, ino: u64, len: u64, offset: u64) -> u64 {
        let Some(mut free) = s.free_bytes() else {
            return len;
        };
        for (block, needs_space) in s.inodes[&ino].blocks_needed(offset, len) {
            if needs_space {
                if free < SIM_BLOCK_BYTES {
                    return (block * SIM_BLOCK_BYTES).saturating_sub(offset);
                }
                free -= SIM_BLOCK_BYTES;
            }
        }
        len
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut s = self.state.lock();
        if s.generation != self.generation {
            return;
        }
        if let Some(inode) = s.inodes.get_mut(&self.ino) {
            inode.handles = inode.handles.saturating_sub(1);
        }
        s.locks.retain(|l| l.handle != self.id);
        s.gc();
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::Read, |s| self.name(s));
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::Read, (offset, buf.len() as u64))? {
            return Err(kind.error());
        }
        let data = &s.inodes[&self.ino].data;
        let in_range = match offset.checked_add(buf.len() as u64) {
            Some(end) => end <= data.len,
            None => false,
        };
        if !in_range {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sim: read past the end of the file",
            ));
        }
        data.read_raw(offset, buf);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::Write, |s| self.name(s));
        self.check_writable()?;
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::Write, (offset, buf.len() as u64))? {
            Self::partial_write(&mut s, self.ino, buf, offset);
            return Err(kind.error());
        }
        let fit = Self::bytes_that_fit(&s, self.ino, buf.len() as u64, offset);
        Self::apply_write(&mut s, self.ino, &buf[..fit as usize], offset);
        if fit < buf.len() as u64 {
            s.stats.enospc_capacity += 1;
            return Err(enospc());
        }
        s.stats.writes += 1;
        s.stats.bytes_written += buf.len() as u64;
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let s = self.state.lock();
        s.check_alive(Some(self.generation), self.process)?;
        Ok(s.inodes[&self.ino].data.len)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::SetLen, |s| self.name(s));
        self.check_writable()?;
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::SetLen, (len, 0))? {
            return Err(kind.error());
        }
        let inode = s.inode_mut(self.ino);
        inode.data.set_len(len);
        // Truncation frees reserved space past the new end, as on Linux.
        inode.reserved = inode.reserved.min(len);
        inode.pending.push(DataOp::SetLen(len));
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::Allocate, |s| self.name(s));
        self.check_writable()?;
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::Allocate, (len, 0))? {
            return Err(kind.error());
        }
        let inode = &s.inodes[&self.ino];
        let extra = inode
            .usage_if_reserved(inode.reserved.max(len))
            .saturating_sub(inode.usage());
        if let Some(free) = s.free_bytes() {
            if extra > free {
                s.stats.enospc_capacity += 1;
                return Err(enospc());
            }
        }
        let inode = s.inode_mut(self.ino);
        inode.reserved = inode.reserved.max(len);
        if inode.data.len < len {
            inode.data.set_len(len);
            inode.pending.push(DataOp::SetLen(len));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        pause_point(&self.state, FaultOp::SyncData, |s| self.name(s));
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::SyncData, (0, 0))? {
            return Err(self.lose_unsynced(&mut s, kind));
        }
        s.inode_mut(self.ino).sync();
        s.stats.syncs += 1;
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    /// Starting write-out makes nothing durable here (a crash may keep any
    /// unsynced sector either way), but it can fail as a sync does - with
    /// the same fsyncgate loss - and counts as a sync for fault injection.
    fn write_behind(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::SyncData, (0, 0))? {
            return Err(self.lose_unsynced(&mut s, kind));
        }
        Ok(())
    }

    fn try_lock_exclusive(&self) -> io::Result<bool> {
        let mut s = self.state.lock();
        s.check_alive(Some(self.generation), self.process)?;
        if let Some(l) = s.locks.iter().find(|l| l.ino == self.ino) {
            Ok(l.handle == self.id)
        } else {
            s.locks.push(Lock {
                ino: self.ino,
                handle: self.id,
                process: self.process,
            });
            Ok(true)
        }
    }
}
