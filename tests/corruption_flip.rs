//! Corruption: flip bytes of a database's files and
//! check that every flip is harmless or detected.
//!
//! A small database (main file with checkpointed pages, WAL segments with
//! later commits) is built once on a simulated disk. Then, for each byte
//! of each file (every byte of the regions holding data, a stride through
//! long runs of zero padding; the small database takes every byte; set
//! LIBCOMMIT_FLIP_SAMPLED=1 for a quicker stride through its zero runs), a
//! copy of the disk gets that byte flipped and:
//! - `Database::open` either fails with `Error::Corrupt`, or opens at a
//!   prefix of the commits (a flip in the last commit looks like a torn
//!   tail) where every read returns exactly the model's image or fails
//!   with `Error::Corrupt` - never wrong bytes;
//! - when open fails, `recover(skip_corrupt)` either fails with Corrupt
//!   or keeps a prefix, names what it did not replay, and the database
//!   then opens at that prefix with correct reads.
//!
//! A larger database gets a random sample of flips.
//!
//! Environment: LIBCOMMIT_FLIP_SAMPLED=1 (stride through zero runs of the
//! small database), LIBCOMMIT_FLIP_SAMPLE
//! (flips on the large database, default 1500), LIBCOMMIT_SEED (replay:
//! with LIBCOMMIT_FILE and LIBCOMMIT_OFFSET for one flip).

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use libcommit::storage::{CrashMode, SimStorage};
use libcommit::{
    recover, CommitMode, CommitSeq, Database, Error, Options, PageWrite, RecoveryOptions,
};

/// Zero runs longer than this are sampled with `ZERO_STRIDE`.
const ZERO_RUN_FULL_BYTES: usize = 64;
const ZERO_STRIDE: usize = 61;
const SAMPLE_DEFAULT: u64 = 1500;

/// A database on a simulated disk and the model of its commits.
struct Built {
    path: PathBuf,
    sim: SimStorage,
    model: Model,
    page_size: u32,
    /// Closed cleanly (the log is sealed): no tail can be torn, so every
    /// damaged commit must be reported, never silently cut.
    sealed: bool,
    commit_mode: CommitMode,
}

fn options(sim: &SimStorage, page_size: u32, commit_mode: CommitMode) -> Options {
    Options {
        page_size,
        commit_mode,
        lanes: 1,
        checkpoint_threshold_bytes: 0,
        segment_size_bytes: 64 << 10,
        storage: Arc::new(sim.clone()),
        ..Options::default()
    }
}

/// `before` commits, a checkpoint, `after` more commits; pages 1..=pages
/// with lengths from empty to full, some deletes (sync FULL). Then the
/// database is closed cleanly, or the process dies (nothing of close
/// runs).
fn build(
    name: &str,
    seed: u64,
    page_size: u32,
    pages: u32,
    (before, after): (u32, u32),
    clean_close: bool,
    commit_mode: CommitMode,
) -> Built {
    let path = db_path(name, seed, 0);
    let sim = new_sim(seed, &path);
    let db = Database::open(&path, options(&sim, page_size, commit_mode)).unwrap();
    let mut r = Rng::new(seed);
    let mut model = Model::default();
    for c in 0..before + after {
        if c == before {
            db.checkpoint().unwrap();
        }
        let mut writes = Writes::new();
        for _ in 0..r.range(1, 4) {
            let pgno = r.range(1, u64::from(pages)) as u32;
            let img = if r.chance(10) {
                None
            } else {
                let len = match r.below(4) {
                    0 => r.below(PAYLOAD_HEADER_BYTES as u64),
                    1 => u64::from(page_size),
                    _ => r.range(PAYLOAD_HEADER_BYTES as u64, u64::from(page_size)),
                } as u32;
                Some(ImageId {
                    writer: c,
                    counter: u64::from(c),
                    len,
                })
            };
            writes.insert(pgno, img);
        }
        let images: Vec<(u32, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(&p, id)| (p, id.map(|id| image(p, id))))
            .collect();
        let batch: Vec<PageWrite<'_>> = images
            .iter()
            .map(|(p, d)| PageWrite {
                pgno: *p,
                data: d.as_deref(),
            })
            .collect();
        let seq = db.commit_batch(&batch).unwrap();
        assert_eq!(seq, model.apply(writes));
    }
    if clean_close {
        db.close().unwrap();
    } else {
        sim.power_off();
        drop(db);
    }
    sim.crash_with(CrashMode::PROCESS_CRASH);
    Built {
        path,
        sim,
        model,
        page_size,
        sealed: clean_close,
        commit_mode,
    }
}

/// What one flip led to.
#[derive(Debug, Default, Clone, Copy)]
struct Outcomes {
    flips: u64,
    harmless: u64,
    /// Opened at an earlier commit (the flip looked like a torn tail).
    truncated: u64,
    /// Reads that failed with Corrupt after a successful open.
    detected_at_read: u64,
    detected_at_open: u64,
    recovered_prefix: u64,
    recover_refused: u64,
}

impl Outcomes {
    fn add(&mut self, o: &Outcomes) {
        self.flips += o.flips;
        self.harmless += o.harmless;
        self.truncated += o.truncated;
        self.detected_at_read += o.detected_at_read;
        self.detected_at_open += o.detected_at_open;
        self.recovered_prefix += o.recovered_prefix;
        self.recover_refused += o.recover_refused;
    }
}

/// Every page reads as at `seq` or fails with Corrupt; returns the
/// number of Corrupt reads.
fn check_reads(db: &Database, model: &Model, seq: CommitSeq) -> Result<u64, String> {
    let mut detected = 0;
    for pgno in model.universe().chain([7777]) {
        match db.read(pgno) {
            Ok(got) => check_page(pgno, got.as_deref(), model.at(pgno, seq), "read")?,
            Err(Error::Corrupt(_)) => detected += 1,
            Err(e) => return Err(format!("read {pgno}: {e:?}")),
        }
    }
    Ok(detected)
}

fn opened_state(
    db: &Database,
    model: &Model,
    sealed: bool,
    out: &mut Outcomes,
) -> Result<CommitSeq, String> {
    let last = db
        .stats()
        .map_err(|e| format!("stats: {e}"))?
        .last_commit_seq;
    if sealed && last < model.last_seq() {
        return Err(format!(
            "opened at {last} of {} commits after a clean shutdown: damage silently cut",
            model.last_seq()
        ));
    }
    if last > model.last_seq() {
        return Err(format!(
            "opened at {last}, past the last commit {}",
            model.last_seq()
        ));
    }
    let detected = check_reads(db, model, last)?;
    out.detected_at_read += detected;
    if last < model.last_seq() {
        out.truncated += 1;
    } else if detected == 0 {
        out.harmless += 1;
    }
    Ok(last)
}

/// One flip on a copy of the disk.
fn one_flip(b: &Built, file: &Path, offset: u64, mask: u8) -> Result<Outcomes, String> {
    let mut out = Outcomes {
        flips: 1,
        ..Outcomes::default()
    };
    let disk = b.sim.fork(offset);
    disk.corrupt_byte(file, offset, mask)
        .map_err(|e| format!("flip: {e}"))?;
    match Database::open(&b.path, options(&disk, b.page_size, b.commit_mode)) {
        Ok(db) => {
            opened_state(&db, &b.model, b.sealed, &mut out)?;
            let _ = db.close();
            return Ok(out);
        }
        Err(Error::Corrupt(_)) => out.detected_at_open += 1,
        Err(e) => return Err(format!("open failed with {e:?}, expected Corrupt")),
    }
    let report = recover(
        &b.path,
        RecoveryOptions {
            skip_corrupt: true,
            delete_after: false,
            storage: Arc::new(disk.clone()),
        },
    );
    let report = match report {
        Ok(r) => r,
        Err(Error::Corrupt(_)) => {
            out.recover_refused += 1;
            return Ok(out);
        }
        Err(e) => return Err(format!("recover(skip_corrupt) failed with {e:?}")),
    };
    let db = Database::open(&b.path, options(&disk, b.page_size, b.commit_mode))
        .map_err(|e| format!("open after recover(skip_corrupt): {e:?}"))?;
    let mut inner = Outcomes::default();
    let last = opened_state(&db, &b.model, false, &mut inner)?;
    out.detected_at_read += inner.detected_at_read;
    let _ = db.close();
    if last != report.last_commit_seq {
        return Err(format!(
            "recover reported commit {} but the database opened at {last}",
            report.last_commit_seq
        ));
    }
    let named =
        !report.partial_segments.is_empty() || report.segments.iter().any(|s| s.dropped.is_some());
    if last < b.model.last_seq() && !named {
        return Err(format!(
            "recover(skip_corrupt) kept commits up to {last} of {} without naming what it dropped",
            b.model.last_seq()
        ));
    }
    out.recovered_prefix += 1;
    Ok(out)
}

/// Offsets to flip in `data`: every byte, except inside long zero runs
/// (sampled) unless `all`.
fn offsets(data: &[u8], all: bool) -> Vec<u64> {
    if all {
        return (0..data.len() as u64).collect();
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let run = data[i..].iter().take_while(|&&b| b == 0).count();
        if run > ZERO_RUN_FULL_BYTES {
            // Both edges in full, the middle sampled.
            let edge = ZERO_RUN_FULL_BYTES / 2;
            out.extend((i..i + edge).map(|o| o as u64));
            out.extend(
                (i + edge..i + run - edge)
                    .step_by(ZERO_STRIDE)
                    .map(|o| o as u64),
            );
            out.extend((i + run - edge..i + run).map(|o| o as u64));
            i += run;
        } else {
            out.push(i as u64);
            i += 1;
        }
    }
    out
}

/// Flips every chosen byte of every database file; returns the totals.
fn flip_files(
    b: &Built,
    name: &str,
    pick: &dyn Fn(&Path, &[u8]) -> Vec<u64>,
    anomalies: &mut Anomalies,
) -> Outcomes {
    let mut total = Outcomes::default();
    let files: Vec<PathBuf> = b
        .sim
        .files()
        .into_iter()
        .filter(|f| !f.to_string_lossy().ends_with("-lock"))
        .collect();
    let one_file = std::env::var("LIBCOMMIT_FILE").ok();
    let one_offset = env_u64("LIBCOMMIT_OFFSET");
    for file in files {
        let fname = file.file_name().unwrap().to_string_lossy().to_string();
        if one_file.as_deref().is_some_and(|f| f != fname) {
            continue;
        }
        let data = b.sim.read_file(&file).unwrap();
        let list = match one_offset {
            Some(o) => vec![o],
            None => pick(&file, &data),
        };
        for offset in list {
            let mask = 1u8 << (offset % 8);
            let result = catch_unwind(AssertUnwindSafe(|| one_flip(b, &file, offset, mask)));
            let replay = format!(
                "{name}: LIBCOMMIT_FILE={fname} LIBCOMMIT_OFFSET={offset} cargo test --release --test corruption_flip"
            );
            match result {
                Ok(Ok(o)) => total.add(&o),
                Ok(Err(e)) => {
                    total.flips += 1;
                    anomalies.add(
                        &replay,
                        &format!("flip of byte {offset} (^{mask:#04x}): {e}"),
                    );
                }
                Err(_) => {
                    total.flips += 1;
                    anomalies.add(&replay, &format!("flip of byte {offset}: PANIC"));
                }
            }
        }
    }
    total
}

fn report(name: &str, o: &Outcomes, anomalies: &Anomalies) {
    print_totals(
        name,
        &[
            ("flips_tried", o.flips),
            ("harmless", o.harmless),
            ("truncated_tail", o.truncated),
            ("detected_at_open", o.detected_at_open),
            ("detected_at_read", o.detected_at_read),
            ("recovered_prefix", o.recovered_prefix),
            ("recover_refused", o.recover_refused),
            ("cut_points", 0),
            ("faults_injected", 0),
            ("anomalies", anomalies.len() as u64),
        ],
    );
}

fn small_database(clean_close: bool, commit_mode: CommitMode) {
    // NATIVE runs take the stride through zero runs (its files are
    // mostly preallocated zeros), WAL runs every byte.
    let all = std::env::var_os("LIBCOMMIT_FLIP_SAMPLED").is_none()
        && !cfg!(debug_assertions)
        && commit_mode == CommitMode::Wal;
    let seed = replay_seed().unwrap_or(0x5EED_F11B);
    let name = match (commit_mode, clean_close) {
        (CommitMode::Native, _) => "corruption_flip_small_native",
        (_, true) => "corruption_flip_small_closed",
        (_, false) => "corruption_flip_small_crashed",
    };
    let b = build(name, seed, 512, 12, (6, 6), clean_close, commit_mode);
    let mut anomalies = Anomalies::default();
    let o = flip_files(&b, name, &|_, data| offsets(data, all), &mut anomalies);
    report(name, &o, &anomalies);
    anomalies.assert_none(name);
}

#[test]
fn flip_every_byte_of_a_small_crashed_database() {
    small_database(false, CommitMode::Wal);
}

#[test]
fn flip_every_byte_of_a_small_closed_database() {
    small_database(true, CommitMode::Wal);
}

#[test]
fn flip_the_bytes_of_a_small_native_database() {
    small_database(true, CommitMode::Native);
}

#[test]
fn flip_a_sample_of_a_large_database() {
    let seed = replay_seed().unwrap_or(0x1A26_E5EE);
    let flips = env_u64("LIBCOMMIT_FLIP_SAMPLE").unwrap_or(scaled(SAMPLE_DEFAULT));
    let b = build(
        "corruption_large",
        seed,
        4096,
        400,
        (120, 100),
        seed % 2 == 0,
        CommitMode::Wal,
    );
    let total_bytes: u64 = b
        .sim
        .files()
        .iter()
        .map(|f| b.sim.read_file(f).unwrap().len() as u64)
        .sum();
    let mut anomalies = Anomalies::default();
    let per_byte = flips as f64 / total_bytes.max(1) as f64;
    let o = flip_files(
        &b,
        "large",
        &|file, data| {
            let mut r = Rng::new(mix(seed, data.len() as u64 ^ file.as_os_str().len() as u64));
            let n = ((data.len() as f64 * per_byte).ceil() as u64).max(1);
            (0..n).map(|_| r.below(data.len() as u64)).collect()
        },
        &mut anomalies,
    );
    report("corruption_flip_large", &o, &anomalies);
    anomalies.assert_none("corruption_flip_large");
}
