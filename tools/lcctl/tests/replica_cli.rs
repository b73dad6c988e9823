//! `lcctl replica`: status of a shipping database (from another process),
//! ls, verify (clean and damaged), restore to a seq, a time and the
//! latest, and usage errors.

use std::path::Path;
use std::process::{Command, Output};
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
