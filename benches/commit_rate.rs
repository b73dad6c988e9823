//! Durable small commits beside the disk's own limit.
//!
//! Prints commits/s and p50/p99 latency for 1-page 4 KiB commits with sync
//! FULL at 1, 4, 16 and 64 threads, next to a bare loop of 4 KiB
//! overwrite + fdatasync on a pre-written file (the best a single
//! committer can do) and an ideal leader/follower group commit on the same
//! file. Run: `cargo bench --bench commit_rate -- [SECONDS] [DIR] [wal|native]
//! [PAGES_PER_COMMIT] [CHECKPOINT_MIB]`.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use libcommit::{CommitMode, Database, Options, PageWrite};

const PAGE_BYTES: usize = 4096;
const RAW_FILE_PAGES: u64 = 4096;
const THREAD_COUNTS: [usize; 4] = [1, 4, 16, 64];

struct Point {
    ops: u64,
    secs: f64,
    lat_us: Vec<u64>,
}

impl Point {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    fn pct(&mut self, p: f64) -> u64 {
        self.lat_us.sort_unstable();
        if self.lat_us.is_empty() {
            return 0;
        }
        let i = ((self.lat_us.len() as f64 * p) as usize).min(self.lat_us.len() - 1);
        self.lat_us[i]
    }
}

fn prewritten(path: &Path) -> std::fs::File {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    let block = vec![0x5au8; 1 << 20];
    let total = RAW_FILE_PAGES * PAGE_BYTES as u64;
    let mut off = 0;
    while off < total {
        f.write_all_at(&block, off).unwrap();
        off += block.len() as u64;
    }
    f.sync_all().unwrap();
    f
}

/// One thread: overwrite a 4 KiB block, fdatasync, repeat.
fn raw_overwrite(dir: &Path, secs: f64) -> Point {
    let f = prewritten(&dir.join("raw-overwrite"));
    let page = vec![1u8; PAGE_BYTES];
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut lat = Vec::new();
    let mut i = 0u64;
    while Instant::now() < deadline {
        let t = Instant::now();
        f.write_all_at(&page, (i % RAW_FILE_PAGES) * PAGE_BYTES as u64)
            .unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed().as_micros() as u64);
        i += 1;
    }
    Point {
        ops: i,
        secs: start.elapsed().as_secs_f64(),
        lat_us: lat,
    }
}

/// `threads` writers append 4 KiB records to a pre-written file; the first
/// waiter with no sync in flight syncs for everyone written so far.
fn raw_group_commit(dir: &Path, threads: usize, secs: f64) -> Point {
    struct St {
        written: u64,
        durable: u64,
        flushing: bool,
    }
    let f = Arc::new(prewritten(&dir.join("raw-group")));
    let next = Arc::new(AtomicU64::new(0));
    let st = Arc::new((
        Mutex::new(St {
            written: 0,
            durable: 0,
            flushing: false,
        }),
        Condvar::new(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (f, next, st, stop) = (f.clone(), next.clone(), st.clone(), stop.clone());
            std::thread::spawn(move || {
                let page = vec![2u8; PAGE_BYTES];
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let slot = next.fetch_add(1, Ordering::Relaxed);
                    f.write_all_at(&page, (slot % RAW_FILE_PAGES) * PAGE_BYTES as u64)
                        .unwrap();
                    let (m, cv) = &*st;
                    let mut g = m.lock().unwrap();
                    // Slots complete out of order; count completions, which
                    // is what a sync then covers.
                    g.written += 1;
                    let mine = g.written;
                    while g.durable < mine {
                        if !g.flushing {
                            g.flushing = true;
                            let target = g.written;
                            drop(g);
                            f.sync_data().unwrap();
                            g = m.lock().unwrap();
                            g.durable = target;
                            g.flushing = false;
                            cv.notify_all();
                        } else {
                            g = cv.wait(g).unwrap();
                        }
                    }
                    drop(g);
                    lat.push(t.elapsed().as_micros() as u64);
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().unwrap());
    }
    Point {
        ops: lat.len() as u64,
        secs: start.elapsed().as_secs_f64(),
        lat_us: lat,
    }
}

fn libcommit_w1(
    dir: &Path,
    threads: usize,
    secs: f64,
    mode: CommitMode,
    pages: usize,
    checkpoint_threshold_bytes: u64,
) -> Point {
    let path = dir.join(format!("w1-{mode:?}-{pages}-{threads}.db"));
    let opts = Options {
        commit_mode: mode,
        checkpoint_threshold_bytes,
        ..Options::default()
    };
    let db = Database::open(&path, opts).unwrap();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let mut lat = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (db, stop) = (&db, &stop);
                s.spawn(move || {
                    let mut images = vec![vec![0u8; PAGE_BYTES]; pages];
                    let mut lat = Vec::new();
                    let mut x = t as u64 * 2654435761 + 1;
                    while !stop.load(Ordering::Relaxed) {
                        let mut pgnos = Vec::with_capacity(pages);
                        for img in images.iter_mut() {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            pgnos.push(1 + (x % 100_000) as u32);
                            img[..8].copy_from_slice(&x.to_le_bytes());
                        }
                        let batch: Vec<PageWrite> = pgnos
                            .iter()
                            .zip(&images)
                            .map(|(&p, d)| PageWrite::put(p, d))
                            .collect();
                        let t0 = Instant::now();
                        db.commit_batch(&batch).unwrap();
                        lat.push(t0.elapsed().as_micros() as u64);
                    }
                    lat
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            lat.extend(h.join().unwrap());
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let stats = db.stats().unwrap();
    assert_eq!(stats.commits, lat.len() as u64);
    db.close().unwrap();
    Point {
        ops: lat.len() as u64,
        secs,
        lat_us: lat,
    }
}

fn main() {
    // `cargo bench` passes --bench; ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let base: PathBuf = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mode = match args.get(2).map(String::as_str) {
        Some("native") => CommitMode::Native,
        _ => CommitMode::Wal,
    };
    let pages: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    // Automatic checkpoint threshold in MiB (0 = never; default 64).
    let ckpt_mib: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir_in(&base).unwrap();
    println!(
        "durable {pages}-page commits of 4 KiB pages, sync FULL, mode {mode:?}, {secs} s per point, in {}",
        base.display()
    );
    let mut raw = raw_overwrite(dir.path(), secs);
    let raw_rate = raw.rate();
    println!(
        "{:<34} {:>10.0}/s   p50 {:>6} us   p99 {:>6} us",
        "raw 4 KiB overwrite+fdatasync",
        raw_rate,
        raw.pct(0.5),
        raw.pct(0.99)
    );
    println!(
        "{:<10} {:>12} {:>9} {:>9} {:>10} {:>14} {:>9}",
        "threads", "libcommit/s", "p50 us", "p99 us", "x raw", "raw group/s", "x group"
    );
    for &t in &THREAD_COUNTS {
        let mut p = libcommit_w1(dir.path(), t, secs, mode, pages, ckpt_mib << 20);
        let g = raw_group_commit(dir.path(), t, secs);
        println!(
            "{:<10} {:>12.0} {:>9} {:>9} {:>10.2} {:>14.0} {:>9.2}",
            t,
            p.rate(),
            p.pct(0.5),
            p.pct(0.99),
            p.rate() / raw_rate,
            g.rate(),
            p.rate() / g.rate()
        );
    }
}
