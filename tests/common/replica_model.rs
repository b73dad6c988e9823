//! The page model the replica suites check restores against: commits
//! that write two pages of 1..=40 (sometimes deleting one), and the state
//! of every page after each commit.

use std::collections::BTreeMap;
use std::path::Path;

use libcommit::{Database, Options, PageWrite};

/// The page images after each commit (index = seq; 0 is empty).
pub type Model = Vec<BTreeMap<u32, Vec<u8>>>;

/// Page images naming their commit: restore is checked page by page.
pub fn image(seq: u64, pgno: u32) -> Vec<u8> {
    format!("commit {seq} page {pgno}")
        .into_bytes()
        .repeat(1 + (pgno as usize % 7))
}

/// Commits `n` more batches (two pages of 1..=40 each, sometimes a
/// delete), extending `model`.
pub fn commit_more(db: &Database, model: &mut Model, n: u64) {
    for _ in 0..n {
        let i = model.len() as u64;
        let mut pages = model.last().cloned().unwrap_or_default();
        let (a, b) = ((i * 7 % 40) as u32 + 1, (i * 13 % 40) as u32 + 1);
        let (ia, ib) = (image(i, a), image(i, b));
        let mut w = vec![PageWrite::put(a, &ia), PageWrite::put(b, &ib)];
        pages.insert(a, ia.clone());
        pages.insert(b, ib.clone());
        let del = (i * 3 % 40) as u32 + 1;
        if i % 5 == 0 && del != a && del != b {
            w.push(PageWrite::delete(del));
            pages.remove(&del);
        }
        assert_eq!(db.commit_batch(&w).unwrap(), i);
        model.push(pages);
    }
}

pub fn new_model() -> Model {
    vec![BTreeMap::new()]
}

/// Every page of the database at `path` equals `want`.
pub fn assert_pages(path: &Path, want: &BTreeMap<u32, Vec<u8>>) {
    let db = Database::open(path, Options::default()).unwrap();
    assert_db_pages(&db, want);
    db.close().unwrap();
}

/// Every page `db` reads now equals `want`.
pub fn assert_db_pages(db: &Database, want: &BTreeMap<u32, Vec<u8>>) {
    for pgno in 1..=41 {
        let got = db.read(pgno).unwrap();
        assert_eq!(
            got.as_deref(),
            want.get(&pgno).map(|v| &v[..]),
            "page {pgno}"
        );
    }
}
