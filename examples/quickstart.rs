//! libcommit quickstart: open a database, commit from several threads,
//! read at a snapshot, meet a conflict, checkpoint, reopen and recover.
//! The README's Rust examples are the [readme:...] regions of this file.
//!
//! Run with `cargo run --release --example quickstart [DIR]`.

use std::thread;

use libcommit::{Database, Error, Options, PageWrite, RecoveryOptions, SyncMode};

const THREADS: u32 = 4;
const COMMITS_PER_THREAD: u32 = 50;

fn main() -> Result<(), Error> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("libcommit-quickstart-{}", std::process::id()))
        });
    std::fs::create_dir_all(&dir).expect("create demo directory");
    let path = dir.join("demo.db");

    // [readme:open]
    let options = Options {
        sync: SyncMode::Full, // the default: a commit returns once durable
        ..Options::default()
    };
    // Created if missing.
    let db = Database::open(&path, options)?;
    // [readme:end]
    println!("opened {} (page size {})", path.display(), db.page_size());

    // [readme:commit]
    let seq = db.commit_batch(&[PageWrite::put(1, b"hello"), PageWrite::put(2, b"world")])?;
    let mut txn = db.begin()?; // a snapshot plus a write set
    let old = txn.read(1)?.expect("page 1 exists");
    txn.write(3, &[&old[..], b", again"].concat())?;
    txn.delete(2)?;
    // Commit consumes the transaction.
    let seq = seq.max(txn.commit()?);
    // [readme:end]
    println!("committed up to commit_seq {seq}");

    // Several threads commit at once; their commits share fdatasyncs.
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone(); // clones are the same handle
            thread::spawn(move || -> Result<(), Error> {
                for i in 0..COMMITS_PER_THREAD {
                    let pgno = 100 + t * COMMITS_PER_THREAD + i;
                    let image = format!("thread {t} commit {i}");
                    db.commit_batch(&[PageWrite::put(pgno, image.as_bytes())])?;
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked")?;
    }
    let stats = db.stats()?;
    println!(
        "{} commits from {THREADS} threads took {} log syncs",
        stats.commits, stats.syncs
    );

    // [readme:read]
    assert_eq!(db.read(3)?.as_deref(), Some(&b"hello, again"[..]));
    assert_eq!(db.read(2)?, None); // deleted (or never written)
    let mut reader = db.begin()?; // later commits stay invisible to it
    db.commit_batch(&[PageWrite::put(3, b"changed")])?;
    assert_eq!(reader.read(3)?.as_deref(), Some(&b"hello, again"[..]));
    reader.abort();
    // [readme:end]

    // [readme:errors]
    let mut a = db.begin()?;
    let mut b = db.begin()?;
    a.write(7, b"from a")?;
    b.write(7, b"from b")?;
    a.commit()?;
    match b.commit() {
        Ok(_) => unreachable!("page 7 was committed by a after b's snapshot"),
        Err(Error::Conflict { pages, commit_seq }) => {
            println!("pages {pages:?} were committed first by {commit_seq}; retry")
        }
        Err(e) => return Err(e), // e.status() is the C lc_status
    }
    // [readme:end]

    let report = db.checkpoint()?;
    println!(
        "checkpoint wrote {} pages; every commit <= {} is in the main file",
        report.pages_written, report.checkpoint_seq
    );
    db.commit_batch(&[PageWrite::put(9999, b"after the checkpoint")])?;
    db.close()?;

    // [readme:recover]
    // Opening replays the write-ahead log: every acknowledged commit is back.
    let db = Database::open(&path, Options::default())?;
    let r = db.last_recovery();
    println!(
        "replayed {} commits, up to {}",
        r.commits_recovered, r.last_commit_seq
    );
    assert!(db.read(9999)?.is_some());
    db.close()?;
    // Offline, on a closed database; skip_corrupt keeps the durable prefix.
    let options = RecoveryOptions {
        skip_corrupt: true,
        ..RecoveryOptions::default()
    };
    let report = libcommit::recover(&path, options)?;
    println!(
        "recover: {} segments set aside",
        report.partial_segments.len()
    );
    // [readme:end]
    std::fs::remove_dir_all(&dir).expect("remove demo directory");
    Ok(())
}
