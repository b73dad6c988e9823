//! Replication to a local-directory replica (`file://`): shipping,
//! restore (latest, every 10th seq, by time), fencing, damage detection.
//! The S3 servers' suites are tests/replica_s3.rs (`make replica-test`).

use std::path::Path;
use std::time::Duration;

use libcommit::{
    replica_ls, replica_verify, restore, CommitMode, Database, Options, PageWrite, ReplicaState,
    RestoreTarget, Status,
};

#[path = "common/replica_model.rs"]
mod model;

use model::{assert_pages, commit_more, image, new_model, Model};

const WAIT: Duration = Duration::from_secs(30);

fn url(dir: &Path) -> String {
    format!("file://{}", dir.join("replica").display())
}

fn open(path: &Path, replica: &str, mode: CommitMode) -> Database {
    let opts = Options {
        replica: Some(replica.to_string()),
        commit_mode: mode,
        ..Options::default()
    };
    Database::open(path, opts).unwrap()
}

#[test]
fn ships_and_restores_every_tenth_seq_in_both_modes() {
    for mode in [CommitMode::Wal, CommitMode::Native] {
        let dir = tempfile::tempdir().unwrap();
        let u = url(dir.path());
        let db = open(&dir.path().join("db"), &u, mode);
        let states = commit_some(&db, 120);
        assert!(db.wait_replicated(120, WAIT).unwrap());
        let st = db.replica_status().unwrap();
        assert_eq!(st.state, ReplicaState::Shipping);
        assert_eq!((st.epoch, st.shipped_seq, st.lag_commits), (1, 120, 0));
        db.close().unwrap();
        let v = replica_verify(&u).unwrap();
        assert_eq!((v.restored_seq, v.commits_applied), (120, 120));
        for seq in (0..=120).step_by(10).skip(1) {
            let dest = dir.path().join(format!("r{seq}"));
            let r = restore(&u, &dest, RestoreTarget::Seq(seq)).unwrap();
            assert_eq!(r.restored_seq, seq);
            assert_pages(&dest, &states[seq as usize]);
        }
        let dest = dir.path().join("latest");
        assert_eq!(
            restore(&u, &dest, RestoreTarget::Latest)
                .unwrap()
                .restored_seq,
            120
        );
        let past = restore(&u, &dir.path().join("past"), RestoreTarget::Seq(121));
        assert_eq!(past.unwrap_err().status(), Status::InvalidArgument);
        let none = restore(&u, &dir.path().join("t0"), RestoreTarget::TimeMs(0)).unwrap();
        assert_eq!(none.restored_seq, 0);
    }
}

#[test]
fn a_reopened_writer_continues_with_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let path = dir.path().join("db");
    let db = open(&path, &u, CommitMode::Wal);
    commit_some(&db, 10);
    db.close().unwrap();
    let db = open(&path, &u, CommitMode::Wal);
    let seq = db.commit_batch(&[PageWrite::put(1, b"after")]).unwrap();
    assert!(
        db.wait_replicated(seq, WAIT).unwrap(),
        "{:?}",
        db.replica_status()
    );
    assert_eq!(db.replica_status().unwrap().epoch, 2);
    db.close().unwrap();
    let ls = replica_ls(&u).unwrap();
    let fences = ls.iter().filter(|o| o.kind == "fence").count();
    assert_eq!(fences, 2);
    let dest = dir.path().join("r");
    assert_eq!(
        restore(&u, &dest, RestoreTarget::Latest)
            .unwrap()
            .restored_seq,
        11
    );
}

#[test]
fn a_writer_whose_replica_was_taken_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let a = open(&dir.path().join("a"), &u, CommitMode::Wal);
    commit_some(&a, 5);
    assert!(a.wait_replicated(5, WAIT).unwrap());
    // Failover: a copy restored from the replica takes it over.
    let b_path = dir.path().join("b");
    restore(&u, &b_path, RestoreTarget::Latest).unwrap();
    let b = open(&b_path, &u, CommitMode::Wal);
    let s6 = b.commit_batch(&[PageWrite::put(1, b"from b")]).unwrap();
    assert!(
        b.wait_replicated(s6, WAIT).unwrap(),
        "{:?}",
        b.replica_status()
    );
    assert_eq!(b.replica_status().unwrap().epoch, 2);
    // The old writer's next chunk finds its slot taken: it stops, and its
    // database refuses commits.
    let _ = a.commit_batch(&[PageWrite::put(2, b"from a")]);
    assert!(!a.wait_replicated(6, WAIT).unwrap());
    let st = a.replica_status().unwrap();
    assert_eq!(st.state, ReplicaState::Fenced, "{st:?}");
    let e = a.commit_batch(&[PageWrite::put(3, b"x")]).unwrap_err();
    assert_eq!(e.status(), Status::Fenced);
    a.close().unwrap();
    b.close().unwrap();
    let r = restore(&u, &dir.path().join("r"), RestoreTarget::Latest).unwrap();
    assert_eq!(r.restored_seq, 6);
    let db = Database::open(dir.path().join("r"), Options::default()).unwrap();
    assert_eq!(db.read(1).unwrap().as_deref(), Some(&b"from b"[..]));
}

#[test]
fn damage_is_an_error_naming_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let db = open(&dir.path().join("db"), &u, CommitMode::Wal);
    for round in 0..3u64 {
        commit_some_from(&db, round * 3 + 1, 3);
        assert!(db.wait_replicated(round * 3 + 3, WAIT).unwrap());
    }
    db.close().unwrap();
    let log = dir.path().join("replica/log");
    let chunk = log.join(format!("{:016x}", 2));
    let good = std::fs::read(&chunk).unwrap();
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 1;
    std::fs::write(&chunk, &bad).unwrap();
    let e = replica_verify(&u).unwrap_err();
    assert!(e.to_string().contains("log/0000000000000002"), "{e}");
    let e = restore(&u, &dir.path().join("r1"), RestoreTarget::Latest).unwrap_err();
    assert_eq!(e.status(), Status::Corrupt);
    std::fs::remove_file(&chunk).unwrap();
    let e = replica_verify(&u).unwrap_err();
    assert!(
        e.to_string().contains("log/0000000000000002 is missing"),
        "{e}"
    );
    // A chunk moved into another's place breaks the chain.
    std::fs::rename(log.join(format!("{:016x}", 3)), &chunk).unwrap();
    assert_eq!(replica_verify(&u).unwrap_err().status(), Status::Corrupt);
}

fn commit_some_from(db: &Database, first: u64, n: u64) {
    for s in first..first + n {
        assert_eq!(
            db.commit_batch(&[PageWrite::put(1, &image(s, 1))]).unwrap(),
            s
        );
    }
}

#[test]
fn bad_urls_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["ftp://x/y", "file://relative", "s3://", "s3://b/p?nope=1"] {
        let opts = Options {
            replica: Some(bad.into()),
            ..Options::default()
        };
        let e = Database::open(dir.path().join("db"), opts).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "{bad}");
    }
    let db = Database::open(dir.path().join("db"), Options::default()).unwrap();
    assert_eq!(db.replica_status().unwrap().state, ReplicaState::Off);
    assert!(db.wait_replicated(1, WAIT).is_err());
}

/// Commits `n` batches from a new database's first; the model of every
/// page after each commit.
fn commit_some(db: &Database, n: u64) -> Model {
    let mut model = new_model();
    commit_more(db, &mut model, n);
    model
}
