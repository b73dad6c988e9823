//! Per-page version chains.
//!
//! Each page written since the last checkpoint has a chain of committed
//! versions, oldest first. Small images live in memory; images of large
//! commits and of recovered commits stay in the log and are read (and
//! verified) on demand, so memory does not grow with the log. A checkpoint
//! at C drops every version <= C: the main file then holds the newest
//! version <= C of every page, and no reader's snapshot is older than C.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mutex::RwLock;

use crate::types::{CommitSeq, Page, Pgno};
use crate::wal::Stream;

/// Number of independently locked shards of the version map.
const SHARDS: usize = 64;

/// What one version of a page is.
#[derive(Clone, Debug)]
pub enum VersionData {
    /// The image, in memory.
    Inline(Page),
    /// The image, in a log stream: `len` bytes at `log_offset`, CRC32C `crc`.
    Logged {
        stream: Stream,
        log_offset: u64,
        len: u32,
        crc: u32,
    },
    /// The page was deleted.
    Deleted,
}

#[derive(Clone, Debug)]
struct Version {
    seq: CommitSeq,
    data: VersionData,
}

type Shard = RwLock<HashMap<Pgno, Vec<Version>>>;

/// All retained versions.
pub struct VersionStore {
    shards: Box<[Shard]>,
    count: AtomicU64,
}

impl Default for VersionStore {
    fn default() -> Self {
        VersionStore {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            count: AtomicU64::new(0),
        }
    }
}

impl VersionStore {
    fn shard(&self, pgno: Pgno) -> &Shard {
        // Fibonacci hashing spreads sequential page numbers over shards.
        let h = (u64::from(pgno).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        &self.shards[h % SHARDS]
    }

    /// Adds version `seq` of `pgno`. Versions of one page may arrive out of
    /// order (blind batches do not conflict); chains stay sorted.
    pub fn install(&self, pgno: Pgno, seq: CommitSeq, data: VersionData) {
        let mut shard = self.shard(pgno).write();
        let chain = shard.entry(pgno).or_default();
        let at = chain.partition_point(|v| v.seq < seq);
        debug_assert!(
            chain.get(at).is_none_or(|v| v.seq != seq),
            "version installed twice"
        );
        chain.insert(at, Version { seq, data });
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The newest version of `pgno` at or below `snapshot`, with its seq.
    pub fn get(&self, pgno: Pgno, snapshot: CommitSeq) -> Option<(CommitSeq, VersionData)> {
        let shard = self.shard(pgno).read();
        let chain = shard.get(&pgno)?;
        let at = chain.partition_point(|v| v.seq <= snapshot);
        at.checked_sub(1)
            .map(|i| (chain[i].seq, chain[i].data.clone()))
    }

    /// The newest version <= `upto` of every page that has one, sorted by
    /// page number: what a checkpoint at `upto` writes.
    pub fn newest_upto(&self, upto: CommitSeq) -> Vec<(Pgno, CommitSeq, VersionData)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            for (&pgno, chain) in shard.read().iter() {
                let at = chain.partition_point(|v| v.seq <= upto);
                if let Some(v) = at.checked_sub(1).map(|i| &chain[i]) {
                    out.push((pgno, v.seq, v.data.clone()));
                }
            }
        }
        out.sort_unstable_by_key(|&(pgno, _, _)| pgno);
        out
    }

    /// Drops every version <= `upto`.
    pub fn gc(&self, upto: CommitSeq) {
        let mut dropped = 0u64;
        for shard in &self.shards {
            shard.write().retain(|_, chain| {
                let at = chain.partition_point(|v| v.seq <= upto);
                dropped += at as u64;
                chain.drain(..at);
                !chain.is_empty()
            });
        }
        self.count.fetch_sub(dropped, Ordering::Relaxed);
    }

    /// Versions with `lo < seq <= hi`.
    pub fn count_in(&self, lo: CommitSeq, hi: CommitSeq) -> u64 {
        let mut n = 0;
        for shard in &self.shards {
            for chain in shard.read().values() {
                n += chain.iter().filter(|v| v.seq > lo && v.seq <= hi).count() as u64;
            }
        }
        n
    }

    /// Versions held.
    pub fn len(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_and_gc() {
        let vs = VersionStore::default();
        vs.install(7, 5, VersionData::Inline(Page::from(&b"five"[..])));
        vs.install(7, 3, VersionData::Inline(Page::from(&b"three"[..])));
        vs.install(7, 9, VersionData::Deleted);
        assert!(vs.get(7, 2).is_none());
        assert!(matches!(vs.get(7, 4), Some((3, VersionData::Inline(p))) if &*p == b"three"));
        assert!(matches!(vs.get(7, 8), Some((5, _))));
        assert!(matches!(vs.get(7, 100), Some((9, VersionData::Deleted))));
        assert_eq!(vs.newest_upto(6).len(), 1);
        vs.gc(5);
        assert_eq!(vs.len(), 1);
        assert!(
            vs.get(7, 8).is_none(),
            "versions <= 5 are gone; the main file serves them"
        );
    }
}
