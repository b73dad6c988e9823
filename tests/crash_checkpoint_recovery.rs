//! Power loss during checkpoint, during recovery on open, and during
//! offline `recover`.
//!
//! For each seed a random sync-FULL workload leaves a disk whose log holds
//! acknowledged commits not yet checkpointed (the process is then killed,
//! so `close` does not tidy up, and what it left unsynced stays so).
//! Copies of that disk are then cut at *every* I/O step of a checkpoint,
//! of the recovery that `Database::open` runs, and of an offline
//! `recover`; each copy loses power (a random [`CrashMode`]), is reopened,
//! and must hold exactly every acknowledged commit; a second checkpoint
//! and reopen must end in the same state.
//!
//! The same sweep runs with the *process* killed at each step instead:
//! its page cache stays as pending as it was, and another process takes
//! over - opening afterwards, or attached all along and taking the writer
//! lease from the dead holder - and checkpoints; only then does the power
//! fail. Nothing it acted on may have been less durable than it looked.
//!
//! Environment: LIBCOMMIT_SEED (replay one seed), LIBCOMMIT_CKPT_SEEDS
//! (seeds in the run, default 48), LIBCOMMIT_BASE_SEED.

mod common;

use std::path::Path;

use common::*;
use libcommit::storage::SimStorage;
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
    let writer = sim.spawn_process();
    let mut driver = Driver::new(cfg);
    let db =
        Database::open(&path, driver.cfg.options(&writer)).map_err(|e| format!("open: {e}"))?;
    driver
        .run(&db)
        .map_err(|s| format!("{} failed: {}", s.op, s.err))?;
    if let Some(a) = driver.anomalies.first() {
        return Err(a.clone());
    }
    driver.abort_all();
    // The process dies: nothing of close runs, and what it wrote stays in
    // the page cache exactly as unsynced as it was.
    writer.kill_process();
    drop(db);
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

/// How a step of the phase is interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// The power fails.
    Power,
    /// The phase's process is killed; another one, opening afterwards,
    /// checkpoints; then the power fails.
    KillThenOpen,
    /// The phase's process is killed; another one, attached since before
    /// the phase began, takes the lease from it and checkpoints; then the
    /// power fails.
    KillWhileAttached,
}

/// Cuts `phase` at each of its steps as `cut` says; returns the cuts made.
fn cut_every_step(
    path: &Path,
    base: &Base,
    phase: Phase,
    cut: Cut,
    seed: u64,
    anomalies: &mut Anomalies,
) -> u64 {
    let replay = format!(
        "LIBCOMMIT_SEED={seed:#x} cargo test --release --test crash_checkpoint_recovery ({phase:?} {cut:?})"
    );
    let attached = |sim: &SimStorage| -> Result<Option<(SimStorage, Database)>, String> {
        if cut != Cut::KillWhileAttached {
            return Ok(None);
        }
        let view = sim.spawn_process();
        let db = Database::open(path, base.driver.cfg.options(&view))
            .map_err(|e| format!("attached open: {e}"))?;
        Ok(Some((view, db)))
    };
    let probe = base.sim.fork(0);
    let probe_attached = match attached(&probe) {
        Ok(a) => a,
        Err(e) => {
            anomalies.add(&replay, &e);
            return 0;
        }
    };
    let start = probe.steps();
    if let Err(e) = run_phase(path, &probe.spawn_process(), &base.driver, phase) {
        anomalies.add(&replay, &format!("uncut {phase:?} failed: {e}"));
        return 0;
    }
    drop(probe_attached);
    let total = probe.steps();
    let before = match steps_before(path, base, phase) {
        Ok(s) => s,
        Err(e) => {
            anomalies.add(&replay, &e);
            return 0;
        }
    };
    let mut cuts = 0;
    for k in start + before + 1..=total {
        let sim = base.sim.fork(mix(seed, k));
        let other = match attached(&sim) {
            Ok(a) => a,
            Err(e) => {
                anomalies.add(&replay, &e);
                continue;
            }
        };
        let runner = sim.spawn_process();
        match cut {
            Cut::Power => sim.set_crash_at(k),
            Cut::KillThenOpen | Cut::KillWhileAttached => sim.set_kill_at(k),
        }
        let _ = run_phase(path, &runner, &base.driver, phase);
        let fired = match cut {
            Cut::Power => !sim.is_powered(),
            _ => !runner.is_process_alive(),
        };
        if !fired {
            // The phase took fewer steps this time (background work).
            continue;
        }
        cuts += 1;
        if cut != Cut::Power {
            sim.clear_kill_at();
            // Another process takes over and checkpoints on the strength
            // of what it finds - page cache and all.
            let taken = match other {
                Some((_, db)) => db
                    .checkpoint()
                    .map(|_| ())
                    .map_err(|e| format!("checkpoint by the attached process: {e}"))
                    .and_then(|()| db.close().map_err(|e| format!("close: {e}"))),
                None => run_phase(path, &sim.spawn_process(), &base.driver, Phase::Checkpoint),
            };
            if let Err(e) = taken {
                anomalies.add(&replay, &format!("killed at step {k} of {total}: {e}"));
                continue;
            }
        }
        let mode = sim.crash();
        if let Err(e) = check_final(path, &sim, &base.driver) {
            anomalies.add(
                &replay,
                &format!("{cut:?} at step {k} of {total}, then {mode:?}: {e}"),
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
    let (mut kills_then_open, mut kills_while_attached) = (0, 0);
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
        let offline = Phase::OfflineRecover {
            delete_after: seed % 2 == 0,
        };
        let mut sweep = |phase, cut| cut_every_step(&path, &b, phase, cut, seed, &mut anomalies);
        checkpoint_cuts += sweep(Phase::Checkpoint, Cut::Power);
        recovery_cuts += sweep(Phase::OpenRecovery, Cut::Power);
        offline_cuts += sweep(offline, Cut::Power);
        kills_then_open += sweep(Phase::Checkpoint, Cut::KillThenOpen);
        kills_then_open += sweep(Phase::OpenRecovery, Cut::KillThenOpen);
        kills_then_open += sweep(offline, Cut::KillThenOpen);
        kills_while_attached += sweep(Phase::Checkpoint, Cut::KillWhileAttached);
    }
    print_totals(
        suite,
        &[
            (
                "cut_points",
                checkpoint_cuts
                    + recovery_cuts
                    + offline_cuts
                    + kills_then_open
                    + kills_while_attached,
            ),
            ("checkpoint_cuts", checkpoint_cuts),
            ("open_recovery_cuts", recovery_cuts),
            ("offline_recover_cuts", offline_cuts),
            ("kills_then_open", kills_then_open),
            ("kills_while_attached", kills_while_attached),
            ("faults_injected", 0),
            ("flips_tried", 0),
            ("anomalies", anomalies.len() as u64),
        ],
    );
    anomalies.assert_none(suite);
}
