//! A small cache of verified main-file pages.
//!
//! Main-file pages change only at a checkpoint, which bumps the main
//! header's generation; entries carry the generation they were read under
//! and count only while it is current, so a read racing a checkpoint can
//! never serve a page from the old state. Memory is bounded: each shard
//! has a byte budget and is emptied when an insert would pass it.

use std::collections::HashMap;

use crate::mutex::Mutex;

use crate::types::{Page, Pgno};

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    pages: HashMap<Pgno, (u64, Page)>,
    bytes: usize,
}

/// Verified main-file pages by page number.
pub struct PageCache {
    shards: Box<[Mutex<Shard>]>,
    shard_budget_bytes: usize,
}

impl PageCache {
    /// A cache holding at most about `budget_bytes` of images (0 = off).
    pub fn new(budget_bytes: u64) -> PageCache {
        PageCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_budget_bytes: (budget_bytes / SHARDS as u64) as usize,
        }
    }

    fn shard(&self, pgno: Pgno) -> &Mutex<Shard> {
        &self.shards[(pgno as usize).wrapping_mul(0x9E37_79B9) % SHARDS]
    }

    /// The cached image of `pgno` read under `generation`, if any.
    pub fn get(&self, pgno: Pgno, generation: u64) -> Option<Page> {
        if self.shard_budget_bytes == 0 {
            return None;
        }
        let shard = self.shard(pgno).lock();
        match shard.pages.get(&pgno) {
            Some((g, p)) if *g == generation => Some(p.clone()),
            _ => None,
        }
    }

    /// Remembers `page` as `pgno`'s image under `generation`.
    pub fn insert(&self, pgno: Pgno, generation: u64, page: &Page) {
        if self.shard_budget_bytes == 0 || page.len() > self.shard_budget_bytes {
            return;
        }
        let mut shard = self.shard(pgno).lock();
        if shard.bytes + page.len() > self.shard_budget_bytes {
            // Crude but bounded: start the shard over.
            shard.pages.clear();
            shard.bytes = 0;
        }
        if let Some((_, old)) = shard.pages.insert(pgno, (generation, page.clone())) {
            shard.bytes -= old.len();
        }
        shard.bytes += page.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_count_only_under_their_generation_and_stay_bounded() {
        let c = PageCache::new(16 * 4096);
        let p = Page::from(vec![1u8; 4096]);
        c.insert(7, 3, &p);
        assert!(c.get(7, 3).is_some());
        assert!(c.get(7, 4).is_none(), "a newer checkpoint hides it");
        for pgno in 0..1000 {
            c.insert(pgno, 3, &p);
        }
        let bytes: usize = c.shards.iter().map(|s| s.lock().bytes).sum();
        assert!(bytes <= 16 * 4096);
        assert!(PageCache::new(0).get(7, 3).is_none());
    }
}
