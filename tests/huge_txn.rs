//! A single transaction of 1 GiB commits, reads back and recovers while
//! the process's peak memory stays under 256 MiB: its images spill to a
//! file, the log streams them through a bounded buffer, and versions and
//! recovery keep only their log positions. Alone in its own test binary,
//! so the process's high-water mark is this test's.

use libcommit::{Database, Options};

const PAGE: usize = 4096;
const TXN_BYTES: u64 = 1 << 30;
const PEAK_LIMIT_BYTES: u64 = 256 << 20;

fn image(pgno: u32) -> Vec<u8> {
    let mut v = vec![(pgno % 251) as u8; PAGE];
    v[..4].copy_from_slice(&pgno.to_le_bytes());
    v[PAGE - 4..].copy_from_slice(&pgno.wrapping_mul(2654435761).to_le_bytes());
    v
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

#[test]
fn a_one_gib_transaction_commits_and_recovers_in_bounded_memory() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("huge.db");
    let pages = (TXN_BYTES / PAGE as u64) as u32;
    let db = Database::open(&path, Options::default()).unwrap();
    db.commit_batch(&[libcommit::PageWrite::put(1, b"before")])
        .unwrap();
    let mut txn = db.begin().unwrap();
    for pgno in 1..=pages {
        txn.write(pgno, &image(pgno)).unwrap();
    }
    // Own writes read back from the spill file.
    assert_eq!(txn.read(pages).unwrap().unwrap().to_vec(), image(pages));
    assert_eq!(txn.read(1).unwrap().unwrap().to_vec(), image(1));
    let seq = txn.commit().unwrap();
    assert_eq!(seq, 2);
    for pgno in (1..=pages).step_by(9973).chain([pages]) {
        assert_eq!(
            db.read(pgno).unwrap().unwrap().to_vec(),
            image(pgno),
            "page {pgno}"
        );
    }
    let spills = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("-spill-")
        })
        .count();
    assert_eq!(spills, 0, "the spill file goes with the transaction");
    db.close().unwrap();

    let db = Database::open(&path, Options::default()).unwrap();
    let r = db.last_recovery();
    assert_eq!(r.last_commit_seq, 2);
    for pgno in (1..=pages).step_by(7919).chain([pages]) {
        assert_eq!(
            db.read(pgno).unwrap().unwrap().to_vec(),
            image(pgno),
            "page {pgno} after reopen"
        );
    }
    let ck = db.checkpoint().unwrap();
    assert_eq!(ck.checkpoint_seq, 2);
    assert_eq!(
        db.read(pages / 2).unwrap().unwrap().to_vec(),
        image(pages / 2)
    );
    db.close().unwrap();

    let peak = peak_rss_bytes();
    println!(
        "huge transaction: {} MiB in one commit, peak RSS {} MiB (limit {} MiB)",
        TXN_BYTES >> 20,
        peak >> 20,
        PEAK_LIMIT_BYTES >> 20
    );
    assert!(peak < PEAK_LIMIT_BYTES, "peak RSS {} MiB", peak >> 20);
}
