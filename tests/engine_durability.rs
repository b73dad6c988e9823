//! Commit tickets, the durable watermark, per-transaction sync modes and
//! metrics.

use std::time::Duration;

use libcommit::{Database, Options, PageWrite, Status, SyncMode};

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn a_relaxed_commit_is_a_ticket_that_becomes_durable_and_visible() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("d.db"), Options::default()).unwrap();
    let seq = db
        .commit_batch_with_sync(&[PageWrite::put(1, b"ticket")], SyncMode::Normal)
        .unwrap();
    assert_eq!(seq, 1);
    assert!(
        db.wait_durable(seq, WAIT).unwrap(),
        "durable within the timeout"
    );
    assert!(db.durable_seq().unwrap() >= seq);
    assert_eq!(
        db.read(1).unwrap().as_deref(),
        Some(&b"ticket"[..]),
        "visible once durable"
    );
    assert!(db.stats().unwrap().last_commit_seq >= seq);
    // A seq that does not exist yet is refused rather than waited for.
    assert_eq!(
        db.wait_durable(seq + 5, WAIT).unwrap_err().status(),
        Status::InvalidArgument
    );
}

#[test]
fn a_full_transaction_in_a_normal_database_returns_durable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: SyncMode::Normal,
        ..Options::default()
    };
    let db = Database::open(dir.path().join("n.db"), opts).unwrap();
    db.commit_batch(&[PageWrite::put(1, b"relaxed")]).unwrap();
    assert_eq!(
        db.durable_seq().unwrap(),
        0,
        "NORMAL does not sync per commit"
    );
    let mut t = db.begin().unwrap();
    t.write(2, b"strict").unwrap();
    t.set_sync(SyncMode::Full);
    let seq = t.commit().unwrap();
    assert!(
        db.durable_seq().unwrap() >= seq,
        "a FULL commit returns durable"
    );
    assert!(db.stats().unwrap().syncs >= 1);
}

#[test]
fn metrics_count_commits_and_groups_and_the_oldest_reader() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("m.db"), Options::default()).unwrap();
    for i in 1..=20u32 {
        db.commit_batch(&[PageWrite::put(i, b"x")]).unwrap();
    }
    let reader = db.begin().unwrap();
    for i in 1..=5u32 {
        db.commit_batch(&[PageWrite::put(i, b"y")]).unwrap();
    }
    let m = db.metrics().unwrap();
    assert_eq!(m.commit_latency_us.count(), 25);
    let grouped: u64 = m.group_size.sum;
    assert_eq!(
        grouped, 25,
        "every commit was made durable by some group flush"
    );
    assert_eq!(m.oldest_reader_snapshot, Some(20));
    assert_eq!(m.oldest_reader_age_commits, 5);
    assert_eq!(m.oldest_reader_pinned_versions, 5);
    assert!(m.commit_latency_us.quantile_upper_bound(0.99) > 0);
    drop(reader);
    assert_eq!(db.metrics().unwrap().oldest_reader_snapshot, None);
}
