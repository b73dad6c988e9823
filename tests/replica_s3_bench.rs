//! Replication measurements (`make replica-bench`, ignored otherwise):
//! the lag a single sync=full committer sees while shipping to moto,
//! and restore speed from moto and from file://. Results are printed as
//! `replica_bench: ...` lines, quoted in docs/REPLICATION.md.

#[path = "replica_s3/common.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use libcommit::{restore, Database, Options, PageWrite, RestoreTarget, SyncMode};

const W1_SECS: u64 = 10;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Restore benchmark: 1024 commits of 16 pages of 4 KiB = 64 MiB.
const RESTORE_COMMITS: u32 = 1024;
const RESTORE_PAGES: u32 = 16;

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[test]
#[ignore = "a measurement: make replica-bench"]
fn w1_lag_shipping_to_moto() {
    let Some(s) = Server::from_env("LIBCOMMIT_S3", "w1_lag_shipping_to_moto") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        replica: Some(s.url("bench-w1")),
        sync: SyncMode::Full,
        ..Options::default()
    };
    let db = Database::open(dir.path().join("db"), opts).unwrap();
    let page = vec![0x5au8; 4096];
    let done = AtomicBool::new(false);
    let (mut rpo, mut lag, commits) = std::thread::scope(|sc| {
        let sampler = sc.spawn(|| {
            let (mut rpo, mut lag) = (Vec::new(), Vec::new());
            while !done.load(Ordering::Acquire) {
                let st = db.replica_status().unwrap();
                rpo.push(st.oldest_unshipped_ms);
                lag.push(st.lag_commits);
                std::thread::sleep(SAMPLE_EVERY);
            }
            (rpo, lag)
        });
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(W1_SECS) {
            db.commit_batch(&[PageWrite::put(1 + (n % 64) as u32, &page)])
                .unwrap();
            n += 1;
        }
        done.store(true, Ordering::Release);
        let (rpo, lag) = sampler.join().unwrap();
        (rpo, lag, n)
    });
    let t = Instant::now();
    assert!(db
        .wait_replicated(commits, Duration::from_secs(60))
        .unwrap());
    let drain_ms = t.elapsed().as_millis();
    let st = db.replica_status().unwrap();
    db.close().unwrap();
    println!(
        "replica_bench: w1 store=moto secs={W1_SECS} commits={commits} commits_per_s={} samples={} \
         rpo_ms_median={} rpo_ms_max={} lag_commits_median={} lag_commits_max={} chunks={} drain_ms={drain_ms}",
        commits / W1_SECS,
        rpo.len(),
        median(&mut rpo),
        rpo.iter().max().unwrap_or(&0),
        median(&mut lag),
        lag.iter().max().unwrap_or(&0),
        st.chunks_shipped
    );
}

/// Ships 64 MiB to `url`, then restores it; prints the restore's speed.
fn restore_speed(store: &str, url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        replica: Some(url.to_string()),
        sync: SyncMode::Normal,
        ..Options::default()
    };
    let db = Database::open(dir.path().join("db"), opts).unwrap();
    let mut seq = 0;
    for c in 0..RESTORE_COMMITS {
        let imgs: Vec<Vec<u8>> = (0..RESTORE_PAGES)
            .map(|p| vec![(c + p) as u8; 4096])
            .collect();
        let writes: Vec<_> = imgs
            .iter()
            .enumerate()
            .map(|(p, img)| PageWrite::put(c * RESTORE_PAGES + p as u32 + 1, img))
            .collect();
        seq = db.commit_batch(&writes).unwrap();
    }
    assert!(db.wait_replicated(seq, Duration::from_secs(300)).unwrap());
    db.close().unwrap();
    let t = Instant::now();
    let r = restore(url, &dir.path().join("restored"), RestoreTarget::Latest).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(r.restored_seq, seq);
    let mib = r.bytes_read as f64 / f64::from(1u32 << 20);
    println!(
        "replica_bench: restore store={store} mib={mib:.1} objects={} commits={} secs={secs:.2} mib_per_s={:.1}",
        r.objects_read,
        r.commits_applied,
        mib / secs
    );
}

#[test]
#[ignore = "a measurement: make replica-bench"]
fn restore_speed_from_moto_and_file() {
    let dir = tempfile::tempdir().unwrap();
    restore_speed(
        "file",
        &format!("file://{}", dir.path().join("replica").display()),
    );
    if let Some(s) = Server::from_env("LIBCOMMIT_S3", "restore_speed_from_moto") {
        restore_speed("moto", &s.url("bench-restore"));
    }
}
