//! The engine's life after open: background duty, and shutdown with the
//! seal that the last process appends.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::frame_len;
use crate::lease::Wait;
use crate::options::SyncMode;
use crate::stage::{self};

use super::parts::{Engine, Turn};

/// How often a process sharing a database shows it is alive (its slot's
/// heartbeat) and looks for background work.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

impl Engine {
    pub(super) fn maybe_wake_worker(&self, end: u64) {
        let low_headroom = self.log.prepared_end().saturating_sub(end) < self.log.headroom();
        let threshold = self.opts.checkpoint_threshold_bytes;
        let big_log = threshold > 0 && end.saturating_sub(self.main.header().log_start) > threshold;
        if low_headroom || big_log {
            self.worker.wake();
        }
    }

    /// A writable open's background duties: garbage capsules reclaimed,
    /// the worker and the replica shipper started.
    pub(super) fn start_background(self: &Arc<Self>, checkpoint_seq: u64) -> Result<()> {
        // Capsules of checkpointed commits are garbage.
        self.capsules.checkpointed(checkpoint_seq)?;
        self.load_lineage()?;
        // The shipper first: it holds the log back from the worker's
        // checkpoints until it has taken the replica.
        self.start_shipper();
        self.start_worker();
        Ok(())
    }

    pub(super) fn start_worker(self: &Arc<Self>) {
        let engine: Weak<Engine> = Arc::downgrade(self);
        let heartbeat = self.lease.is_some().then_some(HEARTBEAT_INTERVAL);
        self.worker.start(heartbeat, move |wakeup| {
            let Some(e) = engine.upgrade() else {
                return false;
            };
            if wakeup.flush {
                // Errors poison the pipeline; every waiter sees them.
                let _ = e.pipe.flush_all(e.logs());
                e.publish();
            }
            e.background_step();
            true
        });
    }

    /// Stops background work and makes a NORMAL-mode log durable. Called
    /// once, when the last handle closes.
    pub fn shutdown(&self) -> Result<()> {
        // Ships what is durable first, while the log is still there.
        self.stop_shipper();
        self.worker.stop();
        let result = if self.opts.read_only || self.pipe.check_failed().is_err() {
            Ok(())
        } else {
            self.close_log()
        };
        // Stray users of this engine (none should remain) now fail, and the
        // writer lock goes even if something still holds the engine.
        self.pipe.fail(&Error::Closed(format!(
            "database {} is closed",
            self.path.display()
        )));
        self.lock_file.lock().take();
        if let Some(l) = &self.lease {
            l.shm.release_slot(l.slot);
            l.shm.detach();
        }
        result
    }

    /// At close: the last process seals the log; another one only makes
    /// its NORMAL-mode commits durable (a seal mid-log, while others go
    /// on, would vouch for frames still being written).
    pub(super) fn close_log(&self) -> Result<()> {
        let Some(l) = &self.lease else {
            return self.seal();
        };
        let alone = l.shm.try_alone()?;
        let result = match self.enter_lease(Wait::Busy) {
            Ok(_lease) if alone => self.seal(),
            Ok(_lease) if self.opts.sync == SyncMode::Normal => {
                self.pipe.flush_all(self.logs()).map(|_| ())
            }
            // Another process holds the lease (Busy): our commits are in
            // the log already; the seal is only an aid to recovery.
            Ok(_) | Err(Error::Busy(_)) => Ok(()),
            Err(e) => Err(e),
        };
        if alone {
            l.shm.share()?;
        }
        result
    }

    /// Clean shutdown: make the log durable (NORMAL) and append a seal
    /// vouching for every commit, so that recovery reports damage anywhere
    /// before it as corruption instead of cutting it as a torn tail.
    pub(super) fn seal(&self) -> Result<()> {
        if self.opts.sync == SyncMode::Off {
            // A seal vouches for what came before it; under OFF nothing
            // was synced, so it could only lie.
            return Ok(());
        }
        // Relaxed commits (below the database's mode) may still be
        // unsynced, in any segment: the seal may vouch only for durable
        // ones.
        self.pipe.flush_all(self.logs())?;
        let len = frame_len(0);
        let (at, last) = loop {
            let reserved = self.seq.lock().reserve_seal(len, self.log.prepared_end());
            if let Some(r) = reserved {
                break r;
            }
            let end = self.seq.lock().tail() + len;
            self.prepare_log(end)?;
        };
        if last == 0 {
            return Ok(());
        }
        let header = stage::seal_frame(self.db_id, at, last);
        self.log.write_at(at, &header)?;
        self.log.sync_range(at, at + len)
    }

    /// Background duty: keep a prepared segment ahead of the tail and
    /// checkpoint when the log passes its threshold.
    pub(super) fn background_step(&self) {
        if let Some(l) = &self.lease {
            l.shm.heartbeat(l.slot);
        }
        if self.pipe.check_failed().is_err() {
            return;
        }
        if self.lease.is_some()
            && self.opts.sync != SyncMode::Off
            && self.pipe.durable() < self.pipe.written()
        {
            // Commits of another process adopted before its sync finished
            // (or it died first): durable, and visible, within a heartbeat.
            let _ = self.pipe.flush_all(self.logs());
            self.publish();
        }
        // Log and checkpoint work needs the lease; when another process
        // has it, that process does the work.
        let _turn = match self.try_enter_lease() {
            Ok(Turn::Elsewhere) | Err(_) => return,
            Ok(turn) => turn,
        };
        let tail = self.seq.lock().tail();
        let headroom = self.log.headroom();
        if self.log.prepared_end().saturating_sub(tail) < headroom {
            // Out of space here is not fatal: a committer that needs the
            // space prepares it itself and reports Full. An I/O failure
            // poisons the database inside prepare_log. Twice the headroom,
            // so that one preparation serves several wake-ups.
            let _ = self.prepare_log(tail + 2 * headroom);
        }
        let threshold = self.opts.checkpoint_threshold_bytes;
        if threshold > 0 && tail.saturating_sub(self.main.header().log_start) > threshold {
            let _ = self.checkpoint_leased();
        }
    }
}
