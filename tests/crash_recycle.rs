//! A recycled segment's old frames are never replayed.
//!
//! A checkpoint retires segments into the recycle pool; the next segments
//! the log needs are those same files under a new name and header, their
//! old frames still in them. The power is cut at every step of that
//! reuse (rename to a temporary name, header write, sync, rename to the
//! final name, directory sync, the first commits over the old frames),
//! with every kind of loss the simulator has. Each reopen must come back
//! at a prefix of the commits holding every acknowledged one, and read
//! exactly that prefix's images: an old frame taken for a current one
//! would show up as an image of the wrong commit, or as a commit beyond
//! the ones attempted.
//!
//! Environment: LIBCOMMIT_SEED (one seed), LIBCOMMIT_CUT (one step of it).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use libcommit::storage::{CrashMode, DataLoss, DirLoss, SimStorage};
use libcommit::{Database, Options, PageWrite, Pgno, SyncMode};

/// Smallest segment the engine accepts, so a few commits fill one.
const SEGMENT_BYTES: u64 = 64 << 10;
/// Pages each commit writes, and the pages the workload cycles over.
const PAGES_PER_COMMIT: u32 = 3;
const PAGES: u32 = 12;
/// Image length: about six commits per segment.
const IMAGE_BYTES: u32 = 3000;
/// Commits before the checkpoint that retires their segments.
const FIRST_COMMITS: u64 = 40;
/// Commits after it, which reuse the retired segments.
const REUSE_COMMITS: u64 = 30;
const SEEDS: u64 = 3;

fn options(sim: &SimStorage) -> Options {
    Options {
        sync: SyncMode::Full,
        segment_size_bytes: SEGMENT_BYTES,
        checkpoint_threshold_bytes: 0,
        storage: Arc::new(sim.clone()),
        ..Options::default()
    }
}

fn id(seq: u64) -> ImageId {
    ImageId {
        writer: 1,
        counter: seq,
        len: IMAGE_BYTES,
    }
}

/// The pages commit `seq` writes.
fn pages_of(seq: u64) -> impl Iterator<Item = Pgno> {
    let first = (seq * u64::from(PAGES_PER_COMMIT)) % u64::from(PAGES);
    (0..PAGES_PER_COMMIT).map(move |k| 1 + ((first as u32 + k) % PAGES))
}

/// The commit whose image `pgno` holds at `seq` (0: never written).
fn writer_at(pgno: Pgno, seq: u64) -> u64 {
    (1..=seq)
        .rev()
        .find(|&s| pages_of(s).any(|p| p == pgno))
        .unwrap_or(0)
}

fn commit(db: &Database, seq: u64) -> libcommit::Result<u64> {
    let images: Vec<(Pgno, Vec<u8>)> = pages_of(seq).map(|p| (p, image(p, id(seq)))).collect();
    let writes: Vec<PageWrite<'_>> = images.iter().map(|(p, b)| PageWrite::put(*p, b)).collect();
    db.commit_batch(&writes)
}

/// Commits up to `FIRST_COMMITS`, checkpoints, and hands the database
/// back with the retired segments in the recycle pool.
fn setup(path: &Path, sim: &SimStorage) -> Database {
    let db = Database::open(path, options(sim)).expect("open");
    for seq in 1..=FIRST_COMMITS {
        assert_eq!(commit(&db, seq).expect("commit"), seq);
    }
    db.checkpoint().expect("checkpoint");
    db
}

/// Runs the reuse phase until the power goes; returns the last
/// acknowledged commit.
fn reuse(db: &Database) -> u64 {
    let mut acked = FIRST_COMMITS;
    for seq in FIRST_COMMITS + 1..=FIRST_COMMITS + REUSE_COMMITS {
        match commit(db, seq) {
            Ok(s) => {
                assert_eq!(s, seq);
                acked = seq;
            }
            Err(_) => break,
        }
    }
    acked
}

fn check_reopen(path: &Path, sim: &SimStorage, acked: u64) -> Result<u64, String> {
    let db = Database::open(path, options(sim)).map_err(|e| format!("reopen: {e}"))?;
    let last = db.stats().map_err(|e| e.to_string())?.last_commit_seq;
    if last < acked || last > FIRST_COMMITS + REUSE_COMMITS {
        return Err(format!("reopened at {last}, acknowledged {acked}"));
    }
    for pgno in 1..=PAGES {
        let got = db.read(pgno).map_err(|e| format!("read {pgno}: {e}"))?;
        let want = match writer_at(pgno, last) {
            0 => None,
            s => Some(id(s)),
        };
        check_page(pgno, got.as_deref(), want, &format!("reopened at {last}"))?;
    }
    // The log goes on over the reused files after the reopen too.
    commit(&db, last + 1).map_err(|e| format!("commit after reopen: {e}"))?;
    db.close().map_err(|e| e.to_string())?;
    Ok(last)
}

const MODES: [CrashMode; 5] = [
    CrashMode::STRICT,
    CrashMode {
        data: DataLoss::KeepAll,
        dirs: DirLoss::DropUnsynced,
    },
    CrashMode {
        data: DataLoss::DropUnsynced,
        dirs: DirLoss::KeepAll,
    },
    CrashMode {
        data: DataLoss::TearLast,
        dirs: DirLoss::KeepPrefix,
    },
    CrashMode {
        data: DataLoss::KeepRandomSectors,
        dirs: DirLoss::KeepPrefix,
    },
];

/// The uncut run: the steps of the reuse phase, and proof that it did
/// reuse retired files (renamed from a segment name to a temporary one).
fn measure(seed: u64) -> (u64, u64) {
    let path = db_path("recycle", seed, 0);
    let sim = new_sim(seed, &path);
    let db = setup(&path, &sim);
    let start = sim.steps();
    sim.set_trace(true);
    assert_eq!(reuse(&db), FIRST_COMMITS + REUSE_COMMITS);
    let end = sim.steps();
    let recycled = sim
        .trace()
        .iter()
        .filter(|l| l.contains("Rename") && l.contains("-wal-seg-"))
        .count();
    assert!(recycled > 0, "the reuse phase recycled no segment");
    db.close().expect("close");
    (start, end)
}

fn run_cut(seed: u64, start: u64, cut: u64) -> Result<(), String> {
    let mode = MODES[(cut % MODES.len() as u64) as usize];
    let path = db_path("recycle", seed, cut);
    let sim = new_sim(mix(seed, cut), &path);
    let db = setup(&path, &sim);
    // Background work makes step numbers drift a little between runs; the
    // cut is relative to the start of the reuse phase.
    sim.set_crash_at(sim.steps() + (cut - start));
    let acked = reuse(&db);
    drop(db);
    sim.clear_crash_at();
    sim.crash_with(mode);
    check_reopen(&path, &sim, acked)
        .map(|_| ())
        .map_err(|e| format!("seed {seed:#x} cut {cut} ({mode:?}): {e}"))
}

#[test]
fn recycled_segments_never_replay_old_frames() {
    let seeds: Vec<u64> = match replay_seed() {
        Some(s) => vec![s],
        None => (0..SEEDS).map(|i| mix(0x05EC_7C1E, i)).collect(),
    };
    let mut cuts = 0;
    for seed in seeds {
        let (start, end) = measure(seed);
        let only = env_u64("LIBCOMMIT_CUT");
        for cut in start + 1..=end {
            if only.is_some_and(|c| c != cut) {
                continue;
            }
            if let Err(e) = run_cut(seed, start, cut) {
                panic!("{e}");
            }
            cuts += 1;
        }
    }
    say(&format!("recycle: {cuts} power cuts during segment reuse"));
    assert!(cuts > 0);
}
