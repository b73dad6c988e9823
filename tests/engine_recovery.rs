//! Recovery: torn tails are cut silently, mid-log corruption is refused
//! (or skipped on request), and a crash at any point of the log yields a
//! prefix of commits with no gap and no partial commit.

mod common;

use common::flip_file_byte;
use std::path::{Path, PathBuf};

use libcommit::{recover, Database, Options, PageWrite, RecoveryOptions, Status, SyncMode};

const PAGE: usize = 512;

fn opts() -> Options {
    Options {
        page_size: PAGE as u32,
        segment_size_bytes: 64 << 10,
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    }
}

/// Commit `i` writes pages i and 1000 + i % 3 with images naming i.
fn image(seq: u64, pgno: u32) -> Vec<u8> {
    let mut v = format!("commit {seq} page {pgno};").into_bytes();
    v.resize(100 + (seq as usize * 37) % 300, (seq % 251) as u8);
    v
}

fn populate(path: &Path, commits: u64) {
    let db = Database::open(path, opts()).unwrap();
    for i in 1..=commits {
        let (a, b) = (i as u32, 1000 + (i % 3) as u32);
        let (ia, ib) = (image(i, a), image(i, b));
        let seq = db
            .commit_batch(&[PageWrite::put(a, &ia), PageWrite::put(b, &ib)])
            .unwrap();
        assert_eq!(seq, i);
    }
    db.close().unwrap();
}

/// Checks the database shows exactly commits 1..=n for some n and returns n.
fn check_prefix(db: &Database, max: u64) -> u64 {
    let n = db.stats().unwrap().last_commit_seq;
    assert!(n <= max);
    for i in 1..=max {
        let got = db.read(i as u32).unwrap();
        if i <= n {
            assert_eq!(
                got.as_deref(),
                Some(&image(i, i as u32)[..]),
                "commit {i} of prefix {n}"
            );
        } else {
            assert_eq!(got, None, "commit {i} is past the prefix {n} yet visible");
        }
    }
    for r in 0..3u32 {
        // The newest commit <= n that wrote page 1000 + r.
        let newest = (1..=n).rev().find(|i| i % 3 == r as u64);
        let got = db.read(1000 + r).unwrap();
        assert_eq!(
            got.map(|p| p.to_vec()),
            newest.map(|i| image(i, 1000 + r)),
            "page {}",
            1000 + r
        );
    }
    n
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.contains("-wal-seg-") && !n.ends_with(".corrupt")
        })
        .collect();
    v.sort();
    v
}

/// Offsets (file, byte) of every commit frame, found by a plain scan for
/// the frame magic: the test's own view of where commits end.
fn data_extent(seg: &Path) -> u64 {
    let bytes = std::fs::read(seg).unwrap();
    let last_nonzero = bytes.iter().rposition(|&b| b != 0).unwrap_or(0);
    last_nonzero as u64 + 1
}

#[test]
fn truncating_the_log_anywhere_yields_a_clean_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let path = src.join("r.db");
    const COMMITS: u64 = 120;
    populate(&path, COMMITS);
    let segs = segments(&src);
    assert!(segs.len() >= 2, "the workload spans segments");
    let last = segs.last().unwrap().clone();
    let extent = data_extent(&last);
    // Cut the last segment at many points (a torn tail), including inside
    // frame headers and payloads; every cut must give a clean prefix.
    let mut seen = std::collections::BTreeSet::new();
    let mut cut = 4096u64;
    while cut <= extent {
        let work = dir.path().join(format!("cut{cut}"));
        std::fs::create_dir(&work).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), work.join(e.file_name())).unwrap();
        }
        let victim = work.join(last.file_name().unwrap());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&victim)
            .unwrap();
        // Zero everything from the cut on, as a crash before the data
        // reached the disk would leave a preallocated segment.
        let len = f.metadata().unwrap().len();
        f.set_len(cut).unwrap();
        f.set_len(len).unwrap();
        drop(f);
        let db = Database::open(work.join("r.db"), opts()).unwrap();
        let n = check_prefix(&db, COMMITS);
        assert!(
            db.last_recovery().partial_segments.is_empty(),
            "a torn tail is not a partial segment"
        );
        // The database keeps working after the cut: the next commit is n+1.
        let seq = db.commit_batch(&[PageWrite::put(1, b"after")]).unwrap();
        assert_eq!(seq, n + 1);
        db.close().unwrap();
        seen.insert(n);
        std::fs::remove_dir_all(&work).unwrap();
        cut += 997;
    }
    assert!(seen.len() > 5, "cuts landed at different commits: {seen:?}");
}

#[test]
fn corruption_before_valid_commits_is_refused_then_skipped_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    populate(&path, 120);
    let segs = segments(dir.path());
    let first = segs[0].clone();
    // A byte in the middle of the first segment's data; later segments
    // hold commits that were made durable after it.
    flip_file_byte(&first, 4096 + 20_000, 0x40);
    let before: Vec<Vec<u8>> = segs.iter().map(|s| std::fs::read(s).unwrap()).collect();
    let e = Database::open(&path, opts()).unwrap_err();
    assert_eq!(e.status(), Status::Corrupt, "{e}");
    let e = recover(&path, RecoveryOptions::default()).unwrap_err();
    assert_eq!(e.status(), Status::Corrupt);
    let after: Vec<Vec<u8>> = segs.iter().map(|s| std::fs::read(s).unwrap()).collect();
    assert!(before == after, "a failed open or recover touches nothing");

    let report = recover(
        &path,
        RecoveryOptions {
            skip_corrupt: true,
            ..RecoveryOptions::default()
        },
    )
    .unwrap();
    assert!(
        report.commits_recovered > 0 && report.last_commit_seq < 120,
        "{report:?}"
    );
    assert_eq!(
        report.partial_segments.len(),
        segs.len(),
        "the corrupt segment and all after it"
    );
    for s in &segs {
        let mut c = s.clone().into_os_string();
        c.push(".corrupt");
        assert!(Path::new(&c).exists(), "{} set aside", s.display());
    }
    let db = Database::open(&path, opts()).unwrap();
    let n = check_prefix(&db, 120);
    assert_eq!(n, report.last_commit_seq);
    let seq = db.commit_batch(&[PageWrite::put(5000, b"new")]).unwrap();
    assert_eq!(seq, n + 1);
    db.close().unwrap();
    let db = Database::open(&path, opts()).unwrap();
    assert_eq!(db.read(5000).unwrap().as_deref(), Some(&b"new"[..]));
}

#[test]
fn offline_recover_replays_into_the_main_file_and_deletes_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    populate(&path, 60);
    let report = recover(
        &path,
        RecoveryOptions {
            delete_after: true,
            ..RecoveryOptions::default()
        },
    )
    .unwrap();
    assert_eq!(report.commits_recovered, 60);
    assert_eq!(report.records_applied, 120);
    assert_eq!(report.last_commit_seq, 60);
    assert!(report.bytes_read > 0);
    assert!(report.partial_segments.is_empty());
    assert!(segments(dir.path()).is_empty(), "replayed segments deleted");
    let db = Database::open(&path, opts()).unwrap();
    assert_eq!(db.last_recovery().commits_recovered, 0);
    check_prefix(&db, 60);
    assert_eq!(db.commit_batch(&[PageWrite::put(1, b"x")]).unwrap(), 61);
    db.close().unwrap();
    // Recover refuses while the database is open in this process.
    let db = Database::open(&path, opts()).unwrap();
    assert_eq!(
        recover(&path, RecoveryOptions::default())
            .unwrap_err()
            .status(),
        Status::Busy
    );
    db.close().unwrap();
}

#[test]
fn normal_and_off_sync_modes_recover_after_close() {
    for sync in [SyncMode::Normal, SyncMode::Off] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let o = Options { sync, ..opts() };
        let db = Database::open(&path, o.clone()).unwrap();
        for i in 1..=50u64 {
            db.commit_batch(&[PageWrite::put(i as u32, &image(i, i as u32))])
                .unwrap();
        }
        let st = db.stats().unwrap();
        assert_eq!(st.last_commit_seq, 50);
        if sync == SyncMode::Off {
            assert_eq!(st.syncs, 0, "sync OFF never syncs");
        }
        db.close().unwrap();
        let db = Database::open(&path, o).unwrap();
        assert_eq!(db.stats().unwrap().last_commit_seq, 50);
        assert_eq!(db.read(50).unwrap().as_deref(), Some(&image(50, 50)[..]));
    }
}

#[test]
fn recovery_report_describes_each_segment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    populate(&path, 200);
    let db = Database::open(&path, opts()).unwrap();
    let r = db.last_recovery();
    assert_eq!(r.commits_recovered, 200);
    let kept: u64 = r.segments.iter().map(|s| s.frames_kept).sum();
    assert_eq!(
        kept,
        200 * 3 + 1,
        "two page frames and a commit record per commit, and the seal of the close"
    );
    assert!(r.segments.iter().all(|s| s.dropped.is_none()));
    assert!(r
        .segments
        .windows(2)
        .all(|w| w[0].first_epoch < w[1].first_epoch));
    assert!(r.segments_recovered >= 2);
}

/// A seal vouches for every commit before it, so it is written only
/// after a sync: under OFF none is, and a damaged last commit is cut as a
/// power loss would have cut it.
#[test]
fn a_clean_close_seals_the_log_unless_sync_is_off() {
    for sync in [SyncMode::Full, SyncMode::Normal, SyncMode::Off] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let o = Options { sync, ..opts() };
        let db = Database::open(&path, o.clone()).unwrap();
        for i in 1..=40u64 {
            db.commit_batch(&[PageWrite::put(i as u32, &image(i, i as u32))])
                .unwrap();
        }
        db.close().unwrap();
        // Damage the last commit: only the seal written at close can tell
        // this from a torn tail.
        let seg = segments(dir.path()).pop().unwrap();
        let extent = data_extent(&seg);
        flip_file_byte(&seg, extent - 60, 0x40);
        match Database::open(&path, o.clone()) {
            Err(e) => {
                assert_ne!(sync, SyncMode::Off, "no seal can vouch under OFF: {e}");
                assert_eq!(e.status(), Status::Corrupt, "{sync:?}: {e}");
            }
            Ok(db) => {
                assert_eq!(
                    sync,
                    SyncMode::Off,
                    "the seal vouches for the damaged commit"
                );
                assert_eq!(db.stats().unwrap().last_commit_seq, 39);
                db.close().unwrap();
                continue;
            }
        }
        // A reopen/close cycle without commits keeps the log valid.
        flip_file_byte(&seg, extent - 60, 0x40);
        let db = Database::open(&path, o.clone()).unwrap();
        db.close().unwrap();
        let db = Database::open(&path, o).unwrap();
        assert_eq!(db.stats().unwrap().last_commit_seq, 40, "{sync:?}");
    }
}
