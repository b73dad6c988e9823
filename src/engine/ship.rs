//! The replica shipper: a thread that takes the shipper role, fences the
//! replica with a new epoch, and ships whole durable commits in chunks.
//!
//! Commits never wait for it: it reads the log after the fact, through
//! the same verified scan that catching up uses, so WAL and NATIVE
//! databases ship alike. It holds a reader slot at the last shipped
//! commit, so no checkpoint (in any process) retires log it still needs -
//! up to `replica_retain_bytes`, past which it lets go and reports
//! needs-snapshot.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::mvcc::VersionData;
use crate::recovery;
use crate::replica::{self, Commit, Created, Header, Kind, State, Store, Tracker};
use crate::types::{CommitSeq, Page, Pgno};

use super::parts::{Engine, ReaderGuard};

/// A chunk holds at most about this long of commits.
const SHIP_INTERVAL: Duration = Duration::from_secs(1);
/// How often the shipper looks for new durable commits.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The writer's hold on the replica.
struct Role {
    epoch: u64,
    next_slot: u64,
    prev_digest: [u8; 32],
    shipped: CommitSeq,
    /// Log offset just past the shipped commit.
    cursor: u64,
    /// Keeps checkpoints at or before the shipped commit.
    hold: Option<ReaderGuard>,
    last_ship: Instant,
    /// A chunk built but not yet in the store: retried as it is, so a
    /// lost response finds its own bytes there.
    pending: Option<(Vec<u8>, CommitSeq, u64)>,
}

enum Step {
    Idle,
    Shipped,
    /// Nothing more to do: fenced, refused, or the log is gone.
    Done,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Engine {
    pub(super) fn start_shipper(self: &Arc<Self>) {
        let (Some(tracker), Some(url)) = (&self.replica, &self.opts.replica) else {
            return;
        };
        let (weak, t, url) = (Arc::downgrade(self), Arc::clone(tracker), url.clone());
        let spawned = std::thread::Builder::new()
            .name("lc-shipper".into())
            .spawn(move || ship_main(&weak, &t, &url));
        match spawned {
            Ok(h) => *self.shipper.lock() = Some(h),
            Err(e) => tracker.set_state(State::Off, Some(format!("start shipper: {e}"))),
        }
    }

    /// Stops the shipper after one last attempt to ship what is durable.
    pub(super) fn stop_shipper(&self) {
        if let Some(t) = &self.replica {
            t.stop.store(true, Ordering::Release);
            t.wake();
        }
        if let Some(h) = self.shipper.lock().take() {
            let _ = h.join();
        }
    }

    pub fn replica_status(&self) -> replica::ReplicaStatus {
        self.replica
            .as_ref()
            .map(|t| t.snapshot())
            .unwrap_or_default()
    }

    /// Waits until commit `seq` is in the replica; false on timeout.
    pub fn wait_replicated(&self, seq: CommitSeq, timeout: Duration) -> Result<bool> {
        let Some(t) = &self.replica else {
            return Err(Error::invalid(format!(
                "{}: wait_replicated: no replica is configured",
                self.path.display()
            )));
        };
        Ok(t.wait_shipped(seq, timeout))
    }

    fn ship_step(&self, store: &Store, t: &Tracker, role: &mut Option<Role>) -> Result<Step> {
        if role.is_none() {
            if let Some(l) = &self.lease {
                if !l.shm.try_shipper()? {
                    t.set_state(State::Standby, None);
                    return Ok(Step::Idle);
                }
            }
            if !t.probed.load(Ordering::Acquire) {
                if let Err(e) = replica::probe(store) {
                    if matches!(e, Error::InvalidArgument(_)) {
                        t.set_state(State::Off, Some(e.to_string()));
                        return Ok(Step::Done);
                    }
                    return Err(e);
                }
                t.probed.store(true, Ordering::Release);
            }
            match self.take_role(store, t)? {
                Some(r) => *role = Some(r),
                None => return Ok(Step::Done),
            }
        }
        let Some(r) = role.as_mut() else {
            return Ok(Step::Idle);
        };
        self.ship_some(store, t, r)
    }

    /// Fences the replica with the next epoch at the slot after its tip.
    fn take_role(&self, store: &Store, t: &Tracker) -> Result<Option<Role>> {
        let tip = replica::tip(store)?;
        let (slot, epoch, base, prev) = tip.as_ref().map_or((0, 1, 0, [0u8; 32]), |p| {
            (
                p.header.slot + 1,
                p.header.epoch + 1,
                p.header.last_seq,
                p.digest,
            )
        });
        let main = self.main.header();
        if self.pipe.durable() < base {
            t.set_state(
                State::Fenced,
                Some(format!(
                    "the replica holds commits up to {base}, this database only up to {}: \
                     restore from the replica instead of writing a second history",
                    self.pipe.durable()
                )),
            );
            return Ok(None);
        }
        let hold = self.hold_at(base);
        let cursor = if base == main.checkpoint_seq {
            Some(main.log_start)
        } else {
            self.pipe.end_of(base)
        };
        let (Some(hold), Some(cursor)) = (hold, cursor) else {
            t.set_state(
                State::NeedsSnapshot,
                Some(format!(
                    "the replica ends at commit {base} but this database checkpointed to {}",
                    main.checkpoint_seq
                )),
            );
            return Ok(None);
        };
        let fence = Header {
            kind: Kind::Fence,
            epoch,
            slot,
            first_seq: base + 1,
            last_seq: base,
            created_ms: now_ms(),
            page_size: self.page_size(),
            commits: 0,
            prev_digest: prev,
        };
        let Some(digest) = self.write_fence(store, fence)? else {
            t.set_state(
                State::Fenced,
                Some(format!("another writer took slot {slot} first")),
            );
            return Ok(None);
        };
        t.set_epoch(epoch, base);
        t.set_state(State::Shipping, None);
        Ok(Some(Role {
            epoch,
            next_slot: slot + 1,
            prev_digest: digest,
            shipped: base,
            cursor,
            hold: Some(hold),
            last_ship: Instant::now()
                .checked_sub(SHIP_INTERVAL)
                .unwrap_or_else(Instant::now),
            pending: None,
        }))
    }

    /// Writes the fence, then the epoch's manifest; the fence's digest,
    /// or None when another writer's fence holds the slot.
    fn write_fence(&self, store: &Store, mut h: Header) -> Result<Option<[u8; 32]>> {
        // Writer ids make two writers' fences differ even when made in
        // the same millisecond: a lost response is told from a lost race.
        let mut ids = self.db_id.to_le_bytes().to_vec();
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(40);
        ids.extend_from_slice(&nonce.to_le_bytes());
        let fence = replica::encode(&h, &ids);
        let digest = replica::digest_of(&fence);
        let name = replica::slot_name(h.slot);
        if replica::create_or_match(store, &name, fence)? == Created::Taken {
            return Ok(None);
        }
        h.kind = Kind::Manifest;
        h.prev_digest = digest;
        let manifest = replica::encode(&h, &ids);
        replica::create_or_match(store, &replica::manifest_name(h.epoch), manifest)?;
        Ok(Some(digest))
    }

    /// A reader slot at `seq`, if no checkpoint has passed it.
    fn hold_at(&self, seq: CommitSeq) -> Option<ReaderGuard> {
        let token = self.readers.register(|| seq);
        let passed = self.main.header().checkpoint_seq > seq
            || self
                .lease
                .as_ref()
                .is_some_and(|l| l.shm.checkpoint_target() > seq);
        (!passed).then_some(ReaderGuard { token })
    }

    fn ship_some(&self, store: &Store, t: &Tracker, r: &mut Role) -> Result<Step> {
        if self.lease.is_some() {
            // Other processes' commits: caught up on like a reader.
            drop(self.begin_read()?);
        }
        let durable = self.pipe.durable().min(self.pipe.visible());
        let lag_bytes = self.pipe.written_end().saturating_sub(r.cursor);
        t.set_lag(durable, lag_bytes);
        if r.pending.is_none() {
            if lag_bytes > self.opts.replica_retain_bytes {
                r.hold = None;
                t.set_state(
                    State::NeedsSnapshot,
                    Some(format!(
                        "{lag_bytes} bytes of log unshipped, past the bound of {}",
                        self.opts.replica_retain_bytes
                    )),
                );
                return Ok(Step::Done);
            }
            let due = r.last_ship.elapsed() >= SHIP_INTERVAL
                || lag_bytes >= replica::CHUNK_TARGET_BYTES as u64
                || t.stop.load(Ordering::Acquire);
            if durable <= r.shipped || !due {
                return Ok(Step::Idle);
            }
            r.pending = self.build_chunk(r, durable)?;
        }
        let Some((bytes, last, end)) = r.pending.clone() else {
            return Ok(Step::Idle);
        };
        let started = Instant::now();
        let name = replica::slot_name(r.next_slot);
        if replica::create_or_match(store, &name, bytes.clone())? == Created::Taken {
            r.hold = None;
            t.set_state(
                State::Fenced,
                Some(format!(
                    "another writer took {name}: a newer epoch owns the replica"
                )),
            );
            return Ok(Step::Done);
        }
        r.pending = None;
        r.prev_digest = replica::digest_of(&bytes);
        r.next_slot += 1;
        r.shipped = last;
        r.cursor = end;
        r.last_ship = Instant::now();
        // The new hold before the old one goes: no moment without one.
        let hold = self.hold_at(last);
        r.hold = hold;
        t.shipped(last, started.elapsed(), durable);
        Ok(Step::Shipped)
    }

    /// The next chunk after the shipped commit, up to `upto`: its bytes,
    /// last commit and the log offset past it.
    fn build_chunk(&self, r: &Role, upto: CommitSeq) -> Result<Option<(Vec<u8>, CommitSeq, u64)>> {
        let header = self.main.header();
        let scan = recovery::scan_tail(
            &self.log.segments_from(r.cursor),
            &self.capsules.log.segments(),
            &header,
            self.boot_tag,
            r.cursor,
            r.shipped,
            Some(upto),
            false,
        );
        if let Some(c) = &scan.corruption {
            return Err(Error::Corrupt(format!(
                "{}: reading the log to ship it: {}",
                self.path.display(),
                c.reason
            )));
        }
        let mut by_seq: std::collections::BTreeMap<CommitSeq, Vec<(Pgno, VersionData)>> =
            std::collections::BTreeMap::new();
        for rec in scan.records {
            by_seq
                .entry(rec.seq)
                .or_default()
                .push((rec.pgno, rec.data));
        }
        let mut body = Vec::new();
        let (mut count, mut last, mut end) = (0u32, r.shipped, r.cursor);
        for (seq, seq_end) in scan.ends {
            if seq <= r.shipped || seq > upto || body.len() >= replica::CHUNK_TARGET_BYTES {
                continue;
            }
            let mut writes = Vec::new();
            for (pgno, data) in by_seq.remove(&seq).unwrap_or_default() {
                writes.push((pgno, self.image_of(data)?));
            }
            replica::put_commit(&mut body, &Commit { seq, writes });
            (count, last, end) = (count + 1, seq, seq_end);
        }
        if count == 0 {
            return Ok(None);
        }
        let h = Header {
            kind: Kind::Chunk,
            epoch: r.epoch,
            slot: r.next_slot,
            first_seq: r.shipped + 1,
            last_seq: last,
            created_ms: now_ms(),
            page_size: self.page_size(),
            commits: count,
            prev_digest: r.prev_digest,
        };
        Ok(Some((replica::encode(&h, &body), last, end)))
    }

    fn image_of(&self, data: VersionData) -> Result<Option<Page>> {
        Ok(match data {
            VersionData::Inline(p) => Some(p),
            VersionData::Deleted => None,
            VersionData::Logged {
                stream,
                log_offset,
                len,
                crc,
            } => Some(self.read_logged(stream, log_offset, len, crc)?),
        })
    }
}

/// The shipper thread: steps until stopped, fenced or refused; backs off
/// while the store fails. The engine is borrowed one step at a time.
fn ship_main(engine: &Weak<Engine>, t: &Tracker, url: &str) {
    let store = match Store::open(url) {
        Ok(s) => s,
        Err(e) => return t.set_state(State::Off, Some(e.to_string())),
    };
    let mut role = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        let stopping = t.stop.load(Ordering::Acquire);
        let Some(e) = engine.upgrade() else { break };
        let step = e.ship_step(&store, t, &mut role);
        drop(e);
        let pause = match step {
            Ok(Step::Shipped) => {
                backoff = BACKOFF_MIN;
                continue;
            }
            Ok(Step::Done) => break,
            Ok(Step::Idle) => {
                backoff = BACKOFF_MIN;
                POLL_INTERVAL
            }
            Err(err) => {
                t.set_state(State::Backoff, Some(err.to_string()));
                backoff = (backoff * 2).min(BACKOFF_MAX);
                backoff
            }
        };
        if stopping {
            break;
        }
        t.sleep_unless_stopped(pause);
    }
    if role.is_some() {
        if let Some(l) = engine.upgrade().as_ref().and_then(|e| e.lease.as_ref()) {
            l.shm.release_shipper();
        }
    }
}
