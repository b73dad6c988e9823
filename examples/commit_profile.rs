//! CPU profile target: N single-page commits with sync OFF (so the profile
//! shows the engine's own work, not the disk). Used with
//! `valgrind --tool=callgrind`.
use libcommit::{Database, Options, PageWrite, SyncMode};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        sync: SyncMode::Off,
        ..Options::default()
    };
    let db = Database::open(dir.path().join("p.db"), opts).unwrap();
    let page = vec![7u8; 4096];
    for i in 0..n {
        db.commit_batch(&[PageWrite::put(1 + i % 10_000, &page)])
            .unwrap();
    }
    let mut t = db.begin().unwrap();
    let mut total = 0usize;
    for i in 0..n {
        total += t.read(1 + i % 10_000).unwrap().map_or(0, |p| p.len());
    }
    assert!(total > 0);
    db.close().unwrap();
}
