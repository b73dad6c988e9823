//! Across processes: one writer, or any number of read-only openers,
//! never both; the loser gets Busy after busy_timeout. The test binary
//! re-executes itself as the other process.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libcommit::{Database, Options, PageWrite, Status};

const CHILD_ENV: &str = "LIBCOMMIT_LOCK_CHILD";

fn opts(read_only: bool, busy_timeout_ms: u32) -> Options {
    Options {
        read_only,
        busy_timeout_ms,
        ..Options::default()
    }
}

/// Child: open as told, print the status, then hold the database until
/// stdin closes.
fn child_main(path: &str, read_only: bool) {
    let status = match Database::open(path, opts(read_only, 100)) {
        Ok(db) => {
            println!("\nCHILD opened");
            std::io::stdout().flush().unwrap();
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            drop(db);
            return;
        }
        Err(e) => e.status(),
    };
    println!("\nCHILD failed {status:?}");
}

// Every caller waits for its child; a panic in between fails the test anyway.
#[allow(clippy::zombie_processes)]
fn spawn(path: &Path, read_only: bool) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{read_only}", path.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended without a word"
        );
        if let Some(word) = line.trim().strip_prefix("CHILD ") {
            return (child, word.to_string());
        }
    }
}

#[test]
fn child_entry() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (path, ro) = spec.split_once('|').unwrap();
        child_main(path, ro == "true");
    }
}

#[test]
fn a_writer_and_readers_exclude_each_other_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let db = Database::open(&path, opts(false, 100)).unwrap();
    db.commit_batch(&[PageWrite::put(1, b"x")]).unwrap();

    // A reader process waits out its busy timeout while we write.
    let (mut c, word) = spawn(&path, true);
    assert_eq!(word, "failed Busy");
    c.wait().unwrap();
    db.close().unwrap();

    // Two read-only processes side by side.
    let (mut r1, w1) = spawn(&path, true);
    let (mut r2, w2) = spawn(&path, true);
    assert_eq!((w1.as_str(), w2.as_str()), ("opened", "opened"));
    // A writer waits for its whole busy timeout, then gets Busy.
    let started = Instant::now();
    let e = Database::open(&path, opts(false, 300)).unwrap_err();
    assert_eq!(e.status(), Status::Busy);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "never an instant Busy"
    );
    for c in [&mut r1, &mut r2] {
        drop(c.stdin.take());
        c.wait().unwrap();
    }
    // With the readers gone, the writer gets in.
    let db = Database::open(&path, opts(false, 100)).unwrap();
    assert_eq!(db.read(1).unwrap().as_deref(), Some(&b"x"[..]));
}

#[test]
fn a_read_only_handle_beside_a_writer_in_one_process_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let w = Database::open(&path, opts(false, 100)).unwrap();
    let r = Database::open(&path, opts(true, 100)).unwrap();
    w.commit_batch(&[PageWrite::put(1, b"w")]).unwrap();
    assert_eq!(r.read(1).unwrap().as_deref(), Some(&b"w"[..]));
    assert_eq!(
        r.commit_batch(&[PageWrite::put(2, b"r")])
            .unwrap_err()
            .status(),
        Status::ReadOnly
    );
    assert_eq!(r.checkpoint().unwrap_err().status(), Status::ReadOnly);
    drop(w);
    r.close().unwrap();
    let only_r = Database::open(&path, opts(true, 100)).unwrap();
    let e = Database::open(&path, opts(false, 100)).unwrap_err();
    assert_eq!(
        e.status(),
        Status::Busy,
        "a writer cannot join a read-only engine"
    );
    only_r.close().unwrap();
}
