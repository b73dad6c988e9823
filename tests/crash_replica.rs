//! Crashes with shipping on, then restore equals the model at the
//! replica's tip (and at seqs before it), and the reopened database ships
//! on under a new epoch.
//!
//! The object store cannot live on the simulated disk (object_store
//! writes through the real file system), so the replica is a real
//! `file://` directory in both suites:
//! - kill -9: a child process commits (auto checkpoints, a snapshot after
//!   each) and is SIGKILLed at a random moment, mid-chunk or mid-snapshot;
//!   the database and the replica are real files.
//! - power loss: the database is on the simulated disk; its power is cut
//!   at a random moment while the shipper runs, the disk loses what a
//!   power loss may lose, and the replica (which only ever received
//!   durable commits) must still restore exactly.
//!
//! Environment: LIBCOMMIT_KILLS (kill rounds, default 6),
//! LIBCOMMIT_CUTS (power cuts, default 6), LIBCOMMIT_BASE_SEED.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{base_seed, env_u64, Rng};
use libcommit::storage::SimStorage;
use libcommit::{replica_verify, restore, Database, Options, PageWrite, RestoreTarget};

const CHILD_ENV: &str = "LIBCOMMIT_REPLICA_KILL_CHILD";
const PAGES: u64 = 40;
const WAIT: Duration = Duration::from_secs(30);

/// The page commit `seq` writes, and its image: the model of any seq is
/// a function of the seq alone.
fn write_of(seq: u64) -> (u32, Vec<u8>) {
    let pgno = (seq * 17 % PAGES) as u32 + 1;
    let len = 40 + (seq * 131 % 700) as usize;
    let mut img = format!("seq {seq} page {pgno};").into_bytes();
    img.resize(len, (seq % 251) as u8);
    (pgno, img)
}

fn model_at(seq: u64) -> BTreeMap<u32, Vec<u8>> {
    (1..=seq).map(write_of).collect()
}

fn opts(replica: &str) -> Options {
    Options {
        page_size: 1024,
        replica: Some(replica.to_string()),
        replica_snapshot_interval_ms: 0,
        segment_size_bytes: 64 << 10,
        checkpoint_threshold_bytes: 48 << 10,
        ..Options::default()
    }
}

fn commit_from(db: &Database, first: u64, n: u64) {
    for seq in first..first + n {
        let (pgno, img) = write_of(seq);
        assert_eq!(db.commit_batch(&[PageWrite::put(pgno, &img)]).unwrap(), seq);
    }
}

/// Restores the replica at `seq` (None: latest) and checks every page.
fn check_restore(u: &str, dir: &Path, name: &str, seq: Option<u64>) -> u64 {
    let dest = dir.join(name);
    let target = seq.map_or(RestoreTarget::Latest, RestoreTarget::Seq);
    let r = restore(u, &dest, target).unwrap_or_else(|e| panic!("restore {name}: {e}"));
    // An empty replica restores as an empty database of the default
    // page size.
    let page_size = if r.restored_seq == 0 { 4096 } else { 1024 };
    let db = Database::open(
        &dest,
        Options {
            page_size,
            ..Options::default()
        },
    )
    .unwrap();
    let want = model_at(r.restored_seq);
    for pgno in 1..=PAGES as u32 {
        let got = db.read(pgno).unwrap();
        assert_eq!(
            got.as_deref(),
            want.get(&pgno).map(|v| &v[..]),
            "{name}: page {pgno}"
        );
    }
    db.close().unwrap();
    r.restored_seq
}

/// Child: commits from the database's next seq on, forever, printing
/// "ack SEQ" after each.
fn child_main(path: &str, u: &str) {
    let db = Database::open(path, opts(u)).unwrap();
    let mut seq = db.stats().unwrap().last_commit_seq + 1;
    loop {
        commit_from(&db, seq, 1);
        println!("ack {seq}");
        seq += 1;
    }
}

#[test]
fn replica_kill_child_entry() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (path, u) = spec.split_once('|').unwrap();
        child_main(path, u);
    }
}

#[test]
fn kill9_of_the_shipping_process_then_restore_equals_the_model() {
    let kills = env_u64("LIBCOMMIT_KILLS").unwrap_or(6);
    let mut rng = Rng::new(base_seed(0x5eed_0f4e));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db");
    let u = format!("file://{}", dir.path().join("replica").display());
    let mut acked = 0;
    for kill in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "replica_kill_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{}|{u}", path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stop_after = 50 + rng.below(400);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        while seen < stop_after {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(s) = line.strip_prefix("ack ") {
                acked = s.parse().unwrap();
                seen += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // What the replica has restores exactly, at its tip and before.
        replica_verify(&u).unwrap_or_else(|e| panic!("kill {kill}: verify: {e}"));
        let tip = check_restore(&u, dir.path(), &format!("k{kill}"), None);
        assert!(
            tip <= acked + 1,
            "kill {kill}: replica at {tip}, acked {acked}"
        );
        if tip > 0 {
            let at = 1 + rng.below(tip);
            assert_eq!(
                check_restore(&u, dir.path(), &format!("k{kill}-{at}"), Some(at)),
                at
            );
        }
    }
    // The database ships on after the last kill, to its own tip.
    let db = Database::open(&path, opts(&u)).unwrap();
    let last = db.stats().unwrap().last_commit_seq;
    assert!(last >= acked);
    commit_from(&db, last + 1, 3);
    assert!(
        db.wait_replicated(last + 3, WAIT).unwrap(),
        "{:?}",
        db.replica_status()
    );
    db.close().unwrap();
    assert_eq!(check_restore(&u, dir.path(), "final", None), last + 3);
}

#[test]
fn power_loss_while_shipping_then_restore_equals_the_model() {
    let cuts = env_u64("LIBCOMMIT_CUTS").unwrap_or(6);
    let base = base_seed(0xc0ff_ee00);
    for cut in 0..cuts {
        let seed = base + cut;
        let mut rng = Rng::new(seed);
        let sim = SimStorage::new(seed);
        sim.create_dir_all("/d");
        let dir = tempfile::tempdir().unwrap();
        let u = format!("file://{}", dir.path().join("replica").display());
        let o = Options {
            storage: Arc::new(sim.clone()),
            ..opts(&u)
        };
        let db = Database::open("/d/p.db", o.clone()).unwrap();
        let n = 20 + rng.below(200);
        let mut acked = 0;
        for seq in 1..=n {
            let (pgno, img) = write_of(seq);
            assert_eq!(db.commit_batch(&[PageWrite::put(pgno, &img)]).unwrap(), seq);
            acked = seq;
            if rng.below(60) == 0 {
                db.checkpoint().unwrap();
            }
            if rng.below(40) == 0 {
                // Sometimes let the shipper catch up (or be mid-upload).
                db.wait_replicated(seq, Duration::from_millis(rng.below(50)))
                    .unwrap();
            }
        }
        sim.power_off();
        drop(db.close());
        let mode = sim.crash();
        replica_verify(&u).unwrap_or_else(|e| panic!("seed {seed} ({mode:?}): verify: {e}"));
        let tip = check_restore(&u, dir.path(), "tip", None);
        assert!(tip <= acked, "seed {seed}: replica at {tip}, acked {acked}");
        if tip > 0 {
            let at = 1 + rng.below(tip);
            assert_eq!(check_restore(&u, dir.path(), "before", Some(at)), at);
        }
        // Sync FULL kept every acknowledged commit: the database is at
        // least at the replica's tip, takes a new epoch and ships on.
        let db = Database::open("/d/p.db", o).unwrap();
        let last = db.stats().unwrap().last_commit_seq;
        assert!(
            last >= acked,
            "seed {seed}: reopened at {last}, acked {acked}"
        );
        commit_from(&db, last + 1, 2);
        assert!(
            db.wait_replicated(last + 2, WAIT).unwrap(),
            "seed {seed}: {:?}",
            db.replica_status()
        );
        db.close().unwrap();
        assert_eq!(
            check_restore(&u, dir.path(), "after", None),
            last + 2,
            "seed {seed}"
        );
    }
}
