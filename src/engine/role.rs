//! The shipper's hold on the replica while it ships one epoch.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::types::CommitSeq;

use super::parts::ReaderGuard;
use super::snapshot::Anchor;

/// A chunk holds at most about this long of commits.
pub(super) const SHIP_INTERVAL: Duration = Duration::from_secs(1);

/// The writer's hold on the replica.
pub(super) struct Role {
    pub(super) epoch: u64,
    pub(super) next_slot: u64,
    pub(super) prev_digest: [u8; 32],
    pub(super) shipped: CommitSeq,
    /// Log offset just past the shipped commit.
    pub(super) cursor: u64,
    /// Keeps checkpoints at or before the shipped commit; None once the
    /// unshipped log passed `replica_retain_bytes` and was let go.
    pub(super) hold: Option<ReaderGuard>,
    pub(super) last_ship: Instant,
    /// A chunk built but not yet in the store: retried as it is, so a
    /// lost response finds its own bytes there.
    pub(super) pending: Option<(Vec<u8>, CommitSeq, u64)>,
    /// This epoch's slots a snapshot may anchor at, oldest first: from
    /// the newest one at or before the checkpoint on.
    pub(super) recent: VecDeque<Anchor>,
    /// The newest snapshot this epoch made (0: none).
    pub(super) snapshot_seq: CommitSeq,
    /// When the replica's newest snapshot was made (ms since the Unix
    /// epoch), whoever made it.
    pub(super) snapshot_ms: Option<u64>,
    pub(super) last_prune: Option<Instant>,
}

pub(super) use crate::replica::now_ms;

impl Role {
    pub(super) fn new(
        epoch: u64,
        anchor: Anchor,
        cursor: u64,
        hold: ReaderGuard,
        snapshot_ms: Option<u64>,
    ) -> Role {
        Role {
            epoch,
            next_slot: anchor.slot + 1,
            prev_digest: anchor.digest,
            shipped: anchor.next_seq - 1,
            cursor,
            hold: Some(hold),
            last_ship: Instant::now()
                .checked_sub(SHIP_INTERVAL)
                .unwrap_or_else(Instant::now),
            pending: None,
            recent: VecDeque::from([anchor]),
            snapshot_seq: 0,
            snapshot_ms,
            last_prune: None,
        }
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The pause of a replica thread (shipper or follower) while its store
/// fails: doubling from `BACKOFF_MIN` to `BACKOFF_MAX`, back to the start
/// after a success.
pub(super) struct Backoff(Duration);

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff(BACKOFF_MIN)
    }

    pub(super) fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }

    /// The next pause after a failure.
    pub(super) fn grow(&mut self) -> Duration {
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        self.0
    }
}
