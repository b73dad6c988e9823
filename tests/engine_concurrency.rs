//! Many threads: first-committer-wins without lost updates, a bank whose
//! total never changes under SERIALIZABLE, and snapshots that never move.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use libcommit::{Database, Error, Isolation, Options, PageWrite};

const THREADS: usize = 16;

fn open(dir: &tempfile::TempDir, isolation: Isolation) -> Database {
    let opts = Options {
        isolation,
        segment_size_bytes: 256 << 10,
        checkpoint_threshold_bytes: 512 << 10,
        ..Options::default()
    };
    Database::open(dir.path().join("c.db"), opts).unwrap()
}

fn get_u64(db_page: Option<libcommit::Page>) -> u64 {
    db_page.map_or(0, |p| u64::from_le_bytes(p[..8].try_into().unwrap()))
}

/// Read-modify-write counters: every successful increment must show in
/// the final value; conflicts must be the only failures.
#[test]
fn sixteen_threads_increment_counters_without_lost_updates() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, Isolation::Snapshot);
    const COUNTERS: u32 = 4;
    const ATTEMPTS: usize = 150;
    let successes = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let seqs = Arc::new(parking_lot_free_mutex());
    thread::scope(|s| {
        for t in 0..THREADS {
            let (db, successes, conflicts, seqs) = (&db, &successes, &conflicts, &seqs);
            s.spawn(move || {
                for i in 0..ATTEMPTS {
                    let pgno = 1 + ((t + i) as u32 % COUNTERS);
                    let mut txn = db.begin().unwrap();
                    let v = get_u64(txn.read(pgno).unwrap());
                    txn.write(pgno, &(v + 1).to_le_bytes()).unwrap();
                    match txn.commit() {
                        Ok(seq) => {
                            successes.fetch_add(1, Ordering::Relaxed);
                            seqs.lock().unwrap().push(seq);
                        }
                        Err(Error::Conflict { pages, commit_seq }) => {
                            assert_eq!(pages, vec![pgno]);
                            assert!(commit_seq > 0);
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected error {e}"),
                    }
                }
            });
        }
    });
    let total: u64 = (1..=COUNTERS).map(|p| get_u64(db.read(p).unwrap())).sum();
    let ok = successes.load(Ordering::Relaxed);
    assert_eq!(total, ok, "every successful increment is counted once");
    assert_eq!(
        ok + conflicts.load(Ordering::Relaxed),
        (THREADS * ATTEMPTS) as u64
    );
    assert!(
        conflicts.load(Ordering::Relaxed) > 0,
        "contention produced conflicts"
    );
    let mut seqs = seqs.lock().unwrap().clone();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=ok).collect::<Vec<_>>(), "commit_seq is dense");
    let st = db.stats().unwrap();
    assert_eq!(st.commits, ok);
    assert_eq!(st.conflicts, conflicts.load(Ordering::Relaxed));
    db.close().unwrap();
    let db = open(&dir, Isolation::Snapshot);
    let total_after: u64 = (1..=COUNTERS).map(|p| get_u64(db.read(p).unwrap())).sum();
    assert_eq!(total_after, ok, "the same after reopen");
}

fn parking_lot_free_mutex() -> std::sync::Mutex<Vec<u64>> {
    std::sync::Mutex::new(Vec::new())
}

/// Transfers between accounts under SERIALIZABLE: the total never changes
/// at any snapshot, checked by a concurrent auditor, across checkpoints.
#[test]
fn bank_total_is_invariant_under_serializable() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, Isolation::Serializable);
    const ACCOUNTS: u32 = 10;
    const START: u64 = 1000;
    let writes: Vec<[u8; 8]> = (0..ACCOUNTS).map(|_| START.to_le_bytes()).collect();
    let batch: Vec<PageWrite> = writes
        .iter()
        .enumerate()
        .map(|(i, w)| PageWrite::put(i as u32 + 1, w))
        .collect();
    db.commit_batch(&batch).unwrap();
    let done = AtomicBool::new(false);
    let audits = AtomicU64::new(0);
    let transfers = AtomicU64::new(0);
    thread::scope(|s| {
        let mut movers = Vec::new();
        for t in 0..THREADS {
            let (db, transfers) = (&db, &transfers);
            movers.push(s.spawn(move || {
                let mut x = t as u64 * 7919 + 1;
                for _ in 0..100 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let from = 1 + (x >> 33) as u32 % ACCOUNTS;
                    let to = 1 + (from + (x >> 50) as u32 % (ACCOUNTS - 1)) % ACCOUNTS;
                    let to = if to == 0 { ACCOUNTS } else { to };
                    let mut txn = db.begin().unwrap();
                    let a = get_u64(txn.read(from).unwrap());
                    let b = get_u64(txn.read(to).unwrap());
                    let amount = (x >> 20) % 50;
                    if from == to || a < amount {
                        txn.abort();
                        continue;
                    }
                    txn.write(from, &(a - amount).to_le_bytes()).unwrap();
                    txn.write(to, &(b + amount).to_le_bytes()).unwrap();
                    match txn.commit() {
                        Ok(_) => {
                            transfers.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::Conflict { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }));
        }
        let (db, done, audits) = (&db, &done, &audits);
        s.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let mut txn = db.begin().unwrap();
                let sum: u64 = (1..=ACCOUNTS).map(|p| get_u64(txn.read(p).unwrap())).sum();
                assert_eq!(
                    sum,
                    START * ACCOUNTS as u64,
                    "at snapshot {}",
                    txn.snapshot()
                );
                txn.abort();
                audits.fetch_add(1, Ordering::Relaxed);
                if audits.load(Ordering::Relaxed) % 20 == 0 {
                    db.checkpoint().unwrap();
                }
            }
        });
        for m in movers {
            m.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let sum: u64 = (1..=ACCOUNTS).map(|p| get_u64(db.read(p).unwrap())).sum();
    assert_eq!(sum, START * ACCOUNTS as u64);
    assert!(transfers.load(Ordering::Relaxed) > 0);
    assert!(audits.load(Ordering::Relaxed) > 0);
}

/// A transaction's view does not change while writers commit and
/// checkpoints run; new snapshots see everything.
#[test]
fn a_snapshot_never_changes_while_writers_commit_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, Isolation::Snapshot);
    const PAGES: u32 = 32;
    let init: Vec<Vec<u8>> = (0..PAGES).map(|p| vec![p as u8; 64]).collect();
    let batch: Vec<PageWrite> = init
        .iter()
        .enumerate()
        .map(|(i, w)| PageWrite::put(i as u32 + 1, w))
        .collect();
    let base = db.commit_batch(&batch).unwrap();
    let mut reader = db.begin().unwrap();
    assert_eq!(reader.snapshot(), base);
    thread::scope(|s| {
        for t in 0..8u32 {
            let db = &db;
            s.spawn(move || {
                for i in 0..50u32 {
                    let p = 1 + (t * 50 + i) % PAGES;
                    db.commit_batch(&[PageWrite::put(p, &[0xff; 100])]).unwrap();
                    if i % 10 == 0 {
                        db.checkpoint().unwrap();
                    }
                }
            });
        }
    });
    let report = db.checkpoint().unwrap();
    assert!(
        report.checkpoint_seq <= base,
        "checkpoint never passes the open reader"
    );
    for p in 1..=PAGES {
        assert_eq!(
            reader.read(p).unwrap().unwrap().to_vec(),
            init[p as usize - 1],
            "page {p}"
        );
    }
    reader.abort();
    let report = db.checkpoint().unwrap();
    assert_eq!(
        report.checkpoint_seq,
        base + 400,
        "with the reader gone the checkpoint catches up"
    );
    for p in 1..=PAGES {
        assert_eq!(db.read(p).unwrap().unwrap().to_vec(), vec![0xff; 100]);
    }
    assert_eq!(db.stats().unwrap().active_readers, 0);
}

/// Group commit: concurrent committers share syncs.
#[test]
fn concurrent_committers_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, Isolation::Snapshot);
    thread::scope(|s| {
        for t in 0..THREADS as u32 {
            let db = &db;
            s.spawn(move || {
                for i in 0..40u32 {
                    db.commit_batch(&[PageWrite::put(1 + t * 100 + i, &[1; 512])])
                        .unwrap();
                }
            });
        }
    });
    let st = db.stats().unwrap();
    assert_eq!(st.commits, 640);
    assert_eq!(st.durable_commit_seq, 640);
    assert!(
        st.syncs < st.commits,
        "{} syncs for {} commits",
        st.syncs,
        st.commits
    );
}
