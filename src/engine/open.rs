//! Opening: coordinate with other processes, recover the log, and build
//! the engine over what recovery found.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::mutex::Mutex;

use crate::durable::Pipeline;
use crate::error::{Error, Result};
use crate::format::{frame_len, MainHeader, SEGMENT_HEADER_BLOCK_BYTES};
use crate::lease::{Lease, Wait};
use crate::mainfile::MainFile;
use crate::mvcc::{ReaderTable, VersionStore};
use crate::native::CapsuleStore;
use crate::options::Options;
use crate::recovery;
use crate::sequence::Sequencer;
use crate::shm::{self, Shm};
use crate::spill;
use crate::stage::{self, SpillPolicy};
use crate::storage::{parent_dir, OpenMode, StorageFile};
use crate::types::CommitSeq;
use crate::wal::{Log, LogConfig, Stream};

use super::parts::{Coord, Engine, LineageState};
use super::worker::Worker;

impl Engine {
    /// Opens (creating if needed) and recovers the database at `path`.
    pub fn open(path: &Path, opts: &Options) -> Result<Arc<Engine>> {
        let mut probed = false;
        if let Some(url) = &opts.replica {
            crate::replica::ReplicaUrl::parse(url)?;
            if !opts.read_only {
                probed = crate::replica::probe_at_open(url)?;
            }
        }
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
            let lock_file = crate::lease::take_lock(opts, path, opts.read_only)?;
            return Self::open_locked(path, opts, Coord::Alone(lock_file), probed);
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
        let engine = Self::open_locked(path, opts, Coord::Shared(lease, first), probed);
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
    pub(super) fn check_openable(path: &Path, opts: &Options) -> Result<()> {
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

    /// `probed`: the replica's create-only probe already passed.
    pub(super) fn open_locked(
        path: &Path,
        opts: &Options,
        coord: Coord,
        probed: bool,
    ) -> Result<Arc<Engine>> {
        let storage = Arc::clone(&opts.storage);
        Self::check_openable(path, opts)?;
        let main = MainFile::open(&storage, path, opts.page_size, opts.read_only)?
            .with_cache(opts.page_cache_bytes);
        let header = main.header();
        // A first opener honours a sync failure recorded in this boot: the
        // page cache may still show bytes that never reached the disk.
        let failure_limit = match &coord {
            Coord::Shared(l, true) => shm::failure_limit(&l.shm, header.db_id, storage.boot_tag()),
            _ => None,
        };
        // Another attached process may hold spare segments past the end
        // open, ready to write into: they must stay.
        let others_attached = matches!(coord, Coord::Shared(_, false));
        let (mut replay, tail, restart) =
            recover_log(path, opts, &header, failure_limit, others_attached)?;
        let shared = matches!(coord, Coord::Shared(..));
        let (log, capsules) = open_logs(path, opts, &header, &mut replay, tail, shared);
        if restart {
            log.restart(tail, replay.end, replay.last_epoch + 1)?;
        }
        let (sequencer, versions) = replayed_state(&mut replay, tail);
        let pipe = Pipeline::new(
            opts.sync,
            opts.max_flush_delay_us,
            replay.last_seq,
            tail,
            replay.last_epoch,
        );
        pipe.seed_ends(std::mem::take(&mut replay.ends));
        let opened = Opened {
            header: &header,
            last_seq: replay.last_seq,
            tail,
            restart,
            failure_limit,
        };
        let (lock_file, lease, readers) = coordinate(coord, opts, &opened, &pipe)?;
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
            lanes: stage::Lanes::new(opts.effective_lanes()),
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
            worker: Worker::new(),
            replica: replica_tracker(opts, probed),
            lineage: LineageState::default(),
        });
        if !opts.read_only {
            engine.start_background(header.checkpoint_seq)?;
        }
        Ok(engine)
    }
}

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

/// The lock file (storage that cannot be shared), or the lease; and the
/// reader table.
type Coordination = (Option<Box<dyn StorageFile>>, Option<Lease>, ReaderTable);

/// What open found, as the coordination with other processes needs it.
struct Opened<'a> {
    header: &'a MainHeader,
    last_seq: CommitSeq,
    /// Where the next commit goes.
    tail: u64,
    /// A restart segment voids an abandoned tail.
    restart: bool,
    failure_limit: Option<u64>,
}

/// The engine's side of coordinating with other processes: its lock file
/// (storage that cannot be shared), or its lease and a reader table whose
/// count and oldest snapshot show in its `{path}-shm` slot. A first opener
/// publishes what it recovered; a later one checks it opened the same
/// database.
fn coordinate(
    coord: Coord,
    opts: &Options,
    at: &Opened<'_>,
    pipe: &Pipeline,
) -> Result<Coordination> {
    let (lease, first) = match coord {
        Coord::Alone(f) => return Ok((f, None, ReaderTable::default())),
        Coord::Shared(lease, first) => (lease, first),
    };
    let shm = Arc::clone(&lease.shm);
    let header = at.header;
    if first {
        shm.set_identity(opts.page_size, header.db_id);
        shm.reset_tips(
            at.last_seq,
            at.tail,
            header.checkpoint_seq,
            header.generation,
        );
        // Recovered up to what was durable, and restarted past the rest
        // (or, read-only, shows only that prefix): the failure is dealt
        // with - or belonged elsewhere.
        if !opts.read_only || at.failure_limit.is_none() {
            shm.clear_failure();
        }
    } else {
        shm.check(opts.page_size, header.db_id)?;
    }
    if at.restart {
        shm.bump_segment_generation();
    }
    let fail_shm = Arc::clone(&shm);
    let boot_tag = opts.storage.boot_tag();
    pipe.on_sync_failure(Box::new(move |durable_end| {
        // Everything before the furthest offset any process made durable
        // is on disk; past it, pages may be lost.
        fail_shm.record_failure(durable_end.max(fail_shm.sync_done()), boot_tag);
    }));
    let slot = lease.slot;
    let readers = ReaderTable::with_hook(Box::new(move |oldest, n| {
        shm.set_readers(slot, oldest, n);
    }));
    Ok((None, Some(lease), readers))
}

/// The WAL and the capsule store over the segments recovery found; new
/// commits go at `tail`.
fn open_logs(
    path: &Path,
    opts: &Options,
    header: &MainHeader,
    replay: &mut recovery::Replay,
    tail: u64,
    shared: bool,
) -> (Log, CapsuleStore) {
    let cfg = LogConfig {
        storage: Arc::clone(&opts.storage),
        db_path: path.to_path_buf(),
        stream: Stream::Wal,
        db_id: header.db_id,
        page_size: opts.page_size,
        capacity: opts.segment_size_bytes - SEGMENT_HEADER_BLOCK_BYTES,
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
    (log, capsules)
}

/// Scans the log at open and readies it for new commits (unless
/// read-only): the replay, where the next commit goes, and whether a
/// restart segment must void an abandoned tail first.
fn recover_log(
    path: &Path,
    opts: &Options,
    header: &MainHeader,
    failure_limit: Option<u64>,
    others_attached: bool,
) -> Result<(recovery::Replay, u64, bool)> {
    let storage = &opts.storage;
    let mut replay = recovery::scan(storage, path, header, !opts.read_only, failure_limit)?;
    if let Some(c) = &replay.corruption {
        return Err(Error::Corrupt(format!(
            "{}: {} (recover with skip_corrupt to keep the durable prefix)",
            path.display(),
            c.reason
        )));
    }
    if opts.read_only {
        let end = replay.end;
        return Ok((replay, end, false));
    }
    let (tail, restart) = prepare_for_writing(storage, path, &mut replay, others_attached)?;
    Ok((replay, tail, restart))
}

/// The sequencer and versions over the replayed commits. The conflict
/// index covers every commit since the checkpoint, so a snapshot as old
/// as the checkpoint still validates correctly.
fn replayed_state(replay: &mut recovery::Replay, tail: u64) -> (Sequencer, VersionStore) {
    let mut sequencer = Sequencer::new(replay.last_seq, tail);
    let versions = VersionStore::default();
    for r in std::mem::take(&mut replay.records) {
        sequencer.note_writer(r.pgno, r.seq);
        versions.install(r.pgno, r.seq, r.data);
    }
    (sequencer, versions)
}

/// The shipper's status, when this open ships to a replica.
fn replica_tracker(opts: &Options, probed: bool) -> Option<Arc<crate::replica::Tracker>> {
    (opts.replica.is_some() && !opts.read_only)
        .then(|| Arc::new(crate::replica::Tracker::starting(probed)))
}
