//! Commit throughput with several processes on one database, beside one
//! process with as many threads.
//!
//!   cargo bench --bench multiprocess_rate -- [seconds] [dir] [pages]
//!
//! Runs 1 process x 16 threads, then 1, 2 and 4 processes x 4 threads, each
//! committing `pages`-page 4 KiB commits (sync FULL, blind batches on
//! disjoint pages) for `seconds`; prints commits/s. The binary re-executes
//! itself as the worker processes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libcommit::{Database, Options, PageWrite};

const WORKER_ENV: &str = "LIBCOMMIT_MP_BENCH_WORKER";
const PAGE: usize = 4096;

/// Worker: `threads` threads commit until `seconds` pass; prints the count.
fn worker(path: &str, instance: u32, threads: u32, seconds: f64, pages: u32) {
    let db = Database::open(path, Options::default()).expect("open");
    // Everyone starts together: the parent says go on stdin.
    let mut go = String::new();
    println!("READY");
    std::io::stdin().read_line(&mut go).expect("go");
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (db, stop, total) = (&db, &stop, &total);
            s.spawn(move || {
                let img = vec![t as u8; PAGE];
                let base = (instance * 64 + t) * 1_000_000 + 1;
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let writes: Vec<PageWrite> = (0..pages)
                        .map(|k| PageWrite::put(base + (i * pages + k) % 100_000, &img))
                        .collect();
                    match db.commit_batch(&writes) {
                        Ok(_) => {
                            total.fetch_add(1, Ordering::Relaxed);
                            i += 1;
                        }
                        Err(e) if e.status() == libcommit::Status::Busy => {}
                        Err(e) => panic!("commit: {e}"),
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    println!("COMMITS {}", total.load(Ordering::Relaxed));
    println!("SYNCS {}", db.stats().expect("stats").syncs);
    db.close().expect("close");
}

/// Commits per second, and commits per log fdatasync (all processes).
fn run(dir: &Path, procs: u32, threads: u32, seconds: f64, pages: u32) -> (f64, f64) {
    let path = dir.join(format!("mp-{procs}x{threads}.db"));
    for suffix in ["", "-shm", "-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    // Create it first, so the workers only join.
    Database::open(&path, Options::default())
        .expect("create")
        .close()
        .expect("close");
    let mut children: Vec<_> = (0..procs)
        .map(|i| {
            Command::new(std::env::current_exe().expect("exe"))
                .env(
                    WORKER_ENV,
                    format!("{}|{i}|{threads}|{seconds}|{pages}", path.display()),
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut outs: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("stdout")).lines())
        .collect();
    for o in outs.iter_mut() {
        assert_eq!(o.next().expect("ready").expect("read"), "READY");
    }
    let started = Instant::now();
    for c in children.iter_mut() {
        use std::io::Write;
        writeln!(c.stdin.as_mut().expect("stdin")).expect("go");
    }
    let (mut commits, mut syncs) = (0u64, 0u64);
    for o in outs.iter_mut() {
        for line in o.by_ref() {
            let line = line.expect("read");
            if let Some(n) = line.strip_prefix("COMMITS ") {
                commits += n.parse::<u64>().expect("count");
            }
            if let Some(n) = line.strip_prefix("SYNCS ") {
                syncs += n.parse::<u64>().expect("count");
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64().max(seconds);
    for c in children.iter_mut() {
        assert!(c.wait().expect("wait").success(), "worker failed");
    }
    for suffix in ["", "-shm", "-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut dir_entries = std::fs::read_dir(dir).expect("dir");
    while let Some(Ok(e)) = dir_entries.next() {
        let name = e.file_name();
        if name
            .to_string_lossy()
            .starts_with(&format!("mp-{procs}x{threads}.db"))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
    (
        commits as f64 / elapsed,
        commits as f64 / syncs.max(1) as f64,
    )
}

fn main() {
    if let Ok(spec) = std::env::var(WORKER_ENV) {
        let a: Vec<&str> = spec.split('|').collect();
        worker(
            a[0],
            a[1].parse().expect("instance"),
            a[2].parse().expect("threads"),
            a[3].parse().expect("seconds"),
            a[4].parse().expect("pages"),
        );
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds: f64 = args.first().map_or(3.0, |s| s.parse().expect("seconds"));
    let dir = args
        .get(1)
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let pages: u32 = args.get(2).map_or(1, |s| s.parse().expect("pages"));
    println!(
        "{pages}-page 4 KiB commits, sync FULL, {seconds} s per point, in {}",
        dir.display()
    );
    println!("| processes x threads | commits/s | x 1 process x 16 threads | commits per log fdatasync |");
    println!("|---|---|---|---|");
    let (base, per_sync) = run(&dir, 1, 16, seconds, pages);
    println!("| 1 x 16 | {base:.0} | 1.00 | {per_sync:.1} |");
    for procs in [1u32, 2, 4] {
        let (r, per_sync) = run(&dir, procs, 4, seconds, pages);
        println!("| {procs} x 4 | {r:.0} | {:.2} | {per_sync:.1} |", r / base);
    }
}
