//! Power loss under real concurrency: several threads commit at once (so
//! group commit gathers them), a checkpointing thread runs beside them,
//! and the power is cut at a random I/O step.
//!
//! Threads own disjoint pages and every image names its thread and the
//! thread's commit counter, so after the reopen each thread's pages must
//! show a prefix of that thread's commits: every acknowledged commit with
//! seq <= L (all of them under sync FULL), none above L, and at most the
//! one commit that was in flight when the power went. The number of
//! commits present must be exactly L (no gap), and the next commit gets
//! L + 1.
//!
//! A third of the cases kill the *process* at the step instead: what its
//! threads wrote stays in the page cache as unsynced as it was; a second
//! process opens (recovering the log), commits from a thread of its own
//! and checkpoints; then the power fails or the unsynced data vanishes
//! without a reboot, and the same checks run over both processes'
//! commits.
//!
//! Thread interleaving is not replayable; a failing case prints its seed
//! and cut so the disk-level choices (crash mode, sectors kept) replay,
//! and the same cut usually finds the same bug.
//!
//! Environment: LIBCOMMIT_CONCURRENT_CASES (default 1200),
//! LIBCOMMIT_SEED (one seed), LIBCOMMIT_BASE_SEED.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use libcommit::storage::{CrashMode, SimStorage};
use libcommit::{CommitMode, CommitSeq, Database, Error, Options, PageWrite, Pgno, SyncMode};

const CASES_DEFAULT: u64 = 1200;
const PAGES_PER_THREAD: u32 = 24;

/// One thread's commits: (seq if acknowledged, writes).
type Log = Vec<(Option<CommitSeq>, Writes)>;

#[derive(Clone, Debug)]
struct Setup {
    seed: u64,
    threads: u32,
    commits_per_thread: u32,
    sync: SyncMode,
    lanes: u32,
    flush_delay_us: u32,
    checkpointer: bool,
    page_size: u32,
    commit_mode: CommitMode,
}

impl Setup {
    fn random(seed: u64) -> Setup {
        let mut r = Rng::new(mix(seed, 0xC0C));
        Setup {
            seed,
            threads: r.range(2, 8) as u32,
            commits_per_thread: r.range(5, 30) as u32,
            sync: if r.chance(70) {
                SyncMode::Full
            } else {
                SyncMode::Normal
            },
            lanes: *r.pick(&[0, 1, 2, 4]),
            flush_delay_us: *r.pick(&[0, 0, 20, 200]),
            checkpointer: r.chance(60),
            page_size: *r.pick(&[512, 1024, 4096]),
            commit_mode: if r.chance(30) {
                CommitMode::Native
            } else {
                CommitMode::Wal
            },
        }
    }

    fn options(&self, sim: &SimStorage) -> Options {
        Options {
            page_size: self.page_size,
            sync: self.sync,
            commit_mode: self.commit_mode,
            lanes: self.lanes,
            max_flush_delay_us: self.flush_delay_us,
            checkpoint_threshold_bytes: 96 << 10,
            segment_size_bytes: 64 << 10,
            storage: Arc::new(sim.clone()),
            ..Options::default()
        }
    }
}

fn thread_pages(t: u32) -> std::ops::RangeInclusive<Pgno> {
    let first = 1 + t * 1000;
    first..=first + PAGES_PER_THREAD - 1
}

/// Runs every thread until done or the power goes. Returns each
/// thread's commits and the number of checkpoints that succeeded, with
/// the highest checkpoint_seq.
fn run_threads(db: &Database, setup: &Setup) -> (Vec<Log>, CommitSeq) {
    let logs: Vec<Arc<Mutex<Log>>> = (0..setup.threads)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let checkpointed = Arc::new(Mutex::new(0));
    std::thread::scope(|s| {
        for t in 0..setup.threads {
            let log = Arc::clone(&logs[t as usize]);
            let db = db.clone();
            let setup = setup.clone();
            s.spawn(move || {
                let mut r = Rng::new(mix(setup.seed, u64::from(t)));
                for k in 0..setup.commits_per_thread {
                    let mut writes = Writes::new();
                    for _ in 0..r.range(1, 6) {
                        let pgno =
                            *thread_pages(t).start() + r.below(u64::from(PAGES_PER_THREAD)) as u32;
                        let len =
                            r.range(PAYLOAD_HEADER_BYTES as u64, u64::from(setup.page_size)) as u32;
                        writes.insert(
                            pgno,
                            Some(ImageId {
                                writer: t,
                                counter: u64::from(k),
                                len,
                            }),
                        );
                    }
                    let images: Vec<(Pgno, Vec<u8>)> = writes
                        .iter()
                        .map(|(&p, id)| (p, image(p, id.unwrap())))
                        .collect();
                    let batch: Vec<PageWrite<'_>> =
                        images.iter().map(|(p, d)| PageWrite::put(*p, d)).collect();
                    match db.commit_batch(&batch) {
                        Ok(seq) => log.lock().unwrap().push((Some(seq), writes)),
                        Err(_) => {
                            log.lock().unwrap().push((None, writes));
                            return;
                        }
                    }
                }
            });
        }
        if setup.checkpointer {
            let db = db.clone();
            let checkpointed = Arc::clone(&checkpointed);
            s.spawn(move || {
                for _ in 0..4 {
                    match db.checkpoint() {
                        Ok(r) => {
                            let mut c = checkpointed.lock().unwrap();
                            *c = (*c).max(r.checkpoint_seq);
                        }
                        Err(_) => return,
                    }
                    std::thread::yield_now();
                }
            });
        }
    });
    let logs = logs
        .into_iter()
        .map(|l| std::mem::take(&mut *l.lock().unwrap()))
        .collect();
    let c = *checkpointed.lock().unwrap();
    (logs, c)
}

/// The state of one thread's pages after its commits `upto` (a count).
fn thread_state(log: &Log, upto: usize) -> BTreeMap<Pgno, ImageId> {
    let mut state = BTreeMap::new();
    for (_, w) in &log[..upto] {
        for (&p, id) in w {
            state.insert(p, id.unwrap());
        }
    }
    state
}

/// Checks the reopened database against the threads' logs; returns L.
fn check(db: &Database, logs: &[Log], floor: CommitSeq) -> Result<CommitSeq, String> {
    let last = db
        .stats()
        .map_err(|e| format!("stats: {e}"))?
        .last_commit_seq;
    if last < floor {
        return Err(format!(
            "LOST COMMITS: reopened at {last}, {floor} were durable"
        ));
    }
    let mut present_total = 0u64;
    for (t, log) in logs.iter().enumerate() {
        // Acknowledged commits at or below L must be there, none above.
        let acked_upto = log
            .iter()
            .take_while(|(seq, _)| seq.is_some_and(|s| s <= last))
            .count();
        let mut actual = BTreeMap::new();
        for pgno in thread_pages(t as u32) {
            let got = db.read(pgno).map_err(|e| format!("read {pgno}: {e}"))?;
            if let Some(bytes) = got {
                let id = verify_image(pgno, &bytes)
                    .map_err(|e| format!("WRONG BYTES: {e}"))?
                    .ok_or_else(|| format!("page {pgno}: short image"))?;
                actual.insert(pgno, id);
            }
        }
        let without = thread_state(log, acked_upto);
        // The one unacknowledged commit after them may also be there.
        let next_in_doubt = log.get(acked_upto).is_some_and(|(seq, _)| seq.is_none());
        if actual == without {
            present_total += acked_upto as u64;
        } else if next_in_doubt && actual == thread_state(log, acked_upto + 1) {
            present_total += acked_upto as u64 + 1;
        } else {
            return Err(format!(
                "thread {t}: pages are not a prefix of its commits (acknowledged <= {last}: {acked_upto} of {}; in flight: {next_in_doubt})",
                log.len()
            ));
        }
    }
    if present_total != last {
        return Err(format!(
            "GAP or PARTIAL: reopened at {last} but {present_total} commits are present"
        ));
    }
    Ok(last)
}

/// One cut; returns whether the cut actually came during the run.
fn one_case(setup: &Setup, cut: u64) -> Result<(bool, bool), String> {
    let path = db_path("crash_concurrent", setup.seed, cut);
    let sim = new_sim(mix(setup.seed, cut), &path);
    let mut r = Rng::new(mix(setup.seed, cut ^ 0x51));
    let compound = r.chance(33);
    let first = sim.spawn_process();
    if compound {
        sim.set_kill_at(cut);
    } else {
        sim.set_crash_at(cut);
    }
    let (mut logs, checkpointed) = match Database::open(&path, setup.options(&first)) {
        Ok(db) => {
            let r = run_threads(&db, setup);
            let _ = db.close();
            r
        }
        Err(_) => ((0..setup.threads).map(|_| Vec::new()).collect(), 0),
    };
    sim.clear_kill_at();
    let fired = if compound {
        !first.is_process_alive()
    } else {
        !sim.is_powered()
    };
    let mut acked_max = acked(&logs);
    let mut floor_power = match setup.sync {
        SyncMode::Full => acked_max,
        _ => checkpointed,
    };
    if compound {
        // An answer may have come back after the kill (its bytes were
        // written before it): the page cache holds them, and the second
        // process opens after the first is gone, so it counts.
        let second = sim.spawn_process();
        let db = Database::open(&path, setup.options(&second))
            .map_err(|e| format!("open after the kill: {e}"))?;
        let recovered = check(&db, &logs, acked_max).map_err(|e| format!("after the kill: {e}"))?;
        // Its recovery made what it found durable before building on it.
        floor_power = floor_power.max(recovered);
        let mut own: Log = Vec::new();
        let t = setup.threads;
        for k in 0..r.range(1, 6) as u32 {
            let pgno = *thread_pages(t).start() + k;
            let id = ImageId {
                writer: t,
                counter: u64::from(k),
                len: PAYLOAD_HEADER_BYTES as u32 + 8,
            };
            let img = image(pgno, id);
            let seq = db
                .commit_batch(&[PageWrite::put(pgno, &img)])
                .map_err(|e| format!("second process commit: {e}"))?;
            let mut w = Writes::new();
            w.insert(pgno, Some(id));
            own.push((Some(seq), w));
        }
        let report = db
            .checkpoint()
            .map_err(|e| format!("second process checkpoint: {e}"))?;
        db.close()
            .map_err(|e| format!("second process close: {e}"))?;
        logs.push(own);
        acked_max = acked(&logs);
        floor_power = match setup.sync {
            SyncMode::Full => acked_max,
            // NORMAL's clean close synced everything.
            SyncMode::Normal => acked_max,
            SyncMode::Off => floor_power.max(report.checkpoint_seq),
        };
    }
    let process_only = !compound && r.chance(15);
    let lost_in_boot = compound && r.chance(35);
    let (mode, floor) = if process_only {
        sim.crash_with(CrashMode::PROCESS_CRASH);
        (CrashMode::PROCESS_CRASH, acked_max)
    } else if lost_in_boot {
        let mode = sim.random_crash_mode();
        sim.lose_in_boot(mode);
        (mode, floor_power)
    } else {
        (sim.crash(), floor_power)
    };
    let opened = if lost_in_boot {
        open_after_loss_in_boot(&path, setup.options(&sim.spawn_process()), setup.sync)
            .map(|(db, _)| db)
            .map_err(Error::Corrupt)
    } else {
        Database::open(&path, setup.options(&sim.spawn_process()))
    };
    let db = match opened {
        Ok(db) => db,
        Err(e) if known_native_normal_bug(setup.commit_mode, setup.sync, &e.to_string()) => {
            return Ok((false, compound));
        }
        Err(e) => return Err(format!("reopen ({mode:?}, compound: {compound}): {e}")),
    };
    let last =
        check(&db, &logs, floor).map_err(|e| format!("{e} ({mode:?}, compound: {compound})"))?;
    check_next_commit(&db, last)?;
    db.close().map_err(|e| format!("close: {e}"))?;
    Ok((fired, compound))
}

/// The highest acknowledged commit in `logs`.
fn acked(logs: &[Log]) -> CommitSeq {
    logs.iter()
        .flat_map(|l| l.iter().filter_map(|(s, _)| *s))
        .max()
        .unwrap_or(0)
}

#[test]
fn power_loss_with_concurrent_committers() {
    let cases = env_u64("LIBCOMMIT_CONCURRENT_CASES").unwrap_or(scaled(CASES_DEFAULT));
    let base = base_seed(0xC0C0);
    let mut anomalies = Anomalies::default();
    let (mut cuts, mut cases_run, mut kills) = (0u64, 0u64, 0u64);
    let seeds: Vec<u64> = match replay_seed() {
        Some(s) => vec![s],
        None => (0..cases.div_ceil(4)).map(|i| mix(base, i)).collect(),
    };
    let one_cut = env_u64("LIBCOMMIT_CUT");
    for seed in seeds {
        let setup = Setup::random(seed);
        // An uncut run for the step count (it varies with the
        // interleaving; cuts past the end simply do not fire).
        let path = db_path("crash_concurrent", seed, 0);
        let sim = new_sim(seed, &path);
        match Database::open(&path, setup.options(&sim)) {
            Ok(db) => {
                let (logs, _) = run_threads(&db, &setup);
                if let Some((t, _)) = logs
                    .iter()
                    .enumerate()
                    .find(|(_, l)| l.iter().any(|(s, _)| s.is_none()))
                {
                    anomalies.add(
                        &format!("LIBCOMMIT_SEED={seed:#x}"),
                        &format!("uncut run: thread {t} failed"),
                    );
                }
                let _ = db.close();
            }
            Err(e) => anomalies.add(&format!("LIBCOMMIT_SEED={seed:#x}"), &format!("open: {e}")),
        }
        let steps = sim.steps();
        let mut r = Rng::new(mix(seed, 0xC07));
        let list: Vec<u64> = match one_cut {
            Some(c) => vec![c],
            None => (0..4).map(|_| r.range(1, steps.max(1))).collect(),
        };
        for cut in list {
            cases_run += 1;
            let result = one_case(&setup, cut);
            if let Ok((true, compound)) = result {
                cuts += 1;
                kills += u64::from(compound);
            }
            if let Err(e) = result {
                anomalies.add(
                    &format!(
                        "LIBCOMMIT_SEED={seed:#x} LIBCOMMIT_CUT={cut} cargo test --release --test crash_concurrent {setup:?}"
                    ),
                    &e,
                );
            }
        }
    }
    print_totals(
        "crash_concurrent",
        &[
            ("cut_points", cuts),
            ("cases", cases_run),
            ("process_kills", kills),
            ("faults_injected", 0),
            ("flips_tried", 0),
            ("anomalies", anomalies.len() as u64),
        ],
    );
    anomalies.assert_none("crash_concurrent");
}
