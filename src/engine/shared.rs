//! Sharing a database with other processes: the writer lease, publishing
//! progress, catching up on what others committed, adopting their
//! checkpoints and announcing new segments.

use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::lease::Wait;
use crate::options::SyncMode;
use crate::recovery::{self, Replay};
use crate::shm::Shm;
use crate::storage::parent_dir;
use crate::types::CommitSeq;

use super::parts::{Catcher, Engine, LeaseGuard, Turn};

/// Attempts to load another process's checkpoint while yet another one may
/// be overwriting what it freed.
const ADOPT_CHECKPOINT_ATTEMPTS: usize = 5;

impl Engine {
    /// Enters the writer lease when other processes may share the
    /// database (None when they cannot): waits up to busy_timeout, then
    /// Busy; with `Wait::No`, Ok(None) also when another process has it.
    pub(super) fn enter_lease(&self, wait: Wait) -> Result<Option<LeaseGuard<'_>>> {
        let Some(lease) = &self.lease else {
            return Ok(None);
        };
        let entered = lease.enter(wait, |died| {
            self.catch_up(Catcher::Holder {
                previous_died: died,
            })
        })?;
        if !entered {
            return Err(Error::Busy(format!(
                "{}: another process holds the writer lease",
                self.path.display()
            )));
        }
        Ok(Some(LeaseGuard { engine: self }))
    }

    /// Like [`Engine::enter_lease`] without waiting.
    pub(super) fn try_enter_lease(&self) -> Result<Turn<'_>> {
        match self.enter_lease(Wait::No) {
            Ok(Some(g)) => Ok(Turn::Leased(g)),
            Ok(None) => Ok(Turn::Unshared),
            Err(Error::Busy(_)) => Ok(Turn::Elsewhere),
            Err(e) => Err(e),
        }
    }

    /// Tells other processes how far this one's commits have got.
    pub(super) fn publish(&self) {
        if let Some(l) = &self.lease {
            // The pipeline's durable mark moves only after a real sync (in
            // every mode), so it may be published as it is.
            l.shm.publish(self.pipe.visible(), self.pipe.durable());
        }
    }

    /// Catches up on what other processes did since this one last looked:
    /// their checkpoints, then their segments and commits. A holder (this
    /// process has just taken the writer lease, so nobody writes meanwhile)
    /// reads to the very end of the log and repairs a tail a dead holder
    /// left; a reader reads up to the published commit tip only.
    pub(super) fn catch_up(&self, who: Catcher) -> Result<()> {
        let Some(lease) = &self.lease else {
            return Ok(());
        };
        let shm = &lease.shm;
        let holder = who != Catcher::Reader;
        let writer_died = who
            == Catcher::Holder {
                previous_died: true,
            };
        if holder {
            if let Some(f) = shm.failure() {
                // What the failing process wrote may be gone from the disk
                // while still readable here: never build on it.
                let e = f.error(shm.path());
                self.pipe.fail(&e);
                return Err(e);
            }
        }
        let _serial = self.catch_up_lock.lock();
        self.catch_up_checkpoint(shm, writer_died)?;
        let target = if holder {
            None
        } else {
            let tip = shm.commit_tip();
            if tip <= self.pipe.written() {
                // Written here already (caught up under the lease), and
                // published visible - so durable - by its writer since.
                self.pipe.raise_visible(tip);
                return Ok(());
            }
            Some(tip)
        };
        self.catch_up_segments(shm, holder)?;
        if holder && !writer_died && shm.written_tip() <= self.pipe.written() {
            // Nobody wrote since we last looked.
            return Ok(());
        }
        self.catch_up_commits(shm, holder, target, writer_died)
    }

    /// Adopts a checkpoint another process made since we last looked.
    fn catch_up_checkpoint(&self, shm: &Shm, writer_died: bool) -> Result<()> {
        // A checkpointer publishes its generation right after its header
        // is durable; only one that died holding the lease (and so maybe in
        // between) makes the next holder look at the main file itself.
        let known = if writer_died {
            self.main.disk_generation()?
        } else {
            shm.checkpoint_generation()
        };
        if known > self.main.header().generation {
            self.adopt_checkpoint(known, writer_died)?;
        }
        Ok(())
    }

    /// Opens segments other processes announced - even when nobody wrote a
    /// commit since: another holder may have prepared the next one, and
    /// appending past our last known segment must find its file, not make
    /// a second one. A holder makes their names durable before writing.
    fn catch_up_segments(&self, shm: &Shm, holder: bool) -> Result<()> {
        let seen = shm.segment_generation();
        if seen != self.segments_seen.load(Ordering::Acquire) {
            let adopted =
                self.log.adopt_new_segments()? + self.capsules.log.adopt_new_segments()?;
            if adopted > 0 {
                self.adopted_names_unsynced.store(true, Ordering::Release);
            }
            self.segments_seen.store(seen, Ordering::Release);
        }
        if holder
            && !self.opts.read_only
            && self.adopted_names_unsynced.swap(false, Ordering::AcqRel)
        {
            // Their maker may have died between a rename and its directory
            // sync: commits written into them must not depend on a name a
            // power loss could take away.
            let dir = parent_dir(&self.path);
            if let Err(e) = self.opts.storage.sync_dir(&dir) {
                self.adopted_names_unsynced.store(true, Ordering::Release);
                return Err(Error::io("sync directory", &dir, e));
            }
        }
        Ok(())
    }

    /// Replays what other processes appended past our tail (up to
    /// `target`, for a reader) and takes it on as our own state.
    fn catch_up_commits(
        &self,
        shm: &Shm,
        holder: bool,
        target: Option<CommitSeq>,
        writer_died: bool,
    ) -> Result<()> {
        let (last, tail) = {
            let sq = self.seq.lock();
            (sq.next_seq_hint(), sq.tail())
        };
        let header = self.main.header();
        let t = recovery::scan_tail(
            &self.log.segments_from(tail),
            &self.capsules.log.segments(),
            &header,
            self.boot_tag,
            tail,
            last,
            target,
            writer_died,
        );
        if let Some(c) = &t.corruption {
            let e = Error::Corrupt(format!(
                "{}: catching up on other processes' commits: {}",
                self.path.display(),
                c.reason
            ));
            if holder {
                self.pipe.fail(&e);
            }
            return Err(e);
        }
        if let Some(tip) = target {
            if t.last_seq < tip {
                return Err(Error::Corrupt(format!(
                    "{}: commit {tip} is published but the log ends after commit {}",
                    self.path.display(),
                    t.last_seq
                )));
            }
        }
        if t.last_seq == last && !t.dirty_tail {
            return Ok(());
        }
        // Dense across processes: what we replayed continues our last seq.
        assert!(
            t.last_seq >= last,
            "catching up went back from commit {last} to {}",
            t.last_seq
        );
        self.install_caught_up(shm, holder, t)
    }

    /// Installs replayed commits of other processes, and continues the log
    /// past them (in a fresh segment when a dead holder left a torn tail).
    fn install_caught_up(&self, shm: &Shm, holder: bool, t: Replay) -> Result<()> {
        {
            let mut sq = self.seq.lock();
            for r in &t.records {
                sq.note_writer(r.pgno, r.seq);
            }
        }
        for r in t.records {
            self.versions.install(r.pgno, r.seq, r.data);
        }
        self.capsules.adopt(&t.capsules, t.capsules_end);
        if t.relaxed_capsules {
            // Another process wrote them below FULL and syncs them only in
            // its own flushes; ours must not make their markers durable
            // first.
            self.capsules.mark_relaxed();
        }
        let mut new_tail = t.end;
        if holder && t.dirty_tail && !self.opts.read_only {
            // A holder died mid-commit: its unfinished frames lie past the
            // end. Never write over them in place; continue in a fresh
            // segment that voids them, as recovery does.
            new_tail = self.log.prepared_end();
            let epoch = self.pipe.epoch().max(t.last_epoch) + 1;
            self.announce_segment();
            let restarted = self.fail_stop_on_io(self.log.restart(new_tail, t.end, epoch));
            self.announce_segment();
            restarted?;
        }
        self.seq.lock().adopt(t.last_seq, new_tail);
        let durable_hint = shm.state().durable_tip;
        // A holder may find the last holder's commits written but not yet
        // synced (it syncs after giving the lease up, or ran below FULL, or
        // died): this process's next flush covers them, and under FULL they
        // become visible here only then.
        self.pipe.adopt(
            t.last_seq,
            t.end,
            t.ends,
            t.last_epoch,
            durable_hint,
            holder && self.opts.sync == SyncMode::Full,
        );
        Ok(())
    }

    /// Takes on a checkpoint another process made: its main-file state,
    /// and everything it made unnecessary here. Every snapshot of this
    /// process is at or past it (the checkpointer respected our slot).
    /// `generation`: the newest one to take. `unannounced`: found on disk
    /// after its maker died holding the lease, so maybe before its header
    /// was synced - this holder makes it durable before retiring any log
    /// on its strength. (A published checkpoint was synced before it was
    /// published; a newer header on disk is not known durable yet.)
    pub(super) fn adopt_checkpoint(&self, generation: u64, unannounced: bool) -> Result<()> {
        let mut attempt = 0;
        let header = loop {
            match self.main.reload(generation) {
                Ok(Some(h)) => break h,
                Ok(None) => return Ok(()),
                // A checkpoint running meanwhile reused what we were reading.
                Err(Error::Corrupt(_)) if attempt < ADOPT_CHECKPOINT_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        if unannounced {
            self.main.make_current_durable()?;
        }
        let c = header.checkpoint_seq;
        self.versions.gc(c);
        let oldest = self.readers.oldest_or(|| self.pipe.visible());
        {
            let mut sq = self.seq.lock();
            if c > sq.next_seq_hint() {
                // We were idle past it: nothing we knew is needed.
                sq.adopt(c, header.log_start);
            }
            sq.prune(oldest);
        }
        self.pipe.jump_to_checkpoint(c, header.log_start);
        self.pipe.trim_ends(c);
        self.log.retire_before(header.log_start)?;
        self.capsules.checkpointed(c)?;
        Ok(())
    }

    /// Runs `f` knowing whether this process is alone with the database;
    /// if it is, nobody can attach meanwhile, and the logs may recycle
    /// retired segments (which another process could still be reading).
    pub(super) fn while_alone<T>(&self, f: impl FnOnce() -> T) -> T {
        let Some(l) = &self.lease else {
            return f();
        };
        let _turn = self.alone_turn.lock();
        let alone = l.shm.try_alone().unwrap_or(false);
        self.log.set_alone(alone);
        self.capsules.log.set_alone(alone);
        let r = f();
        if alone {
            self.log.set_alone(false);
            self.capsules.log.set_alone(false);
            if let Err(e) = l.shm.share() {
                tracing::error!("sharing the database again failed: {e}");
            }
        }
        r
    }

    /// Tells other processes that log segments were (or are about to be)
    /// added. Called before and after: a process that dies in between
    /// leaves the generation changed, so the next holder looks.
    pub(super) fn announce_segment(&self) {
        if let Some(l) = &self.lease {
            l.shm.bump_segment_generation();
            self.segments_seen.fetch_add(1, Ordering::AcqRel);
        }
    }
}
