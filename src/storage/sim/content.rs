//! The simulated disk's contents: sparse file images, the unsynced changes
//! to files and directories, and the RNG that picks crash outcomes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::super::parent_dir;
use super::SIM_BLOCK_BYTES;

/// SplitMix64: tiny, fast, good enough to pick crash outcomes.
#[derive(Clone, Debug)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n
    }

    pub(super) fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

// ---------------------------------------------------------------------
// Sparse file content
// ---------------------------------------------------------------------

/// File content as 4 KiB blocks; missing blocks read as zeros. Invariant:
/// no byte at or past `len` is nonzero, so extending reads zeros.
#[derive(Clone, Default)]
pub(super) struct Sparse {
    pub(super) len: u64,
    pub(super) blocks: BTreeMap<u64, Box<[u8]>>,
}

impl Sparse {
    /// Copies `[offset, offset + buf.len())` into `buf`, ignoring `len`
    /// (bytes past it read as zeros).
    pub(super) fn read_raw(&self, offset: u64, buf: &mut [u8]) {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / SIM_BLOCK_BYTES;
            let within = (pos % SIM_BLOCK_BYTES) as usize;
            let n = (SIM_BLOCK_BYTES as usize - within).min(buf.len() - done);
            match self.blocks.get(&block) {
                Some(b) => buf[done..done + n].copy_from_slice(&b[within..within + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Writes `data` at `offset`, extending the length.
    pub(super) fn write(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let block = pos / SIM_BLOCK_BYTES;
            let within = (pos % SIM_BLOCK_BYTES) as usize;
            let n = (SIM_BLOCK_BYTES as usize - within).min(data.len() - done);
            let b = self
                .blocks
                .entry(block)
                .or_insert_with(|| vec![0u8; SIM_BLOCK_BYTES as usize].into_boxed_slice());
            b[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.len = self.len.max(offset + data.len() as u64);
    }

    /// Truncates (zeroing what is cut) or extends with zeros.
    pub(super) fn set_len(&mut self, len: u64) {
        if len < self.len {
            let first_gone = len.div_ceil(SIM_BLOCK_BYTES);
            let _cut = self.blocks.split_off(&first_gone);
            let within = (len % SIM_BLOCK_BYTES) as usize;
            if within != 0 {
                if let Some(b) = self.blocks.get_mut(&(len / SIM_BLOCK_BYTES)) {
                    b[within..].fill(0);
                }
            }
        }
        self.len = len;
    }

    /// Blocks present at index `>= first`.
    pub(super) fn blocks_from(&self, first: u64) -> u64 {
        self.blocks.range(first..).count() as u64
    }

    pub(super) fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len as usize];
        self.read_raw(0, &mut out);
        out
    }
}

// ---------------------------------------------------------------------
// File system state
// ---------------------------------------------------------------------

/// An unsynced change to a file's data.
#[derive(Clone, Debug)]
pub(super) enum DataOp {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

/// An unsynced change to a directory.
#[derive(Clone, Debug)]
pub(super) enum DirOp {
    Link {
        path: PathBuf,
        ino: u64,
    },
    Unlink {
        path: PathBuf,
    },
    /// A rename within one directory (atomic).
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: u64,
    },
}

impl DirOp {
    pub(super) fn dir(&self) -> PathBuf {
        match self {
            DirOp::Link { path, .. } | DirOp::Unlink { path } => parent_dir(path),
            DirOp::Rename { to, .. } => parent_dir(to),
        }
    }

    pub(super) fn ino(&self) -> Option<u64> {
        match self {
            DirOp::Link { ino, .. } | DirOp::Rename { ino, .. } => Some(*ino),
            DirOp::Unlink { .. } => None,
        }
    }

    pub(super) fn apply(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            DirOp::Link { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            DirOp::Unlink { path } => {
                names.remove(path);
            }
            DirOp::Rename { from, to, ino } => {
                names.remove(from);
                names.insert(to.clone(), *ino);
            }
        }
    }
}

#[derive(Clone, Default)]
pub(super) struct Inode {
    /// What reads return now.
    pub(super) data: Sparse,
    /// What a power loss keeps for sure.
    pub(super) durable: Sparse,
    /// Changes since the last sync, oldest first.
    pub(super) pending: Vec<DataOp>,
    /// Bytes reserved by `allocate` (from offset 0).
    pub(super) reserved: u64,
    /// Open handles of the current boot.
    pub(super) handles: u32,
}

impl Inode {
    pub(super) fn reserved_blocks(&self) -> u64 {
        self.reserved.div_ceil(SIM_BLOCK_BYTES)
    }

    /// Disk space the file occupies.
    pub(super) fn usage(&self) -> u64 {
        self.usage_if_reserved(self.reserved)
    }

    /// Disk space the file would occupy with `reserved` bytes reserved.
    pub(super) fn usage_if_reserved(&self, reserved: u64) -> u64 {
        let blocks = reserved.div_ceil(SIM_BLOCK_BYTES);
        (blocks + self.data.blocks_from(blocks)) * SIM_BLOCK_BYTES
    }

    /// New blocks a write of `len` bytes at `offset` needs, block by block:
    /// returns the blocks in order with whether each needs new space.
    pub(super) fn blocks_needed(&self, offset: u64, len: u64) -> Vec<(u64, bool)> {
        if len == 0 {
            return Vec::new();
        }
        let reserved = self.reserved_blocks();
        let first = offset / SIM_BLOCK_BYTES;
        let last = (offset + len - 1) / SIM_BLOCK_BYTES;
        (first..=last)
            .map(|b| (b, b >= reserved && !self.data.blocks.contains_key(&b)))
            .collect()
    }

    /// Makes every pending change durable.
    pub(super) fn sync(&mut self) {
        for op in self.pending.drain(..) {
            apply_data_op(&mut self.durable, &op);
        }
    }
}

pub(super) fn apply_data_op(target: &mut Sparse, op: &DataOp) {
    match op {
        DataOp::Write { offset, bytes } => target.write(*offset, bytes),
        DataOp::SetLen(len) => target.set_len(*len),
    }
}
