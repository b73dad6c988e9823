//! libcommit quickstart: open a database, commit from several threads,
//! read at a snapshot, checkpoint, reopen and print what recovery found.
//!
//! Run with `cargo run --release --example quickstart [PATH]`.

use std::sync::Arc;
use std::thread;

use libcommit::{Database, Error, Options, PageWrite};

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

    let db = Arc::new(Database::open(&path, Options::default())?);
    println!("opened {} (page size {})", path.display(), db.page_size());

    // Several threads commit at once; their commits share fdatasyncs.
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            thread::spawn(move || -> Result<(), Error> {
                for i in 0..COMMITS_PER_THREAD {
                    let pgno = 1 + t * COMMITS_PER_THREAD + i;
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

    // A snapshot keeps its view while others commit.
    let mut reader = db.begin()?;
    db.commit_batch(&[PageWrite::put(1, b"changed after the snapshot")])?;
    let seen = reader.read(1)?.expect("page 1 exists");
    println!(
        "snapshot {} still reads page 1 as {:?}",
        reader.snapshot(),
        String::from_utf8_lossy(&seen)
    );
    reader.abort();

    // A transaction that loses first-committer-wins gets a conflict.
    let mut a = db.begin()?;
    let mut b = db.begin()?;
    a.write(7, b"from a")?;
    b.write(7, b"from b")?;
    let seq_a = a.commit()?;
    match b.commit() {
        Err(Error::Conflict { pages, commit_seq }) => {
            println!("second writer of page 7 got a conflict on pages {pages:?}: commit {commit_seq} won (the first writer's commit was {seq_a})")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    let report = db.checkpoint()?;
    println!(
        "checkpoint wrote {} pages; every commit <= {} is in the main file",
        report.pages_written, report.checkpoint_seq
    );
    db.commit_batch(&[PageWrite::put(9999, b"after the checkpoint")])?;
    db.close()?;

    let db = Database::open(&path, Options::default())?;
    let r = db.last_recovery();
    println!(
        "reopened: recovery replayed {} commits ({} page records, {} bytes read) from {} segments; last commit_seq {}",
        r.commits_recovered, r.records_applied, r.bytes_read, r.segments_recovered, r.last_commit_seq
    );
    let page = db.read(9999)?.expect("page 9999 survived the reopen");
    println!("page 9999 = {:?}", String::from_utf8_lossy(&page));
    db.close()?;
    std::fs::remove_dir_all(&dir).expect("remove demo directory");
    Ok(())
}
