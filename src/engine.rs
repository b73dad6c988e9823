//! The engine behind every handle on one database: opening and recovery,
//! the commit path (stage -> sequence -> write -> durable -> publish),
//! snapshot reads and the background worker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::capsule;
use crate::durable::{Logs, Pipeline};
use crate::error::{Error, Result};
use crate::format::{crc32c, frame_len, SEGMENT_HEADER_BLOCK_BYTES};
use crate::groupsync::SharedSync;
use crate::lease::{Lease, Wait};
use crate::mainfile::{CheckpointPage, MainFile};
use crate::mvcc::{ReaderTable, ReaderToken, VersionData, VersionStore};
use crate::native::CapsuleStore;
use crate::options::CommitMode;
use crate::options::{Isolation, Options, SyncMode};
use crate::recovery;
use crate::sequence::{Sequenced, Sequencer, Undo};
use crate::shm::Shm;
use crate::spill;
use crate::stage::{self, Image, Placement, SpillPolicy, WriteSet};
use crate::storage::{parent_dir, OpenMode, StorageFile};
use crate::types::{CheckpointReport, CommitSeq, Page, Pgno, RecoveryReport, Stats};
use crate::wal::{Log, LogConfig, Stream};

/// Commits with more log bytes than this keep their images in the log
/// rather than in memory, so huge commits do not pin their size in RAM.
const INLINE_COMMIT_MAX_BYTES: u64 = 8 << 20;
/// How often a waiter for the writer lock retries.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(2);
/// Attempts to re-read a log-resident version that a checkpoint may have
/// moved into the main file meanwhile.
const LOGGED_READ_ATTEMPTS: usize = 3;
/// Attempts to load another process's checkpoint while yet another one may
/// be overwriting what it freed.
const ADOPT_CHECKPOINT_ATTEMPTS: usize = 5;
/// Attempts of a reader to catch up and pin a snapshot while other
/// processes checkpoint past it.
const BEGIN_ATTEMPTS: usize = 16;

/// How often a process sharing a database shows it is alive (its slot's
/// heartbeat) and looks for background work.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How this engine keeps other engines off its database.
enum Coord {
    /// Storage that cannot be shared: `{path}-lock` for the engine's life.
    Alone(Option<Box<dyn StorageFile>>),
    /// Shared with other processes; true when this one is the first.
    Shared(Lease, bool),
}

/// Inside the writer lease; leaving publishes this process's progress.
struct LeaseGuard<'a> {
    engine: &'a Engine,
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

/// A registered snapshot held by a transaction or a read.
pub struct ReaderGuard {
    token: ReaderToken,
}

impl ReaderGuard {
    pub fn snapshot(&self) -> CommitSeq {
        self.token.snapshot()
    }
}

/// Per-thread staging buffers; `lanes = 1` serializes encoding.
struct Lanes {
    bufs: Vec<Mutex<Vec<u8>>>,
    next: AtomicU64,
}

impl Lanes {
    fn new(n: usize) -> Lanes {
        Lanes {
            bufs: (0..n.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
            next: AtomicU64::new(0),
        }
    }

    fn acquire(&self) -> parking_lot::MutexGuard<'_, Vec<u8>> {
        let n = self.bufs.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) as usize % n;
        for i in 0..n {
            if let Some(g) = self.bufs[(start + i) % n].try_lock() {
                return g;
            }
        }
        self.bufs[start].lock()
    }
}

#[derive(Default)]
struct WorkerSignal {
    stop: bool,
    wake: bool,
    /// A relaxed commit in a FULL database waits for a flush.
    flush: bool,
}

/// One open database, shared by its handles.
pub struct Engine {
    path: PathBuf,
    opts: Options,
    main: MainFile,
    /// The database id, fixed at creation (read on every commit, so kept
    /// here rather than behind the main file's state lock).
    db_id: u64,
    log: Log,
    /// NATIVE mode's capsules (read in any mode: a database may have been
    /// written in NATIVE mode before).
    capsules: CapsuleStore,
    seq: Mutex<Sequencer>,
    pipe: Pipeline,
    versions: VersionStore,
    readers: Arc<ReaderTable>,
    lanes: Lanes,
    checkpoint_lock: Mutex<()>,
    last_recovery: RecoveryReport,
    bytes_logged: AtomicU64,
    spill: SpillPolicy,
    /// This boot's tag, written into commit records (see `Storage::boot_tag`).
    boot_tag: u32,
    /// Storage that cannot be shared between processes: `{path}-lock`,
    /// held for the engine's life (kernel-released if the process dies).
    lock_file: Mutex<Option<Box<dyn StorageFile>>>,
    /// Storage shared between processes: the writer lease, taken per
    /// commit group, and this process's slot in `{path}-shm`.
    lease: Option<Lease>,
    /// Serializes catching up on other processes' commits.
    catch_up_lock: Mutex<()>,
    /// The shm segment generation this process last looked at.
    segments_seen: AtomicU64,
    /// Segments another process prepared were adopted (maybe by a reader)
    /// and the directory has not been synced since: the next holder does.
    adopted_names_unsynced: std::sync::atomic::AtomicBool,
    /// Serializes [`Engine::while_alone`]: one thread's `share()` must not
    /// end another's exclusive stretch while it still recycles files.
    alone_turn: Mutex<()>,
    signal: Arc<(Mutex<WorkerSignal>, Condvar)>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Opens (creating if needed) and recovers the database at `path`.
    pub fn open(path: &Path, opts: &Options) -> Result<Arc<Engine>> {
        let capacity = opts.segment_size_bytes - SEGMENT_HEADER_BLOCK_BYTES;
        if capacity < 2 * frame_len(opts.page_size as usize) {
            return Err(Error::invalid(format!(
                "segment_size_bytes {} is too small for page_size {}",
                opts.segment_size_bytes, opts.page_size
            )));
        }
        crate::mainfile::require_parent_dir(opts.storage.as_ref(), path)?;
        // Judged before anything is created beside the file (and again
        // under the lease).
        Self::check_openable(path, opts)?;
        let shm = match Shm::open(&opts.storage, path) {
            Ok(shm) => shm,
            // A reader on read-only media: nobody can write there either.
            Err(Error::Io { source, .. })
                if opts.read_only
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::PermissionDenied
                            | std::io::ErrorKind::ReadOnlyFilesystem
                    ) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        let Some(shm) = shm else {
            let lock_file = take_lock(opts, path, opts.read_only)?;
            return Self::open_locked(path, opts, Coord::Alone(lock_file));
        };
        let busy = Duration::from_millis(u64::from(opts.busy_timeout_ms));
        let first = shm.attach(busy)?;
        if first {
            shm.clear(opts.storage.boot_tag());
        } else if let Some(f) = shm.failure() {
            // Another attached process failed to make the log durable:
            // nothing it or anyone shares now may be built on.
            shm.detach();
            return Err(f.error(shm.path()));
        }
        let shm = Arc::new(shm);
        let slot = shm.claim_slot()?;
        let lease = Lease::new(Arc::clone(&shm), slot, busy);
        // Recovery and loading run under the lease: no commit or checkpoint
        // of another process moves the log or the main file meanwhile.
        lease.enter(Wait::Busy, |_| Ok(()))?;
        let engine = Self::open_locked(path, opts, Coord::Shared(lease, first));
        if let Ok(e) = &engine {
            if let Some(l) = &e.lease {
                l.exit(true);
            }
        }
        if first {
            shm.share()?;
        }
        engine
    }

    /// Refuses a file that is not a database (or has another page size),
    /// and a read-only open of a database that does not exist.
    fn check_openable(path: &Path, opts: &Options) -> Result<()> {
        check_existing(&opts.storage, path, opts.page_size)?;
        if opts.read_only
            && !opts
                .storage
                .exists(path)
                .map_err(|e| Error::io("stat main file", path, e))?
        {
            return Err(Error::io(
                "open read-only",
                path,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        Ok(())
    }

    fn open_locked(path: &Path, opts: &Options, coord: Coord) -> Result<Arc<Engine>> {
        let storage = Arc::clone(&opts.storage);
        let capacity = opts.segment_size_bytes - SEGMENT_HEADER_BLOCK_BYTES;
        let shared = matches!(coord, Coord::Shared(..));
        Self::check_openable(path, opts)?;
        let main = MainFile::open(&storage, path, opts.page_size, opts.read_only)?
            .with_cache(opts.page_cache_bytes);
        let header = main.header();
        // A first opener honours a sync failure recorded in this boot: the
        // page cache may still show bytes that never reached the disk.
        let failure_limit = match &coord {
            Coord::Shared(lease, true) => {
                crate::shm::failure_limit(&lease.shm, header.db_id, storage.boot_tag())
            }
            _ => None,
        };
        let mut replay = recovery::scan(&storage, path, &header, !opts.read_only, failure_limit)?;
        if let Some(c) = &replay.corruption {
            return Err(Error::Corrupt(format!(
                "{}: {} (recover with skip_corrupt to keep the durable prefix)",
                path.display(),
                c.reason
            )));
        }
        let (tail, restart) = if opts.read_only {
            (replay.end, false)
        } else {
            // Another attached process may hold spare segments past the
            // end open, ready to write into: they must stay.
            let others_attached = matches!(coord, Coord::Shared(_, false));
            prepare_for_writing(&storage, path, &mut replay, others_attached)?
        };
        let cfg = LogConfig {
            storage: Arc::clone(&storage),
            db_path: path.to_path_buf(),
            stream: Stream::Wal,
            db_id: header.db_id,
            page_size: opts.page_size,
            capacity,
            shared,
        };
        let capsules = open_capsules(
            &cfg,
            std::mem::take(&mut replay.capsule_segments),
            &replay.capsules,
        );
        let log = Log::new(
            cfg,
            std::mem::take(&mut replay.segments),
            tail,
            replay.last_epoch,
        );
        if restart {
            log.restart(tail, replay.end, replay.last_epoch + 1)?;
        }
        // The conflict index covers every commit since the checkpoint, so a
        // snapshot as old as the checkpoint still validates correctly.
        let mut sequencer = Sequencer::new(replay.last_seq, tail);
        let versions = VersionStore::default();
        for r in replay.records {
            sequencer.note_writer(r.pgno, r.seq);
            versions.install(r.pgno, r.seq, r.data);
        }
        let pipe = Pipeline::new(
            opts.sync,
            opts.max_flush_delay_us,
            replay.last_seq,
            tail,
            replay.last_epoch,
        );
        pipe.seed_ends(replay.ends);
        let (lock_file, lease, readers) = match coord {
            Coord::Alone(f) => (f, None, ReaderTable::default()),
            Coord::Shared(lease, first) => {
                let shm = Arc::clone(&lease.shm);
                if first {
                    shm.set_identity(opts.page_size, header.db_id);
                    shm.reset_tips(
                        replay.last_seq,
                        tail,
                        header.checkpoint_seq,
                        header.generation,
                    );
                    // Recovered up to what was durable, and restarted past
                    // the rest (or, read-only, shows only that prefix):
                    // the failure is dealt with - or belonged elsewhere.
                    if !opts.read_only || failure_limit.is_none() {
                        shm.clear_failure();
                    }
                } else {
                    shm.check(opts.page_size, header.db_id)?;
                }
                if restart {
                    shm.bump_segment_generation();
                }
                let fail_shm = Arc::clone(&shm);
                let boot_tag = storage.boot_tag();
                pipe.on_sync_failure(Box::new(move |durable_end| {
                    // Everything before the furthest offset any process
                    // made durable is on disk; past it, pages may be lost.
                    fail_shm.record_failure(durable_end.max(fail_shm.sync_done()), boot_tag);
                }));
                let slot = lease.slot;
                let hook_shm = Arc::clone(&shm);
                let readers = ReaderTable::with_hook(Box::new(move |oldest, n| {
                    hook_shm.set_readers(slot, oldest, n)
                }));
                (None, Some(lease), readers)
            }
        };
        let segments_seen = lease.as_ref().map_or(0, |l| l.shm.segment_generation());
        let engine = Arc::new(Engine {
            path: path.to_path_buf(),
            opts: opts.clone(),
            db_id: header.db_id,
            main,
            log,
            capsules,
            seq: Mutex::new(sequencer),
            pipe,
            versions,
            readers: Arc::new(readers),
            lanes: Lanes::new(opts.effective_lanes()),
            checkpoint_lock: Mutex::new(()),
            last_recovery: replay.report,
            bytes_logged: AtomicU64::new(0),
            boot_tag: storage.boot_tag(),
            spill: SpillPolicy {
                storage: Arc::clone(&storage),
                db_path: path.to_path_buf(),
                threshold_bytes: opts.spill_threshold_bytes,
            },
            lock_file: Mutex::new(lock_file),
            lease,
            catch_up_lock: Mutex::new(()),
            segments_seen: AtomicU64::new(segments_seen),
            adopted_names_unsynced: std::sync::atomic::AtomicBool::new(false),
            alone_turn: Mutex::new(()),
            signal: Arc::new((Mutex::new(WorkerSignal::default()), Condvar::new())),
            worker: Mutex::new(None),
        });
        if !opts.read_only {
            // Capsules of checkpointed commits are garbage; reclaim them.
            engine.capsules.checkpointed(header.checkpoint_seq)?;
            engine.start_worker();
        }
        Ok(engine)
    }

    /// Enters the writer lease when other processes may share the
    /// database (None when they cannot): waits up to busy_timeout, then
    /// Busy; with `Wait::No`, Ok(None) also when another process has it.
    fn enter_lease(&self, wait: Wait) -> Result<Option<LeaseGuard<'_>>> {
        let Some(lease) = &self.lease else {
            return Ok(None);
        };
        let entered = lease.enter(wait, |died| self.catch_up(Some(died)))?;
        if !entered {
            return Err(Error::Busy(format!(
                "{}: another process holds the writer lease",
                self.path.display()
            )));
        }
        Ok(Some(LeaseGuard { engine: self }))
    }

    /// Like [`Engine::enter_lease`] without waiting: None when the lease is
    /// elsewhere (or the storage is not shared: then Some(None)).
    fn try_enter_lease(&self) -> Result<Option<Option<LeaseGuard<'_>>>> {
        match self.enter_lease(Wait::No) {
            Ok(g) => Ok(Some(g)),
            Err(Error::Busy(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Tells other processes how far this one's commits have got.
    fn publish(&self) {
        if let Some(l) = &self.lease {
            // The pipeline's durable mark moves only after a real sync (in
            // every mode), so it may be published as it is.
            l.shm.publish(self.pipe.visible(), self.pipe.durable());
        }
    }

    /// Catches up on what other processes did since this one last looked:
    /// their checkpoints, then their commits. `holder`: this process has
    /// just taken the writer lease, so nobody writes meanwhile - read to the
    /// very end of the log, and repair a tail a dead holder left. Otherwise
    /// (a reader) read up to the published commit tip only. `holder` is
    /// Some(whether the previous holder died holding the lease) for a
    /// holder, None for a reader.
    fn catch_up(&self, holder: Option<bool>) -> Result<()> {
        let writer_died = holder == Some(true);
        let holder = holder.is_some();
        let Some(lease) = &self.lease else {
            return Ok(());
        };
        let shm = &lease.shm;
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
        // Segments first, even when nobody wrote a commit since: another
        // holder may have prepared the next one, and appending past our
        // last known segment must find its file, not make a second one.
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
        if holder && !writer_died && shm.written_tip() <= self.pipe.written() {
            // Nobody wrote since we last looked.
            return Ok(());
        }
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
                return Err(Error::Internal(format!(
                    "{}: commit {tip} is published but the log ends after commit {}",
                    self.path.display(),
                    t.last_seq
                )));
            }
        }
        if t.last_seq == last && !t.dirty_tail {
            return Ok(());
        }
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
    fn adopt_checkpoint(&self, generation: u64, unannounced: bool) -> Result<()> {
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

    pub fn check_pgno(&self, pgno: Pgno) -> Result<()> {
        if pgno == 0 {
            return Err(Error::invalid("page 0 is not a valid page number"));
        }
        Ok(())
    }

    /// Checks that `data` may be the image of `pgno`.
    pub fn check_image(&self, pgno: Pgno, data: &[u8]) -> Result<()> {
        self.check_pgno(pgno)?;
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

    /// Registers a reader at the latest visible commit - in any process:
    /// commits other processes published are caught up on first.
    pub fn begin_read(&self) -> Result<ReaderGuard> {
        let Some(lease) = &self.lease else {
            return Ok(ReaderGuard {
                token: self.readers.register(|| self.pipe.visible()),
            });
        };
        let mut last_err = None;
        for _ in 0..BEGIN_ATTEMPTS {
            if let Err(e) = self.catch_up(None) {
                // A checkpoint elsewhere may have retired what we were
                // reading: look again.
                last_err = Some(e);
                continue;
            }
            // The slot now shows our snapshot (the table's hook, SeqCst);
            // a checkpoint that read the slots before that has published
            // its target first, so we see it here and start over.
            let token = self.readers.register(|| self.pipe.visible());
            if lease.shm.checkpoint_target() <= token.snapshot() {
                return Ok(ReaderGuard { token });
            }
        }
        Err(last_err.unwrap_or_else(|| {
            Error::Busy(format!(
                "{}: checkpoints in other processes kept overtaking this reader",
                self.path.display()
            ))
        }))
    }

    /// The image of `pgno` at `snapshot`.
    pub fn read_at(&self, pgno: Pgno, snapshot: CommitSeq) -> Result<Option<Page>> {
        for _ in 0..LOGGED_READ_ATTEMPTS {
            match self.versions.get(pgno, snapshot) {
                None => return self.main.read(pgno),
                Some((_, VersionData::Inline(p))) => return Ok(Some(p)),
                Some((_, VersionData::Deleted)) => return Ok(None),
                Some((
                    seq,
                    VersionData::Logged {
                        stream,
                        log_offset,
                        len,
                        crc,
                    },
                )) => {
                    match self.read_logged(stream, log_offset, len, crc) {
                        Ok(p) => return Ok(Some(p)),
                        // A checkpoint may have moved this version into the
                        // main file and retired its segment meanwhile.
                        Err(e) => {
                            if matches!(self.versions.get(pgno, snapshot), Some((s, _)) if s == seq)
                            {
                                return Err(e);
                            }
                        }
                    }
                }
            }
        }
        Err(Error::Internal(format!(
            "page {pgno}: version kept moving during read"
        )))
    }

    fn read_logged(&self, stream: Stream, log_offset: u64, len: u32, crc: u32) -> Result<Page> {
        let mut buf = vec![0u8; len as usize];
        match stream {
            Stream::Wal => self.log.read_at(log_offset, &mut buf)?,
            Stream::Capsule => self.capsules.log.read_at(log_offset, &mut buf)?,
        }
        if crc32c(&buf) != crc {
            return Err(Error::corrupt(format!(
                "{}: log image at offset {log_offset} fails its checksum",
                self.path.display()
            )));
        }
        Ok(Page::from(buf))
    }

    fn check_writable(&self) -> Result<()> {
        if self.opts.read_only {
            return Err(Error::ReadOnly(format!(
                "{} was opened read-only",
                self.path.display()
            )));
        }
        self.pipe.check_failed()
    }

    /// Commits `writes`: validated against `snapshot` (None = blind batch)
    /// on the write set, and on `reads` under SERIALIZABLE.
    /// `sync` (None = the database's mode) says what the commit waits for.
    pub fn commit(
        &self,
        snapshot: Option<CommitSeq>,
        writes: WriteSet,
        reads: &[Pgno],
        sync: Option<SyncMode>,
    ) -> Result<CommitSeq> {
        let started = Instant::now();
        let _span = tracing::debug_span!("commit", pages = writes.len()).entered();
        self.check_writable()?;
        let sync = sync.unwrap_or(self.opts.sync);
        // Held until the commit's bytes are written (`finish` gives it up
        // then): the next holder continues after every byte of it.
        let mut lease = self.enter_lease(Wait::Busy)?;
        let r = match self.opts.commit_mode {
            CommitMode::Wal => self.commit_wal(snapshot, &writes, reads, sync, &mut lease),
            CommitMode::Native => self.commit_native(snapshot, &writes, reads, sync, &mut lease),
        };
        drop(lease);
        if let Err(Error::Conflict { commit_seq, .. }) = &r {
            if *commit_seq > self.pipe.visible() {
                // The winner is another process's commit, written but not
                // yet visible here (its sync is running, or its process
                // died before it): make it durable so that a retry's
                // snapshot sees it, instead of conflicting again.
                let busy = Duration::from_millis(u64::from(self.opts.busy_timeout_ms));
                let _ = self.pipe.wait_durable(self.logs(), *commit_seq, busy);
                self.publish();
            }
        }
        if r.is_ok() {
            self.pipe
                .metrics
                .commit_us
                .record(started.elapsed().as_micros() as u64);
        }
        r
    }

    /// WAL mode: page images go through the log.
    fn commit_wal(
        &self,
        snapshot: Option<CommitSeq>,
        writes: &WriteSet,
        reads: &[Pgno],
        sync: SyncMode,
        lease: &mut Option<LeaseGuard<'_>>,
    ) -> Result<CommitSeq> {
        let len = stage::commit_log_len(writes);
        let (at, undo) = self.sequence(snapshot, writes, reads, len)?;
        // Write: encode into a lane buffer and copy into the reserved range.
        let written = {
            let _span = tracing::trace_span!("write", seq = at.seq, bytes = len).entered();
            let mut lane = self.lanes.acquire();
            let db_id = self.db_id;
            stage::encode(db_id, writes, at, &mut lane, |off, bytes| {
                self.log.write_at(off, bytes)
            })
        };
        if let Err(e) = written {
            return Err(self.abandon(at, undo, len, e, sync));
        }
        let offsets = stage::payload_offsets(writes, at.log_offset);
        self.install(
            writes,
            at.seq,
            Stream::Wal,
            offsets,
            len <= INLINE_COMMIT_MAX_BYTES,
        );
        self.finish(at, len, sync, lease.take())
    }

    /// NATIVE mode: the committer persists its capsule itself; the
    /// serialized section only numbers it and the log gets a small marker.
    fn commit_native(
        &self,
        snapshot: Option<CommitSeq>,
        writes: &WriteSet,
        reads: &[Pgno],
        sync: SyncMode,
        lease: &mut Option<LeaseGuard<'_>>,
    ) -> Result<CommitSeq> {
        // A cheap early check so a doomed commit does not write a capsule;
        // the sequencer validates again.
        if let Some(snap) = snapshot {
            let checked = self.checked_pages(writes, reads);
            if let Some((pages, newest)) = self.seq.lock().conflicts(snap, checked) {
                return Err(Error::Conflict {
                    pages,
                    commit_seq: newest,
                });
            }
        }
        let cap_len = capsule::capsule_len(writes);
        let cap_off = self.capsules.claim(cap_len);
        if let Err(e) = self.prepare(&self.capsules.log, cap_off + cap_len) {
            // An out-of-space error leaves nothing reserved.
            self.capsules.release(cap_off);
            return Err(e);
        }
        let db_id = self.db_id;
        let persisted = (|| {
            let digest = {
                let mut lane = self.lanes.acquire();
                // A failed write is fail-stop (as in WAL mode); running out
                // of space is not: no seq was taken.
                self.fail_stop_on_io(capsule::encode(
                    db_id,
                    writes,
                    cap_off,
                    &mut lane,
                    |off, bytes| self.capsules.log.write_at(off, bytes),
                ))?
            };
            if sync != SyncMode::Full {
                self.capsules.mark_relaxed();
            } else {
                // FSYNC_1: capsules durable before any marker names them.
                self.capsules
                    .make_durable()
                    .inspect_err(|e| self.pipe.fail_sync(e))?;
            }
            Ok(digest)
        })();
        let digest = match persisted {
            Ok(d) => d,
            Err(e) => {
                // No seq was taken: nothing partial, the capsule is garbage.
                self.capsules.release(cap_off);
                return Err(e);
            }
        };
        let len = capsule::marker_log_len();
        let (at, undo) = match self.sequence(snapshot, writes, reads, len) {
            Ok(placed) => placed,
            Err(e) => {
                self.capsules.release(cap_off);
                return Err(e);
            }
        };
        let flags = if sync == SyncMode::Full {
            capsule::MARKER_CAPSULE_SYNCED
        } else {
            0
        };
        let marker = capsule::encode_marker(
            db_id,
            &at,
            writes.len() as u32,
            cap_off,
            cap_len,
            digest,
            flags,
        );
        if let Err(e) = self.log.write_at(at.log_offset, &marker) {
            self.capsules.release(cap_off);
            return Err(self.abandon(at, undo, len, e, sync));
        }
        self.capsules.assign(cap_off, at.seq);
        let offsets = capsule::image_offsets(writes, cap_off);
        self.install(
            writes,
            at.seq,
            Stream::Capsule,
            offsets,
            cap_len <= INLINE_COMMIT_MAX_BYTES,
        );
        // FSYNC_2 (under FULL): markers durable before success.
        self.finish(at, len, sync, lease.take())
    }

    /// Prepares WAL segments up to `end`. Running out of space is an
    /// ordinary error (nothing was sequenced); any other failure - a
    /// write, a sync, a rename, a directory sync - is fail-stop.
    fn prepare_log(&self, end: u64) -> Result<()> {
        self.prepare(&self.log, end)
    }

    /// Prepares segments of `log` (the WAL or the capsule stream) up to
    /// `end`, announced to other processes before and after - only when a
    /// segment is actually needed, since every announcement makes the
    /// others list the directory.
    fn prepare(&self, log: &Log, end: u64) -> Result<()> {
        if log.prepared_end() >= end {
            return Ok(());
        }
        self.announce_segment();
        let r =
            self.while_alone(|| self.fail_stop_on_io(log.ensure_prepared(end, self.pipe.epoch())));
        self.announce_segment();
        r
    }

    /// Runs `f` knowing whether this process is alone with the database;
    /// if it is, nobody can attach meanwhile, and the logs may recycle
    /// retired segments (which another process could still be reading).
    fn while_alone<T>(&self, f: impl FnOnce() -> T) -> T {
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
    fn announce_segment(&self) {
        if let Some(l) = &self.lease {
            l.shm.bump_segment_generation();
            self.segments_seen.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn fail_stop_on_io<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e @ Error::Io { .. }) = &r {
            self.pipe.fail(e);
        }
        r
    }

    /// A sequenced commit's bytes could not be written. Out of space: a
    /// void frame over its range keeps the log continuous, so later commits
    /// become durable and the database works on once space is freed; the
    /// commit itself fails with Full. The void is first written as padding
    /// and the seq handed back, keeping commit_seq dense; if a later commit
    /// was numbered meanwhile, the void becomes an empty commit with this
    /// seq instead. Until that is settled no later commit can be durable,
    /// so a crash in between loses nothing acknowledged. Any other failure
    /// - or a void that cannot be written either - is fail-stop.
    fn abandon(&self, at: Placement, undo: Undo, len: u64, e: Error, sync: SyncMode) -> Error {
        let payload_len = u32::try_from(len - crate::format::FRAME_HEADER_BYTES as u64);
        let (Error::Full(_), Ok(payload_len)) = (&e, payload_len) else {
            self.pipe.fail(&e);
            return e;
        };
        let write_void = |commit_seq: CommitSeq| {
            let mut header = [0u8; crate::format::FRAME_HEADER_BYTES];
            crate::format::FrameHeader {
                kind: crate::format::FrameKind::Void,
                log_offset: at.log_offset,
                commit_seq,
                pgno: 0,
                payload_len,
                payload_crc: 0,
            }
            .encode(self.db_id, &mut header);
            self.log.write_at(at.log_offset, &header)
        };
        if write_void(at.seq - 1).is_err() {
            self.pipe.fail(&e);
            return e;
        }
        if self.seq.lock().abandon(at.seq, undo) {
            return e;
        }
        if write_void(at.seq).is_err() {
            self.pipe.fail(&e);
            return e;
        }
        // Errors of the pipeline reach every waiter; ours is Full.
        let _ = self
            .pipe
            .complete(self.logs(), at.seq, at.log_offset + len, sync);
        e
    }

    fn checked_pages<'a>(
        &self,
        writes: &'a WriteSet,
        reads: &'a [Pgno],
    ) -> impl Iterator<Item = Pgno> + 'a {
        let validate_reads = self.opts.isolation == Isolation::Serializable;
        writes
            .keys()
            .copied()
            .chain(reads.iter().copied().filter(move |_| validate_reads))
    }

    /// Sequence: the short serialized section. No I/O, no page bytes.
    fn sequence(
        &self,
        snapshot: Option<CommitSeq>,
        writes: &WriteSet,
        reads: &[Pgno],
        len: u64,
    ) -> Result<(Placement, Undo)> {
        let _span = tracing::trace_span!("sequence", pages = writes.len()).entered();
        loop {
            let outcome = {
                let mut sq = self.seq.lock();
                let checked = self.checked_pages(writes, reads);
                match sq.sequence(
                    snapshot,
                    checked,
                    writes.keys(),
                    len,
                    self.log.prepared_end(),
                ) {
                    Sequenced::Placed {
                        seq,
                        log_offset,
                        undo,
                    } => Ok((
                        Placement {
                            seq,
                            log_offset,
                            epoch: self.pipe.epoch(),
                            durable_hint: self.pipe.durable(),
                            written_hint: self.pipe.written(),
                            boot_tag: self.boot_tag,
                            acks_written: self.opts.sync != SyncMode::Full,
                        },
                        undo,
                    )),
                    other => Err(other),
                }
            };
            match outcome {
                Ok(at) => return Ok(at),
                Err(Sequenced::Conflict { pages, newest }) => {
                    return Err(Error::Conflict {
                        pages,
                        commit_seq: newest,
                    });
                }
                Err(Sequenced::NeedSpace { end }) => {
                    self.prepare_log(end)?;
                }
                Err(Sequenced::Placed { .. }) => unreachable!("handled above"),
            }
        }
    }

    /// Publishes the commit's versions (invisible until the pipeline says
    /// so). Large commits (spilled ones always are) keep images in the log.
    fn install(
        &self,
        writes: &WriteSet,
        seq: CommitSeq,
        stream: Stream,
        offsets: impl Iterator<Item = u64>,
        inline: bool,
    ) {
        let _span = tracing::trace_span!("publish", seq).entered();
        for ((&pgno, w), image_at) in writes.iter().zip(offsets) {
            let data = match w {
                None => VersionData::Deleted,
                Some(s) => match &s.image {
                    Image::Mem(p) if inline => VersionData::Inline(p.clone()),
                    _ => VersionData::Logged {
                        stream,
                        log_offset: image_at,
                        len: s.len,
                        crc: s.crc,
                    },
                },
            };
            self.versions.install(pgno, seq, data);
        }
    }

    /// Make durable and visible (as `sync` asks), then nudge background
    /// work. A commit relaxed below a FULL database's mode is made durable
    /// (and so visible) by the worker's next flush, started now.
    /// The commit's bytes are written: the writer lease (if any) goes
    /// now - the next holder appends while this commit's group syncs.
    fn finish(
        &self,
        at: Placement,
        len: u64,
        sync: SyncMode,
        lease: Option<LeaseGuard<'_>>,
    ) -> Result<CommitSeq> {
        self.bytes_logged.fetch_add(len, Ordering::Relaxed);
        {
            let _span = tracing::trace_span!("durable", seq = at.seq).entered();
            self.pipe.mark_written(at.seq, at.log_offset + len);
            drop(lease);
            self.pipe.wait_done(self.logs(), at.seq, sync)?;
        }
        self.publish();
        if self.opts.sync == SyncMode::Full && sync != SyncMode::Full {
            let (lock, cv) = &*self.signal;
            lock.lock().flush = true;
            cv.notify_one();
        }
        self.maybe_wake_worker(at.log_offset + len);
        Ok(at.seq)
    }

    /// The logs a group flush syncs: in NATIVE mode the capsules first.
    fn logs(&self) -> Logs<'_> {
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

    /// Moves every commit up to the oldest reader's snapshot into the main
    /// file and retires the segments that then hold nothing needed.
    pub fn checkpoint(&self) -> Result<CheckpointReport> {
        self.check_writable()?;
        let _lease = self.enter_lease(Wait::Busy)?;
        self.checkpoint_leased()
    }

    /// The checkpoint of a process that already holds the lease (or needs
    /// none).
    fn checkpoint_leased(&self) -> Result<CheckpointReport> {
        let _only_one = self.checkpoint_lock.lock();
        self.check_writable()?;
        let result = self.checkpoint_locked();
        if let Err(e @ Error::Io { .. }) = &result {
            // The main file may be half-written and a sync may have failed:
            // fail-stop rather than guess what reached the disk.
            self.pipe.fail(e);
        }
        result
    }

    fn checkpoint_locked(&self) -> Result<CheckpointReport> {
        let _span = tracing::debug_span!("checkpoint").entered();
        if self.opts.sync == SyncMode::Normal {
            // The log must be durable before pages reach the main file.
            self.pipe.flush_all(self.logs())?;
        }
        let old = self.main.header();
        let mut target = self.readers.oldest_or(|| self.pipe.visible());
        if let Some(l) = &self.lease {
            // Never past a live reader of another process: announce the
            // target, then read their snapshots (a reader publishes its
            // snapshot, then reads the target - one of us sees the other).
            l.shm.set_checkpoint_target(target);
            if let Some(theirs) = l.shm.oldest_other_snapshot(l.slot) {
                target = target.min(theirs).max(old.checkpoint_seq);
                l.shm.set_checkpoint_target(target);
            }
        }
        if target <= old.checkpoint_seq {
            return Ok(CheckpointReport {
                pages_written: 0,
                segments_removed: self.log.retire_before(old.log_start)?,
                checkpoint_seq: old.checkpoint_seq,
            });
        }
        let log_start = self.pipe.end_of(target).ok_or_else(|| {
            Error::Internal(format!("no log position recorded for commit {target}"))
        })?;
        let pages = self.versions.newest_upto(target);
        let pages_written = self.main.checkpoint(
            pages.into_iter().map(|(pgno, _, data)| {
                Ok((
                    pgno,
                    match data {
                        VersionData::Inline(p) => CheckpointPage::Write(p),
                        VersionData::Deleted => CheckpointPage::Delete,
                        VersionData::Logged {
                            stream,
                            log_offset,
                            len,
                            crc,
                        } => CheckpointPage::Write(self.read_logged(stream, log_offset, len, crc)?),
                    },
                ))
            }),
            target,
            log_start,
        )?;
        if let Some(l) = &self.lease {
            l.shm
                .publish_checkpoint(target, self.main.header().generation);
        }
        self.versions.gc(target);
        let oldest = self.readers.oldest_or(|| self.pipe.visible());
        self.seq.lock().prune(oldest);
        self.pipe.trim_ends(target);
        let segments_removed = self.while_alone(|| -> Result<u64> {
            Ok(self.log.retire_before(log_start)? + self.capsules.checkpointed(target)?)
        })?;
        Ok(CheckpointReport {
            pages_written,
            segments_removed,
            checkpoint_seq: target,
        })
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

    fn maybe_wake_worker(&self, end: u64) {
        let capacity = self.log.config().capacity;
        let low_headroom = self.log.prepared_end().saturating_sub(end) < capacity / 2;
        let threshold = self.opts.checkpoint_threshold_bytes;
        let big_log = threshold > 0 && end.saturating_sub(self.main.header().log_start) > threshold;
        if low_headroom || big_log {
            let (lock, cv) = &*self.signal;
            lock.lock().wake = true;
            cv.notify_one();
        }
    }

    fn start_worker(self: &Arc<Self>) {
        let weak: Weak<Engine> = Arc::downgrade(self);
        let signal = Arc::clone(&self.signal);
        let heartbeat = self.lease.is_some().then_some(HEARTBEAT_INTERVAL);
        let handle = std::thread::Builder::new()
            .name("libcommit-worker".into())
            .spawn(move || worker_loop(weak, signal, heartbeat))
            .ok();
        *self.worker.lock() = handle;
    }

    /// Stops background work and makes a NORMAL-mode log durable. Called
    /// once, when the last handle closes.
    pub fn shutdown(&self) -> Result<()> {
        {
            let (lock, cv) = &*self.signal;
            lock.lock().stop = true;
            cv.notify_all();
        }
        if let Some(h) = self.worker.lock().take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
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
    fn close_log(&self) -> Result<()> {
        let Some(l) = &self.lease else {
            return self.seal();
        };
        let alone = l.shm.try_alone()?;
        let result = match self.enter_lease(Wait::Busy) {
            Ok(_lease) if alone => self.seal(),
            Ok(_lease) if self.opts.sync == SyncMode::Normal => {
                self.pipe.flush_all(self.logs()).map(|_| ())
            }
            Ok(_) => Ok(()),
            // Another process holds the lease: our commits are in the log
            // already; the seal is only an aid to recovery.
            Err(Error::Busy(_)) => Ok(()),
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
    fn seal(&self) -> Result<()> {
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
            match reserved {
                Some(r) => break r,
                None => {
                    let end = self.seq.lock().tail() + len;
                    self.prepare_log(end)?;
                }
            }
        };
        if last == 0 {
            return Ok(());
        }
        let mut header = [0u8; crate::format::FRAME_HEADER_BYTES];
        crate::format::FrameHeader {
            kind: crate::format::FrameKind::Seal,
            log_offset: at,
            commit_seq: last,
            pgno: 0,
            payload_len: 0,
            payload_crc: crc32c(&[]),
        }
        .encode(self.db_id, &mut header);
        self.log.write_at(at, &header)?;
        self.log.sync_range(at, at + len)
    }

    /// Background duty: keep a prepared segment ahead of the tail and
    /// checkpoint when the log passes its threshold.
    fn background_step(&self) {
        if let Some(l) = &self.lease {
            l.shm.heartbeat(l.slot);
        }
        let capacity = self.log.config().capacity;
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
        let Ok(Some(_lease)) = self.try_enter_lease() else {
            return;
        };
        let tail = self.seq.lock().tail();
        if self.log.prepared_end().saturating_sub(tail) < capacity / 2 {
            // Out of space here is not fatal: a committer that needs the
            // space prepares it itself and reports Full. An I/O failure
            // poisons the database inside prepare_log.
            let _ = self.prepare_log(tail + capacity);
        }
        let threshold = self.opts.checkpoint_threshold_bytes;
        if threshold > 0 && tail.saturating_sub(self.main.header().log_start) > threshold {
            let _ = self.checkpoint_leased();
        }
    }
}

fn worker_loop(
    engine: Weak<Engine>,
    signal: Arc<(Mutex<WorkerSignal>, Condvar)>,
    heartbeat: Option<Duration>,
) {
    let (lock, cv) = &*signal;
    loop {
        {
            let mut s = lock.lock();
            while !s.wake && !s.flush && !s.stop {
                match heartbeat {
                    Some(every) => {
                        if cv.wait_for(&mut s, every).timed_out() {
                            break;
                        }
                    }
                    None => cv.wait(&mut s),
                }
            }
            if s.stop {
                return;
            }
            let flush = std::mem::take(&mut s.flush);
            s.wake = false;
            drop(s);
            let Some(e) = engine.upgrade() else {
                return;
            };
            if flush {
                // Errors poison the pipeline; every waiter sees them.
                let _ = e.pipe.flush_all(e.logs());
                e.publish();
            }
            e.background_step();
        }
    }
}

/// Takes `{path}-lock` exclusively, waiting up to the busy timeout.
pub(crate) fn take_writer_lock(opts: &Options, path: &Path) -> Result<Box<dyn StorageFile>> {
    take_lock(opts, path, false)?.ok_or_else(|| Error::Internal("lock file vanished".into()))
}

/// Takes `{path}-lock`, waiting up to the busy timeout: exclusively for a
/// writer; shared for a read-only handle, so that read-only processes run
/// side by side but never beside a writer whose checkpoints would reuse
/// the space they read. A read-only opener that cannot create the lock
/// file (read-only media) goes without; `None` then.
fn take_lock(opts: &Options, path: &Path, shared: bool) -> Result<Option<Box<dyn StorageFile>>> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push("-lock");
    let lock_path = PathBuf::from(lock_path);
    crate::mainfile::require_parent_dir(opts.storage.as_ref(), path)?;
    let file = match opts.storage.open_for_locks(&lock_path, OpenMode::Create) {
        Ok(f) => f,
        Err(e) if shared => match opts.storage.open_for_locks(&lock_path, OpenMode::ReadOnly) {
            Ok(f) => f,
            Err(_) => {
                tracing::debug!("read-only open of {} without a lock: {e}", path.display());
                return Ok(None);
            }
        },
        Err(e) => return Err(Error::io("open lock file", &lock_path, e)),
    };
    let deadline = Instant::now() + Duration::from_millis(u64::from(opts.busy_timeout_ms));
    loop {
        let got = if shared {
            file.try_lock_shared()
        } else {
            file.try_lock_exclusive()
        }
        .map_err(|e| Error::io("lock", &lock_path, e))?;
        if got {
            return Ok(Some(file));
        }
        if Instant::now() >= deadline {
            let holder = if shared {
                "a writer"
            } else {
                "another process"
            };
            return Err(Error::Busy(format!(
                "{}: {holder} holds the database lock (waited {} ms)",
                path.display(),
                opts.busy_timeout_ms
            )));
        }
        std::thread::sleep(LOCK_RETRY_INTERVAL);
    }
}

/// Judges an existing file at `path` before anything is created beside it:
/// a file that is not a database (or has another page size) is refused and
/// left exactly as it was. An empty file becomes a new database.
fn check_existing(
    storage: &Arc<dyn crate::storage::Storage>,
    path: &Path,
    page_size: u32,
) -> Result<()> {
    if !storage
        .exists(path)
        .map_err(|e| Error::io("stat main file", path, e))?
    {
        return Ok(());
    }
    match MainFile::probe_page_size(storage, path) {
        Ok(ps) if ps != page_size => Err(Error::invalid(format!(
            "{}: page_size {page_size} does not match the database's {ps}",
            path.display()
        ))),
        Ok(_) => Ok(()),
        Err(_)
            if storage
                .open(path, OpenMode::ReadOnly)
                .and_then(|f| f.len())
                .ok()
                == Some(0) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Readies a recovered log for new commits: removes leftovers (dead
/// spill files, checkpointed and temporary segments, segments past a dirty
/// tail), makes what was replayed durable, and says where the next commit
/// goes and whether a restart segment must void an abandoned tail.
fn prepare_for_writing(
    storage: &Arc<dyn crate::storage::Storage>,
    path: &Path,
    replay: &mut recovery::Replay,
    others_attached: bool,
) -> Result<(u64, bool)> {
    let dir = parent_dir(path);
    spill::remove_abandoned(storage, path)?;
    for p in replay.stale.iter().chain(&replay.tmp) {
        storage
            .remove(p)
            .map_err(|e| Error::io("remove stale segment", p, e))?;
    }
    let segments = &mut replay.segments;
    // Segments wholly past the end of the replayed log hold nothing
    // acknowledged. Spares with no valid frame simply continue the log;
    // after a dirty tail they go, and a restart segment follows - after
    // them instead when other processes are attached: one of them may have
    // prepared a spare and be about to append to it through its open file,
    // which a removal would silently unlink.
    while replay.dirty_tail
        && !others_attached
        && segments
            .last()
            .is_some_and(|s| s.header.log_start > replay.end)
    {
        let s = segments.pop().expect("non-empty");
        storage
            .remove(&s.path)
            .map_err(|e| Error::io("remove unused segment", &s.path, e))?;
    }
    // The names we found may be as unsynced as what we removed: a process
    // that died between a rename and its directory sync leaves a segment
    // whose name a power loss would take away, with our commits in it.
    storage
        .sync_dir(&dir)
        .map_err(|e| Error::io("sync directory", &dir, e))?;
    // What we replayed may so far live only in the page cache of a process
    // that crashed: make it durable before building on it (in every sync
    // mode - new commit records vouch for it, and this happens once).
    // Capsules too: a replayed marker names one, and a capsule a dead
    // process wrote below FULL was never synced by anyone.
    for s in segments.iter().chain(&replay.capsule_segments) {
        s.file
            .sync_data()
            .map_err(|e| Error::io("sync recovered segment", &s.path, e))?;
    }
    if replay.dirty_tail {
        // Valid but unacknowledged frames lie past the end: never overwrite
        // them in place (a shorter new commit could leave an old one
        // readable behind it); continue in a fresh segment that voids them.
        return Ok((segments.last().map_or(replay.end, |s| s.window_end()), true));
    }
    Ok((replay.end, false))
}

/// The capsule store over the capsule segments found by recovery; new
/// capsules go after all of them.
fn open_capsules(
    cfg: &LogConfig,
    segments: Vec<crate::wal::Segment>,
    live: &[(u64, CommitSeq)],
) -> CapsuleStore {
    let epoch = segments
        .iter()
        .map(|s| s.header.first_epoch)
        .max()
        .unwrap_or(0);
    let start = segments.last().map_or(0, |s| s.window_end());
    let cfg = LogConfig {
        stream: Stream::Capsule,
        ..cfg.clone()
    };
    CapsuleStore::new(Log::new(cfg, segments, start, epoch), live)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every segment announcement makes other processes list the directory
    /// at their next look: a commit that needs no new segment announces
    /// none, in either commit mode.
    #[test]
    fn commits_within_prepared_segments_announce_nothing() {
        for mode in [CommitMode::Wal, CommitMode::Native] {
            let dir = tempfile::tempdir().unwrap();
            let opts = Options {
                commit_mode: mode,
                ..Options::default()
            };
            let engine = Engine::open(&dir.path().join("a.db"), &opts).unwrap();
            let commit = |pgno: Pgno| {
                let mut w = WriteSet::new();
                w.put(engine.spill_policy(), pgno, Some(&[7u8; 64]))
                    .unwrap();
                engine.commit(None, w, &[], None).unwrap();
            };
            commit(1);
            let shm = &engine.lease.as_ref().expect("real storage is shared").shm;
            let before = shm.segment_generation();
            for pgno in 2..20 {
                commit(pgno);
            }
            assert_eq!(shm.segment_generation(), before, "{mode:?}");
            engine.shutdown().unwrap();
        }
    }
}
