//! Failures that combine: a process dies with its writes still pending in
//! the page cache, other processes then open, recover, take the lease and
//! checkpoint, and only later does the power fail (or the unsynced data
//! vanish without a reboot). Each test here is one way that broke the
//! promise - nothing acknowledged lost, nothing partial shown - pinned
//! down deterministically on the simulated disk.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use libcommit::storage::{CrashMode, DataLoss, DirLoss, Fault, FaultKind, FaultOp, SimStorage};
use libcommit::{
    CommitMode, CommitSeq, Database, DropReason, Error, Options, PageWrite, RecoveryOptions,
    Status, SyncMode,
};

const PAGE: u32 = 1024;
/// Small segments, so a checkpoint leaves whole segments behind it.
const SEGMENT: u64 = 64 << 10;
/// Commits enough to fill several segments.
const COMMITS: u64 = 120;

/// Each test here is one reproduced failure: its totals line says it held.
fn held(case: &str, runs: u64) {
    print_totals(
        &format!("compound_faults_{case}"),
        &[
            ("regressions", 1),
            ("regression_runs", runs),
            ("anomalies", 0),
        ],
    );
}

fn opts(sim: &SimStorage, sync: SyncMode, mode: CommitMode) -> Options {
    Options {
        page_size: PAGE,
        sync,
        commit_mode: mode,
        segment_size_bytes: SEGMENT,
        // Checkpoints only when the test asks.
        checkpoint_threshold_bytes: 0,
        busy_timeout_ms: 200,
        storage: Arc::new(sim.clone()),
        ..Options::default()
    }
}

fn setup(name: &str) -> (PathBuf, SimStorage) {
    let path = PathBuf::from(format!("/sim/compound-{name}/db"));
    let sim = new_sim(mix(name.len() as u64, 77), &path);
    (path, sim)
}

fn img(pgno: u32, counter: u64) -> Vec<u8> {
    image(
        pgno,
        ImageId {
            writer: 1,
            counter,
            len: PAGE / 2,
        },
    )
}

/// Commit `i` writes page `1 + i % 40` with image `i`; returns its seq.
fn commit(db: &Database, i: u64) -> libcommit::Result<CommitSeq> {
    let pgno = 1 + (i % 40) as u32;
    db.commit_batch(&[PageWrite::put(pgno, &img(pgno, i))])
}

/// The pages after commits `0..n` of [`commit`].
fn check_upto(db: &Database, n: u64) -> Result<(), String> {
    for pgno in 1..=40u32 {
        let last = (0..n).rev().find(|i| 1 + (i % 40) as u32 == pgno);
        let got = db.read(pgno).map_err(|e| format!("read {pgno}: {e}"))?;
        let want = last.map(|i| img(pgno, i));
        if got.as_deref() != want.as_deref() {
            return Err(format!(
                "page {pgno}: expected commit {last:?}'s image, got another"
            ));
        }
    }
    Ok(())
}

fn reopen_and_check(path: &Path, sim: &SimStorage, n: u64, mode: CommitMode) {
    let db = Database::open(path, opts(sim, SyncMode::Full, mode))
        .unwrap_or_else(|e| panic!("reopen after the power loss: {e}"));
    let last = db.stats().unwrap().last_commit_seq;
    assert!(
        last >= n,
        "LOST COMMITS: reopened at {last}, {n} were acknowledged durable"
    );
    check_upto(&db, n).unwrap();
    db.close().unwrap();
}

/// A FULL database with `COMMITS` acknowledged commits, then a checkpoint
/// during which the process is killed right before the new main-file
/// header is synced: the header sits in the page cache only.
fn die_before_header_sync(
    path: &Path,
    sim: &SimStorage,
    mode: CommitMode,
    before_checkpoint: impl FnOnce(),
) -> SimStorage {
    let a = sim.spawn_process();
    let db = Database::open(path, opts(&a, SyncMode::Full, mode)).unwrap();
    for i in 0..COMMITS {
        commit(&db, i).unwrap();
    }
    before_checkpoint();
    // The checkpoint syncs the main file twice: its pages, then its header.
    a.inject(
        Fault::new(FaultOp::SyncData, 2, FaultKind::Kill)
            .on_paths_ending_with("/db")
            .in_process(a.process_id()),
    );
    let err = db
        .checkpoint()
        .expect_err("the process died mid-checkpoint");
    assert!(!a.is_process_alive(), "killed at the header sync: {err}");
    drop(db);
    a
}

#[test]
fn an_open_after_a_death_before_the_header_sync_survives_a_later_power_loss() {
    for mode in [CommitMode::Wal, CommitMode::Native] {
        let (path, sim) = setup(&format!("header-open-{mode:?}"));
        die_before_header_sync(&path, &sim, mode, || {});
        // Another process opens: it sees the new header (page cache) and
        // acts on it - retiring the log it made unnecessary.
        let b = sim.spawn_process();
        let db = Database::open(&path, opts(&b, SyncMode::Full, mode)).unwrap();
        assert_eq!(db.stats().unwrap().last_commit_seq, COMMITS);
        db.close().unwrap();
        // The power fails: only what was synced stays.
        sim.crash_with(CrashMode::STRICT);
        reopen_and_check(&path, &sim, COMMITS, mode);
    }
    held("header_open", 2);
}

#[test]
fn a_lease_takeover_after_a_death_before_the_header_sync_survives_a_later_power_loss() {
    let (path, sim) = setup("header-lease");
    // B is attached while A works; it takes the lease after A died
    // holding it, and adopts A's unsynced checkpoint.
    let b = sim.spawn_process();
    let db_b = Database::open(&path, opts(&b, SyncMode::Full, CommitMode::Wal)).unwrap();
    die_before_header_sync(&path, &sim, CommitMode::Wal, || {
        // B reads A's commits, and so knows every segment they are in.
        assert_eq!(db_b.begin().unwrap().snapshot(), COMMITS);
    });
    let seq = commit(&db_b, COMMITS).unwrap();
    assert_eq!(seq, COMMITS + 1);
    db_b.close().unwrap();
    sim.crash_with(CrashMode::STRICT);
    reopen_and_check(&path, &sim, COMMITS + 1, CommitMode::Wal);
    held("header_lease", 1);
}

#[test]
fn offline_recovery_after_a_death_before_the_header_sync_survives_a_later_power_loss() {
    let (path, sim) = setup("header-offline");
    die_before_header_sync(&path, &sim, CommitMode::Wal, || {});
    let c = sim.spawn_process();
    libcommit::recover(
        &path,
        RecoveryOptions {
            delete_after: true,
            storage: Arc::new(c.clone()),
            ..RecoveryOptions::default()
        },
    )
    .unwrap();
    sim.crash_with(CrashMode::STRICT);
    reopen_and_check(&path, &sim, COMMITS, CommitMode::Wal);
    held("header_offline", 1);
}

/// Sync OFF claims nothing durable that no sync covered: the watermark
/// moves only when a caller asks for a sync (which then really happens),
/// and no record vouches for more - so whatever a power loss keeps opens
/// as a prefix holding every commit a sync covered, never as corruption.
#[test]
fn sync_off_claims_nothing_and_a_power_loss_never_looks_like_corruption() {
    let mut refused = Vec::new();
    for seed in 0..48u64 {
        let path = PathBuf::from(format!("/sim/compound-off-{seed}/db"));
        let sim = new_sim(mix(seed, 0x0FF), &path);
        let mode = if seed % 3 == 2 {
            CommitMode::Native
        } else {
            CommitMode::Wal
        };
        let db = Database::open(&path, opts(&sim, SyncMode::Off, mode)).unwrap();
        let (mut last, mut synced) = (0, 0);
        for i in 0..COMMITS / 2 {
            last = commit(&db, i).unwrap();
            let stats = db.stats().unwrap();
            assert_eq!(
                stats.durable_commit_seq, synced,
                "sync OFF: the durable watermark moved without a sync"
            );
            if i % 16 == 15 {
                // Asked for, a sync happens for real.
                let syncs = stats.syncs;
                assert!(db.wait_durable(last, Duration::from_secs(5)).unwrap());
                assert!(db.stats().unwrap().syncs > syncs, "wait_durable synced");
                synced = last;
            }
        }
        db.close().unwrap();
        sim.crash_with(CrashMode {
            data: DataLoss::KeepRandomSectors,
            dirs: DirLoss::KeepAll,
        });
        match Database::open(&path, opts(&sim, SyncMode::Off, mode)) {
            Ok(db) => {
                let at = db.stats().unwrap().last_commit_seq;
                assert!(
                    (synced..=last).contains(&at),
                    "seed {seed}: reopened at {at}, synced {synced}, last {last}"
                );
                check_upto(&db, at).unwrap();
                db.close().unwrap();
            }
            Err(e) => refused.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(refused.is_empty(), "opens refused:\n{}", refused.join("\n"));
    held("sync_off", 48);
}

/// Unsynced data that vanishes within one boot (a failed write-back, a
/// network disk that failed over) is no corruption when no acknowledged
/// commit is missing: open reaches the durable prefix by itself and says
/// what it cut.
#[test]
fn unsynced_data_lost_within_a_boot_opens_at_the_durable_prefix() {
    let (mut refused, mut named) = (Vec::new(), 0);
    for seed in 0..64u64 {
        let path = PathBuf::from(format!("/sim/compound-inboot-{seed}/db"));
        let sim = new_sim(mix(seed, 0xB007), &path);
        let a = sim.spawn_process();
        let db = Database::open(&path, opts(&a, SyncMode::Full, CommitMode::Wal)).unwrap();
        // Durable and acknowledged.
        for i in 0..8 {
            commit(&db, i).unwrap();
        }
        // Written in this boot, never synced: relaxed commits vouch for
        // each other by their written hint.
        for i in 8..24 {
            let pgno = 1 + (i % 40) as u32;
            db.commit_batch_with_sync(&[PageWrite::put(pgno, &img(pgno, i))], SyncMode::Off)
                .unwrap();
        }
        a.kill_process();
        drop(db);
        sim.lose_in_boot(CrashMode {
            data: DataLoss::KeepRandomSectors,
            dirs: DirLoss::KeepAll,
        });
        let b = sim.spawn_process();
        match Database::open(&path, opts(&b, SyncMode::Full, CommitMode::Wal)) {
            Ok(db) => {
                let at = db.stats().unwrap().last_commit_seq;
                assert!(at >= 8, "seed {seed}: lost acknowledged commits ({at})");
                check_upto(&db, at).unwrap();
                let reasons: Vec<DropReason> = db
                    .last_recovery()
                    .segments
                    .into_iter()
                    .filter_map(|s| s.dropped)
                    .collect();
                assert!(
                    !reasons.iter().any(|r| matches!(r, DropReason::Checksum(_))),
                    "seed {seed}: {reasons:?}"
                );
                named += reasons
                    .iter()
                    .filter(|r| matches!(r, DropReason::NeverSynced(_)))
                    .count();
                db.close().unwrap();
            }
            Err(e) => refused.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(refused.is_empty(), "opens refused:\n{}", refused.join("\n"));
    assert!(named > 0, "no recovery report said why it cut");
    held("lost_in_boot", 64);
}

/// A sync that fails in one process fails every process sharing the log:
/// another one's later sync may "succeed" over pages the kernel dropped.
#[test]
fn a_failed_sync_in_one_process_stops_every_process() {
    let (path, sim) = setup("failstop");
    let a = sim.spawn_process();
    let b = sim.spawn_process();
    let db_a = Database::open(&path, opts(&a, SyncMode::Full, CommitMode::Wal)).unwrap();
    let db_b = Database::open(&path, opts(&b, SyncMode::Full, CommitMode::Wal)).unwrap();
    for i in 0..4 {
        commit(&db_a, i).unwrap();
    }
    a.inject(
        Fault::new(FaultOp::SyncData, 1, FaultKind::Eio)
            .on_paths_containing("-wal-seg-")
            .in_process(a.process_id()),
    );
    let e = commit(&db_a, 4).expect_err("A's sync failed");
    assert_eq!(e.status(), Status::Io);
    // B catches up on A's written (now lost) commit and syncs "fine".
    match commit(&db_b, 5) {
        Ok(seq) => {
            sim.crash_with(CrashMode::STRICT);
            let db =
                Database::open(&path, opts(&sim, SyncMode::Full, CommitMode::Wal)).expect("reopen");
            let at = db.stats().unwrap().last_commit_seq;
            assert!(
                at >= seq,
                "B's acknowledged commit {seq} is lost (reopened at {at}): \
                 A's failed sync never reached B"
            );
        }
        Err(e) => {
            assert!(
                matches!(e, Error::Io { .. } | Error::Closed(_)),
                "B stops with an I/O error: {e}"
            );
            assert!(
                Database::open(
                    &path,
                    opts(&sim.spawn_process(), SyncMode::Full, CommitMode::Wal)
                )
                .is_err(),
                "a process attaching while they are open is refused"
            );
            drop((db_a, db_b));
            // The next first opener, in the same boot, recovers only what
            // was durable when A's sync failed, and says so.
            let c = sim.spawn_process();
            let db = Database::open(&path, opts(&c, SyncMode::Full, CommitMode::Wal)).unwrap();
            let at = db.stats().unwrap().last_commit_seq;
            assert!(at >= 4, "reopened at {at}: lost acknowledged commits");
            check_upto(&db, at).unwrap();
            let report = db.last_recovery();
            assert!(
                report
                    .segments
                    .iter()
                    .any(|s| matches!(s.dropped, Some(DropReason::NeverSynced(_)))),
                "the report names the cut: {report:?}"
            );
            commit(&db, at).unwrap();
            db.close().unwrap();
            sim.crash_with(CrashMode::STRICT);
            reopen_and_check(&path, &sim, at + 1, CommitMode::Wal);
        }
    }
    held("failstop", 1);
}
