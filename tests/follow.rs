//! Read replicas from a local-directory replica (`file://`): a follower
//! restores, converges and refuses local commits; promotion fences the
//! old writer; a database that saw commits the new writer never had is a
//! fork, refused - or replaced, when asked, by a fresh restore. The
//! multi-process and S3 suites are tests/follow_procs.rs.

use std::path::Path;
use std::time::{Duration, Instant};

use libcommit::{Database, Options, PageWrite, ReplicaState, Status};

#[path = "common/replica_model.rs"]
mod model;

use model::{assert_db_pages, assert_pages, commit_more, new_model, Model};

const WAIT: Duration = Duration::from_secs(30);

fn url(dir: &Path) -> String {
    format!("file://{}", dir.join("replica").display())
}

fn writer(path: &Path, u: &str) -> Database {
    let opts = Options {
        replica: Some(u.to_string()),
        ..Options::default()
    };
    Database::open(path, opts).unwrap()
}

fn follower(u: &str, path: &Path) -> Database {
    Database::open_follower(u, path, fast()).unwrap()
}

fn fast() -> Options {
    Options {
        replica_poll_ms: 5,
        ..Options::default()
    }
}

/// Waits until the follower has applied `seq` (fails after `WAIT`).
fn wait_applied(db: &Database, seq: u64) {
    let deadline = Instant::now() + WAIT;
    while db.replica_status().unwrap().applied_seq < seq {
        assert!(
            Instant::now() < deadline,
            "follower stuck: {:?}",
            db.replica_status()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(db.stats().unwrap().last_commit_seq >= seq);
}

fn ship(db: &Database, model: &mut Model, n: u64) -> u64 {
    commit_more(db, model, n);
    let last = model.len() as u64 - 1;
    assert!(db.wait_replicated(last, WAIT).unwrap());
    last
}

#[test]
fn a_follower_converges_and_refuses_local_commits() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let w = writer(&dir.path().join("w"), &u);
    let mut model = new_model();
    ship(&w, &mut model, 30);
    let f = follower(&u, &dir.path().join("f"));
    assert_eq!(f.stats().unwrap().last_commit_seq, 30);
    for round in 0..5 {
        let last = ship(&w, &mut model, 7 + round);
        wait_applied(&f, last);
        assert_db_pages(&f, &model[last as usize]);
    }
    let st = f.replica_status().unwrap();
    assert_eq!(st.state, ReplicaState::Following);
    assert_eq!(st.epoch, 1);
    let refused = f.commit_batch(&[PageWrite::put(1, b"local")]).unwrap_err();
    assert_eq!(refused.status(), Status::ReadOnly, "{refused}");
    // A second handle, opened the ordinary way, refuses too.
    let plain = Database::open(dir.path().join("f"), Options::default()).unwrap();
    let refused = plain.commit_batch(&[PageWrite::put(1, b"x")]).unwrap_err();
    assert_eq!(refused.status(), Status::ReadOnly);
    plain.close().unwrap();
    // Closed and reopened, it resumes where it stopped, without a gap.
    f.close().unwrap();
    let last = ship(&w, &mut model, 25);
    let f = follower(&u, &dir.path().join("f"));
    wait_applied(&f, last);
    assert_db_pages(&f, &model[last as usize]);
    f.close().unwrap();
    w.close().unwrap();
    assert_pages(&dir.path().join("f"), &model[last as usize]);
}

#[test]
fn promotion_fences_the_old_writer_and_a_new_follower_follows_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let (wp, fp) = (dir.path().join("w"), dir.path().join("f"));
    let w = writer(&wp, &u);
    let mut model = new_model();
    let last = ship(&w, &mut model, 40);
    let f = follower(&u, &fp);
    wait_applied(&f, last);
    w.close().unwrap();
    assert_eq!(f.promote().unwrap(), 2);
    let st = f.replica_status().unwrap();
    assert_eq!((st.state, st.epoch), (ReplicaState::Shipping, 2));
    let last = ship(&f, &mut model, 12);
    // The old writer comes back: fenced before its first commit.
    let old = writer(&wp, &u);
    let refused = old.commit_batch(&[PageWrite::put(1, b"old")]).unwrap_err();
    assert_eq!(refused.status(), Status::Fenced, "{refused}");
    old.close().unwrap();
    let g = follower(&u, &dir.path().join("g"));
    wait_applied(&g, last);
    assert_db_pages(&g, &model[last as usize]);
    let last = ship(&f, &mut model, 5);
    wait_applied(&g, last);
    assert_db_pages(&g, &model[last as usize]);
    // Promoting a database that does not follow is an error.
    assert_eq!(f.promote().unwrap_err().status(), Status::InvalidArgument);
    g.close().unwrap();
    f.close().unwrap();
}

#[test]
fn a_writer_with_unshipped_commits_cannot_follow_the_new_history_unless_resnapshotted() {
    let dir = tempfile::tempdir().unwrap();
    let u = url(dir.path());
    let (wp, fp) = (dir.path().join("w"), dir.path().join("f"));
    let w = writer(&wp, &u);
    let mut model = new_model();
    let shipped = ship(&w, &mut model, 20);
    w.close().unwrap();
    // Commits the replica never gets: the old writer's disk, later.
    let local = Database::open(&wp, Options::default()).unwrap();
    let mut forked = model.clone();
    commit_more(&local, &mut forked, 3);
    local.close().unwrap();
    let f = follower(&u, &fp);
    wait_applied(&f, shipped);
    f.promote().unwrap();
    let last = ship(&f, &mut model, 6);
    let e = Database::open_follower(&u, &wp, fast()).unwrap_err();
    assert_eq!(e.status(), Status::Fenced, "{e}");
    assert!(e.to_string().contains("fork"), "{e}");
    assert!(e.to_string().contains("never had"), "{e}");
    let again = Options {
        replica_resnapshot: true,
        ..fast()
    };
    let w = Database::open_follower(&u, &wp, again).unwrap();
    wait_applied(&w, last);
    assert_db_pages(&w, &model[last as usize]);
    w.close().unwrap();
    f.close().unwrap();
}

#[test]
fn a_database_of_another_replica_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (u1, u2) = (url(&dir.path().join("1")), url(&dir.path().join("2")));
    std::fs::create_dir_all(dir.path().join("1")).unwrap();
    std::fs::create_dir_all(dir.path().join("2")).unwrap();
    let a = writer(&dir.path().join("a"), &u1);
    let b = writer(&dir.path().join("b"), &u2);
    let (mut ma, mut mb) = (new_model(), new_model());
    ship(&a, &mut ma, 5);
    ship(&b, &mut mb, 9);
    let f = follower(&u1, &dir.path().join("f"));
    f.close().unwrap();
    let e = Database::open_follower(&u2, dir.path().join("f"), fast()).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    // A database that never shipped anywhere is not taken for a follower.
    let plain = dir.path().join("plain");
    Database::open(&plain, Options::default())
        .unwrap()
        .close()
        .unwrap();
    let e = Database::open_follower(&u1, &plain, fast()).unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    // ... and it may not take a replica that holds another history.
    let p = writer(&plain, &u1);
    let refused = p.commit_batch(&[PageWrite::put(1, b"p")]).unwrap_err();
    assert_eq!(refused.status(), Status::Fenced, "{refused}");
    p.close().unwrap();
    a.close().unwrap();
    b.close().unwrap();
}
