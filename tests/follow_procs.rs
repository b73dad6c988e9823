//! Read replicas across processes against the real S3 servers that
//! `make replica-test` starts (see tests/replica_s3.rs): one writer and
//! two followers under a one-committer workload, with the followers' lag;
//! the writer killed -9, a follower promoted from another process, the
//! old writer fenced, a third follower on the new history; a follower
//! killed -9 inside a chunk resuming without a gap. Writers and followers
//! are child processes (this binary, re-entered through ignored tests).
//! Counts are printed as `replica_s3: ...` lines.

#[path = "replica_s3/common.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{poll_until, Server};
use libcommit::{replica_ls, Database, Options, PageWrite, ReplicaState, Status};

const CHILD_ENV: &str = "LIBCOMMIT_FOLLOW_CHILD";
const PAGES: u64 = 64;
const WAIT: Duration = Duration::from_secs(90);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Commit `seq` writes one page naming it (`big`: 32 pages of 4 KiB, so
/// a chunk holds few commits and takes a while to apply).
fn writes_of(seq: u64, big: bool) -> Vec<(u32, Vec<u8>)> {
    let n = if big { 32 } else { 1 };
    (0..n)
        .map(|i| {
            let pgno = ((seq * 17 + i * 3) % PAGES) as u32 + 1;
            let len = if big {
                4096
            } else {
                40 + (seq * 131 % 700) as usize
            };
            let mut img = format!("seq {seq} page {pgno};").into_bytes();
            img.resize(len, (seq % 251) as u8);
            (pgno, img)
        })
        .collect()
}

fn commit_seq(db: &Database, seq: u64, big: bool) -> libcommit::Result<u64> {
    let w = writes_of(seq, big);
    let batch: Vec<PageWrite<'_>> = w.iter().map(|(p, d)| PageWrite::put(*p, d)).collect();
    db.commit_batch(&batch)
}

/// Every page of `db` as it reads now.
fn pages(db: &Database) -> BTreeMap<u32, Vec<u8>> {
    (1..=PAGES as u32)
        .filter_map(|p| db.read(p).unwrap().map(|d| (p, d.to_vec())))
        .collect()
}

fn model_at(seq: u64, big: bool) -> BTreeMap<u32, Vec<u8>> {
    (1..=seq).flat_map(|s| writes_of(s, big)).collect()
}

/// The children: `writer URL PATH BIG N` commits N (0: forever) and
/// prints `ack SEQ MS` after each; `follower URL PATH` follows, printing
/// `at SEQ MS` whenever its last commit moves, until its stdin closes.
#[test]
#[ignore = "a child process of the tests below"]
fn follow_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let a: Vec<&str> = spec.split('|').collect();
    let out = std::io::stdout();
    // The harness has printed "test NAME ... " without a newline: our
    // lines start on a line of their own.
    writeln!(out.lock()).unwrap();
    match a[0] {
        "writer" => {
            let opts = Options {
                replica: Some(a[1].to_string()),
                ..Options::default()
            };
            let db = Database::open(a[2], opts).unwrap();
            let (big, n): (bool, u64) = (a[3] == "1", a[4].parse().unwrap());
            let mut seq = db.stats().unwrap().last_commit_seq + 1;
            while n == 0 || seq <= n {
                assert_eq!(commit_seq(&db, seq, big).unwrap(), seq);
                writeln!(out.lock(), "ack {seq} {}", now_ms()).unwrap();
                seq += 1;
            }
            db.close().unwrap();
            writeln!(out.lock(), "done").unwrap();
        }
        "follower" => {
            let opts = Options {
                replica_poll_ms: 10,
                ..Options::default()
            };
            let db = Database::open_follower(a[1], a[2], opts).unwrap();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
                s.store(true, std::sync::atomic::Ordering::Release);
            });
            let mut last = u64::MAX;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let at = db.stats().unwrap().last_commit_seq;
                if at != last {
                    // A parent that stopped reading is gone: nothing to tell.
                    let _ = writeln!(out.lock(), "at {at} {}", now_ms());
                    last = at;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            db.close().unwrap();
            writeln!(out.lock(), "done").unwrap();
        }
        other => panic!("unknown child {other}"),
    }
}

/// A child process and the lines it prints, read on a thread into a
/// channel so that the parent never blocks on one child.
struct Proc {
    child: Child,
    lines: std::sync::mpsc::Receiver<(String, u64, u64)>,
}

fn spawn(spec: &str) -> Proc {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "follow_child_entry",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out: ChildStdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let f: Vec<&str> = line.split(' ').collect();
            let parsed = match (f.first(), f.get(1), f.get(2)) {
                (Some(k), Some(a), Some(b)) => a
                    .parse()
                    .ok()
                    .zip(b.parse().ok())
                    .map(|(a, b)| (k.to_string(), a, b)),
                (Some(k), None, None) => Some((k.to_string(), 0, 0)),
                _ => None,
            };
            if let Some(p) = parsed {
                if tx.send(p).is_err() {
                    break;
                }
            }
        }
    });
    Proc { child, lines: rx }
}

impl Proc {
    /// Reads lines until `kind` with a value >= `seq` (all lines read go
    /// to `seen`); panics past `WAIT`.
    fn until(&self, kind: &str, seq: u64, seen: &mut Vec<(u64, u64)>) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (k, a, b) = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `{kind} {seq}` within {WAIT:?}"));
            if k == kind {
                seen.push((a, b));
                if a >= seq {
                    return;
                }
            }
        }
    }

    /// Closes the child's stdin (a follower stops) and waits for it.
    fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "child exited {status}");
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn spec(parts: &[&str]) -> String {
    parts.join("|")
}

fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Follower lag from the writer's acks and a follower's observations:
/// for each commit, ms from its ack to the follower having it; and at
/// each observation, how many acked commits the follower lacked.
fn lag(acks: &[(u64, u64)], seen: &[(u64, u64)]) -> (Vec<u64>, Vec<u64>) {
    let ack_ms: BTreeMap<u64, u64> = acks.iter().copied().collect();
    let (mut ms, mut commits) = (Vec::new(), Vec::new());
    let mut had = 0;
    for &(at, t) in seen {
        for s in had + 1..=at {
            if let Some(&a) = ack_ms.get(&s) {
                ms.push(t.saturating_sub(a));
            }
        }
        had = had.max(at);
        let acked = acks.iter().filter(|&&(_, a)| a <= t).count() as u64;
        commits.push(acked.saturating_sub(at));
    }
    (ms, commits)
}

#[test]
fn one_writer_two_followers_converge_and_report_their_lag() {
    let Some(s) = Server::from_env("LIBCOMMIT_S3", "one_writer_two_followers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let u = s.url("follow");
    let (w, f1, f2) = (
        dir.path().join("w"),
        dir.path().join("f1"),
        dir.path().join("f2"),
    );
    let n = 1500;
    // The replica exists (the writer's first chunk) before they follow.
    let writer = spawn(&spec(&[
        "writer",
        &u,
        &w.to_string_lossy(),
        "0",
        &n.to_string(),
    ]));
    let mut acks = Vec::new();
    writer.until("ack", 1, &mut acks);
    wait_first_chunk(&u);
    let a = spawn(&spec(&["follower", &u, &f1.to_string_lossy()]));
    let b = spawn(&spec(&["follower", &u, &f2.to_string_lossy()]));
    writer.until("ack", n, &mut acks);
    writer.until("done", 0, &mut Vec::new());
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    a.until("at", n, &mut sa);
    b.until("at", n, &mut sb);
    a.finish();
    b.finish();
    writer.finish();
    let want = model_at(n, false);
    for p in [&w, &f1, &f2] {
        let db = Database::open(p, Options::default()).unwrap();
        assert_eq!(db.stats().unwrap().last_commit_seq, n);
        assert_eq!(pages(&db), want, "{}", p.display());
        db.close().unwrap();
    }
    let (mut ms, mut commits) = lag(&acks, &sa);
    let (mut ms2, mut commits2) = lag(&acks, &sb);
    ms.append(&mut ms2);
    commits.append(&mut commits2);
    let secs = acks.last().unwrap().1.saturating_sub(acks[0].1) as f64 / 1000.0;
    println!(
        "replica_s3: follow: 1 writer (W1, {n} commits, {:.0} commits/s) and 2 follower processes \
         converged, every page equal; follower lag p50 {:.3} s p99 {:.3} s, p50 {} p99 {} commits",
        n as f64 / secs.max(0.001),
        pct(&mut ms, 0.5) as f64 / 1000.0,
        pct(&mut ms, 0.99) as f64 / 1000.0,
        pct(&mut commits, 0.5),
        pct(&mut commits, 0.99),
    );
}

#[test]
fn the_writer_killed_a_follower_promoted_the_old_writer_fenced() {
    let Some(s) = Server::from_env("LIBCOMMIT_S3", "the_writer_killed") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let u = s.url("failover");
    let (w, f1, f2, f3) = (
        dir.path().join("w"),
        dir.path().join("f1"),
        dir.path().join("f2"),
        dir.path().join("f3"),
    );
    let writer = spawn(&spec(&["writer", &u, &w.to_string_lossy(), "0", "0"]));
    let mut acks = Vec::new();
    writer.until("ack", 1, &mut acks);
    wait_first_chunk(&u);
    let a = spawn(&spec(&["follower", &u, &f1.to_string_lossy()]));
    let b = spawn(&spec(&["follower", &u, &f2.to_string_lossy()]));
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    a.until("at", 300, &mut sa);
    writer.until("ack", acks.last().unwrap().0 + 200, &mut acks);
    // Failover: the writer dies; the follower's database is promoted from
    // this process (the follower process does the work) and takes a commit.
    let killed = Instant::now();
    writer.kill9();
    let promoted = Database::open(&f1, Options::default()).unwrap();
    let epoch = promoted.promote().unwrap();
    let base = promoted.stats().unwrap().last_commit_seq;
    assert_eq!(commit_seq(&promoted, base + 1, false).unwrap(), base + 1);
    let failover = killed.elapsed();
    assert_eq!(epoch, 2);
    for seq in base + 2..=base + 100 {
        assert_eq!(commit_seq(&promoted, seq, false).unwrap(), seq);
    }
    let last = base + 100;
    b.until("at", last, &mut sb);
    // The old writer comes back: fenced before its first commit.
    let old = Database::open(
        &w,
        Options {
            replica: Some(u.clone()),
            ..Options::default()
        },
    )
    .unwrap();
    let old_last = old.stats().unwrap().last_commit_seq;
    let refused = commit_seq(&old, old_last + 1, false).unwrap_err();
    assert_eq!(refused.status(), Status::Fenced, "{refused}");
    assert_eq!(old.replica_status().unwrap().state, ReplicaState::Fenced);
    old.close().unwrap();
    // A third follower follows the new writer.
    let c = spawn(&spec(&["follower", &u, &f3.to_string_lossy()]));
    c.until("at", last, &mut Vec::new());
    // The old writer's acknowledged commits past the promoted base were
    // never shipped: following now would mix two histories.
    let fork = Database::open_follower(&u, &w, Options::default());
    let forked = old_last > base;
    match &fork {
        Err(e) => {
            assert!(forked, "old writer at {old_last}, base {base}: {e}");
            assert_eq!(e.status(), Status::Fenced);
            assert!(e.to_string().contains("never had"), "{e}");
        }
        Ok(_) => assert!(
            !forked,
            "old writer at {old_last} followed a history from {base}"
        ),
    }
    drop(fork);
    let again = Options {
        replica_resnapshot: true,
        ..Options::default()
    };
    let healed = Database::open_follower(&u, &w, again).unwrap();
    poll_until(
        "the resnapshotted old writer",
        WAIT,
        || healed.stats().unwrap().last_commit_seq,
        |s| *s >= last,
    );
    let want = pages(&promoted);
    assert_eq!(want, model_at(last, false));
    assert_eq!(pages(&healed), want);
    healed.close().unwrap();
    promoted.close().unwrap();
    a.finish();
    b.finish();
    c.finish();
    for p in [&f2, &f3] {
        let db = Database::open(p, Options::default()).unwrap();
        assert_eq!(db.stats().unwrap().last_commit_seq, last);
        assert_eq!(pages(&db), want, "{}", p.display());
        db.close().unwrap();
    }
    println!(
        "replica_s3: failover: writer killed at seq {old_last}, follower promoted (epoch {epoch}) \
         at {base} and took a commit {:.0} ms after the kill; old writer fenced; {} unshipped \
         commits of it refused as a fork, then resnapshotted; 3 followers equal at {last}",
        failover.as_secs_f64() * 1000.0,
        old_last.saturating_sub(base),
    );
}

/// Waits until the replica holds its first fence and chunk.
fn wait_first_chunk(u: &str) {
    poll_until(
        "the first chunk",
        WAIT,
        || replica_ls(u).map(|o| o.len()).unwrap_or(0),
        |n| *n >= 2,
    );
}

/// The last seq of every chunk in the replica.
fn chunk_ends(u: &str) -> Vec<u64> {
    replica_ls(u)
        .unwrap()
        .into_iter()
        .filter(|o| o.kind == "chunk")
        .map(|o| o.last_seq)
        .collect()
}

#[test]
fn a_follower_killed_inside_a_chunk_resumes_without_a_gap() {
    let Some(s) = Server::from_env("LIBCOMMIT_S3FS", "a_follower_killed_inside_a_chunk") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // s3s-fs lets racing creates all succeed (tests/replica_s3.rs shows
    // it): one writer at a time here, so no fencing is needed.
    let u = s.url_via(&s.endpoint, "resume", "&probe=skip");
    let (w, f) = (dir.path().join("w"), dir.path().join("f"));
    let ws = w.to_string_lossy().to_string();
    // A follower that has the start of the history.
    let first = spawn(&spec(&["writer", &u, &ws, "1", "20"]));
    first.until("done", 0, &mut Vec::new());
    first.finish();
    let fs = f.to_string_lossy().to_string();
    let p = spawn(&spec(&["follower", &u, &fs]));
    p.until("at", 20, &mut Vec::new());
    p.finish();
    let (mut kills, mut inside, mut total) = (0, 0, 20);
    while inside == 0 && kills < 12 {
        // Big commits: a chunk holds a few dozen, and applying a backlog
        // of them takes long enough to be killed inside one.
        total += 400;
        let writer = spawn(&spec(&["writer", &u, &ws, "1", &total.to_string()]));
        writer.until("done", 0, &mut Vec::new());
        writer.finish();
        let ends = chunk_ends(&u);
        let before = open_seq(&f);
        let p = spawn(&spec(&["follower", &u, &fs]));
        let mut seen = Vec::new();
        // Killed at the first seq it shows that no chunk ends at.
        let deadline = Instant::now() + WAIT;
        loop {
            let (k, at, _) = p.lines.recv_timeout(WAIT).expect("follower output");
            if k == "at" {
                seen.push(at);
                if at > before && !ends.contains(&at) || at >= total || Instant::now() > deadline {
                    break;
                }
            }
        }
        p.kill9();
        kills += 1;
        let after = open_seq(&f);
        if !ends.contains(&after) {
            inside += 1;
        }
        assert!(after >= *seen.last().unwrap(), "lost applied commits");
    }
    assert!(inside > 0, "no kill landed inside a chunk in {kills} tries");
    let p = spawn(&spec(&["follower", &u, &fs]));
    p.until("at", total, &mut Vec::new());
    p.finish();
    let db = Database::open(&f, Options::default()).unwrap();
    assert_eq!(db.stats().unwrap().last_commit_seq, total);
    assert_eq!(pages(&db), model_at(total, true));
    db.close().unwrap();
    println!(
        "replica_s3: resume: follower killed -9 {kills} times ({inside} inside a chunk), resumed \
         each time without a gap; every page equal at {total}"
    );
}

/// The last commit of the database at `path` (opened and closed).
fn open_seq(path: &Path) -> u64 {
    let db = Database::open(path, Options::default()).unwrap();
    let s = db.stats().unwrap().last_commit_seq;
    db.close().unwrap();
    s
}
