//! Read-only inspection: info, verify and dump on healthy, torn and
//! corrupted databases.

mod common;

use common::flip_file_byte;
use std::path::Path;

use libcommit::{inspect, Database, Options, PageWrite};

fn opts() -> Options {
    Options {
        segment_size_bytes: 64 << 10,
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    }
}

fn populate(path: &Path) {
    let db = Database::open(path, opts()).unwrap();
    for i in 1..=30u32 {
        db.commit_batch(&[PageWrite::put(i, &[i as u8; 1500])])
            .unwrap();
    }
    db.checkpoint().unwrap();
    for i in 31..=60u32 {
        db.commit_batch(&[PageWrite::put(i, &[i as u8; 1500])])
            .unwrap();
    }
    db.close().unwrap();
}

#[test]
fn info_verify_and_dump_describe_a_healthy_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.db");
    populate(&path);
    let info = inspect::info(&path).unwrap();
    assert_eq!(info.page_size, 4096);
    assert_eq!(info.checkpoint_seq, 30);
    assert_eq!(info.main_pages, 30);
    assert_eq!(info.last_commit_seq, 60);
    assert_eq!(info.recovery.commits_recovered, 30);
    assert!(info.corruption.is_none());
    assert!(!info.segments.is_empty());
    let mut calls = 0;
    let v = inspect::verify(&path, &mut |_, _| calls += 1).unwrap();
    assert!(v.clean(), "{v:?}");
    assert!(!v.torn_tail);
    assert!(calls > 0);
    assert!(v.units_checked >= 60);
    let mut kinds = std::collections::BTreeMap::new();
    let n = inspect::dump(&path, &mut |_, f| *kinds.entry(f.kind).or_insert(0) += 1).unwrap();
    assert_eq!(kinds.get("commit"), Some(&30));
    assert_eq!(kinds.get("page"), Some(&30));
    assert_eq!(kinds.get("seal"), Some(&1));
    assert_eq!(n, 61);
}

#[test]
fn verify_names_a_flipped_byte_in_a_checkpointed_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.db");
    populate(&path);
    // Slots start after the two 4 KiB header copies; damage the first one.
    flip_file_byte(&path, 8192 + 100, 1);
    let v = inspect::verify(&path, &mut |_, _| {}).unwrap();
    assert_eq!(v.bad.len(), 1, "{v:?}");
    assert_eq!(v.bad[0].file, path);
    assert!(v.bad[0].what.contains("checksum"), "{}", v.bad[0].what);
}

#[test]
fn verify_reports_a_torn_tail_as_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.db");
    populate(&path);
    let info = inspect::info(&path).unwrap();
    // The last segment holding frames (a prepared spare may follow it).
    let last = info
        .recovery
        .segments
        .iter()
        .rev()
        .find(|s| s.frames_kept > 0)
        .unwrap();
    // Cut the seal and the last commit (zeroing, as a crash would leave it).
    let data = std::fs::read(&last.path).unwrap();
    let end = data.iter().rposition(|&b| b != 0).unwrap() as u64;
    assert!(end > 4096 + 120);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&last.path)
        .unwrap();
    f.set_len(end - 120).unwrap();
    f.set_len(data.len() as u64).unwrap();
    let v = inspect::verify(&path, &mut |_, _| {}).unwrap();
    assert!(v.clean(), "{v:?}");
    assert!(v.torn_tail);
    assert_eq!(inspect::info(&path).unwrap().last_commit_seq, 59);
}
