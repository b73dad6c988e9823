//! Power loss during checkpoint, during recovery on open, and during
//! offline `recover` (issue 3, item 8).
//!
//! For each seed a random sync-FULL workload leaves a disk whose log holds
//! acknowledged commits not yet checkpointed (the process then dies, so
//! `close` does not tidy up). Copies of that disk are then cut at *every*
//! I/O step of a checkpoint, of the recovery that `Database::open` runs,
//! and of an offline `recover`; each copy loses power (a random
//! [`CrashMode`]), is reopened, and must hold exactly every acknowledged
//! commit; a second checkpoint and reopen must end in the same state.
//!
//! Environment: LIBCOMMIT_SEED (replay one seed), LIBCOMMIT_CKPT_SEEDS
//! (seeds in the run, default 48), LIBCOMMIT_BASE_SEED.

mod common;

use std::path::Path;

use common::*;
use libcommit::storage::{CrashMode, SimStorage};
use libcommit::{recover, Database, RecoveryOptions, SyncMode};

const SEEDS_DEFAULT: u64 = 48;

/// A disk with acknowledged, uncheckpointed commits in its log.
struct Base {
    sim: SimStorage,
    driver: Driver,
}

fn base(suite: &str, seed: u64) -> Result<Base, String> {
    let mut cfg = Config::random(seed, SyncMode::Full);
    cfg.checkpoint_threshold_bytes = 0;
    cfg.ops = cfg.ops.max(40);
    let path = db_path(suite, seed, 0);
    let sim = new_sim(seed, &path);
    let mut driver = Driver::new(cfg);
    let db = Database::open(&path, driver.cfg.options(&sim)).map_err(|e| format!("open: {e}"))?;
    driver
        .run(&db)
        .map_err(|s| format!("{} failed: {}", s.op, s.err))?;
    if let Some(a) = driver.anomalies.first() {
        return Err(a.clone());
    }
    driver.abort_all();
    // The process dies: nothing of close runs, the page cache survives.
    sim.power_off();
    drop(db);
    sim.crash_with(CrashMode::PROCESS_CRASH);
    Ok(Base { sim, driver })
}

/// Opens `sim`, checks it holds exactly every acknowledged commit, then
/// checkpoints, reopens and checks again.
fn check_final(path: &Path, sim: &SimStorage, driver: &Driver) -> Result<(), String> {
    let want = driver.model.last_seq();
    let db = Database::open(path, driver.cfg.options(sim)).map_err(|e| format!("reopen: {e}"))?;
    check_prefix(&db, &driver.model, want, want)?;
    db.checkpoint()
        .map_err(|e| format!("checkpoint after reopen: {e}"))?;
    check_state(&db, &driver.model, want)?;
    db.close().map_err(|e| format!("close: {e}"))?;
    let db =
        Database::open(path, driver.cfg.options(sim)).map_err(|e| format!("second reopen: {e}"))?;
    check_prefix(&db, &driver.model, want, want)?;
    check_next_commit(&db, want)?;
    db.close().map_err(|e| format!("close: {e}"))
}

/// What the cut interrupts.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Checkpoint,
    OpenRecovery,
    OfflineRecover { delete_after: bool },
}

/// Runs `phase` on `sim` (already open for Checkpoint: `db`).
fn run_phase(path: &Path, sim: &SimStorage, driver: &Driver, phase: Phase) -> Result<(), String> {
    match phase {
        Phase::Checkpoint => {
            let db =
                Database::open(path, driver.cfg.options(sim)).map_err(|e| format!("open: {e}"))?;
            let r = db.checkpoint().map(|_| ());
            let _ = db.close();
            r.map_err(|e| format!("checkpoint: {e}"))
        }
        Phase::OpenRecovery => Database::open(path, driver.cfg.options(sim))
            .map(|db| {
                let _ = db.close();
            })
            .map_err(|e| format!("open: {e}")),
        Phase::OfflineRecover { delete_after } => recover(
            path,
            RecoveryOptions {
                skip_corrupt: false,
                delete_after,
                storage: std::sync::Arc::new(sim.clone()),
            },
        )
        .map(|_| ())
        .map_err(|e| format!("recover: {e}")),
    }
}

/// Steps before the phase starts (the open that precedes a checkpoint).
fn steps_before(path: &Path, base: &Base, phase: Phase) -> Result<u64, String> {
    if let Phase::Checkpoint = phase {
        let probe = base.sim.fork(1);
        let db = Database::open(path, base.driver.cfg.options(&probe))
            .map_err(|e| format!("open: {e}"))?;
        let steps = probe.steps();
        drop(db);
        return Ok(steps);
    }
    Ok(0)
}

/// Cuts `phase` at each of its steps; returns the cuts made.
fn cut_every_step(
    path: &Path,
    base: &Base,
    phase: Phase,
    seed: u64,
    anomalies: &mut Anomalies,
) -> u64 {
    let replay = format!(
        "LIBCOMMIT_SEED={seed:#x} cargo test --release --test crash_checkpoint_recovery ({phase:?})"
    );
    let probe = base.sim.fork(0);
    if let Err(e) = run_phase(path, &probe, &base.driver, phase) {
        anomalies.add(&replay, &format!("uncut {phase:?} failed: {e}"));
        return 0;
    }
    let total = probe.steps();
    let before = match steps_before(path, base, phase) {
        Ok(s) => s,
        Err(e) => {
            anomalies.add(&replay, &e);
            return 0;
        }
    };
    let mut cuts = 0;
    for k in before + 1..=total {
        let sim = base.sim.fork(mix(seed, k));
        sim.set_crash_at(k);
        let _ = run_phase(path, &sim, &base.driver, phase);
        if sim.is_powered() {
            // The phase took fewer steps this time (background work).
            continue;
        }
        cuts += 1;
        let mode = sim.crash();
        if let Err(e) = check_final(path, &sim, &base.driver) {
            anomalies.add(
                &replay,
                &format!("cut at step {k} of {total}, then {mode:?}: {e}"),
            );
        }
    }
    cuts
}

#[test]
fn crash_during_checkpoint_and_recovery() {
    let suite = "crash_checkpoint_recovery";
    let seeds = env_u64("LIBCOMMIT_CKPT_SEEDS").unwrap_or(scaled(SEEDS_DEFAULT));
    let base_seed = base_seed(0xC4EC);
    let one = replay_seed();
    let mut anomalies = Anomalies::default();
    let (mut checkpoint_cuts, mut recovery_cuts, mut offline_cuts) = (0, 0, 0);
    let seed_list: Vec<u64> = match one {
        Some(s) => vec![s],
        None => (0..seeds).map(|i| mix(base_seed, i)).collect(),
    };
    for seed in seed_list {
        let path = db_path(suite, seed, 0);
        let b = match base(suite, seed) {
            Ok(b) => b,
            Err(e) => {
                anomalies.add(
                    &format!("LIBCOMMIT_SEED={seed:#x}"),
                    &format!("building the disk: {e}"),
                );
                continue;
            }
        };
        if let Err(e) = check_final(&path, &b.sim.fork(2), &b.driver) {
            anomalies.add(&format!("LIBCOMMIT_SEED={seed:#x}"), &format!("uncut: {e}"));
        }
        checkpoint_cuts += cut_every_step(&path, &b, Phase::Checkpoint, seed, &mut anomalies);
        recovery_cuts += cut_every_step(&path, &b, Phase::OpenRecovery, seed, &mut anomalies);
        offline_cuts += cut_every_step(
            &path,
            &b,
            Phase::OfflineRecover {
                delete_after: seed % 2 == 0,
            },
            seed,
            &mut anomalies,
        );
    }
    print_totals(
        suite,
        &[
            ("cut_points", checkpoint_cuts + recovery_cuts + offline_cuts),
            ("checkpoint_cuts", checkpoint_cuts),
            ("open_recovery_cuts", recovery_cuts),
            ("offline_recover_cuts", offline_cuts),
            ("faults_injected", 0),
            ("flips_tried", 0),
            ("anomalies", anomalies.len() as u64),
        ],
    );
    anomalies.assert_none(suite);
}
