//! `lcctl bench`: durable 4 KiB one-page commits (sync FULL) from T threads
//! for S seconds, beside the raw rate of the device underneath: one thread
//! overwriting 4 KiB of a pre-written file and calling fdatasync, in the
//! same directory. The ratio says how much of the device's sync rate the
//! engine turns into commits (above 1 when group commit shares syncs).

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use libcommit::{Database, Options, PageWrite};
use serde::Serialize;

use crate::view::{text, Lines};
use crate::{Failure, Outcome, EXIT_OK};

/// Bytes of each commit's one page, and of each raw overwrite.
const PAGE_BYTES: usize = 4096;
/// Pages each bench thread cycles through (bounded disk use).
const PAGES_PER_THREAD: u32 = 256;
/// Pages of the pre-written raw file.
const RAW_FILE_PAGES: u64 = 256;
const THREADS_MAX: u32 = 256;
const SECONDS_MAX: f64 = 3600.0;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A directory (a scratch database is made in it and removed after), or
    /// a path where no file exists yet (the database is left there).
    pub path: PathBuf,
    /// Seconds for each of the two measurements.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub seconds: f64,
    /// Committing threads.
    #[arg(long, default_value_t = 1, value_name = "T")]
    pub threads: u32,
    /// Machine-readable output (JSON) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where the bench writes, and what it removes when done.
struct Place {
    db: PathBuf,
    raw: PathBuf,
    /// A scratch directory of our own, removed whole.
    scratch: Option<PathBuf>,
}

impl Drop for Place {
    fn drop(&mut self) {
        match &self.scratch {
            Some(dir) => {
                let _ = fs::remove_dir_all(dir);
            }
            None => {
                let _ = fs::remove_file(&self.raw);
            }
        }
    }
}

fn place(path: &Path) -> Result<Place, Failure> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            let dir = path.join(format!(".lcctl-bench-{}", std::process::id()));
            fs::create_dir(&dir).map_err(|e| Failure::io("create directory", &dir, e))?;
            Ok(Place {
                db: dir.join("bench.db"),
                raw: dir.join("raw"),
                scratch: Some(dir),
            })
        }
        Ok(_) => Err(Failure::usage(format!(
            "{} exists; bench writes pages, so give a directory or a new path",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut raw = path.as_os_str().to_owned();
            raw.push("-lcctl-raw");
            Ok(Place {
                db: path.to_path_buf(),
                raw: PathBuf::from(raw),
                scratch: None,
            })
        }
        Err(e) => Err(Failure::io("stat", path, e)),
    }
}

/// Overwrites + fdatasyncs done in `duration` on a pre-written file.
fn raw_syncs(path: &Path, duration: Duration) -> Result<(u64, Duration), Failure> {
    let io = |e| Failure::io("raw write", path, e);
    let file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    let page = [0xa5u8; PAGE_BYTES];
    for i in 0..RAW_FILE_PAGES {
        file.write_all_at(&page, i * PAGE_BYTES as u64)
            .map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        let at = (n % RAW_FILE_PAGES) * PAGE_BYTES as u64;
        file.write_all_at(&page, at).map_err(io)?;
        file.sync_data().map_err(io)?;
        n += 1;
    }
    Ok((n, start.elapsed()))
}

/// One committing thread: its own pages, until `duration` has passed.
fn commit_loop(
    db: &Database,
    thread: u32,
    start: Instant,
    duration: Duration,
) -> Result<u64, Failure> {
    let page = [thread as u8; PAGE_BYTES];
    let mut n = 0u64;
    while start.elapsed() < duration {
        let pgno = thread * PAGES_PER_THREAD + (n % u64::from(PAGES_PER_THREAD)) as u32 + 1;
        db.commit_batch(&[PageWrite::put(pgno, &page)])?;
        n += 1;
    }
    Ok(n)
}

struct CommitRun {
    commits: u64,
    elapsed: Duration,
    p50_us: u64,
    p99_us: u64,
    syncs: u64,
}

fn commits(path: &Path, threads: u32, duration: Duration) -> Result<CommitRun, Failure> {
    let db = Database::open(path, Options::default())?;
    let start = Instant::now();
    let counts: Vec<Result<u64, Failure>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let db = &db;
                s.spawn(move || commit_loop(db, t, start, duration))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    let elapsed = start.elapsed();
    let metrics = db.metrics()?;
    let stats = db.stats()?;
    db.close()?;
    let mut commits = 0;
    for c in counts {
        commits += c?;
    }
    Ok(CommitRun {
        commits,
        elapsed,
        p50_us: metrics.commit_latency_us.quantile_upper_bound(0.5),
        p99_us: metrics.commit_latency_us.quantile_upper_bound(0.99),
        syncs: stats.syncs,
    })
}

#[derive(Serialize)]
struct BenchDoc {
    path: String,
    /// The database was made in a scratch directory and removed.
    scratch: bool,
    threads: u32,
    page_bytes: usize,
    sync: &'static str,
    commits: u64,
    commit_seconds: f64,
    commits_per_sec: f64,
    /// Upper bounds of the latency histogram buckets holding p50 and p99.
    latency_p50_us_max: u64,
    latency_p99_us_max: u64,
    syncs_per_commit: f64,
    raw_fdatasyncs: u64,
    raw_seconds: f64,
    raw_fdatasync_per_sec: f64,
    /// commits_per_sec / raw_fdatasync_per_sec.
    ratio: f64,
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn bench_human(d: &BenchDoc, seconds: f64) -> String {
    let mut out = Lines::new();
    out.raw(&format!(
        "bench {}: 4 KiB 1-page commits, sync FULL, {} thread(s), {seconds} s each{}\n",
        d.path,
        d.threads,
        if d.scratch { " (scratch, removed)" } else { "" }
    ));
    out.kv(
        "libcommit",
        format!(
            "{:.1} commits/s ({} commits; latency p50 <= {} us, p99 <= {} us; {:.2} syncs/commit)",
            d.commits_per_sec,
            d.commits,
            d.latency_p50_us_max,
            d.latency_p99_us_max,
            d.syncs_per_commit
        ),
    );
    out.kv(
        "raw fdatasync",
        format!(
            "{:.1} writes/s (4 KiB overwrite + fdatasync, 1 thread, same directory)",
            d.raw_fdatasync_per_sec
        ),
    );
    out.kv("ratio", format!("{:.2} (libcommit / raw)", d.ratio));
    out.0
}

pub fn run(a: &BenchArgs) -> Result<Outcome, Failure> {
    if !(a.seconds > 0.0 && a.seconds <= SECONDS_MAX) {
        return Err(Failure::usage(format!(
            "--seconds {}: must be in (0, {SECONDS_MAX}]",
            a.seconds
        )));
    }
    if !(1..=THREADS_MAX).contains(&a.threads) {
        return Err(Failure::usage(format!(
            "--threads {}: must be in 1..={THREADS_MAX}",
            a.threads
        )));
    }
    let duration = Duration::from_secs_f64(a.seconds);
    let place = place(&a.path)?;
    let run = commits(&place.db, a.threads, duration)?;
    let (raw, raw_elapsed) = raw_syncs(&place.raw, duration)?;
    let commits_per_sec = per_sec(run.commits, run.elapsed);
    let raw_per_sec = per_sec(raw, raw_elapsed);
    let doc = BenchDoc {
        path: text(&place.db),
        scratch: place.scratch.is_some(),
        threads: a.threads,
        page_bytes: PAGE_BYTES,
        sync: "full",
        commits: run.commits,
        commit_seconds: run.elapsed.as_secs_f64(),
        commits_per_sec,
        latency_p50_us_max: run.p50_us,
        latency_p99_us_max: run.p99_us,
        syncs_per_commit: run.syncs as f64 / run.commits.max(1) as f64,
        raw_fdatasyncs: raw,
        raw_seconds: raw_elapsed.as_secs_f64(),
        raw_fdatasync_per_sec: raw_per_sec,
        ratio: if raw_per_sec > 0.0 {
            commits_per_sec / raw_per_sec
        } else {
            0.0
        },
    };
    Ok(Outcome::new(&doc, bench_human(&doc, a.seconds), EXIT_OK))
}
