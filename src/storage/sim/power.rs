//! What a power loss (or a loss within one boot) keeps of what was never
//! synced.

use std::collections::BTreeSet;

use super::config::{CrashMode, DataLoss, DirLoss};
use super::content::{apply_data_op, DataOp, Inode, Sparse};
use super::state::State;
use super::SIM_SECTOR_BYTES;

impl State {
    pub(super) fn random_crash_mode(&mut self) -> CrashMode {
        let data = match self.rng.below(100) {
            0..=29 => DataLoss::DropUnsynced,
            30..=54 => DataLoss::KeepRandomSectors,
            55..=74 => DataLoss::TearLast,
            75..=89 => DataLoss::KeepPrefix,
            _ => DataLoss::KeepAll,
        };
        let dirs = match self.rng.below(100) {
            0..=49 => DirLoss::DropUnsynced,
            50..=79 => DirLoss::KeepPrefix,
            _ => DirLoss::KeepAll,
        };
        CrashMode { data, dirs }
    }

    /// Applies a power loss and boots again: every handle, lock and
    /// mapping of the old boot is gone, every process with them.
    pub(super) fn power_loss(&mut self, mode: CrashMode) {
        self.lose_unsynced(mode);
        for inode in self.inodes.values_mut() {
            inode.handles = 0;
        }
        self.gc();
        self.locks.clear();
        self.unmap_all();
        self.dead_processes.clear();
        self.generation += 1;
        self.boot += 1;
        self.powered = true;
        self.crash_at = None;
        self.kill_at = None;
        self.stats.crashes += 1;
        self.last_crash = Some(mode);
    }

    /// Unsynced state vanishes as `mode` says while the machine stays up
    /// (a failed write-back dropped dirty pages, a network disk failed
    /// over): the same boot, the same handles and processes, but reads now
    /// return what the disk kept.
    pub(super) fn lose_in_boot(&mut self, mode: CrashMode) {
        self.lose_unsynced(mode);
        self.stats.losses_in_boot += 1;
    }

    /// The disk keeps, of what was never synced, what `mode` says; that
    /// becomes both what reads return and what is durable.
    fn lose_unsynced(&mut self, mode: CrashMode) {
        let kept_dir_ops = match mode.dirs {
            DirLoss::DropUnsynced => 0,
            DirLoss::KeepAll => self.dir_log.len(),
            DirLoss::KeepPrefix => self.rng.below(self.dir_log.len() as u64 + 1) as usize,
        };
        let mut names = std::mem::take(&mut self.durable_names);
        for op in &self.dir_log[..kept_dir_ops] {
            op.apply(&mut names);
        }
        self.dir_log.clear();
        let live: BTreeSet<u64> = names.values().copied().collect();
        let mut inodes = std::mem::take(&mut self.inodes);
        // An open handle keeps its inode (until the reboot, which drops
        // every handle first).
        inodes.retain(|ino, inode| live.contains(ino) || inode.handles > 0);
        for inode in inodes.values_mut() {
            let content = self.surviving_content(inode, mode.data);
            inode.data = content.clone();
            inode.durable = content;
            inode.pending.clear();
        }
        self.inodes = inodes;
        self.names = names.clone();
        self.durable_names = names;
    }

    /// What of `inode` survives a power loss of kind `loss`.
    pub(super) fn surviving_content(&mut self, inode: &Inode, loss: DataLoss) -> Sparse {
        let n = inode.pending.len();
        match loss {
            DataLoss::DropUnsynced => inode.durable.clone(),
            DataLoss::KeepAll => inode.data.clone(),
            DataLoss::KeepRandomSectors => self.random_sectors(inode),
            DataLoss::TearLast => self.prefix_then_tear(inode, n.saturating_sub(1)),
            DataLoss::KeepPrefix => {
                let k = self.rng.below(n as u64 + 1) as usize;
                self.prefix_then_tear(inode, k)
            }
        }
    }

    /// The durable image plus the first `k` pending changes, plus a torn
    /// head of change `k` when it is a write.
    pub(super) fn prefix_then_tear(&mut self, inode: &Inode, k: usize) -> Sparse {
        let mut out = inode.durable.clone();
        for op in &inode.pending[..k.min(inode.pending.len())] {
            apply_data_op(&mut out, op);
        }
        if let Some(DataOp::Write { offset, bytes }) = inode.pending.get(k) {
            let keep = self.tear_point(*offset, bytes.len() as u64);
            out.write(*offset, &bytes[..keep as usize]);
        }
        out
    }

    /// How many leading bytes of a write at `offset` of `len` bytes a tear
    /// keeps: 0, or up to a sector boundary strictly inside the write.
    pub(super) fn tear_point(&mut self, offset: u64, len: u64) -> u64 {
        let end = offset + len;
        let first_boundary = (offset / SIM_SECTOR_BYTES + 1) * SIM_SECTOR_BYTES;
        let inner = if first_boundary < end {
            (end - 1 - first_boundary) / SIM_SECTOR_BYTES + 1
        } else {
            0
        };
        let pick = self.rng.below(inner + 1);
        if pick == 0 {
            0
        } else {
            first_boundary + (pick - 1) * SIM_SECTOR_BYTES - offset
        }
    }

    /// The durable image with each sector touched since the last sync
    /// replaced by its current content or not, independently; the length
    /// is the old or the new one.
    pub(super) fn random_sectors(&mut self, inode: &Inode) -> Sparse {
        let mut touched = BTreeSet::new();
        for op in &inode.pending {
            if let DataOp::Write { offset, bytes } = op {
                if bytes.is_empty() {
                    continue;
                }
                let first = offset / SIM_SECTOR_BYTES;
                let last = (offset + bytes.len() as u64 - 1) / SIM_SECTOR_BYTES;
                touched.extend(first..=last);
            }
        }
        let mut out = inode.durable.clone();
        let len = if self.rng.coin() {
            inode.data.len
        } else {
            inode.durable.len
        };
        out.set_len(len);
        let mut sector = vec![0u8; SIM_SECTOR_BYTES as usize];
        for s in touched {
            let start = s * SIM_SECTOR_BYTES;
            if !self.rng.coin() || start >= len.min(inode.data.len) {
                continue;
            }
            let n = SIM_SECTOR_BYTES.min(len.min(inode.data.len) - start) as usize;
            inode.data.read_raw(start, &mut sector[..n]);
            out.write(start, &sector[..n]);
        }
        out
    }
}
