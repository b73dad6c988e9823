//! Across processes: writers and read-only openers share a database (the
//! writer lease and its Busy are tested in multiprocess.rs); offline
//! recovery needs it closed everywhere. The test binary re-executes itself
//! as the other process.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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
            let page = db.read(1).ok().flatten().map(|p| p.to_vec());
            println!(
                "\nCHILD opened {}",
                String::from_utf8_lossy(&page.unwrap_or_default())
            );
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
            // Keep reading, so the child's harness can finish its output.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
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
fn writers_and_readers_share_a_database_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.db");
    let db = Database::open(&path, opts(false, 100)).unwrap();
    db.commit_batch(&[PageWrite::put(1, b"x")]).unwrap();

    // A reader process and a writer process join while we hold it open,
    // and see what we committed.
    let (mut r, wr) = spawn(&path, true);
    let (mut w, ww) = spawn(&path, false);
    assert_eq!((wr.as_str(), ww.as_str()), ("opened x", "opened x"));
    // Offline recovery needs the database closed in every process.
    let e = libcommit::recover(&path, libcommit::RecoveryOptions::default()).unwrap_err();
    assert_eq!(e.status(), Status::Busy, "{e}");
    db.commit_batch(&[PageWrite::put(1, b"y")]).unwrap();
    let (mut r2, wr2) = spawn(&path, true);
    assert_eq!(wr2, "opened y");
    db.close().unwrap();
    for c in [&mut r, &mut w, &mut r2] {
        drop(c.stdin.take());
        c.wait().unwrap();
    }
    // With everyone gone, offline recovery gets in.
    libcommit::recover(&path, libcommit::RecoveryOptions::default()).unwrap();
    let db = Database::open(&path, opts(false, 100)).unwrap();
    assert_eq!(db.read(1).unwrap().as_deref(), Some(&b"y"[..]));
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
