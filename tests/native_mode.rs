//! NATIVE commit mode: capsules persisted by their committers, markers in
//! the log, and recovery that trusts markers only. The shadow-compare test
//! runs one concurrent workload in both modes and with 1 and N lanes and
//! requires page-for-page identical recovered databases.

mod common;

use common::flip_file_byte;
use std::path::{Path, PathBuf};
use std::thread;

use libcommit::{CommitMode, Database, Error, Options, PageWrite, Status, SyncMode};

fn native() -> Options {
    Options {
        commit_mode: CommitMode::Native,
        segment_size_bytes: 128 << 10,
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    }
}

fn files_with(dir: &Path, infix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.contains(infix) && !n.ends_with(".corrupt")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn native_commits_read_back_checkpoint_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.db");
    let db = Database::open(&path, native()).unwrap();
    for i in 1..=100u32 {
        let img = vec![i as u8; 100 + i as usize * 7];
        let seq = db
            .commit_batch(&[
                PageWrite::put(i, &img),
                PageWrite::put(1000, &i.to_le_bytes()),
            ])
            .unwrap();
        assert_eq!(seq, u64::from(i));
    }
    let mut t = db.begin().unwrap();
    t.write(5, b"txn").unwrap();
    t.delete(6).unwrap();
    assert_eq!(t.commit().unwrap(), 101);
    assert!(
        !files_with(dir.path(), "-cap-seg-").is_empty(),
        "capsules live in their own stream"
    );
    assert_eq!(db.read(5).unwrap().as_deref(), Some(&b"txn"[..]));
    assert_eq!(db.read(6).unwrap(), None);
    db.close().unwrap();

    let db = Database::open(&path, native()).unwrap();
    let r = db.last_recovery();
    assert_eq!((r.commits_recovered, r.last_commit_seq), (101, 101));
    assert_eq!(r.records_applied, 202);
    assert_eq!(db.read(7).unwrap().unwrap().to_vec(), vec![7u8; 149]);
    assert_eq!(
        db.read(1000).unwrap().as_deref(),
        Some(&100u32.to_le_bytes()[..])
    );
    assert_eq!(db.read(6).unwrap(), None);
    let ck = db.checkpoint().unwrap();
    assert_eq!(ck.checkpoint_seq, 101);
    assert_eq!(db.read(7).unwrap().unwrap().to_vec(), vec![7u8; 149]);
    db.close().unwrap();
    // A database written in NATIVE mode opens in WAL mode and vice versa.
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(db.read(5).unwrap().as_deref(), Some(&b"txn"[..]));
    assert_eq!(db.commit_batch(&[PageWrite::put(2, b"wal")]).unwrap(), 102);
}

#[test]
fn conflicts_in_native_mode_write_no_marker() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("n.db"), native()).unwrap();
    let mut a = db.begin().unwrap();
    let mut b = db.begin().unwrap();
    a.write(1, b"a").unwrap();
    b.write(1, b"b").unwrap();
    let sa = a.commit().unwrap();
    match b.commit() {
        Err(Error::Conflict { pages, commit_seq }) => {
            assert_eq!((pages, commit_seq), (vec![1], sa))
        }
        other => panic!("expected conflict, got {other:?}"),
    }
    assert_eq!(
        db.commit_batch(&[PageWrite::put(2, b"next")]).unwrap(),
        sa + 1,
        "no seq was burnt"
    );
}

#[test]
fn a_marker_whose_capsule_fails_verification_is_corruption() {
    for sync in [SyncMode::Full, SyncMode::Normal] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        let o = Options { sync, ..native() };
        let db = Database::open(&path, o.clone()).unwrap();
        for i in 1..=20u32 {
            db.commit_batch(&[PageWrite::put(i, &[i as u8; 1000])])
                .unwrap();
        }
        db.close().unwrap();
        let cap = files_with(dir.path(), "-cap-seg-").pop().unwrap();
        // Inside the fifth capsule's image (capsules here are 1048 bytes).
        flip_file_byte(&cap, 4096 + 4 * 1048 + 500, 0x10);
        let e = Database::open(&path, o.clone()).unwrap_err();
        assert_eq!(e.status(), Status::Corrupt, "{sync:?}: {e}");
        let report = libcommit::recover(
            &path,
            libcommit::RecoveryOptions {
                skip_corrupt: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(report.last_commit_seq, 4, "{sync:?}: {report:?}");
        let db = Database::open(&path, o).unwrap();
        assert_eq!(db.read(4).unwrap().unwrap().to_vec(), vec![4u8; 1000]);
        assert_eq!(db.read(5).unwrap(), None);
        assert_eq!(db.commit_batch(&[PageWrite::put(5, b"again")]).unwrap(), 5);
    }
}

/// Each thread owns a range of pages and rewrites them in its own order,
/// so the final state does not depend on how threads interleave.
fn shadow_workload(path: &Path, opts: Options) -> Vec<(u32, Option<Vec<u8>>)> {
    const THREADS: u32 = 6;
    const PAGES_PER_THREAD: u32 = 40;
    const ROUNDS: u32 = 25;
    let db = Database::open(path, opts.clone()).unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let db = &db;
            s.spawn(move || {
                let base = 1 + t * PAGES_PER_THREAD;
                for r in 0..ROUNDS {
                    let mut writes: Vec<(u32, Vec<u8>)> = Vec::new();
                    for k in 0..(1 + r % 5) {
                        let p = base + (r * 7 + k * 3) % PAGES_PER_THREAD;
                        let len = ((t * 131 + r * 17 + k) % 4097) as usize;
                        writes.push((p, vec![(t * 31 + r + k) as u8; len]));
                    }
                    let mut batch: Vec<PageWrite> =
                        writes.iter().map(|(p, d)| PageWrite::put(*p, d)).collect();
                    if r % 6 == 5 {
                        batch.push(PageWrite::delete(base + r % PAGES_PER_THREAD));
                    }
                    if r % 3 == 0 {
                        let mut txn = db.begin().unwrap();
                        for w in &batch {
                            match w.data {
                                Some(d) => txn.write(w.pgno, d).unwrap(),
                                None => txn.delete(w.pgno).unwrap(),
                            }
                        }
                        txn.commit().unwrap();
                    } else {
                        db.commit_batch(&batch).unwrap();
                    }
                    if t == 0 && r % 10 == 9 {
                        db.checkpoint().unwrap();
                    }
                }
            });
        }
    });
    db.close().unwrap();
    let db = Database::open(path, opts).unwrap();
    (1..=THREADS * PAGES_PER_THREAD)
        .map(|p| (p, db.read(p).unwrap().map(|x| x.to_vec())))
        .collect()
}

#[test]
fn shadow_compare_modes_and_lanes_recover_identical_databases() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for mode in [CommitMode::Wal, CommitMode::Native] {
        for lanes in [1u32, 4] {
            let path = dir.path().join(format!("{mode:?}-{lanes}.db"));
            let opts = Options {
                commit_mode: mode,
                lanes,
                segment_size_bytes: 128 << 10,
                checkpoint_threshold_bytes: 256 << 10,
                ..Options::default()
            };
            results.push((
                format!("{mode:?} lanes={lanes}"),
                shadow_workload(&path, opts),
            ));
        }
    }
    let (name0, first) = &results[0];
    assert!(first.iter().filter(|(_, v)| v.is_some()).count() > 100);
    for (name, r) in &results[1..] {
        for (a, b) in first.iter().zip(r) {
            assert_eq!(a, b, "page {} differs between {name0} and {name}", a.0);
        }
    }
}
