//! Following a replica: a thread that polls the slot after the last one
//! applied (one GET of a name that does not exist yet is cheaper than a
//! LIST), verifies it against the lineage (hash chain, epochs, dense
//! seqs) and applies its commits through the ordinary commit path, each
//! at exactly the seq it had. Readers in any process see them at their
//! next begin. Promotion happens on this thread too: it applies
//! everything the store holds, takes the replica with a new epoch, and
//! goes on as the shipper.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::options::SyncMode;
use crate::replica::{
    self, Header, Kind, Lineage, Part, ReplicaStatus, Standing, State, Store, Tracker,
};
use crate::stage::WriteSet;
use crate::types::CommitSeq;

use super::fence::Take;
use super::parts::Engine;
use super::role::{now_ms, Backoff, Role};

/// How long a follower waits for its applied commits to be durable
/// before it says how far it got: the local disk, not the store.
const APPLY_DURABLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Rounds of catch-up and fence a promotion tries while an old writer
/// still ships (each round applies what it shipped meanwhile).
const PROMOTE_ROUNDS: u32 = 64;
/// How often a promote looks for its answer in the lineage file.
const PROMOTE_LOOK_INTERVAL: Duration = Duration::from_millis(5);

enum Step {
    /// A slot was applied: look for the next one at once.
    Applied,
    /// Caught up (or not this process's turn): poll again later.
    Idle,
    /// Promoted: go on shipping (under this role; None: the database was
    /// promoted by another process, so the shipper takes the replica as
    /// at open).
    Promoted(Option<Box<Role>>),
    /// The replica holds another history: the state says why.
    Stop,
}

/// The follower thread's own state between steps.
struct Follower {
    lineage: Lineage,
    has_role_lock: bool,
    published: Option<(ReplicaStatus, Instant)>,
}

/// A fork: the local database and the replica went two ways.
fn fork(path: &std::path::Path, why: impl std::fmt::Display) -> Error {
    Error::Fenced(format!(
        "{}: fork: {why}; it never mixes two histories: follow again with resnapshot \
         to start over from the replica",
        path.display()
    ))
}

impl Engine {
    /// Starts following: checks the lineage against the store (a
    /// database that has commits the replica never had, or whose history
    /// the replica no longer holds, is refused as a fork) and starts the
    /// follower thread.
    pub fn start_follower(self: &Arc<Self>) -> Result<()> {
        let (Some(t), Some(url)) = (&self.replica, &self.opts.replica) else {
            return Err(Error::invalid(format!(
                "{}: a follower needs a replica URL",
                self.path.display()
            )));
        };
        if !self.lineage.following.load(Ordering::Acquire) {
            return Err(Error::invalid(format!(
                "{}: its lineage does not make it a follower",
                self.path.display()
            )));
        }
        let store = Store::open(url)?;
        let recorded = self.read_lineage()?.ok_or_else(|| {
            Error::invalid(format!(
                "{}: no lineage to follow from",
                self.path.display()
            ))
        })?;
        let lineage = self.check_follow(&store, recorded)?;
        self.write_lineage(&lineage, false)?;
        t.applied(lineage.epoch, lineage.seq, None, (0, 0));
        t.set_state(State::Following, None);
        let (weak, t) = (Arc::downgrade(self), Arc::clone(t));
        let f = Follower {
            lineage,
            has_role_lock: false,
            published: None,
        };
        let spawned = std::thread::Builder::new()
            .name("lc-follower".into())
            .spawn(move || follow_main(&weak, &t, &store, f));
        match spawned {
            Ok(h) => *self.lineage.thread.lock() = Some(h),
            Err(e) => return Err(Error::Internal(format!("start follower: {e}"))),
        }
        Ok(())
    }

    /// The local last commit, counting other processes' (a follower
    /// process that died applied them).
    fn local_seq(&self) -> Result<CommitSeq> {
        if self.lease.is_some() {
            drop(self.begin_read()?);
        }
        Ok(self.pipe.visible())
    }

    /// The lineage to follow from, or a fork.
    fn check_follow(&self, store: &Store, recorded: Lineage) -> Result<Lineage> {
        let local = self.local_seq()?;
        let (l, next) = match replica::standing(store, &recorded)? {
            Standing::Apart(why) => return Err(fork(&self.path, why)),
            Standing::AtTip(l) => (l, None),
            Standing::Behind { lineage, next } => (lineage, Some(next)),
        };
        if local < l.seq {
            return Err(Error::corrupt(format!(
                "{}: it holds commits up to {local} but its lineage says {} were applied",
                self.path.display(),
                l.seq
            )));
        }
        if let Some(n) = next.as_ref().filter(|n| replica::is_restart(n)) {
            return Err(fork(
                &self.path,
                format!(
                    "the writer restarted the replica from a snapshot at {}: commits {}..={} \
                     are in no chunk",
                    replica::slot_name(n.slot),
                    n.last_seq + 1,
                    n.first_seq - 1
                ),
            ));
        }
        if local == l.seq {
            return Ok(l);
        }
        // Commits past the lineage's slot: a follower killed inside a chunk
        // applied some of the next one - or a writer that did not ship them.
        match next {
            Some(n) if l.owned_epoch == 0 && n.kind == Kind::Chunk && local <= n.last_seq => Ok(l),
            Some(n) if n.kind == Kind::Fence => Err(fork(
                &self.path,
                format!(
                    "the replica's epoch {} (a fence at {}) goes on from commit {}, but this \
                     database has commits up to {local}: it saw commits the new writer never had",
                    n.epoch,
                    replica::slot_name(n.slot),
                    n.last_seq
                ),
            )),
            _ => Err(fork(
                &self.path,
                format!(
                    "this database has commits {}..={local} that the replica does not hold",
                    l.seq + 1
                ),
            )),
        }
    }

    fn follow_step(&self, store: &Store, t: &Tracker, f: &mut Follower) -> Result<Step> {
        if !f.has_role_lock {
            if let Some(l) = &self.lease {
                if !l.shm.try_shipper()? {
                    t.set_state(State::Standby, None);
                    return Ok(Step::Idle);
                }
            }
            f.has_role_lock = true;
            // Another process may have followed (or been promoted)
            // meanwhile: on from its record.
            if let Some(rec) = self.read_lineage()? {
                if rec.role != Part::Follower {
                    self.lineage.following.store(false, Ordering::Release);
                    return Ok(Step::Promoted(None));
                }
                if rec.slot.wrapping_add(1) > f.lineage.slot.wrapping_add(1) {
                    f.lineage = rec;
                }
            }
            t.set_state(State::Following, None);
        }
        let requests = self.promote_requests()?;
        if requests > f.lineage.promotes_seen {
            f.lineage.promotes_seen = requests;
            return match self.promote_now(store, t, &mut f.lineage) {
                Ok(role) => Ok(Step::Promoted(Some(role))),
                Err(e) => {
                    // The request is answered (seen, still a follower) and
                    // the reason is in the status.
                    self.write_lineage(&f.lineage, false)?;
                    t.set_state(State::Following, Some(format!("promote failed: {e}")));
                    Ok(Step::Idle)
                }
            };
        }
        self.apply_next(store, t, &mut f.lineage)
    }

    /// Applies the slot after the lineage's, if the store holds it.
    fn apply_next(&self, store: &Store, t: &Tracker, l: &mut Lineage) -> Result<Step> {
        let local = self.local_seq()?;
        let slot = l.slot.wrapping_add(1);
        let Some((h, bytes)) = replica::read_slot_if_any(store, slot)? else {
            t.applied(l.epoch, local.max(l.seq), None, (0, 0));
            return Ok(Step::Idle);
        };
        if let Some((state, why)) = self.cannot_apply(l, local, &h) {
            match state {
                State::Forked => t.forked(why),
                _ => t.set_state(state, Some(why)),
            }
            return Ok(Step::Stop);
        }
        let behind = (
            h.last_seq.saturating_sub(local),
            now_ms().saturating_sub(h.created_ms),
        );
        if h.kind == Kind::Chunk {
            if let Err(why) = self.apply_chunk(&h, &bytes, local)? {
                t.forked(why);
                return Ok(Step::Stop);
            }
        }
        // The lineage moves on only once the commits are durable here.
        *l = l.advanced(&h, replica::digest_of(&bytes));
        self.write_lineage(l, false)?;
        t.applied(h.epoch, l.seq, Some(h.created_ms), behind);
        Ok(Step::Applied)
    }

    /// Why slot `h` cannot be applied after lineage `l` with the local
    /// database at `local` (the state to stop in, and why); None: it can.
    fn cannot_apply(&self, l: &Lineage, local: CommitSeq, h: &Header) -> Option<(State, String)> {
        if let Err(e) = replica::check_link_to(&l.link(), h) {
            return Some((State::Forked, fork(&self.path, e).to_string()));
        }
        if replica::is_restart(h) {
            let why = format!(
                "{}: the writer restarted the replica from a snapshot at {}: commits \
                 {}..={} are in no chunk; follow again with resnapshot",
                self.path.display(),
                replica::slot_name(h.slot),
                h.last_seq + 1,
                h.first_seq - 1
            );
            return Some((State::NeedsSnapshot, why));
        }
        let inside = h.kind == Kind::Chunk && local <= h.last_seq;
        if local > l.seq && !inside {
            // Local commits past the lineage that this slot does not hold.
            let why = format!(
                "{} goes on from commit {}, but this database has commits up to {local}",
                replica::slot_name(h.slot),
                l.seq
            );
            return Some((State::Forked, fork(&self.path, why).to_string()));
        }
        None
    }

    /// Applies the commits of chunk `h` past `local`, each at its own
    /// seq, and waits until they are durable here; Err(why) when they
    /// got other seqs (someone else committed here).
    fn apply_chunk(
        &self,
        h: &Header,
        bytes: &[u8],
        local: CommitSeq,
    ) -> Result<std::result::Result<(), String>> {
        let name = replica::slot_name(h.slot);
        let (_, body) = replica::decode(&name, bytes)?;
        let mut last = local;
        for c in replica::chunk_commits(&name, h, body)? {
            if c.seq <= local {
                continue;
            }
            let mut set = WriteSet::new();
            for (pgno, data) in &c.writes {
                set.put(&self.spill, *pgno, data.as_deref())?;
            }
            let got = self.commit_unchecked(None, set, &[], Some(SyncMode::Normal))?;
            if got != c.seq {
                let why = format!("replica commit {} was applied as local commit {got}", c.seq);
                return Ok(Err(fork(&self.path, why).to_string()));
            }
            last = got;
        }
        let durable = last == local
            || self
                .pipe
                .wait_durable(self.logs(), last, APPLY_DURABLE_TIMEOUT)?;
        if !durable {
            return Err(Error::Internal(format!(
                "{}: applied commits up to {last} did not become durable",
                self.path.display()
            )));
        }
        Ok(Ok(()))
    }

    /// Applies everything the store holds, then takes the replica with a
    /// new epoch; an old writer that ships meanwhile is caught up on and
    /// the fence tried again.
    fn promote_now(&self, store: &Store, t: &Tracker, l: &mut Lineage) -> Result<Box<Role>> {
        for _ in 0..PROMOTE_ROUNDS {
            loop {
                match self.apply_next(store, t, l)? {
                    Step::Applied => {}
                    Step::Idle => break,
                    _ => {
                        return Err(Error::Fenced(t.snapshot().last_error));
                    }
                }
            }
            match self.take_role(store, t)? {
                Take::Taken(role) => {
                    self.lineage.following.store(false, Ordering::Release);
                    return Ok(role);
                }
                Take::Behind(_) | Take::Later => {}
                Take::Refused => return Err(Error::Fenced(t.snapshot().last_error)),
            }
        }
        Err(Error::Busy(format!(
            "{}: promote: the replica kept moving through {PROMOTE_ROUNDS} rounds of catching up",
            self.path.display()
        )))
    }
}

impl Engine {
    /// Promotes this follower: asks the process that follows (this one,
    /// or another) to take the replica with a new epoch, and waits for
    /// the answer. The new epoch.
    pub fn promote(self: &Arc<Self>, timeout: Duration) -> Result<u64> {
        if !self.is_following()? {
            return Err(Error::invalid(format!(
                "{}: promote: it does not follow a replica",
                self.path.display()
            )));
        }
        if self
            .lineage
            .thread
            .lock()
            .as_ref()
            .is_some_and(|h| h.is_finished())
        {
            return Err(Error::Fenced(format!(
                "{}: promote: its follower stopped: {}",
                self.path.display(),
                self.replica_status().last_error
            )));
        }
        let n = self.request_promote()?;
        let elsewhere = match &self.lease {
            Some(l) => l.shm.shipper_alive()?,
            None => false,
        };
        if self.lineage.thread.lock().is_none() && !elsewhere {
            // Nobody follows: this process's follower answers (it needs
            // the replica URL in the options).
            self.start_follower().map_err(|e| match e {
                Error::InvalidArgument(why) => Error::invalid(format!(
                    "{why}: no process follows it; open it with the replica URL to promote it"
                )),
                e => e,
            })?;
        }
        if let Some(t) = &self.replica {
            t.wake();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let l = self.read_lineage()?.ok_or_else(|| {
                Error::corrupt(format!("{}: its lineage file is gone", self.path.display()))
            })?;
            if l.role == Part::Writer {
                self.lineage.following.store(false, Ordering::Release);
                return Ok(l.owned_epoch);
            }
            if l.promotes_seen >= n {
                let why = self.replica_status().last_error;
                return Err(Error::Fenced(format!(
                    "{}: promote failed: {why}",
                    self.path.display()
                )));
            }
            if Instant::now() >= deadline {
                return Err(Error::Busy(format!(
                    "{}: promote: the process that follows did not answer within {} ms",
                    self.path.display(),
                    timeout.as_millis()
                )));
            }
            // The answer comes from a thread that may be in another process:
            // the lineage file is where it lands.
            std::thread::sleep(PROMOTE_LOOK_INTERVAL);
        }
    }
}

/// The follower thread: steps until stopped or forked; backs off while
/// the store fails; once promoted, ships.
fn follow_main(engine: &Weak<Engine>, t: &Tracker, store: &Store, mut f: Follower) {
    let mut backoff = Backoff::new();
    loop {
        let stopping = t.stop.load(Ordering::Acquire);
        let Some(e) = engine.upgrade() else { break };
        let poll = Duration::from_millis(e.opts.replica_poll_ms);
        let step = e.follow_step(store, t, &mut f);
        if let Err(err) = &step {
            t.set_state(State::Backoff, Some(err.to_string()));
        }
        e.publish_status_as(t, f.has_role_lock, &mut f.published);
        drop(e);
        let pause = match step {
            Ok(Step::Applied) => {
                backoff.reset();
                continue;
            }
            Ok(Step::Promoted(role)) => {
                return super::ship::ship_promoted(engine, t, store, role.map(|r| *r));
            }
            Ok(Step::Stop) => break,
            Ok(Step::Idle) => {
                backoff.reset();
                poll
            }
            Err(_) => backoff.grow(),
        };
        if stopping {
            break;
        }
        t.sleep_unless_stopped(pause);
    }
    if let Some(e) = engine.upgrade() {
        e.leave_role(t, f.has_role_lock, &mut f.published);
    }
}
