//! Replication against real S3 servers: moto (in memory, honours
//! `If-None-Match: *`) and s3s-fs (on disk, survives a restart), started
//! by `make replica-test` (mk/replica.mk), which names them in
//! LIBCOMMIT_S3_* and LIBCOMMIT_S3FS_*. Without them each test prints
//! SKIP and its reason. Faults the servers will not make themselves come
//! from a loopback proxy in front of them (replica_s3/proxy.rs); the
//! store is never mocked. Counts are printed as `replica_s3: ...` lines.

#[path = "replica_s3/common.rs"]
mod common;
#[path = "common/replica_model.rs"]
mod model;
#[path = "common/pid.rs"]
mod pid;
#[path = "replica_s3/proxy.rs"]
mod proxy;

use pid::running;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{open, poll_until, Server};
use libcommit::{
    replica_ls, replica_verify, restore, Database, Options, PageWrite, ReplicaState, RestoreTarget,
    Status, SyncMode,
};
use model::{assert_pages, commit_more, new_model};
use proxy::{Fault, Proxy};

const WAIT: Duration = Duration::from_secs(60);
const RACES: usize = 20;

/// The tests stop and kill the shared servers: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn moto(test: &str) -> Option<Server> {
    Server::from_env("LIBCOMMIT_S3", test)
}

fn s3fs(test: &str) -> Option<Server> {
    Server::from_env("LIBCOMMIT_S3FS", test)
}

#[test]
fn round_trip_restores_every_tenth_seq() {
    let Some(s) = moto("round_trip_restores_every_tenth_seq") else {
        return;
    };
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let u = s.url("roundtrip");
    let db = open(&dir.path().join("db"), &u);
    let mut model = new_model();
    commit_more(&db, &mut model, 120);
    assert!(
        db.wait_replicated(120, WAIT).unwrap(),
        "{:?}",
        db.replica_status()
    );
    db.close().unwrap();
    let v = replica_verify(&u).unwrap();
    assert_eq!((v.restored_seq, v.commits_applied), (120, 120));
    let mut restores = 0;
    for seq in (10..=120).step_by(10) {
        let dest = dir.path().join(format!("r{seq}"));
        assert_eq!(
            restore(&u, &dest, RestoreTarget::Seq(seq))
                .unwrap()
                .restored_seq,
            seq
        );
        assert_pages(&dest, &model[seq as usize]);
        restores += 1;
    }
    let dest = dir.path().join("latest");
    assert_eq!(
        restore(&u, &dest, RestoreTarget::Latest)
            .unwrap()
            .restored_seq,
        120
    );
    assert_pages(&dest, &model[120]);
    let objects = replica_ls(&u).unwrap().len();
    println!(
        "replica_s3: round_trip commits=120 restores={} objects={objects}",
        restores + 1
    );
}

/// One race: two databases open on one fresh replica at once, then both
/// commit. Returns which one ended fenced.
fn race_once(s: &Server, round: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let u = s.url(&format!("race{round}"));
    let barrier = Barrier::new(2);
    let dbs: Vec<Database> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let (b, u, p) = (&barrier, &u, dir.path().join(format!("db{i}")));
                sc.spawn(move || {
                    b.wait();
                    open(&p, u)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Both have taken their turn at the replica before anything ships.
    for db in &dbs {
        poll_until(
            "shipper took or lost the replica",
            WAIT,
            || db.replica_status().unwrap(),
            |st| matches!(st.state, ReplicaState::Shipping | ReplicaState::Fenced),
        );
    }
    let mut last = [0u64; 2];
    for (i, db) in dbs.iter().enumerate() {
        for k in 1..=5u64 {
            let img = format!("writer {i} commit {k}").into_bytes();
            match db.commit_batch(&[PageWrite::put(1, &img)]) {
                Ok(seq) => last[i] = seq,
                Err(e) => assert_eq!(e.status(), Status::Fenced, "{e}"),
            }
        }
    }
    let fenced = |i: usize| dbs[i].replica_status().unwrap().state == ReplicaState::Fenced;
    poll_until(
        "exactly one writer fenced, the other's commits shipped",
        WAIT,
        || {
            (
                fenced(0),
                fenced(1),
                dbs.iter()
                    .map(|d| d.replica_status().unwrap().shipped_seq)
                    .collect::<Vec<_>>(),
            )
        },
        |(f0, f1, shipped)| {
            f0 != f1 && {
                let w = usize::from(*f0);
                shipped[w] == last[w]
            }
        },
    );
    let loser = usize::from(fenced(1));
    let winner = 1 - loser;
    let e = dbs[loser]
        .commit_batch(&[PageWrite::put(2, b"late")])
        .unwrap_err();
    assert_eq!(e.status(), Status::Fenced);
    let seq = dbs[winner]
        .commit_batch(&[PageWrite::put(2, b"winner")])
        .unwrap();
    assert!(dbs[winner].wait_replicated(seq, WAIT).unwrap());
    let want = dbs[winner].read(1).unwrap();
    for db in dbs {
        db.close().unwrap();
    }
    let v = replica_verify(&u).unwrap();
    assert_eq!(v.restored_seq, seq);
    let dest = dir.path().join("restored");
    restore(&u, &dest, RestoreTarget::Latest).unwrap();
    let r = Database::open(&dest, Options::default()).unwrap();
    assert_eq!(r.read(1).unwrap(), want);
    assert_eq!(r.read(2).unwrap().as_deref(), Some(&b"winner"[..]));
    loser
}

#[test]
fn two_racing_writers_leave_one_fenced_and_one_history() {
    let Some(s) = moto("two_racing_writers_leave_one_fenced_and_one_history") else {
        return;
    };
    let _g = serial();
    let mut losers = [0usize; 2];
    for round in 0..RACES {
        losers[race_once(&s, round)] += 1;
    }
    println!(
        "replica_s3: races={RACES} fenced_exactly_one={RACES} verify_ok={RACES} (first opener fenced {} times, second {})",
        losers[0], losers[1]
    );
}

#[test]
fn the_probe_refuses_a_store_that_ignores_conditions() {
    let Some(s) = moto("the_probe_refuses_a_store_that_ignores_conditions") else {
        return;
    };
    let _g = serial();
    let p = Proxy::start(s.addr(), Fault::StripIfNoneMatch);
    let dir = tempfile::tempdir().unwrap();
    let opts = |u: String| Options {
        replica: Some(u),
        ..Options::default()
    };
    let e = Database::open(
        dir.path().join("db"),
        opts(s.url_via(&p.endpoint(), "strip", "")),
    )
    .unwrap_err();
    assert_eq!(e.status(), Status::InvalidArgument, "{e}");
    assert!(e.to_string().contains("create-only"), "{e}");
    let stripped = p.counts.stripped.load(std::sync::atomic::Ordering::Acquire);
    assert!(stripped > 0);
    // The user vouching for the store (probe=skip) is taken at its word.
    let u = s.url_via(&p.endpoint(), "strip", "&probe=skip");
    let db = Database::open(dir.path().join("db"), opts(u.clone())).unwrap();
    let seq = db.commit_batch(&[PageWrite::put(1, b"x")]).unwrap();
    assert!(
        db.wait_replicated(seq, WAIT).unwrap(),
        "{:?}",
        db.replica_status()
    );
    db.close().unwrap();
    assert_eq!(replica_verify(&u).unwrap().restored_seq, seq);
    println!("replica_s3: probe_refused=1 probe_skip_accepted=1 conditions_stripped={stripped}");
    println!("replica_s3 probe error: {e}");
}

#[test]
fn a_lost_put_response_is_retried_not_taken_for_fenced() {
    let Some(s) = moto("a_lost_put_response_is_retried_not_taken_for_fenced") else {
        return;
    };
    let _g = serial();
    // Slot 0 is the fence; then every second chunk's answer is lost.
    let fault = Fault::LoseResponses {
        path: "/log/".into(),
        skip: 1,
        every: 2,
        max: 4,
    };
    let p = Proxy::start(s.addr(), fault);
    let dir = tempfile::tempdir().unwrap();
    let u = s.url_via(&p.endpoint(), "lost", "");
    let db = open(&dir.path().join("db"), &u);
    let mut model = new_model();
    for _ in 0..10 {
        commit_more(&db, &mut model, 3);
        let last = model.len() as u64 - 1;
        assert!(
            db.wait_replicated(last, WAIT).unwrap(),
            "{:?}",
            db.replica_status()
        );
        let st = db.replica_status().unwrap();
        assert_eq!((st.state, st.epoch), (ReplicaState::Shipping, 1), "{st:?}");
    }
    let lost = p.counts.lost.load(std::sync::atomic::Ordering::Acquire);
    assert_eq!(lost, 4, "every lost answer was a chunk's");
    let chunks = db.replica_status().unwrap().chunks_shipped;
    db.close().unwrap();
    let last = model.len() as u64 - 1;
    assert_eq!(replica_verify(&u).unwrap().restored_seq, last);
    let fences = replica_ls(&u)
        .unwrap()
        .iter()
        .filter(|o| o.kind == "fence")
        .count();
    assert_eq!(
        fences, 1,
        "a lost answer never made the writer take the replica again"
    );
    let dest = dir.path().join("r");
    restore(&u, &dest, RestoreTarget::Latest).unwrap();
    assert_pages(&dest, &model[last as usize]);
    println!("replica_s3: lost_responses={lost} chunks={chunks} fenced=0 verify_ok=1");
}

/// Continues a stopped process when dropped, whatever the test did.
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server's pid.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

fn env_pid(var: &str) -> i32 {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_stopped_server_lets_lag_grow_and_then_catches_up() {
    let Some(s) = moto("a_stopped_server_lets_lag_grow_and_then_catches_up") else {
        return;
    };
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let u = s.url("stopped");
    let db = open(&dir.path().join("db"), &u);
    let mut model = new_model();
    commit_more(&db, &mut model, 1);
    assert!(db.wait_replicated(1, WAIT).unwrap());
    let pid = env_pid("LIBCOMMIT_S3_PID");
    // SAFETY: kill(2) on the server's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let stopped = Stopped(pid);
    let stop_began = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        commit_more(&db, &mut model, 1);
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a commit waited {slowest:?} for the store"
    );
    let last = model.len() as u64 - 1;
    poll_until(
        "lag while the server is stopped",
        Duration::from_secs(10),
        || db.replica_status().unwrap(),
        |st| st.lag_commits > 0 && st.oldest_unshipped_ms > 0,
    );
    assert!(!db.wait_replicated(last, Duration::from_secs(2)).unwrap());
    // Longer than a request's timeout (10 s): the shipper sees errors,
    // backs off, and its timed-out put lands once the server runs again.
    let stop_for = Duration::from_secs(12);
    std::thread::sleep(stop_for.saturating_sub(stop_began.elapsed()));
    let during = db.replica_status().unwrap();
    assert!(during.shipped_seq < last, "{during:?}");
    drop(stopped);
    // Two shipping intervals, the longest backoff and one request timeout,
    // plus slack: a deadline for the poll, not a sleep.
    let caught_up = poll_until(
        "lag back to 0",
        Duration::from_secs(30),
        || db.replica_status().unwrap(),
        |st| st.shipped_seq == last && st.lag_commits == 0,
    );
    db.close().unwrap();
    assert_eq!(replica_verify(&u).unwrap().restored_seq, last);
    println!(
        "replica_s3: stopped_s={} commits_while_stopped=20 slowest_commit_ms={} lag_at_resume={} oldest_unshipped_ms_at_resume={} caught_up_ms={}",
        stop_for.as_secs(),
        slowest.as_millis(),
        during.lag_commits,
        during.oldest_unshipped_ms,
        caught_up.as_millis()
    );
}

/// Starts s3s-fs again on its old port and data directory; its pid goes
/// to the pid file, where `make replica-test` finds it to stop it.
// The server outlives this test on purpose (the make target stops it), so
// it is not waited for.
#[allow(clippy::zombie_processes)]
fn restart_s3fs(s: &Server) {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let port = s.addr().port().to_string();
    let start = Instant::now();
    // The killed server may still hold its port for a moment: a new one
    // started then fails to bind, and a connect reaches the dying one.
    let old: i32 = std::fs::read_to_string(var("LIBCOMMIT_S3FS_PIDFILE"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    while running(old) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed s3s-fs (pid {old}) did not exit"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    loop {
        let mut child = std::process::Command::new(var("LIBCOMMIT_S3FS_BIN"))
            .args(["--host", "127.0.0.1", "--port", &port])
            .args([
                "--access-key",
                &var("AWS_ACCESS_KEY_ID"),
                "--secret-key",
                &var("AWS_SECRET_ACCESS_KEY"),
            ])
            .arg(var("LIBCOMMIT_S3FS_ROOT"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::fs::write(var("LIBCOMMIT_S3FS_PIDFILE"), child.id().to_string()).unwrap();
        let up = Instant::now();
        while up.elapsed() < Duration::from_secs(5) {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break; // it could not bind: try again
            }
            if std::net::TcpStream::connect(s.addr()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "s3s-fs did not come back on port {port}"
        );
    }
}

#[test]
fn a_server_killed_mid_upload_comes_back_and_shipping_resumes() {
    let Some(s) = s3fs("a_server_killed_mid_upload_comes_back_and_shipping_resumes") else {
        return;
    };
    let _g = serial();
    let pid_file = std::env::var("LIBCOMMIT_S3FS_PIDFILE").unwrap();
    let fault = Fault::KillMidPut {
        path: "/log/".into(),
        min_bytes: 256 << 10,
        pid_file,
    };
    let p = Proxy::start(s.addr(), fault);
    let dir = tempfile::tempdir().unwrap();
    // s3s-fs checks If-None-Match before it writes, not atomically with
    // the write: the probe refuses it (the_probe_catches_s3s_fs_racing_creates).
    let u = s.url_via(&p.endpoint(), "killed", "&probe=skip");
    let opts = Options {
        replica: Some(u.clone()),
        sync: SyncMode::Normal,
        ..Options::default()
    };
    let db = Database::open(dir.path().join("db"), opts).unwrap();
    let big = vec![7u8; 4096];
    let mut seq = 0;
    // Commits until a chunk of at least 256 KiB is on its way and the
    // server dies under it.
    let t = Instant::now();
    while p.counts.killed.load(std::sync::atomic::Ordering::Acquire) == 0 {
        assert!(
            t.elapsed() < WAIT,
            "no large chunk was shipped: {:?}",
            db.replica_status()
        );
        let writes: Vec<_> = (1..=16).map(|pg| PageWrite::put(100 + pg, &big)).collect();
        seq = db.commit_batch(&writes).unwrap();
    }
    let killed_at = db.replica_status().unwrap();
    restart_s3fs(&s);
    let mut model = new_model();
    model.resize(seq as usize + 1, Default::default());
    commit_more(&db, &mut model, 20);
    let last = model.len() as u64 - 1;
    assert!(
        db.wait_replicated(last, WAIT).unwrap(),
        "{:?}",
        db.replica_status()
    );
    let st = db.replica_status().unwrap();
    assert_eq!((st.state, st.epoch), (ReplicaState::Shipping, 1));
    db.close().unwrap();
    assert_eq!(replica_verify(&u).unwrap().restored_seq, last);
    let dest = dir.path().join("r");
    restore(&u, &dest, RestoreTarget::Latest).unwrap();
    assert_pages(&dest, &model[last as usize]);
    let r = Database::open(&dest, Options::default()).unwrap();
    for pg in 101..=116 {
        assert_eq!(r.read(pg).unwrap().as_deref(), Some(&big[..]));
    }
    println!(
        "replica_s3: s3s_fs_kills=1 restarts=1 commits={last} shipped_before_kill={} chunks={} verify_ok=1",
        killed_at.shipped_seq, st.chunks_shipped
    );
}

#[test]
fn the_probe_catches_s3s_fs_racing_creates() {
    let Some(s) = s3fs("the_probe_catches_s3s_fs_racing_creates") else {
        return;
    };
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let tries = 20;
    let mut refused = 0;
    for i in 0..tries {
        let opts = Options {
            replica: Some(s.url(&format!("probe{i}"))),
            ..Options::default()
        };
        match Database::open(dir.path().join(format!("db{i}")), opts) {
            Err(e) => {
                assert_eq!(e.status(), Status::InvalidArgument, "{e}");
                assert!(e.to_string().contains("racing creates"), "{e}");
                refused += 1;
            }
            Ok(db) => db.close().unwrap(),
        }
    }
    // s3s-fs checks for the object before it writes, not atomically with
    // the write, so racing creates can all pass; whether one probe sees
    // it is luck (about half do), which is why the probe is a sample and
    // not a proof.
    assert!(
        refused > 0,
        "the probe passed s3s-fs {tries} of {tries} times"
    );
    println!(
        "replica_s3: s3s_fs_probes={tries} refused={refused} passed={}",
        tries - refused
    );
}
