//! Group commit across processes: one log sync for every process that
//! wrote before it.
//!
//! Within a process the pipeline already makes one thread sync for all
//! (`durable.rs`). Processes sharing a database append to the same log
//! files, and `fdatasync` writes out a file's dirty pages whoever wrote
//! them - so one process's sync can make another's commits durable. The
//! `{path}-shm` carries what it takes to use that safely:
//!
//! - `sync done`: a log offset before which everything is durable. It only
//!   moves after a sync that *started* once everything before the new
//!   value was written, on every segment file in between.
//! - `sync leader`: the slot of the process whose sync is in flight.
//!
//! A process that needs the log durable up to `to` is done if `sync done`
//! is there already. Otherwise, if another process leads a sync, it waits
//! for that one to end and looks again: meanwhile more processes pile up
//! behind, and the next leader syncs for all of them. Otherwise it leads:
//! it syncs from its own durable offset up to the furthest offset every
//! process has published as written (capped at the segments it has open),
//! then moves `sync done` there.
//!
//! Skipping one's own sync is the only thing that could lose a commit, and
//! it happens only when `sync done >= to`: the leader read the written
//! offset (published after the bytes were in the page cache) before its
//! sync began. A leader that dies or stops holds nobody for long: a
//! follower that finds it dead clears it, and one that has waited
//! [`FOLLOW_MAX`], or finds a leader that has led that long, syncs for
//! itself - always safe, merely one sync more.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::shm::Shm;
use crate::wal::Log;

/// Longest sleep between looks at a leader: one that dies mid-sync wakes
/// nobody.
const LEADER_POLL: Duration = Duration::from_millis(1);
/// How long a follower waits on other processes' syncs before syncing for
/// itself.
const FOLLOW_MAX: Duration = Duration::from_millis(50);

/// One process's side of the shared sync of a database's log.
#[derive(Clone, Copy)]
pub struct SharedSync<'a> {
    pub shm: &'a Shm,
    /// This process's slot in the shm.
    pub slot: usize,
}

impl SharedSync<'_> {
    /// Makes the log durable up to `to`, this process's own durable offset
    /// being `from`. Called by one thread of the process at a time (the
    /// pipeline's flush leader). Returns whether this process synced.
    pub fn sync(&self, wal: &Log, from: u64, to: u64) -> Result<bool> {
        // A sync that failed anywhere may have dropped pages that later
        // syncs - ours too - report as written: claim nothing after it.
        self.check_no_failure()?;
        let synced = self.coordinate(from, to, wal.prepared_end(), FOLLOW_MAX, |a, b| {
            wal.sync_range(a, b)
        })?;
        self.check_no_failure()?;
        Ok(synced)
    }

    fn check_no_failure(&self) -> Result<()> {
        match self.shm.failure() {
            Some(f) => Err(f.error(self.shm.path())),
            None => Ok(()),
        }
    }

    /// The protocol, with the sync of log range `[a, b)` as `sync_range`
    /// and `known_end` the end of the segments this process has open.
    fn coordinate(
        &self,
        from: u64,
        to: u64,
        known_end: u64,
        follow_max: Duration,
        mut sync_range: impl FnMut(u64, u64) -> Result<()>,
    ) -> Result<bool> {
        // `to` may lie past `known_end` right after adopting another
        // process's checkpoint (its log_start, in a segment not listed yet):
        // everything before it is in the synced main file then.
        debug_assert!(from <= to);
        let started = Instant::now();
        loop {
            if self.shm.sync_done() >= to {
                return Ok(false);
            }
            match self.shm.sync_leader() {
                // Only one thread per process syncs, and it is us: a stale
                // mark of a process that held our slot before.
                Some(s) if s == self.slot => self.shm.end_sync(s),
                Some(s) => {
                    // A leader stopped (SIGSTOP, a debugger) mid-sync must
                    // not hold every later flush for `follow_max` each.
                    if started.elapsed() >= follow_max || self.shm.sync_leader_age() >= follow_max {
                        // Alone: everything before `from` was durable
                        // already (our pipeline's durable offset), so all
                        // before `to` is once this returns.
                        sync_range(from, to)?;
                        self.shm.advance_sync_done(to);
                        return Ok(true);
                    }
                    let seen = self.shm.sync_generation();
                    if self.shm.sync_leader() == Some(s) {
                        self.shm.wait_sync(seen, LEADER_POLL);
                    }
                    if self.shm.sync_leader() == Some(s)
                        && self.shm.sync_generation() == seen
                        && !self.shm.slot_alive(s)
                    {
                        self.shm.end_sync(s);
                    }
                }
                None => {
                    if !self.shm.try_lead_sync(self.slot) {
                        continue;
                    }
                    // Read before the sync starts: everything before it is
                    // in the page cache now. Beyond the segments we have
                    // open we cannot sync.
                    let target = self.shm.written_end().min(known_end).max(to);
                    let r = sync_range(from, target);
                    if r.is_ok() {
                        self.shm.advance_sync_done(target);
                    }
                    self.shm.end_sync(self.slot);
                    return r.map(|()| true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::storage::{RealStorage, Storage};

    const PAGE: u32 = 4096;
    const DB_ID: u64 = 77;
    /// Long enough that a follower in these tests never gives up waiting.
    const PATIENT: Duration = Duration::from_secs(600);

    /// Two attached "processes" (OFD locks make two opens in one process
    /// as separate as two processes), each with its slot.
    fn two(dir: &std::path::Path) -> ((Shm, usize), (Shm, usize)) {
        let storage: Arc<dyn Storage> = Arc::new(RealStorage);
        let db = dir.join("g.db");
        let a = Shm::open(&storage, &db)
            .unwrap()
            .expect("real storage shares");
        assert!(a.attach(Duration::from_secs(5)).unwrap());
        a.clear(0);
        a.set_identity(PAGE, DB_ID);
        assert!(a.try_lease().unwrap());
        a.reset_tips(0, 1000, 0, 1);
        a.release_lease(true).unwrap();
        a.share().unwrap();
        let b = Shm::open(&storage, &db)
            .unwrap()
            .expect("real storage shares");
        assert!(!b.attach(Duration::from_secs(5)).unwrap());
        b.check(PAGE, DB_ID).unwrap();
        let (sa, sb) = (a.claim_slot().unwrap(), b.claim_slot().unwrap());
        ((a, sa), (b, sb))
    }

    /// What a holder publishes when it gives the lease up.
    fn publish_written(shm: &Shm, seq: u64, end: u64) {
        assert!(shm.try_lease().unwrap());
        shm.publish_written(seq, end);
        shm.release_lease(true).unwrap();
    }

    #[test]
    fn a_leader_syncs_up_to_what_every_process_wrote_and_followers_skip() {
        let dir = tempfile::tempdir().unwrap();
        let ((a, sa), (b, sb)) = two(dir.path());
        // B wrote up to 3000 and published it; A's own commits end at 2000.
        publish_written(&b, 3, 3000);
        let mut calls = Vec::new();
        let lead = SharedSync { shm: &a, slot: sa };
        let synced = lead
            .coordinate(1000, 2000, 10_000, PATIENT, |x, y| {
                calls.push((x, y));
                Ok(())
            })
            .unwrap();
        assert!(synced);
        assert_eq!(calls, vec![(1000, 3000)], "the leader covers B's bytes too");
        assert_eq!(a.sync_done(), 3000);
        assert_eq!(a.sync_leader(), None);
        // B's commit is durable by A's sync: no sync of its own.
        let follow = SharedSync { shm: &b, slot: sb };
        let synced = follow
            .coordinate(2000, 3000, 10_000, PATIENT, |_, _| {
                panic!("B synced although A's sync covered it")
            })
            .unwrap();
        assert!(!synced);
        // Past what anyone synced, B leads itself.
        let mut calls = Vec::new();
        assert!(follow
            .coordinate(3000, 3500, 10_000, PATIENT, |x, y| {
                calls.push((x, y));
                Ok(())
            })
            .unwrap());
        assert_eq!(calls, vec![(3000, 3500)]);
    }

    #[test]
    fn a_leader_syncs_no_further_than_its_open_segments() {
        let dir = tempfile::tempdir().unwrap();
        let ((a, sa), (b, _)) = two(dir.path());
        publish_written(&b, 9, 9000);
        let mut calls = Vec::new();
        SharedSync { shm: &a, slot: sa }
            .coordinate(1000, 2000, 6000, PATIENT, |x, y| {
                calls.push((x, y));
                Ok(())
            })
            .unwrap();
        assert_eq!(calls, vec![(1000, 6000)]);
        assert_eq!(a.sync_done(), 6000, "never claims bytes it did not sync");
    }

    #[test]
    fn a_failed_sync_claims_nothing_and_frees_the_lead() {
        let dir = tempfile::tempdir().unwrap();
        let ((a, sa), _) = two(dir.path());
        let r = SharedSync { shm: &a, slot: sa }.coordinate(1000, 2000, 6000, PATIENT, |_, _| {
            Err(crate::error::Error::Internal("injected".into()))
        });
        assert!(r.is_err());
        assert_eq!(a.sync_done(), 1000);
        assert_eq!(a.sync_leader(), None);
    }

    #[test]
    fn a_follower_waits_for_the_running_sync_and_skips_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let ((a, sa), (b, sb)) = two(dir.path());
        assert!(a.try_lead_sync(sa));
        publish_written(&b, 2, 2500);
        std::thread::scope(|s| {
            let follower = s.spawn(|| {
                SharedSync { shm: &b, slot: sb }.coordinate(1000, 2500, 10_000, PATIENT, |_, _| {
                    panic!("B synced while A's sync covered it")
                })
            });
            // A's sync (started after B published) completes.
            a.advance_sync_done(2500);
            a.end_sync(sa);
            assert!(!follower.join().unwrap().unwrap());
        });
    }

    #[test]
    fn a_dead_leader_is_cleared_and_a_stale_own_mark_too() {
        let dir = tempfile::tempdir().unwrap();
        let ((a, sa), (b, sb)) = two(dir.path());
        // A slot nobody holds: its process is gone.
        let dead = (0..crate::shm::SHM_SLOTS)
            .find(|&s| s != sa && s != sb)
            .unwrap();
        assert!(a.try_lead_sync(dead));
        let mut calls = 0;
        assert!(SharedSync { shm: &b, slot: sb }
            .coordinate(1000, 2000, 10_000, PATIENT, |_, _| {
                calls += 1;
                Ok(())
            })
            .unwrap());
        assert_eq!(calls, 1);
        assert_eq!(b.sync_leader(), None);
        // Our own slot marked as leader can only be left from before.
        assert!(b.try_lead_sync(sb));
        assert!(SharedSync { shm: &b, slot: sb }
            .coordinate(2000, 2100, 10_000, PATIENT, |_, _| Ok(()))
            .unwrap());
        assert_eq!(b.sync_done(), 2100);
    }

    #[test]
    fn a_follower_that_waited_too_long_syncs_alone() {
        let dir = tempfile::tempdir().unwrap();
        let ((a, sa), (b, sb)) = two(dir.path());
        // A is alive and leads, but its sync never ends.
        assert!(a.try_lead_sync(sa));
        let mut calls = Vec::new();
        assert!(SharedSync { shm: &b, slot: sb }
            .coordinate(1000, 2000, 10_000, Duration::ZERO, |x, y| {
                calls.push((x, y));
                Ok(())
            })
            .unwrap());
        assert_eq!(calls, vec![(1000, 2000)]);
        assert_eq!(b.sync_done(), 2000);
        assert_eq!(b.sync_leader(), Some(sa), "A's lead is A's to end");
    }

    #[test]
    fn a_follower_does_not_wait_on_a_leader_that_has_led_too_long() {
        let dir = tempfile::tempdir().unwrap();
        let ((a, sa), (b, sb)) = two(dir.path());
        // A is alive and took the lead long ago (stopped mid-sync, say).
        assert!(a.try_lead_sync(sa));
        a.backdate_sync_leader(Duration::from_secs(3600));
        let mut calls = Vec::new();
        assert!(SharedSync { shm: &b, slot: sb }
            .coordinate(1000, 2000, 10_000, PATIENT, |x, y| {
                calls.push((x, y));
                Ok(())
            })
            .unwrap());
        assert_eq!(calls, vec![(1000, 2000)]);
        assert_eq!(b.sync_done(), 2000);
    }
}
