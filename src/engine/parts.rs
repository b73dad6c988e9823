//! The engine's parts: what one open database holds, shared by its
//! handles, and the small accessors over them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::mutex::Mutex;

use crate::durable::{Logs, Pipeline};
use crate::error::{Error, Result};
use crate::groupsync::SharedSync;
use crate::lease::Lease;
use crate::mainfile::MainFile;
use crate::mvcc::{ReaderTable, ReaderToken, VersionStore};
use crate::native::CapsuleStore;
use crate::options::{CommitMode, Isolation, Options};
use crate::sequence::Sequencer;
use crate::stage::{self, SpillPolicy};
use crate::storage::StorageFile;
use crate::types::{CommitSeq, Pgno, RecoveryReport, Stats};
use crate::wal::Log;

use super::worker::Worker;

/// How this engine keeps other engines off its database.
pub(super) enum Coord {
    /// Storage that cannot be shared: `{path}-lock` for the engine's life.
    Alone(Option<Box<dyn StorageFile>>),
    /// Shared with other processes; true when this one is the first.
    Shared(Lease, bool),
}

/// Inside the writer lease; leaving publishes this process's progress.
pub(super) struct LeaseGuard<'a> {
    pub(super) engine: &'a Engine,
}

impl Drop for LeaseGuard<'_> {
    fn drop(&mut self) {
        self.engine.publish();
        if let Some(l) = &self.engine.lease {
            // Every commit this process numbered is written by now (the
            // last thread out releases); another may still be going on
            // in this process - then the lease stays.
            let seq = self.engine.pipe.written();
            l.shm.publish_written(seq, self.engine.pipe.written_end());
            l.exit(self.engine.pipe.check_failed().is_ok());
        }
    }
}

/// Who catches up on other processes' work, and so how far it may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Catcher {
    /// A reader: up to the published commit tip (a writer may be appending
    /// past it right now).
    Reader,
    /// The new lease holder: nobody writes meanwhile, so to the very end.
    Holder {
        /// The previous holder died holding the lease.
        previous_died: bool,
    },
}

/// Whether this thread may do lease-holder work now.
pub(super) enum Turn<'a> {
    /// Storage that is not shared: no lease is needed.
    Unshared,
    /// Inside the lease until this is dropped.
    Leased(
        #[expect(dead_code, reason = "held for its Drop, which leaves the lease")] LeaseGuard<'a>,
    ),
    /// Another process holds the lease; it does the work.
    Elsewhere,
}

/// A registered snapshot held by a transaction or a read.
pub struct ReaderGuard {
    pub(super) token: ReaderToken,
}

impl ReaderGuard {
    pub fn snapshot(&self) -> CommitSeq {
        self.token.snapshot()
    }
}

/// One open database, shared by its handles.
pub struct Engine {
    pub(super) path: PathBuf,
    pub(super) opts: Options,
    pub(super) main: MainFile,
    /// The database id, fixed at creation (read on every commit, so kept
    /// here rather than behind the main file's state lock).
    pub(super) db_id: u64,
    pub(super) log: Log,
    /// NATIVE mode's capsules (read in any mode: a database may have been
    /// written in NATIVE mode before).
    pub(super) capsules: CapsuleStore,
    pub(super) seq: Mutex<Sequencer>,
    pub(super) pipe: Pipeline,
    pub(super) versions: VersionStore,
    pub(super) readers: Arc<ReaderTable>,
    pub(super) lanes: stage::Lanes,
    pub(super) checkpoint_lock: Mutex<()>,
    pub(super) last_recovery: RecoveryReport,
    pub(super) bytes_logged: AtomicU64,
    pub(super) spill: SpillPolicy,
    /// This boot's tag, written into commit records (see `Storage::boot_tag`).
    pub(super) boot_tag: u32,
    /// Storage that cannot be shared between processes: `{path}-lock`,
    /// held for the engine's life (kernel-released if the process dies).
    pub(super) lock_file: Mutex<Option<Box<dyn StorageFile>>>,
    /// Storage shared between processes: the writer lease, taken per
    /// commit group, and this process's slot in `{path}-shm`.
    pub(super) lease: Option<Lease>,
    /// Serializes catching up on other processes' commits.
    pub(super) catch_up_lock: Mutex<()>,
    /// The shm segment generation this process last looked at.
    pub(super) segments_seen: AtomicU64,
    /// Segments another process prepared were adopted (maybe by a reader)
    /// and the directory has not been synced since: the next holder does.
    pub(super) adopted_names_unsynced: std::sync::atomic::AtomicBool,
    /// Serializes [`Engine::while_alone`]: one thread's `share()` must not
    /// end another's exclusive stretch while it still recycles files.
    pub(super) alone_turn: Mutex<()>,
    pub(super) worker: Worker,
    /// The replica shipper's status (None: no replica configured).
    pub(super) replica: Option<Arc<crate::replica::Tracker>>,
    /// The database's place in its replica's history, and the thread
    /// that ships or follows it.
    pub(super) lineage: LineageState,
}

/// What the engine knows of `{path}-lineage`.
#[derive(Default)]
pub(super) struct LineageState {
    /// The database follows its replica (its lineage says so): callers'
    /// commits are refused.
    pub(super) following: std::sync::atomic::AtomicBool,
    /// The file, once opened.
    pub(super) file: Mutex<Option<crate::replica::LineageFile>>,
    /// The shipper's or the follower's thread.
    pub(super) thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Engine {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn page_size(&self) -> u32 {
        self.opts.page_size
    }

    pub fn read_only(&self) -> bool {
        self.opts.read_only
    }

    pub fn isolation(&self) -> Isolation {
        self.opts.isolation
    }

    pub fn last_recovery(&self) -> &RecoveryReport {
        &self.last_recovery
    }

    pub fn check_pgno(pgno: Pgno) -> Result<()> {
        if pgno == 0 {
            return Err(Error::invalid("page 0 is not a valid page number"));
        }
        Ok(())
    }

    /// Checks that `data` may be the image of `pgno`.
    pub fn check_image(&self, pgno: Pgno, data: &[u8]) -> Result<()> {
        Self::check_pgno(pgno)?;
        if data.len() > self.opts.page_size as usize {
            return Err(Error::invalid(format!(
                "page {pgno}: image of {} bytes exceeds page_size {}",
                data.len(),
                self.opts.page_size
            )));
        }
        Ok(())
    }

    /// Where write sets of this database spill.
    pub fn spill_policy(&self) -> &SpillPolicy {
        &self.spill
    }

    pub(super) fn check_writable(&self) -> Result<()> {
        if self.opts.read_only {
            return Err(Error::ReadOnly(format!(
                "{} was opened read-only",
                self.path.display()
            )));
        }
        if self.is_following()? {
            return Err(Error::ReadOnly(format!(
                "{} follows its replica: local commits are refused (promote it to write)",
                self.path.display()
            )));
        }
        if let Some(t) = &self.replica {
            if t.is_fenced() {
                return Err(Error::Fenced(format!(
                    "{}: another writer took its replica with a newer epoch; this database refuses commits",
                    self.path.display()
                )));
            }
        }
        self.pipe.check_failed()
    }

    pub(super) fn fail_stop_on_io<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e @ Error::Io { .. }) = &r {
            self.pipe.fail(e);
        }
        r
    }

    /// The logs a group flush syncs: in NATIVE mode the capsules first.
    pub(super) fn logs(&self) -> Logs<'_> {
        Logs {
            capsules: (self.opts.commit_mode == CommitMode::Native).then_some(&self.capsules),
            wal: &self.log,
            shared: self.lease.as_ref().map(|l| SharedSync {
                shm: &l.shm,
                slot: l.slot,
            }),
        }
    }

    /// The highest commit_seq known durable (every lower one is too).
    pub fn durable_seq(&self) -> CommitSeq {
        self.pipe.durable()
    }

    /// Waits up to `timeout` for commit `seq` to be durable; false on
    /// timeout. Leads a flush itself when none is running.
    pub fn wait_durable(&self, seq: CommitSeq, timeout: Duration) -> Result<bool> {
        if seq > self.pipe.written() && seq > self.seq.lock().next_seq_hint() {
            return Err(Error::invalid(format!("commit {seq} does not exist yet")));
        }
        self.pipe.wait_durable(self.logs(), seq, timeout)
    }

    /// Histograms and reader figures beyond [`Stats`].
    pub fn metrics(&self) -> crate::types::Metrics {
        let oldest = self.readers.oldest_or(|| self.pipe.visible());
        let visible = self.pipe.visible();
        crate::types::Metrics {
            commit_latency_us: self.pipe.metrics.commit_us.snapshot(),
            group_size: self.pipe.metrics.group_size.snapshot(),
            flush_us: self.pipe.metrics.flush_us.snapshot(),
            oldest_reader_snapshot: (self.readers.active() > 0).then_some(oldest),
            oldest_reader_age_commits: visible - oldest.min(visible),
            oldest_reader_pinned_versions: self.versions.count_in(oldest, visible),
        }
    }

    pub fn stats(&self) -> Stats {
        let shm_state = self
            .lease
            .as_ref()
            .map(|l| l.shm.state())
            .unwrap_or_default();
        Stats {
            commits: 0,
            conflicts: 0,
            syncs: self.log.syncs() + self.capsules.log.syncs(),
            bytes_logged: self.bytes_logged.load(Ordering::Relaxed),
            // Other processes' commits count too: what a begin would see.
            last_commit_seq: self.pipe.visible().max(shm_state.commit_tip),
            durable_commit_seq: self.pipe.durable().max(shm_state.durable_tip),
            checkpoint_seq: self.main.header().checkpoint_seq,
            // The database's readers: ours and those of the live others.
            active_readers: self.readers.active()
                + self
                    .lease
                    .as_ref()
                    .map_or(0, |l| l.shm.other_readers(l.slot)),
            retained_versions: self.versions.len(),
        }
    }
}
