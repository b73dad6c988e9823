//! Replication to a local directory (`file://`, no server needed): commit
//! with shipping on, wait until a commit is in the replica, look at what
//! the replica holds, then restore it on "another machine" (another path)
//! to the latest commit and to an earlier one.
//!
//! Run with `cargo run --release --example replica [DIR]`.

use std::time::Duration;

use libcommit::RestoreTarget;
use libcommit::{replica_ls, replica_verify, restore, Database, Error, Options, PageWrite};

const COMMITS: u64 = 50;
const WAIT: Duration = Duration::from_secs(30);

fn main() -> Result<(), Error> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("libcommit-replica-{}", std::process::id()))
        });
    std::fs::create_dir_all(&dir).expect("create demo directory");
    let url = format!("file://{}", dir.join("replica").display());

    let db = Database::open(
        dir.join("primary.db"),
        Options {
            replica: Some(url.clone()),
            ..Options::default()
        },
    )?;
    let mut last = 0;
    for i in 1..=COMMITS {
        let body = format!("commit {i}");
        last = db.commit_batch(&[PageWrite::put(1 + (i % 8) as u32, body.as_bytes())])?;
    }
    // Commits never wait for the store; a caller that needs RPO 0 waits.
    if !db.wait_replicated(last, WAIT)? {
        return Err(Error::Internal(format!(
            "commit {last} not replicated within {WAIT:?}"
        )));
    }
    let status = db.replica_status()?;
    println!(
        "shipped to {url}: state {}, epoch {}, shipped seq {}, lag {} commits",
        status.state.as_str(),
        status.epoch,
        status.shipped_seq,
        status.lag_commits
    );
    db.close()?;

    for o in replica_ls(&url)? {
        println!(
            "  {:<28} {:<8} epoch {} seqs {}..={} ({} bytes)",
            o.name, o.kind, o.epoch, o.first_seq, o.last_seq, o.bytes
        );
    }
    let verified = replica_verify(&url)?;
    println!(
        "verify: {} objects, {} commits, hash chain whole",
        verified.objects_read, verified.commits_applied
    );

    let middle = COMMITS / 2;
    for (name, target) in [
        ("latest.db", RestoreTarget::Latest),
        ("middle.db", RestoreTarget::Seq(middle)),
    ] {
        let report = restore(&url, &dir.join(name), target)?;
        let copy = Database::open(dir.join(name), Options::default())?;
        let page = copy.read(1 + (report.restored_seq % 8) as u32)?;
        println!(
            "restored {name} to commit {} ({} commits, {} bytes read): {:?}",
            report.restored_seq,
            report.commits_applied,
            report.bytes_read,
            page.map(|p| String::from_utf8_lossy(&p).into_owned())
        );
        copy.close()?;
    }
    // Restoring over an existing database is refused, never a silent merge.
    match restore(&url, &dir.join("latest.db"), RestoreTarget::Latest) {
        Err(e) => println!(
            "restore onto an existing database: {} ({e})",
            e.status().name()
        ),
        Ok(_) => return Err(Error::Internal("restore overwrote a database".into())),
    }
    Ok(())
}
