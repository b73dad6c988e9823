//! The replica shipper: a thread that takes the shipper role, fences the
//! replica with a new epoch, and ships whole durable commits in chunks.
//!
//! Commits never wait for it: it reads the log after the fact, through
//! the same verified scan that catching up uses, so WAL and NATIVE
//! databases ship alike. It holds a reader slot at the last shipped
//! commit, so no checkpoint (in any process) retires log it still needs -
//! up to `replica_retain_bytes`, past which it lets go and reports
//! needs-snapshot until a checkpoint lets a snapshot restart the chain.
//! After checkpoints it uploads snapshots of the main file
//! (`engine/snapshot.rs`) and applies the replica's retention.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::mvcc::VersionData;
use crate::recovery;
use crate::replica::{
    self, Commit, Created, Header, Kind, Lineage, Part, ReplicaStatus, Retention, State, Store,
    Tracker,
};
use crate::types::{CommitSeq, Page, Pgno};

use super::fence::Take;
use super::parts::{Engine, ReaderGuard};
use super::role::{now_ms, Backoff, Role, SHIP_INTERVAL};
use super::snapshot::Anchor;

/// Retention runs after every snapshot and at least this often (sooner
/// when the grace period is shorter, so deletions it deferred happen
/// about when they fall due).
const PRUNE_INTERVAL_MAX: Duration = Duration::from_secs(60);
/// ... but never more often than this: a pass costs LISTs and a GET per
/// snapshot.
const PRUNE_INTERVAL_MIN: Duration = Duration::from_secs(1);
/// While commits wait, the status file is rewritten this often (the
/// oldest one's age is in it).
const STATUS_REFRESH: Duration = Duration::from_secs(1);
/// How often the shipper looks for new durable commits.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The shipper thread's own state between steps.
#[derive(Default)]
struct Shipper {
    role: Option<Role>,
    /// This process holds the shipper role lock (kept across epochs).
    has_role_lock: bool,
    probed: bool,
    /// The status last written to `{path}-replica`, and when.
    published: Option<(ReplicaStatus, Instant)>,
    /// The reader slot taken at open, until the role's own hold (or
    /// another process's shipper) takes over.
    first_hold: Option<ReaderGuard>,
}

enum Step {
    Idle,
    /// Not now (a checkpoint is moving the main file): look again after
    /// a backoff, not at the next poll - each look costs requests.
    Later,
    Shipped,
    /// Nothing more to do: fenced, refused, or the log is gone.
    Done,
}

impl Engine {
    pub(super) fn start_shipper(self: &Arc<Self>) {
        let (Some(tracker), Some(url)) = (&self.replica, &self.opts.replica) else {
            return;
        };
        if self.lineage.following.load(Ordering::Acquire) {
            // A follower's thread is started by whoever follows.
            tracker.set_state(State::Standby, None);
            return;
        }
        self.fence_at_open(tracker, url);
        let (weak, t, url) = (Arc::downgrade(self), Arc::clone(tracker), url.clone());
        // Until the shipper has taken the replica (a probe and a few
        // requests away), this keeps the log since the last checkpoint
        // from being checkpointed away under it: otherwise a busy new
        // database would start its replica from a snapshot every time.
        let first_hold = self.hold_at(self.main.header().checkpoint_seq);
        let spawned = std::thread::Builder::new()
            .name("lc-shipper".into())
            .spawn(move || ship_main(&weak, &t, &url, first_hold));
        match spawned {
            Ok(h) => *self.lineage.thread.lock() = Some(h),
            Err(e) => tracker.set_state(State::Off, Some(format!("start shipper: {e}"))),
        }
    }

    /// Stops the shipper after one last attempt to ship what is durable.
    pub(super) fn stop_shipper(&self) {
        if let Some(t) = &self.replica {
            t.stop.store(true, Ordering::Release);
            t.wake();
        }
        if let Some(h) = self.lineage.thread.lock().take() {
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

    fn ship_step(&self, store: &Store, t: &Tracker, s: &mut Shipper) -> Result<Step> {
        if s.role.is_none() {
            let held = self
                .pipe
                .written_end()
                .saturating_sub(self.main.header().log_start);
            if held > self.opts.replica_retain_bytes {
                // The same bound as a role's hold: a store that stays
                // down must not grow the log without end.
                s.first_hold = None;
            }
            if !s.has_role_lock {
                if let Some(l) = &self.lease {
                    if !l.shm.try_shipper()? {
                        // The shipping process holds the log it needs.
                        s.first_hold = None;
                        t.set_state(State::Standby, None);
                        return Ok(Step::Idle);
                    }
                }
                s.has_role_lock = true;
            }
            if !s.probed && !t.probed.load(Ordering::Acquire) {
                if let Err(e) = replica::probe(store) {
                    if matches!(e, Error::InvalidArgument(_)) {
                        t.set_state(State::Off, Some(e.to_string()));
                        return Ok(Step::Done);
                    }
                    return Err(e);
                }
                s.probed = true;
                t.probed.store(true, Ordering::Release);
            }
            match self.take_role(store, t)? {
                Take::Taken(r) => s.role = Some(*r),
                Take::Later => return Ok(Step::Later),
                Take::Refused => return Ok(Step::Done),
                Take::Behind(why) => {
                    t.set_state(State::Fenced, Some(why));
                    return Ok(Step::Done);
                }
            }
            s.first_hold = None;
        }
        let Some(r) = s.role.as_mut() else {
            return Ok(Step::Idle);
        };
        if r.hold.is_none() {
            // Let go of the log: once a checkpoint has retired it, a new
            // epoch restarts the chain from a snapshot.
            if self.lease.is_some() {
                drop(self.begin_read()?);
            }
            if self.main.header().checkpoint_seq > r.shipped {
                s.role = None;
            }
            return Ok(Step::Idle);
        }
        let step = self.ship_some(store, t, r)?;
        if matches!(step, Step::Idle) && r.pending.is_none() && r.hold.is_some() {
            self.maybe_snapshot(store, t, r)?;
            self.maybe_prune(store, r, false)?;
        }
        Ok(step)
    }

    /// Writes the status file when the status changed, or while commits
    /// wait at least every `STATUS_REFRESH` (their age grows). Only the
    /// process that ships writes it; a standby's would hide the shipper's.
    fn publish_status(&self, t: &Tracker, s: &mut Shipper) {
        self.publish_status_as(t, s.has_role_lock, &mut s.published);
    }

    /// [`Engine::publish_status`] for the shipper or the follower: `role`
    /// says whether this process holds the role, `published` is what it
    /// wrote last.
    pub(super) fn publish_status_as(
        &self,
        t: &Tracker,
        role: bool,
        published: &mut Option<(ReplicaStatus, Instant)>,
    ) {
        if !role {
            return;
        }
        let now = t.snapshot();
        let facts = |x: &ReplicaStatus| ReplicaStatus {
            oldest_unshipped_ms: 0,
            ..x.clone()
        };
        let due = published.as_ref().is_none_or(|(old, at)| {
            facts(old) != facts(&now) || (now.lag_commits > 0 && at.elapsed() >= STATUS_REFRESH)
        });
        if !due {
            return;
        }
        // It only describes: failing to write it changes nothing shipped,
        // and the next change tries again.
        let written = replica::write_status(self.opts.storage.as_ref(), &self.path, &now, now_ms());
        *published = written.is_ok().then(|| (now, Instant::now()));
    }

    /// A replica thread ends: its last status out, the role let go.
    pub(super) fn leave_role(
        &self,
        t: &Tracker,
        role: bool,
        published: &mut Option<(ReplicaStatus, Instant)>,
    ) {
        self.publish_status_as(t, role, published);
        if let (true, Some(l)) = (role, self.lease.as_ref()) {
            l.shm.release_shipper();
        }
    }

    fn retention(&self) -> Retention {
        Retention {
            snapshots: self.opts.replica_retain_snapshots,
            window_ms: self.opts.replica_retain_window_ms,
            grace_ms: self.opts.replica_delete_grace_ms,
        }
    }

    /// A snapshot, when a checkpoint has passed the last one and the
    /// snapshot interval has run out since the replica's newest.
    fn maybe_snapshot(&self, store: &Store, t: &Tracker, r: &mut Role) -> Result<()> {
        let checkpoint = self.main.header().checkpoint_seq;
        let interval = self.opts.replica_snapshot_interval_ms;
        let due = checkpoint > r.snapshot_seq
            && r.snapshot_ms
                .is_none_or(|ms| now_ms().saturating_sub(ms) >= interval);
        if !due {
            return Ok(());
        }
        let Some((seq, _frozen)) = self.freeze_checkpoint()? else {
            return Ok(());
        };
        // The newest slot whose successor starts at or before seq + 1:
        // the chunks after it hold every commit past the image.
        while r.recent.len() > 1 && r.recent[1].next_seq <= seq + 1 {
            r.recent.pop_front();
        }
        let Some(&anchor) = r.recent.front().filter(|a| a.next_seq <= seq + 1) else {
            return Ok(());
        };
        let image = self.upload_image(store, r.epoch, seq)?;
        let created_ms = now_ms();
        self.write_marker(store, r.epoch, &image, anchor, created_ms)?;
        r.snapshot_seq = seq;
        r.snapshot_ms = Some(created_ms);
        t.snapshot_made(seq);
        self.maybe_prune(store, r, true)
    }

    /// Retention, after a snapshot or when it is due.
    fn maybe_prune(&self, store: &Store, r: &mut Role, now: bool) -> Result<()> {
        let grace = Duration::from_millis(self.opts.replica_delete_grace_ms);
        let every = grace.clamp(PRUNE_INTERVAL_MIN, PRUNE_INTERVAL_MAX);
        let due = now || r.last_prune.is_none_or(|at| at.elapsed() >= every);
        if !due || r.snapshot_ms.is_none() {
            return Ok(());
        }
        r.last_prune = Some(Instant::now());
        replica::prune(store, &self.retention(), now_ms())?;
        Ok(())
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
                        "{lag_bytes} bytes of log unshipped, past the bound of {}: \
                         the next checkpoint retires it, then a snapshot heals the replica",
                        self.opts.replica_retain_bytes
                    )),
                );
                return Ok(Step::Idle);
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
        r.recent.push_back(Anchor {
            slot: r.next_slot,
            next_seq: last + 1,
            digest: r.prev_digest,
        });
        r.next_slot += 1;
        r.shipped = last;
        r.cursor = end;
        r.last_ship = Instant::now();
        // Not synced: a lineage behind the store finds its epoch's chunks
        // there as its own.
        let before = self.read_lineage()?;
        let lineage = Lineage {
            role: Part::Writer,
            epoch: r.epoch,
            owned_epoch: r.epoch,
            slot: r.next_slot - 1,
            seq: last,
            digest: r.prev_digest,
            pending_slot: replica::NO_SLOT,
            ..before
                .unwrap_or_else(|| Lineage::at(Part::Writer, self.replica_url(), 0, 0, 0, [0; 32]))
        };
        self.write_lineage(&lineage, false)?;
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
fn ship_main(engine: &Weak<Engine>, t: &Tracker, url: &str, first_hold: Option<ReaderGuard>) {
    let store = match Store::open(url) {
        Ok(s) => s,
        Err(e) => return t.set_state(State::Off, Some(e.to_string())),
    };
    let s = Shipper {
        first_hold,
        ..Shipper::default()
    };
    ship_loop(engine, t, &store, s);
}

/// A promoted follower's thread goes on shipping under the role it took.
pub(super) fn ship_promoted(engine: &Weak<Engine>, t: &Tracker, store: &Store, role: Option<Role>) {
    let s = Shipper {
        role,
        has_role_lock: true,
        probed: true,
        ..Shipper::default()
    };
    ship_loop(engine, t, store, s);
}

fn ship_loop(engine: &Weak<Engine>, t: &Tracker, store: &Store, mut s: Shipper) {
    let mut backoff = Backoff::new();
    loop {
        let stopping = t.stop.load(Ordering::Acquire);
        let Some(e) = engine.upgrade() else { break };
        let step = e.ship_step(store, t, &mut s);
        if let Err(err) = &step {
            t.set_state(State::Backoff, Some(err.to_string()));
        }
        e.publish_status(t, &mut s);
        drop(e);
        let pause = match step {
            Ok(Step::Shipped) => {
                backoff.reset();
                continue;
            }
            Ok(Step::Done) => break,
            Ok(Step::Idle) => {
                backoff.reset();
                POLL_INTERVAL
            }
            Ok(Step::Later) | Err(_) => backoff.grow(),
        };
        if stopping {
            break;
        }
        t.sleep_unless_stopped(pause);
    }
    if let Some(e) = engine.upgrade() {
        e.leave_role(t, s.has_role_lock, &mut s.published);
    }
}
