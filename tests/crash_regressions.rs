//! Regression tests for engine bugs the crash and fault suites found
//! (each was first pinned as an ignored test, then fixed in the engine:
//! commit ac10d76 unless noted).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use libcommit::storage::{CrashMode, DataLoss, DirLoss, FaultOp, SimStorage};
use libcommit::{Database, Options, PageWrite, SyncMode};

fn options(sim: &SimStorage, sync: SyncMode) -> Options {
    Options {
        sync,
        page_size: 1024,
        checkpoint_threshold_bytes: 0,
        segment_size_bytes: 64 << 10,
        storage: Arc::new(sim.clone()),
        ..Options::default()
    }
}

/// Was a bug, found by crash_power_loss (LIBCOMMIT_SEED=0xeac2db4b327716ae, sync
/// NORMAL, uncut run: "begin: snapshot 11, but the last acknowledged
/// commit is 12"). Under sync NORMAL a commit becomes visible once
/// written. A checkpoint (explicit, from the background worker, or at
/// close) first runs `Pipeline::flush_all`, whose `lead_flush` notes the
/// written prefix as its target, syncs with the state lock released, and
/// then stores `visible = target`. A commit that completed during that
/// sync had already moved `visible` past the target, so `visible` goes
/// backwards: a transaction begun after `commit` returned does not see
/// that commit (its snapshot is older), and `Database::read` returns the
/// previous image. The fix: in lead_flush, only raise `visible`
/// (`fetch_max`), or leave it alone unless sync is FULL.
///
/// The interleaving is forced with a pause gate on the flush's sync.
#[test]
fn normal_flush_never_moves_visibility_backwards() {
    let path = db_path("regression-visible", 0, 0);
    let sim = new_sim(7, &path);
    let db = Database::open(&path, options(&sim, SyncMode::Normal)).unwrap();
    let first = db.commit_batch(&[PageWrite::put(1, b"one")]).unwrap();
    // Hold the next file sync: the checkpoint's flush of the log.
    let gate = sim.pause_at(FaultOp::SyncData, 1, Some("-wal-"));
    let db2 = db.clone();
    let checkpoint = std::thread::spawn(move || db2.checkpoint());
    assert!(
        gate.wait_paused(Duration::from_secs(30)),
        "the checkpoint never synced the log"
    );
    let second = db.commit_batch(&[PageWrite::put(1, b"two")]).unwrap();
    assert_eq!(second, first + 1);
    assert_eq!(db.begin().unwrap().snapshot(), second, "visible at once");
    gate.release();
    checkpoint.join().unwrap().unwrap();
    let snapshot = db.begin().unwrap().snapshot();
    let page = db.read(1).unwrap();
    assert_eq!(
        snapshot, second,
        "a committed, visible commit became invisible again"
    );
    assert_eq!(page.as_deref(), Some(&b"two"[..]));
    db.close().unwrap();
}

/// Was a bug, found by crash_checkpoint_recovery (LIBCOMMIT_SEED=0xf192921f8856ac40,
/// OfflineRecover { delete_after: true }, "cut at step 11 of 12, then
/// CrashMode { data: DropUnsynced, dirs: KeepPrefix }"). Offline
/// `recover` with delete_after checkpoints into the main file, then
/// removes the replayed segments oldest first, then syncs the directory.
/// A power loss before that sync may keep any prefix of the removals
/// (journaled file systems apply them in order). When the log's tail lies
/// in a segment followed by an already prepared, still empty one, keeping
/// the removal of the tail segment but not of the prepared one leaves a
/// lone segment that starts after the checkpoint position, and every open
/// then fails with `Corrupt("segment ...: commits missing before it")`,
/// although the main file holds every commit. Removing the segments
/// newest first (or treating segments past the checkpoint that hold no
/// valid frame as stale) would leave a state that opens. Here: a tail
/// segment plus a prepared one, recover cut at each step, 32 crashes each.
#[test]
fn recover_delete_after_cut_before_dir_sync_still_opens() {
    use libcommit::{recover, RecoveryOptions};
    let path = db_path("regression-recover-delete", 0, 0);
    let sim = new_sim(14, &path);
    let mut opts = options(&sim, SyncMode::Full);
    opts.page_size = 4096;
    let db = Database::open(&path, opts.clone()).unwrap();
    db.commit_batch(&[PageWrite::put(1, &[1u8; 4000])]).unwrap();
    // Past half of the first segment the worker prepares the next one:
    // catch it at work, then close (which waits for the worker), so the
    // disk ends with the tail segment followed by an empty prepared one.
    let gate = sim.pause_at(FaultOp::Create, 1, Some("-wal-tmp-"));
    for i in 2..10u32 {
        db.commit_batch(&[PageWrite::put(i % 5 + 1, &[i as u8; 4000])])
            .unwrap();
    }
    assert!(
        gate.wait_paused(Duration::from_secs(30)),
        "the worker never prepared the next segment"
    );
    gate.release();
    db.close().unwrap();
    let segments = sim
        .files()
        .iter()
        .filter(|p| p.to_string_lossy().contains("-wal-seg-"))
        .count();
    assert_eq!(segments, 2, "tail segment plus a prepared one");
    let run_recover = |s: &SimStorage| {
        recover(
            &path,
            RecoveryOptions {
                skip_corrupt: false,
                delete_after: true,
                storage: Arc::new(s.clone()),
            },
        )
    };
    let probe = sim.fork(0);
    run_recover(&probe).unwrap();
    let total = probe.steps();
    let mut failures = Vec::new();
    for cut in 1..=total {
        for crash_seed in 0..32 {
            let disk = sim.fork(crash_seed);
            disk.set_crash_at(cut);
            assert!(run_recover(&disk).is_err());
            disk.crash_with(CrashMode {
                data: DataLoss::DropUnsynced,
                dirs: DirLoss::KeepPrefix,
            });
            if let Err(e) = Database::open(&path, opts_on(&opts, &disk)) {
                failures.push(format!(
                    "cut at {cut}/{total}, crash seed {crash_seed}: {e}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn opts_on(opts: &Options, sim: &SimStorage) -> Options {
    Options {
        storage: Arc::new(sim.clone()),
        ..opts.clone()
    }
}

/// Was a bug, found by fault_sync (e.g. LIBCOMMIT_SEED=0x8c22d58a4a0be405
/// LIBCOMMIT_TARGET=dir-sync LIBCOMMIT_N=3): a new segment is prepared
/// (created as `-wal-tmp-`, filled, synced, renamed to `-wal-seg-{epoch}`)
/// and then the directory sync fails. The engine treated the failure as
/// not fatal (it may happen in the background worker, where nobody sees
/// it) but left the renamed segment in place; the next preparation
/// makes another segment for the same log window under a later epoch and
/// the log goes on there. Both files carry the same `log_start`, so every
/// later open fails with `Corrupt("segment ...: commits missing before
/// it")`, even with no power loss at all: every acknowledged commit after
/// the failure is only reachable by `recover(skip_corrupt)`, which drops
/// it. Fixed: preparation failures are fail-stop and a window is never
/// reused.
#[test]
fn failed_dir_sync_while_preparing_a_segment_keeps_the_database_openable() {
    use libcommit::storage::FaultKind;
    let path = db_path("regression-dir-sync", 0, 0);
    let sim = new_sim(11, &path);
    let mut opts = options(&sim, SyncMode::Full);
    opts.page_size = 4096;
    let db = Database::open(&path, opts.clone()).unwrap();
    let img = |i: u32| vec![i as u8; 4000];
    // The first commit prepares the first segment (one directory sync).
    let mut last = db.commit_batch(&[PageWrite::put(1, &img(0))]).unwrap();
    // Past half of the segment the background worker prepares the next
    // one; hold its directory sync, then make it fail.
    let gate = sim.pause_at(FaultOp::SyncDir, 1, None);
    for i in 1..9u32 {
        last = db
            .commit_batch(&[PageWrite::put(i % 5 + 1, &img(i))])
            .unwrap();
    }
    assert!(
        gate.wait_paused(Duration::from_secs(30)),
        "the worker never prepared the next segment"
    );
    sim.fail_nth(FaultOp::SyncDir, 1, FaultKind::Eio);
    gate.release();
    // Group commits move the epoch on; the next preparation names its
    // segment after a later epoch.
    for i in 9..40u32 {
        if let Ok(seq) = db.commit_batch(&[PageWrite::put(i % 5 + 1, &img(i))]) {
            last = seq;
        }
    }
    assert_eq!(sim.faults_injected(), 1, "the directory sync failed once");
    db.close().unwrap();
    let db = Database::open(&path, opts).expect("no power was lost: the database must open");
    assert!(db.stats().unwrap().last_commit_seq >= last);
    db.close().unwrap();
}

/// Was a bug, found by fault_sync (e.g. LIBCOMMIT_TARGET=any-file-sync, write,
/// allocate, create, rename, dir-sync): when preparing a new segment fails
/// (create, fill, allocate, header write, fdatasync, rename or directory
/// sync of the new file), the commit that needed it fails with LC_IO, but
/// the database is not closed to writes: the next commit prepares another
/// segment and succeeds, and checkpoints run. DESIGN.md invariant 6
/// asks that after a failed sync no commit succeeds until reopen.
/// Fixed by making segment preparation failures fail-stop.
#[test]
fn failed_new_segment_sync_is_fail_stop() {
    use libcommit::storage::{Fault, FaultKind};
    let path = db_path("regression-prep-fail-stop", 0, 0);
    let sim = new_sim(12, &path);
    let db = Database::open(&path, options(&sim, SyncMode::Full)).unwrap();
    // The first commit prepares the first segment itself.
    sim.inject(Fault::new(FaultOp::SyncData, 1, FaultKind::Eio).on_paths_containing("-wal-tmp-"));
    let first = db.commit_batch(&[PageWrite::put(1, b"one")]);
    assert!(
        matches!(first, Err(libcommit::Error::Io { .. })),
        "{first:?}"
    );
    let second = db.commit_batch(&[PageWrite::put(1, b"two")]);
    assert!(
        second.is_err(),
        "commit {second:?} succeeded after a failed sync, before reopen"
    );
    let _ = db.close();
}
