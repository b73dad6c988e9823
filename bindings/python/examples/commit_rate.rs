//! The Rust side of tests/python/bench_commits.py: the same workload
//! (1-page 4 KiB commits, sync full, threads sharing one Database, fixed
//! time) straight on the engine, to see what the binding costs.
//!
//! cargo run --release -p libcommit-python --example commit_rate -- [seconds] [threads,...]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use libcommit::{Database, Options, PageWrite};

fn run(dir: &std::path::Path, threads: usize, seconds: f64) -> libcommit::Result<()> {
    let path = dir.join(format!("rate-{threads}.db"));
    let db = Database::open(&path, Options::default())?;
    let image: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let total = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(threads + 1));
    let deadline_after = Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let (db, image, total, start) =
                (db.clone(), image.clone(), total.clone(), start.clone());
            std::thread::spawn(move || -> libcommit::Result<()> {
                start.wait();
                let began = Instant::now();
                let base = index as u32 * 1_000_000 + 1;
                let mut n = 0u32;
                while began.elapsed() < deadline_after {
                    db.commit_batch(&[PageWrite::put(base + n % 1000, &image)])?;
                    n += 1;
                }
                total.fetch_add(u64::from(n), Ordering::Relaxed);
                Ok(())
            })
        })
        .collect();
    let began = Instant::now();
    start.wait();
    for h in handles {
        h.join().expect("worker panicked")?;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let stats = db.stats()?;
    db.close()?;
    let commits = total.load(Ordering::Relaxed);
    println!(
        "threads={threads:>3}  commits/s={:>9.0}  commits={commits:>7}  syncs={:>7}  commits/sync={:.1}",
        commits as f64 / elapsed,
        stats.syncs,
        commits as f64 / stats.syncs.max(1) as f64
    );
    Ok(())
}

fn main() -> libcommit::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(5.0, |s| s.parse().expect("seconds"));
    let threads: Vec<usize> = args.next().map_or(vec![1, 8], |s| {
        s.split(',').map(|t| t.parse().expect("threads")).collect()
    });
    let dir = std::env::temp_dir().join(format!("libcommit-rate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| libcommit::Error::io("create", &dir, e))?;
    println!(
        "libcommit {} (Rust), sync=full, 4 KiB 1-page commits, {}",
        libcommit::VERSION,
        dir.display()
    );
    for t in threads {
        run(&dir, t, seconds)?;
    }
    std::fs::remove_dir_all(&dir).map_err(|e| libcommit::Error::io("remove", &dir, e))?;
    Ok(())
}
