//! `lcctl replica`: status of a shipping database (from another process),
//! ls, verify (clean and damaged), restore to a seq, a time and the
//! latest, follow (until SIGTERM, until promoted, refusing a fork unless
//! --resnapshot), promote (with and without a follower running), and
//! usage errors.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libcommit::{Database, Options, PageWrite};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn lcctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lcctl"))
        .args(args)
        .output()
        .expect("run lcctl")
}

fn json(args: &[&str], want: i32) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let o = lcctl(&all);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(want), "{args:?}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Polls `lcctl replica status` until `done` holds (the shipper writes
/// its status file after the step that changed it).
fn status_until(path: &Path, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let o = lcctl(&["replica", "status", s(path), "--json"]);
        if o.status.code() == Some(0) {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            if done(&v) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn status_ls_verify_and_restore_through_lcctl() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("replica").display());
    let path = dir.path().join("db");
    let opts = Options {
        replica: Some(url.clone()),
        replica_snapshot_interval_ms: 0,
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    };
    let db = Database::open(&path, opts).unwrap();
    for seq in 1..=10u64 {
        db.commit_batch(&[PageWrite::put(1, format!("v{seq}").as_bytes())])
            .unwrap();
    }
    assert!(db.wait_replicated(10, WAIT).unwrap());
    db.checkpoint().unwrap();
    for seq in 11..=14u64 {
        db.commit_batch(&[PageWrite::put(1, format!("v{seq}").as_bytes())])
            .unwrap();
    }
    assert!(db.wait_replicated(14, WAIT).unwrap());
    let st = status_until(&path, |v| v["shipped_seq"] == 14 && v["snapshot_seq"] == 10);
    assert_eq!(st["state"], "shipping");
    assert_eq!(st["shipper_alive"], true);
    assert_eq!(
        (st["epoch"].as_u64(), st["lag_commits"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(st["last_error"], "");
    db.close().unwrap();
    let st = json(&["replica", "status", s(&path)], 0);
    assert_eq!(
        (st["shipper_alive"].as_bool(), st["shipped_seq"].as_u64()),
        (Some(false), Some(14))
    );

    let ls = json(&["replica", "ls", &url], 0);
    let kinds: Vec<&str> = ls["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "snapshot");
    assert_eq!(kinds[1], "fence");
    assert!(kinds[2..].iter().all(|k| *k == "chunk"), "{kinds:?}");
    let v = json(&["replica", "verify", &url], 0);
    assert_eq!(
        (v["last_seq"].as_u64(), v["newest_snapshot_seq"].as_u64()),
        (Some(14), Some(10))
    );

    let r = json(
        &[
            "replica",
            "restore",
            &url,
            s(&dir.path().join("r12")),
            "--seq",
            "12",
        ],
        0,
    );
    assert_eq!(
        (r["restored_seq"].as_u64(), r["snapshot_seq"].as_u64()),
        (Some(12), Some(10))
    );
    let d = Database::open(dir.path().join("r12"), Options::default()).unwrap();
    assert_eq!(d.read(1).unwrap().as_deref(), Some(&b"v12"[..]));
    d.close().unwrap();
    let r = json(
        &[
            "replica",
            "restore",
            &url,
            s(&dir.path().join("now")),
            "--time",
            "2999-01-01T00:00:00Z",
        ],
        0,
    );
    assert_eq!(r["restored_seq"].as_u64(), Some(14));
    let r = json(
        &[
            "replica",
            "restore",
            &url,
            s(&dir.path().join("t0")),
            "--time",
            "0",
        ],
        0,
    );
    assert_eq!(r["restored_seq"].as_u64(), Some(0));
    let o = lcctl(&[
        "replica",
        "restore",
        &url,
        s(&dir.path().join("x")),
        "--seq",
        "99",
    ]);
    assert_eq!(o.status.code(), Some(2));

    // A damaged chunk: verify exits 1 and names it.
    let chunk = dir.path().join("replica/log/0000000000000001");
    let mut bytes = std::fs::read(&chunk).unwrap();
    bytes[110] ^= 1;
    std::fs::write(&chunk, &bytes).unwrap();
    let o = lcctl(&["replica", "verify", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("log/0000000000000001"));
}

#[test]
fn replica_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(lcctl(&["replica", "restore"]).status.code(), Some(2));
    let both = [
        "replica",
        "restore",
        "file:///tmp/x",
        "/tmp/y",
        "--seq",
        "1",
        "--time",
        "0",
    ];
    assert_eq!(lcctl(&both).status.code(), Some(2));
    assert_eq!(
        lcctl(&["replica", "ls", "ftp://nope"]).status.code(),
        Some(2)
    );
    let o = lcctl(&["replica", "status", s(&dir.path().join("none"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no replica status"));
    let bad_time = [
        "replica",
        "restore",
        "file:///tmp/x",
        "/tmp/y",
        "--time",
        "soon",
    ];
    assert_eq!(lcctl(&bad_time).status.code(), Some(2));
}

extern "C" {
    /// kill(2) from the C library (std links it).
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIGTERM: i32 = 15;

fn replica_opts(url: &str) -> Options {
    Options {
        replica: Some(url.to_string()),
        ..Options::default()
    }
}

/// Commits page 1 = "v{seq}" `n` times and waits until it is shipped.
fn ship(db: &Database, n: u64) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        let next = db.stats().unwrap().last_commit_seq + 1;
        last = db
            .commit_batch(&[PageWrite::put(1, format!("v{next}").as_bytes())])
            .unwrap();
        assert_eq!(last, next);
    }
    assert!(db.wait_replicated(last, WAIT).unwrap());
    last
}

/// `lcctl replica follow ARGS...` in the background.
fn spawn_follow(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lcctl"))
        .args(["replica", "follow"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lcctl replica follow")
}

/// Waits (at most `WAIT`) for `child` to exit by itself.
fn exited(child: Child) -> Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(WAIT)
        .expect("lcctl replica follow did not exit")
        .expect("wait for lcctl")
}

fn sigterm(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill only sends a signal; pid is our own child, not yet
    // waited for, so it cannot have been reused.
    assert_eq!(unsafe { kill(pid, SIGTERM) }, 0);
}

fn text_of(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn page1(path: &Path) -> Vec<u8> {
    let db = Database::open(path, Options::default()).unwrap();
    let page = db.read(1).unwrap().unwrap().to_vec();
    db.close().unwrap();
    page
}

#[test]
fn follow_until_sigterm_then_promote_from_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("replica").display());
    let (wp, fp) = (dir.path().join("w"), dir.path().join("f"));
    let w = Database::open(&wp, replica_opts(&url)).unwrap();
    ship(&w, 10);
    let child = spawn_follow(&[&url, s(&fp), "--poll-ms", "5"]);
    status_until(&fp, |v| v["applied_seq"] == 10 && v["state"] == "following");
    let last = ship(&w, 5);
    let st = status_until(&fp, |v| v["applied_seq"] == last);
    assert_eq!(st["shipper_alive"], true);
    assert_eq!(st["epoch"].as_u64(), Some(1));
    sigterm(&child);
    let o = exited(child);
    let out = text_of(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("(restored)"), "{out}");
    assert!(out.contains("stopped: applied commit 15, epoch 1"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("applied ")), "{out}");
    let st = json(&["replica", "status", s(&fp)], 0);
    assert_eq!(st["shipper_alive"], false, "closed cleanly: {st}");
    assert_eq!(page1(&fp), b"v15");

    // Resumed, it follows again; promoted from another lcctl, it stops.
    let child = spawn_follow(&[&url, s(&fp), "--poll-ms", "5", "--json"]);
    status_until(&fp, |v| {
        v["shipper_alive"] == true && v["applied_seq"] == last
    });
    w.close().unwrap();
    let p = json(&["replica", "promote", &url, s(&fp)], 0);
    assert_eq!(p["epoch"].as_u64(), Some(2), "{p}");
    let o = exited(child);
    assert_eq!(o.status.code(), Some(0), "{}", text_of(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let end: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (end["stopped"].as_str(), end["epoch"].as_u64()),
        (Some("promoted"), Some(2)),
        "{stdout}"
    );

    // The promoted database writes and ships; the old writer is fenced.
    let f = Database::open(&fp, replica_opts(&url)).unwrap();
    let seq = f.commit_batch(&[PageWrite::put(1, b"new")]).unwrap();
    assert_eq!(seq, last + 1);
    assert!(f.wait_replicated(seq, WAIT).unwrap());
    f.close().unwrap();
    let old = Database::open(&wp, replica_opts(&url)).unwrap();
    let refused = old.commit_batch(&[PageWrite::put(1, b"old")]).unwrap_err();
    assert_eq!(refused.status(), libcommit::Status::Fenced, "{refused}");
    old.close().unwrap();
    // It follows no more: promoting it again is a usage error.
    let o = lcctl(&["replica", "promote", &url, s(&fp)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text_of(&o).contains("does not follow"), "{}", text_of(&o));
}

#[test]
fn follow_refuses_a_fork_unless_resnapshot_and_promote_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("replica").display());
    let (ap, bp) = (dir.path().join("a"), dir.path().join("b"));
    let a = Database::open(&ap, replica_opts(&url)).unwrap();
    ship(&a, 5);
    a.close().unwrap();
    // A commit the replica never gets: a's disk, without its replica.
    let a = Database::open(&ap, Options::default()).unwrap();
    a.commit_batch(&[PageWrite::put(1, b"unshipped")]).unwrap();
    a.close().unwrap();
    // b follows, and lcctl promotes it with no follower running.
    let b = Database::open_follower(&url, &bp, Options::default()).unwrap();
    b.close().unwrap();
    let p = json(&["replica", "promote", &url, s(&bp)], 0);
    assert_eq!(p["epoch"].as_u64(), Some(2), "{p}");
    let b = Database::open(&bp, replica_opts(&url)).unwrap();
    let last = ship(&b, 1);

    let o = lcctl(&["replica", "follow", &url, s(&ap), "--poll-ms", "5"]);
    let out = text_of(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("fork") && out.contains("--resnapshot"),
        "{out}"
    );
    let child = spawn_follow(&[&url, s(&ap), "--resnapshot", "--poll-ms", "5"]);
    status_until(&ap, |v| {
        v["shipper_alive"] == true && v["applied_seq"] == last
    });
    sigterm(&child);
    let o = exited(child);
    assert_eq!(o.status.code(), Some(0), "{}", text_of(&o));
    assert_eq!(page1(&ap), format!("v{last}").as_bytes());
    b.close().unwrap();

    // Usage: no database, one that does not follow, a zero poll interval.
    let o = lcctl(&["replica", "promote", &url, s(&dir.path().join("none"))]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text_of(&o).contains("no database"), "{}", text_of(&o));
    assert!(!dir.path().join("none").exists());
    let o = lcctl(&["replica", "follow", &url, s(&bp), "--poll-ms", "0"]);
    assert_eq!(o.status.code(), Some(2));
}
