//! What the shipper reports: its state, how far it got, and how far
//! behind it is - shared between the shipper thread and the handles that
//! ask (status, wait_replicated, and commits, which refuse once fenced).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::mutex::{Condvar, Mutex};

use crate::types::CommitSeq;

/// Wall-clock milliseconds since the Unix epoch: what objects carry.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Upper bounds (milliseconds) of the put-latency histogram's buckets;
/// the last bucket takes everything slower.
pub const PUT_LATENCY_BUCKETS_MS: [u64; 8] = [5, 10, 25, 50, 100, 250, 1000, 5000];

/// Where the shipper is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum State {
    /// No replica configured.
    #[default]
    Off,
    /// Shipping (or caught up and waiting for commits).
    Shipping,
    /// The store failed; retrying with backoff. Commits go on.
    Backoff,
    /// Another writer took the replica: this one ships no more and its
    /// database refuses commits.
    Fenced,
    /// The log the replica needs next is gone (past the retention bound,
    /// or checkpointed before it shipped): a fresh snapshot heals it.
    NeedsSnapshot,
    /// Another process of this database holds the shipper role (or this
    /// one has not taken it yet).
    Standby,
    /// A follower: applying the replica's commits as they appear.
    Following,
    /// A follower that found the replica on another history than its own
    /// (a fork, a rollback, or slots it needs deleted): it applies no
    /// more until it is re-snapshotted.
    Forked,
}

impl State {
    /// The state's name as status reports and `lcctl` print it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Off => "off",
            State::Shipping => "shipping",
            State::Backoff => "backoff",
            State::Fenced => "fenced",
            State::NeedsSnapshot => "needs-snapshot",
            State::Standby => "standby",
            State::Following => "following",
            State::Forked => "forked",
        }
    }
}

/// A replica's status as a caller sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// What the shipper is doing.
    pub state: State,
    /// The epoch this writer ships under (0 before it took the replica).
    pub epoch: u64,
    /// Every commit up to this one is in the replica.
    pub shipped_seq: CommitSeq,
    /// Durable commits not yet in the replica.
    pub lag_commits: u64,
    /// Their log bytes.
    pub lag_bytes: u64,
    /// How long the oldest unshipped commit has waited (the current RPO);
    /// 0 when nothing is waiting.
    pub oldest_unshipped_ms: u64,
    /// The newest error or reason the state changed ("" if none).
    pub last_error: String,
    /// Chunks this shipper created in the replica.
    pub chunks_shipped: u64,
    /// The checkpoint of the newest snapshot this shipper uploaded (0:
    /// none yet).
    pub snapshot_seq: CommitSeq,
    /// Snapshots this shipper uploaded.
    pub snapshots_made: u64,
    /// Puts by latency bucket (`PUT_LATENCY_BUCKETS_MS`, then slower).
    pub put_latency_counts: [u64; 9],
    /// A follower: every commit up to this one is applied here.
    pub applied_seq: CommitSeq,
    /// A follower: commits the store holds that are not applied yet, as
    /// of its last look (0: it found no newer slot).
    pub behind_commits: u64,
    /// A follower: how long the oldest of those has been in the store
    /// (ms; 0 when none).
    pub behind_ms: u64,
    /// A follower: from the newest applied chunk's making to its commits
    /// being visible here (ms): the replication delay end to end.
    pub apply_lag_ms: u64,
}

/// Shared between the shipper and the engine.
#[derive(Debug, Default)]
pub struct Tracker {
    status: Mutex<Inner>,
    moved: Condvar,
    fenced: AtomicBool,
    /// The create-only probe passed (at open): the shipper need not run
    /// it again.
    pub probed: AtomicBool,
    pub stop: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    status: ReplicaStatus,
    /// When the oldest commit not yet shipped was first seen unshipped.
    waiting_since: Option<Instant>,
}

impl Tracker {
    /// A shipper about to start: it has not taken the role yet.
    pub fn starting(probed: bool) -> Tracker {
        let t = Tracker::default();
        t.probed.store(probed, Ordering::Release);
        t.status.lock().status.state = State::Standby;
        t
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    pub fn snapshot(&self) -> ReplicaStatus {
        let g = self.status.lock();
        let mut s = g.status.clone();
        s.oldest_unshipped_ms = g
            .waiting_since
            .map_or(0, |t| t.elapsed().as_millis() as u64);
        s
    }

    pub fn set_state(&self, state: State, error: Option<String>) {
        if state == State::Fenced {
            self.fenced.store(true, Ordering::Release);
        }
        let mut g = self.status.lock();
        if g.status.state != State::Fenced {
            g.status.state = state;
        }
        if let Some(e) = error {
            g.status.last_error = e;
        }
        drop(g);
        self.moved.notify_all();
    }

    pub fn set_epoch(&self, epoch: u64, shipped: CommitSeq) {
        let mut g = self.status.lock();
        g.status.epoch = epoch;
        g.status.shipped_seq = shipped;
    }

    /// The durable tip and the log bytes past the shipped commit, as the
    /// shipper last measured them.
    pub fn set_lag(&self, durable: CommitSeq, lag_bytes: u64) {
        let mut g = self.status.lock();
        g.status.lag_commits = durable.saturating_sub(g.status.shipped_seq);
        g.status.lag_bytes = lag_bytes;
        if g.status.lag_commits == 0 {
            g.waiting_since = None;
        } else if g.waiting_since.is_none() {
            g.waiting_since = Some(Instant::now());
        }
    }

    /// A chunk ending at `seq` is in the replica, after `put` of latency.
    pub fn shipped(&self, seq: CommitSeq, put: Duration, durable: CommitSeq) {
        let mut g = self.status.lock();
        g.status.shipped_seq = seq;
        g.status.chunks_shipped += 1;
        let ms = put.as_millis() as u64;
        let b = PUT_LATENCY_BUCKETS_MS
            .iter()
            .position(|&hi| ms <= hi)
            .unwrap_or(PUT_LATENCY_BUCKETS_MS.len());
        g.status.put_latency_counts[b] += 1;
        g.status.lag_commits = durable.saturating_sub(seq);
        // The oldest waiting commit is now younger: restart its clock.
        g.waiting_since = (g.status.lag_commits > 0).then(Instant::now);
        if g.status.state == State::Backoff {
            g.status.state = State::Shipping;
        }
        drop(g);
        self.moved.notify_all();
    }

    /// A follower applied slot of `epoch` up to commit `seq`, made at
    /// `created_ms`; `behind`: commits still to apply, and the age of
    /// the oldest (0, 0: it is caught up).
    pub fn applied(&self, epoch: u64, seq: CommitSeq, created_ms: Option<u64>, behind: (u64, u64)) {
        let mut g = self.status.lock();
        g.status.epoch = epoch;
        g.status.applied_seq = seq;
        if let Some(ms) = created_ms {
            g.status.apply_lag_ms = now_ms().saturating_sub(ms);
        }
        (g.status.behind_commits, g.status.behind_ms) = behind;
        if g.status.state == State::Backoff || g.status.state == State::Standby {
            g.status.state = State::Following;
        }
        drop(g);
        self.moved.notify_all();
    }

    /// A follower stopped: the replica holds another history.
    pub fn forked(&self, why: String) {
        let mut g = self.status.lock();
        g.status.state = State::Forked;
        g.status.last_error = why;
        drop(g);
        self.moved.notify_all();
    }

    /// A snapshot of the main file at `seq` is in the replica.
    pub fn snapshot_made(&self, seq: CommitSeq) {
        let mut g = self.status.lock();
        g.status.snapshot_seq = seq;
        g.status.snapshots_made += 1;
        drop(g);
        self.moved.notify_all();
    }

    /// Waits until commit `seq` is shipped; false on timeout, or when the
    /// shipper can no longer get there (fenced, off). A shipper that
    /// needs a snapshot gets there after the next checkpoint.
    pub fn wait_shipped(&self, seq: CommitSeq, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.status.lock();
        loop {
            if g.status.shipped_seq >= seq {
                return true;
            }
            if matches!(g.status.state, State::Fenced | State::Off)
                || self.moved.wait_until(&mut g, deadline).timed_out()
            {
                return g.status.shipped_seq >= seq;
            }
        }
    }

    pub fn wake(&self) {
        self.moved.notify_all();
    }
}

impl Tracker {
    /// Sleeps for `d`, or less once stop is asked for.
    pub fn sleep_unless_stopped(&self, d: Duration) {
        let mut g = self.status.lock();
        if !self.stop.load(Ordering::Acquire) {
            let _ = self.moved.wait_for(&mut g, d);
        }
    }
}
