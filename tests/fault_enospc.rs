//! Out of disk space: ENOSPC at every N, and a disk
//! that fills up for real.
//!
//! Injected: for each seed and each call kind that can run out of space
//! (writes, allocations, file creations, length changes), the workload
//! runs once per N with the Nth call failing with ENOSPC. Capacity: the
//! disk is limited to a little more than what is in use halfway through
//! the workload, then raised again. Checks:
//! - a caller sees `Error::Full` (never a wrong status), and the commit
//!   it answers left nothing behind: reads show exactly the acknowledged
//!   commits, during the run, after reopening and after a power loss;
//! - reads keep working while the disk is full;
//! - commits succeed again once space is available;
//! - commit_seq stays dense (the driver checks every number).
//!
//! Environment: LIBCOMMIT_SEED (replay one seed; LIBCOMMIT_TARGET and
//! LIBCOMMIT_N pick one case), LIBCOMMIT_FAULT_SEEDS (default 24),
//! LIBCOMMIT_BASE_SEED.

mod common;

use std::path::Path;

use common::*;
use libcommit::storage::{FaultKind, FaultOp, SimStorage};
use libcommit::{Database, Error, PageWrite, SyncMode};

const SEEDS_DEFAULT: u64 = 24;
const NS_PER_TARGET_MAX: u64 = 24;

const TARGETS: &[(&str, FaultOp)] = &[
    ("write", FaultOp::Write),
    ("allocate", FaultOp::Allocate),
    ("create", FaultOp::Create),
    ("set-len", FaultOp::SetLen),
];

#[derive(Default)]
struct Totals {
    cases: u64,
    faults: u64,
    full_errors: u64,
    capacity_cases: u64,
    capacity_refusals: u64,
    reopens: u64,
    known_bug_voided_seqs: u64,
    known_bug_spurious_conflicts: u64,
    known_bug_native_normal: u64,
}

fn workload_config(seed: u64) -> Config {
    let sync = if seed % 3 == 2 {
        SyncMode::Normal
    } else {
        SyncMode::Full
    };
    let mut cfg = Config::random(seed, sync);
    cfg.ops = cfg.ops.clamp(30, 100);
    cfg.checkpoint_percent = cfg.checkpoint_percent.max(3);
    cfg
}

/// A few commits once space is back: each must succeed.
fn commits_work_again(db: &Database, driver: &mut Driver) -> Result<(), String> {
    for i in 0..3u64 {
        let id = ImageId {
            writer: u32::MAX - 2,
            counter: i,
            len: 200,
        };
        let seq = db
            .commit_batch(&[PageWrite::put(11, &image(11, id))])
            .map_err(|e| format!("commit after space came back: {e}"))?;
        let want = driver.model.last_seq() + 1;
        if seq != want {
            return Err(format!(
                "commit after space came back got {seq}, want {want}"
            ));
        }
        driver.model.apply([(11, Some(id))].into_iter().collect());
    }
    Ok(())
}

/// Reopens; the database must hold exactly the acknowledged commits
/// (at least `floor` of them after a power loss).
fn reopen_check(path: &Path, sim: &SimStorage, driver: &Driver, floor: u64) -> Result<(), String> {
    let db = Database::open(path, driver.cfg.options(sim)).map_err(|e| format!("reopen: {e}"))?;
    let last = check_prefix(&db, &driver.model, floor, driver.model.last_seq())?;
    check_next_commit(&db, last)?;
    db.close().map_err(|e| format!("close: {e}"))
}

/// The checks after the workload: reads, new commits, reopen, power loss.
fn after_workload(
    path: &Path,
    sim: &SimStorage,
    db: Database,
    mut driver: Driver,
    seed: u64,
    totals: &mut Totals,
) -> Result<(), String> {
    if let Ok(stats) = db.stats() {
        driver.absorb_voids(stats.last_commit_seq);
    }
    totals.known_bug_voided_seqs += driver.voids_absorbed;
    totals.known_bug_spurious_conflicts += driver.spurious_conflicts;
    check_state(&db, &driver.model, driver.model.last_seq())
        .map_err(|e| format!("reads after ENOSPC: {e}"))?;
    commits_work_again(&db, &mut driver)?;
    driver.abort_all();
    db.close().map_err(|e| format!("close: {e}"))?;
    reopen_check(
        path,
        &sim.fork(mix(seed, 3)),
        &driver,
        driver.model.last_seq(),
    )
    .map_err(|e| format!("reopen without power loss: {e}"))?;
    let floor = match driver.cfg.sync {
        SyncMode::Full => driver.model.last_seq(),
        _ => driver.durable_floor,
    };
    let mode = sim.crash();
    totals.reopens += 2;
    match reopen_check(path, sim, &driver, floor) {
        Err(e) if known_native_normal_bug(driver.cfg.commit_mode, driver.cfg.sync, &e) => {
            totals.known_bug_native_normal += 1;
            Ok(())
        }
        r => r.map_err(|e| format!("reopen after power loss ({mode:?}): {e}")),
    }
}

/// Runs the workload; Full answers are outcomes, anything else stops it.
fn run_expecting_full(db: &Database, driver: &mut Driver) -> Result<(), String> {
    driver.continue_on_full = true;
    let result = driver.run(db);
    if let Some(a) = driver.anomalies.first() {
        return Err(a.clone());
    }
    match result {
        Ok(()) => Ok(()),
        Err(stop) => Err(format!(
            "{} failed with {:?} (out of space must be Error::Full and not fatal)",
            stop.op, stop.err
        )),
    }
}

fn injected_case(
    seed: u64,
    name: &str,
    op: FaultOp,
    n: u64,
    totals: &mut Totals,
) -> Result<(), String> {
    let cfg = workload_config(seed);
    let path = db_path("fault_enospc", seed, n << 8 | op as u64);
    let sim = new_sim(mix(seed, n), &path);
    sim.fail_nth(op, n, FaultKind::Enospc);
    let mut driver = Driver::new(cfg.clone());
    driver.sim = Some(sim.clone());
    totals.cases += 1;
    let db = match Database::open(&path, cfg.options(&sim)) {
        Ok(db) => db,
        Err(Error::Full(_)) => {
            totals.faults += sim.faults_injected();
            // Nothing was created that matters: the next open works.
            let r = reopen_check(&path, &sim, &driver, 0);
            return r.map_err(|e| format!("{name}: after a full disk at open: {e}"));
        }
        Err(e) => return Err(format!("open failed with {e:?}, expected Full")),
    };
    let r = run_expecting_full(&db, &mut driver);
    totals.faults += sim.faults_injected();
    totals.full_errors += driver.full_errors;
    r?;
    // Space is back: a fault that never fired must not fire now.
    sim.clear_faults();
    after_workload(&path, &sim, db, driver, seed, totals)
}

fn capacity_case(seed: u64, totals: &mut Totals) -> Result<(), String> {
    let cfg = workload_config(seed);
    let path = db_path("fault_enospc_capacity", seed, 0);
    let sim = new_sim(mix(seed, 0xCA9), &path);
    let mut driver = Driver::new(cfg.clone());
    driver.sim = Some(sim.clone());
    driver.continue_on_full = true;
    let db = Database::open(&path, cfg.options(&sim)).map_err(|e| format!("open: {e}"))?;
    let all_ops = cfg.ops;
    driver.cfg.ops = all_ops / 3;
    run_expecting_full(&db, &mut driver)?;
    // Fill the disk: a little room, then none.
    let mut r = Rng::new(mix(seed, 0xF11));
    let room = r.below(96 << 10);
    sim.set_capacity_bytes(Some(sim.used_bytes() + room));
    driver.cfg.ops = all_ops * 2 / 3;
    let before = sim.stats().enospc_capacity;
    run_expecting_full(&db, &mut driver)?;
    totals.capacity_refusals += sim.stats().enospc_capacity - before;
    totals.full_errors += driver.full_errors;
    check_state(&db, &driver.model, driver.model.last_seq())
        .map_err(|e| format!("reads with a full disk: {e}"))?;
    // Space comes back.
    sim.set_capacity_bytes(None);
    driver.cfg.ops = all_ops;
    let full_before = driver.full_errors;
    run_expecting_full(&db, &mut driver)?;
    if driver.full_errors > full_before {
        return Err(format!(
            "{} commits still failed with Full after space came back",
            driver.full_errors - full_before
        ));
    }
    totals.capacity_cases += 1;
    after_workload(&path, &sim, db, driver, seed, totals)
}

#[test]
fn out_of_space_at_every_n_and_on_a_full_disk() {
    let seeds = env_u64("LIBCOMMIT_FAULT_SEEDS").unwrap_or(scaled(SEEDS_DEFAULT));
    let base = base_seed(0xE05C);
    let one_target = std::env::var("LIBCOMMIT_TARGET").ok();
    let one_n = env_u64("LIBCOMMIT_N");
    let seed_list: Vec<u64> = match replay_seed() {
        Some(s) => vec![s],
        None => (0..seeds).map(|i| mix(base, i)).collect(),
    };
    let mut totals = Totals::default();
    let mut anomalies = Anomalies::default();
    for seed in seed_list {
        let cfg = workload_config(seed);
        let path = db_path("fault_enospc", seed, u64::MAX);
        let sim = new_sim(seed, &path);
        let mut driver = Driver::new(cfg.clone());
        match Database::open(&path, cfg.options(&sim)) {
            Ok(db) => {
                if let Err(s) = driver.run(&db) {
                    anomalies.add(
                        &format!("LIBCOMMIT_SEED={seed:#x}"),
                        &format!("unfaulted run: {} failed: {}", s.op, s.err),
                    );
                }
                driver.abort_all();
                let _ = db.close();
            }
            Err(e) => anomalies.add(&format!("LIBCOMMIT_SEED={seed:#x}"), &format!("open: {e}")),
        }
        for &(name, op) in TARGETS {
            if one_target.as_deref().is_some_and(|t| t != name) {
                continue;
            }
            let calls = sim.calls(op);
            let ns: Vec<u64> = match one_n {
                Some(n) => vec![n],
                None if calls <= NS_PER_TARGET_MAX => (1..=calls).collect(),
                None => (0..NS_PER_TARGET_MAX)
                    .map(|i| 1 + i * calls / NS_PER_TARGET_MAX)
                    .collect(),
            };
            for n in ns {
                if let Err(e) = injected_case(seed, name, op, n, &mut totals) {
                    anomalies.add(
                        &format!(
                            "LIBCOMMIT_SEED={seed:#x} LIBCOMMIT_TARGET={name} LIBCOMMIT_N={n} cargo test --release --test fault_enospc"
                        ),
                        &e,
                    );
                }
            }
        }
        if one_target.is_none() || one_target.as_deref() == Some("capacity") {
            if let Err(e) = capacity_case(seed, &mut totals) {
                anomalies.add(
                    &format!(
                        "LIBCOMMIT_SEED={seed:#x} LIBCOMMIT_TARGET=capacity cargo test --release --test fault_enospc"
                    ),
                    &e,
                );
            }
        }
    }
    print_totals(
        "fault_enospc",
        &[
            ("cases", totals.cases),
            ("faults_injected", totals.faults + totals.capacity_refusals),
            ("capacity_cases", totals.capacity_cases),
            ("capacity_refusals", totals.capacity_refusals),
            ("full_errors_seen", totals.full_errors),
            ("reopens", totals.reopens),
            ("known_bug_voided_seqs", totals.known_bug_voided_seqs),
            (
                "known_bug_spurious_conflicts",
                totals.known_bug_spurious_conflicts,
            ),
            ("known_bug_native_normal", totals.known_bug_native_normal),
            ("cut_points", 0),
            ("flips_tried", 0),
            ("anomalies", anomalies.len() as u64),
        ],
    );
    anomalies.assert_none("fault_enospc");
}
