//! Snapshots of the main file in a `file://` replica: restore from the
//! newest snapshot at or before a target, healing a database that
//! checkpointed before it shipped (or let go of its log past
//! `replica_retain_bytes`), damage named, and retention with its grace
//! period on an explicit clock.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use libcommit::{
    replica_ls, replica_prune, replica_verify, restore, Database, Options, PageWrite, ReplicaState,
    RestoreTarget, Retention, Status,
};

const WAIT: Duration = Duration::from_secs(30);
type Model = BTreeMap<u32, Vec<u8>>;

fn url(dir: &Path) -> String {
    format!("file://{}", dir.join("replica").display())
}

/// Snapshots after every checkpoint; no automatic checkpoints, so each
/// test decides where they fall.
fn options(replica: Option<&str>) -> Options {
    Options {
        replica: replica.map(str::to_string),
        replica_snapshot_interval_ms: 0,
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    }
}

fn image(seq: u64, pgno: u32) -> Vec<u8> {
    format!("commit {seq} page {pgno} ")
        .into_bytes()
        .repeat(1 + pgno as usize % 5)
}

/// Commits `first..first+n`, each writing two pages of 1..=30; the model
/// after each commit goes into `states`.
fn commit_range(db: &Database, first: u64, n: u64, model: &mut Model, states: &mut Vec<Model>) {
    for seq in first..first + n {
        let (a, b) = ((seq * 7 % 30) as u32 + 1, (seq * 11 % 30) as u32 + 1);
        let (ia, ib) = (image(seq, a), image(seq, b));
        let w = [PageWrite::put(a, &ia), PageWrite::put(b, &ib)];
        assert_eq!(db.commit_batch(&w).unwrap(), seq);
        model.insert(a, ia);
        model.insert(b, ib);
        states.push(model.clone());
    }
}

fn assert_pages(path: &Path, want: &Model, seq: u64) {
    let db = Database::open(path, Options::default()).unwrap();
    assert_eq!(db.stats().unwrap().last_commit_seq, seq);
    for pgno in 1..=31 {
        let got = db.read(pgno).unwrap();
        assert_eq!(
            got.as_deref(),
            want.get(&pgno).map(|v| &v[..]),
            "page {pgno} at {seq}"
        );
    }
    db.close().unwrap();
}

/// Waits (with a deadline) until the shipper has made `n` snapshots.
fn wait_snapshots(db: &Database, n: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let st = db.replica_status().unwrap();
        if st.snapshots_made >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no snapshot {n}: {st:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn snapshot_names(u: &str) -> Vec<(String, u64)> {
    replica_ls(u)
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == "snapshot")
        .map(|o| (o.name, o.last_seq))
        .collect()
}

#[test]
fn restores_start_from_the_newest_snapshot_at_or_before_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let db = Database::open(dir.path().join("db"), options(Some(&u))).unwrap();
    let (mut model, mut states) = (Model::new(), vec![Model::new()]);
    commit_range(&db, 1, 20, &mut model, &mut states);
    assert!(db.wait_replicated(20, WAIT).unwrap());
    assert_eq!(db.checkpoint().unwrap().checkpoint_seq, 20);
    wait_snapshots(&db, 1);
    commit_range(&db, 21, 15, &mut model, &mut states);
    assert!(db.wait_replicated(35, WAIT).unwrap());
    assert_eq!(db.checkpoint().unwrap().checkpoint_seq, 35);
    wait_snapshots(&db, 2);
    commit_range(&db, 36, 5, &mut model, &mut states);
    assert!(db.wait_replicated(40, WAIT).unwrap());
    db.close().unwrap();

    assert_eq!(
        snapshot_names(&u).iter().map(|s| s.1).collect::<Vec<_>>(),
        [20, 35]
    );
    let v = replica_verify(&u).unwrap();
    assert_eq!((v.restored_seq, v.snapshot_seq), (40, 35));
    for (seq, from) in [(5, 0), (20, 20), (27, 20), (35, 35), (40, 35)] {
        let dest = dir.path().join(format!("r{seq}"));
        let r = restore(&u, &dest, RestoreTarget::Seq(seq)).unwrap();
        assert_eq!(
            (r.restored_seq, r.snapshot_seq),
            (seq, from),
            "target {seq}"
        );
        assert_eq!(r.commits_applied, seq - from);
        assert_pages(&dest, &states[seq as usize], seq);
    }
    let r = restore(&u, &dir.path().join("latest"), RestoreTarget::Latest).unwrap();
    assert_eq!((r.restored_seq, r.snapshot_seq), (40, 35));
}

#[test]
fn a_database_checkpointed_before_it_shipped_heals_with_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let path = dir.path().join("db");
    let db = Database::open(&path, options(None)).unwrap();
    let (mut model, mut states) = (Model::new(), vec![Model::new()]);
    commit_range(&db, 1, 12, &mut model, &mut states);
    db.checkpoint().unwrap();
    db.close().unwrap();
    // Its log up to 12 is gone: the epoch starts from a snapshot at 12.
    let db = Database::open(&path, options(Some(&u))).unwrap();
    commit_range(&db, 13, 6, &mut model, &mut states);
    assert!(
        db.wait_replicated(18, WAIT).unwrap(),
        "{:?}",
        db.replica_status()
    );
    let st = db.replica_status().unwrap();
    assert_eq!((st.state, st.snapshot_seq), (ReplicaState::Shipping, 12));
    db.close().unwrap();
    let ls = replica_ls(&u).unwrap();
    assert_eq!((ls[0].kind, ls[0].last_seq), ("snapshot", 12));
    assert_eq!((ls[1].kind, ls[1].first_seq), ("fence", 13));
    for seq in [12, 15, 18] {
        let dest = dir.path().join(format!("r{seq}"));
        assert_eq!(
            restore(&u, &dest, RestoreTarget::Seq(seq))
                .unwrap()
                .restored_seq,
            seq
        );
        assert_pages(&dest, &states[seq as usize], seq);
    }
    let before = restore(&u, &dir.path().join("r5"), RestoreTarget::Seq(5));
    assert_eq!(before.unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn past_the_retain_bound_the_next_checkpoint_and_a_snapshot_heal_the_replica() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let path = dir.path().join("db");
    let opts = Options {
        replica_retain_bytes: 64 << 10,
        ..options(Some(&u))
    };
    let db = Database::open(&path, opts).unwrap();
    let (mut model, mut states) = (Model::new(), vec![Model::new()]);
    commit_range(&db, 1, 3, &mut model, &mut states);
    assert!(db.wait_replicated(3, WAIT).unwrap());
    // A burst the shipper cannot have shipped yet (its interval is 1 s):
    // more than the bound of unshipped log.
    let big = vec![7u8; 4000];
    for seq in 4..=40u64 {
        let pgno = 100 + seq as u32;
        assert_eq!(db.commit_batch(&[PageWrite::put(pgno, &big)]).unwrap(), seq);
        model.insert(pgno, big.clone());
        states.push(model.clone());
    }
    let deadline = Instant::now() + WAIT;
    while db.replica_status().unwrap().state != ReplicaState::NeedsSnapshot {
        assert!(Instant::now() < deadline, "{:?}", db.replica_status());
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let go: a checkpoint passes the shipped commit, then the shipper
    // restarts the chain from a snapshot at it.
    assert_eq!(db.checkpoint().unwrap().checkpoint_seq, 40);
    commit_range(&db, 41, 2, &mut model, &mut states);
    assert!(
        db.wait_replicated(42, WAIT).unwrap(),
        "{:?}",
        db.replica_status()
    );
    let st = db.replica_status().unwrap();
    assert_eq!(
        (st.state, st.snapshot_seq, st.epoch),
        (ReplicaState::Shipping, 40, 2)
    );
    db.close().unwrap();
    replica_verify(&u).unwrap();
    let dest = dir.path().join("r");
    assert_eq!(
        restore(&u, &dest, RestoreTarget::Latest)
            .unwrap()
            .restored_seq,
        42
    );
    assert_pages(&dest, &states[42], 42);
    // The commits that were never shipped are in no chunk: named.
    let e = restore(&u, &dir.path().join("r20"), RestoreTarget::Seq(20)).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument);
    assert!(e.to_string().contains("are in no chunk"), "{e}");
}

#[test]
fn a_damaged_snapshot_image_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let db = Database::open(dir.path().join("db"), options(Some(&u))).unwrap();
    let (mut model, mut states) = (Model::new(), vec![Model::new()]);
    commit_range(&db, 1, 10, &mut model, &mut states);
    assert!(db.wait_replicated(10, WAIT).unwrap());
    db.checkpoint().unwrap();
    wait_snapshots(&db, 1);
    db.close().unwrap();
    let snap_dir = dir.path().join("replica/snapshot");
    let img = std::fs::read_dir(&snap_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "main"))
        .unwrap();
    let name = img.file_name().unwrap().to_string_lossy().to_string();
    let mut bytes = std::fs::read(&img).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&img, &bytes).unwrap();
    let e = replica_verify(&u).unwrap_err();
    assert_eq!(e.status(), Status::Corrupt);
    assert!(e.to_string().contains(&name), "{e}");
    let dest = dir.path().join("r");
    let e = restore(&u, &dest, RestoreTarget::Latest).unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");
    assert!(!dest.exists(), "a failed restore leaves no main file");
    // Gone entirely: named too.
    std::fs::remove_file(&img).unwrap();
    let e = replica_verify(&u).unwrap_err();
    assert!(
        e.to_string().contains(&name) && e.to_string().contains("missing"),
        "{e}"
    );
}

#[test]
fn retention_deletes_only_after_the_grace_period_and_keeps_what_restores_need() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    // The shipper itself never deletes here: its grace is a day.
    let opts = Options {
        replica_delete_grace_ms: 24 * 60 * 60 * 1000,
        ..options(Some(&u))
    };
    let db = Database::open(dir.path().join("db"), opts).unwrap();
    let (mut model, mut states) = (Model::new(), vec![Model::new()]);
    for (round, first) in [1u64, 11, 21].into_iter().enumerate() {
        commit_range(&db, first, 10, &mut model, &mut states);
        assert!(db.wait_replicated(first + 9, WAIT).unwrap());
        db.checkpoint().unwrap();
        wait_snapshots(&db, round as u64 + 1);
    }
    commit_range(&db, 31, 3, &mut model, &mut states);
    assert!(db.wait_replicated(33, WAIT).unwrap());
    db.close().unwrap();
    let snaps = snapshot_names(&u);
    assert_eq!(snaps.iter().map(|s| s.1).collect::<Vec<_>>(), [10, 20, 30]);
    let made: Vec<u64> = replica_ls(&u)
        .unwrap()
        .iter()
        .filter(|o| o.kind == "snapshot")
        .map(|o| o.created_ms)
        .collect();
    let policy = Retention {
        snapshots: 1,
        window_ms: 0,
        grace_ms: 1000,
    };
    // Until the newest snapshot is a grace period old, a restore may have
    // listed before it and picked the one at 20: that one, and every slot
    // after its anchor, stay.
    let p = replica_prune(&u, &policy, made[2] + 999).unwrap();
    assert!(p
        .oldest_kept
        .as_deref()
        .unwrap()
        .contains(&format!("{:016x}", 20)));
    assert!(p.deleted.iter().any(|n| n == &snaps[0].0));
    assert_eq!(snapshot_names(&u).len(), 2);
    let r = restore(&u, &dir.path().join("r20"), RestoreTarget::Seq(25)).unwrap();
    assert_eq!((r.restored_seq, r.snapshot_seq), (25, 20));
    let p = replica_prune(&u, &policy, made[2] + 1000).unwrap();
    assert!(p.deleted.iter().any(|n| n == &snaps[1].0), "{p:?}");
    assert_eq!(
        snapshot_names(&u).iter().map(|s| s.1).collect::<Vec<_>>(),
        [30]
    );
    // What is left restores exactly, verifies, and keeps the tip; older
    // targets are gone and say so.
    let v = replica_verify(&u).unwrap();
    assert_eq!(v.restored_seq, 33);
    let dest = dir.path().join("latest");
    assert_eq!(
        restore(&u, &dest, RestoreTarget::Latest)
            .unwrap()
            .restored_seq,
        33
    );
    assert_pages(&dest, &states[33], 33);
    let e = restore(&u, &dir.path().join("old"), RestoreTarget::Seq(15)).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    // A second pass finds nothing more to delete.
    assert!(replica_prune(&u, &policy, made[2] + 5000)
        .unwrap()
        .deleted
        .is_empty());
}

#[test]
fn the_shipper_applies_retention_itself() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let opts = Options {
        replica_retain_snapshots: 1,
        replica_retain_window_ms: 0,
        replica_delete_grace_ms: 0,
        ..options(Some(&u))
    };
    let db = Database::open(dir.path().join("db"), opts).unwrap();
    let (mut model, mut states) = (Model::new(), vec![Model::new()]);
    for (round, first) in [1u64, 6].into_iter().enumerate() {
        commit_range(&db, first, 5, &mut model, &mut states);
        assert!(db.wait_replicated(first + 4, WAIT).unwrap());
        db.checkpoint().unwrap();
        wait_snapshots(&db, round as u64 + 1);
    }
    let deadline = Instant::now() + WAIT;
    while snapshot_names(&u).len() > 1 {
        assert!(Instant::now() < deadline, "{:?}", snapshot_names(&u));
        std::thread::sleep(Duration::from_millis(5));
    }
    db.close().unwrap();
    assert_eq!(snapshot_names(&u)[0].1, 10);
    let first_slot = replica_ls(&u)
        .unwrap()
        .into_iter()
        .find(|o| o.kind != "snapshot");
    assert_ne!(first_slot.unwrap().name, "log/0000000000000000");
    let dest = dir.path().join("r");
    assert_eq!(
        restore(&u, &dest, RestoreTarget::Latest)
            .unwrap()
            .restored_seq,
        10
    );
    assert_pages(&dest, &states[10], 10);
}
