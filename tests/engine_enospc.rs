//! Out of space while a sequenced commit is written: that commit fails
//! with Full, its log range becomes a void, its seq goes to the next
//! commit, and the database goes on - later commits succeed, survive a
//! power loss, and nothing of the failed commit is ever visible.

use std::path::Path;
use std::sync::Arc;

use libcommit::storage::{CrashMode, Fault, FaultKind, FaultOp, SimStorage};
use libcommit::{CommitMode, Database, Error, Options, PageWrite};

fn opts(sim: &SimStorage, mode: CommitMode) -> Options {
    Options {
        commit_mode: mode,
        segment_size_bytes: 64 << 10,
        checkpoint_threshold_bytes: 0,
        storage: Arc::new(sim.clone()),
        ..Options::default()
    }
}

#[test]
fn enospc_writing_a_commit_voids_it_and_the_database_goes_on() {
    for mode in [CommitMode::Wal, CommitMode::Native] {
        let path = Path::new("/sim/enospc/db");
        let sim = SimStorage::new(7);
        sim.create_dir_all(path.parent().unwrap());
        let db = Database::open(path, opts(&sim, mode)).unwrap();
        db.commit_batch(&[PageWrite::put(1, b"one")]).unwrap();
        // Fail the next write of the log itself (the commit's frames or
        // marker; capsules are written before a seq is taken).
        sim.inject(
            Fault::new(FaultOp::Write, 1, FaultKind::Enospc).on_paths_containing("-wal-seg-"),
        );
        let r = db.commit_batch(&[PageWrite::put(2, b"lost")]);
        assert!(matches!(r, Err(Error::Full(_))), "{mode:?}: {r:?}");
        assert_eq!(
            db.read(2).unwrap(),
            None,
            "{mode:?}: nothing of the failed commit"
        );
        let seq = db.commit_batch(&[PageWrite::put(3, b"after")]).unwrap();
        assert_eq!(seq, 2, "{mode:?}: the failed commit's seq was handed on");
        assert_eq!(db.read(1).unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(db.read(3).unwrap().as_deref(), Some(&b"after"[..]));
        drop(db);
        sim.crash_with(CrashMode::STRICT);
        let db = Database::open(path, opts(&sim, mode)).unwrap();
        assert_eq!(db.stats().unwrap().last_commit_seq, 2, "{mode:?}");
        assert_eq!(db.read(2).unwrap(), None);
        assert_eq!(db.read(3).unwrap().as_deref(), Some(&b"after"[..]));
    }
}
