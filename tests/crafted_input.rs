//! Crafted files: headers, frames and capsules whose checksums are valid
//! but whose sizes and positions are hostile. Nothing a file says may make
//! the host abort, take a signal or hang (DESIGN.md invariant 11), so each
//! case runs in a child process - this test binary re-executed - under a
//! memory limit (RLIMIT_AS) and a time limit: an allocation failure (an
//! abort, which no panic boundary catches), a signal or a hang then shows
//! as what it is instead of taking the suite down.
//!
//! The child runs inspect (info, verify, dump), open, and offline recover
//! (plain and skip_corrupt), each on a fresh copy of the crafted files, and
//! reports each outcome. The parent checks that the child exited normally
//! and that every operation returned a correct result or a clear error:
//! Corrupt or InvalidArgument, naming the file, never a panic.
//!
//! Cases are built from two real databases (WAL and NATIVE) by patching
//! fields at the offsets docs/FORMAT.md gives and resealing each checksum,
//! so the format is exercised as documented. Targeted cases reproduce known
//! failures; a seeded sweep then sets random values in the main header,
//! segment headers, frame headers, commit and marker payloads and capsule
//! headers, or truncates a file.
//!
//! `LIBCOMMIT_SEED=<seed>` replays one sweep case;
//! `LIBCOMMIT_CRAFTED_CASE=<name>` runs one targeted case (`sweep`: the
//! sweep alone); `LIBCOMMIT_CRAFTED_CASES=<n>` sets the sweep's size;
//! `LIBCOMMIT_CRAFTED_VERBOSE=1` prints every outcome.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{base_seed, env_u64, mix, print_totals, replay_seed, say, scaled, Anomalies, Rng};
use libcommit::inspect::{self, DumpFrame};
use libcommit::{CommitMode, Database, Options, PageWrite, RecoveryOptions};

const CHILD_ENV: &str = "LIBCOMMIT_CRAFTED_CHILD";
/// Address space of a child. A healthy child peaks near 200 MiB (the
/// suite prints it: threads' stacks and malloc arenas, mostly); the
/// hostile sizes in the cases are all far above the limit.
const CHILD_MEMORY_LIMIT_BYTES: u64 = 1 << 30;
/// A child still running after this is hung (a healthy one takes well
/// under a second).
const CHILD_TIME_LIMIT: Duration = Duration::from_secs(30);
const SWEEP_CASES_DEFAULT: u64 = 300;
const DB_NAME: &str = "crafted.db";
const PAGE: u32 = 1024;
const SEGMENT_BYTES: u64 = 64 << 10;
/// The largest segment the engine makes (SEGMENT_SIZE_MAX_BYTES).
const SEGMENT_MAX_BYTES: u64 = 1 << 30;
/// Operations a child runs, each on its own copy of the files.
const OPS: [&str; 6] = ["info", "verify", "dump", "open", "recover", "recover_skip"];
/// The page a child writes after a successful open.
const PROBE_PAGE: u32 = 7777;
const PROBE_IMAGE: &[u8] = b"written after a crafted open";

// ---------------------------------------------------------------------
// Layouts (docs/FORMAT.md)
// ---------------------------------------------------------------------

const MAIN_HEADER_BLOCK: u64 = 4096;
const MAIN_HEADER_BYTES: usize = 128;
const MAIN_CRC_AT: usize = 124;
const MAIN_SLOTS_AT: u64 = 8192;
const MAP_ENTRY_BYTES: usize = 24;
/// (name, offset, width) of each main-header field.
const MAIN_FIELDS: [(&str, usize, usize); 9] = [
    ("page_size", 12, 4),
    ("generation", 16, 8),
    ("db_id", 24, 8),
    ("checkpoint_seq", 32, 8),
    ("log_start", 40, 8),
    ("slot_count", 48, 8),
    ("map_slot", 56, 8),
    ("map_entries", 64, 8),
    ("map_crc", 72, 4),
];
const SEGMENT_HEADER_BLOCK: u64 = 4096;
const SEGMENT_CRC_AT: usize = 60;
const SEGMENT_FIELDS: [(&str, usize, usize); 6] = [
    ("page_size", 12, 4),
    ("db_id", 16, 8),
    ("first_epoch", 24, 8),
    ("log_start", 32, 8),
    ("capacity", 40, 8),
    ("resume_offset", 48, 8),
];
const FRAME_HEADER_BYTES: usize = 40;
const FRAME_CRC_AT: usize = 36;
const FRAME_FIELDS: [(&str, usize, usize); 6] = [
    ("kind", 4, 1),
    ("log_offset", 8, 8),
    ("commit_seq", 16, 8),
    ("pgno", 24, 4),
    ("payload_len", 28, 4),
    ("payload_crc", 32, 4),
];
const FRAME_PGNO_AT: usize = 24;
const FRAME_PAYLOAD_CRC_AT: usize = 32;
const COMMIT_FIELDS: [(&str, usize, usize); 6] = [
    ("first_frame_offset", 0, 8),
    ("epoch", 8, 8),
    ("durable_hint", 16, 8),
    ("written_hint", 24, 8),
    ("boot_tag", 32, 4),
    ("frames_crc", 36, 4),
];
const MARKER_FIELDS: [(&str, usize, usize); 3] = [
    ("capsule_offset", 40, 8),
    ("capsule_len", 48, 8),
    ("digest", 56, 8),
];
const MARKER_CAPSULE_OFFSET_AT: usize = 40;
const MARKER_CAPSULE_LEN_AT: usize = 48;
const CAPSULE_HEADER_BYTES: usize = 32;
const CAPSULE_FIELDS: [(&str, usize, usize); 3] = [
    ("page_count", 4, 4),
    ("capsule_offset", 8, 8),
    ("capsule_len", 16, 8),
];
const CAPSULE_COUNT_AT: usize = 4;
const CAPSULE_ENTRY_BYTES: u64 = 16;
const CAPSULE_LEN_AT: usize = 16;

fn get(buf: &[u8], at: usize, width: usize) -> u64 {
    let mut b = [0u8; 8];
    b[..width].copy_from_slice(&buf[at..at + width]);
    u64::from_le_bytes(b)
}

fn put(buf: &mut [u8], at: usize, width: usize, v: u64) {
    buf[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, offset).unwrap();
    buf
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn main_path(dir: &Path) -> PathBuf {
    dir.join(DB_NAME)
}

/// The header copy a reader would pick: valid, with the higher generation.
fn current_main_copy(dir: &Path) -> u64 {
    let mut best = (0, 0);
    for copy in 0..2 {
        let h = read_at(&main_path(dir), copy * MAIN_HEADER_BLOCK, MAIN_HEADER_BYTES);
        let valid = &h[..8] == b"LCMAIN01"
            && crc32c::crc32c(&h[..MAIN_CRC_AT]) as u64 == get(&h, MAIN_CRC_AT, 4);
        if valid && get(&h, 16, 8) >= best.1 {
            best = (copy, get(&h, 16, 8));
        }
    }
    best.0
}

fn main_header(dir: &Path) -> Vec<u8> {
    let copy = current_main_copy(dir);
    read_at(&main_path(dir), copy * MAIN_HEADER_BLOCK, MAIN_HEADER_BYTES)
}

fn db_id(dir: &Path) -> u64 {
    get(&main_header(dir), 24, 8)
}

/// Patches the current main header copy and reseals it; with `only`, the
/// other copy is zeroed, so the patched one is the only candidate.
fn craft_main(dir: &Path, only: bool, patch: impl FnOnce(&mut [u8])) {
    let path = main_path(dir);
    let copy = current_main_copy(dir);
    let mut h = read_at(&path, copy * MAIN_HEADER_BLOCK, MAIN_HEADER_BYTES);
    patch(&mut h);
    let crc = crc32c::crc32c(&h[..MAIN_CRC_AT]);
    put(&mut h, MAIN_CRC_AT, 4, u64::from(crc));
    write_at(&path, copy * MAIN_HEADER_BLOCK, &h);
    if only {
        write_at(
            &path,
            (copy ^ 1) * MAIN_HEADER_BLOCK,
            &[0u8; MAIN_HEADER_BYTES],
        );
    }
}

fn main_field(name: &str) -> (usize, usize) {
    let (_, at, width) = MAIN_FIELDS.iter().find(|f| f.0 == name).unwrap();
    (*at, *width)
}

fn set_main(h: &mut [u8], name: &str, v: u64) {
    let (at, width) = main_field(name);
    put(h, at, width, v);
}

fn main_value(h: &[u8], name: &str) -> u64 {
    let (at, width) = main_field(name);
    get(h, at, width)
}

/// One segment file and the window its header gives it.
#[derive(Clone, Debug)]
struct Seg {
    path: PathBuf,
    log_start: u64,
    capacity: u64,
}

/// The segments of a stream ("-wal-seg-" or "-cap-seg-"), by log_start.
fn segments(dir: &Path, infix: &str) -> Vec<Seg> {
    let mut segs: Vec<Seg> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with(&format!("{DB_NAME}{infix}")) && !name.ends_with(".corrupt")
        })
        .map(|path| {
            let h = read_at(&path, 0, 64);
            Seg {
                log_start: get(&h, 32, 8),
                capacity: get(&h, 40, 8),
                path,
            }
        })
        .collect();
    segs.sort_by_key(|s| s.log_start);
    segs
}

fn craft_segment(path: &Path, patch: impl FnOnce(&mut [u8])) {
    let mut h = read_at(path, 0, 64);
    patch(&mut h);
    let crc = crc32c::crc32c(&h[..SEGMENT_CRC_AT]);
    put(&mut h, SEGMENT_CRC_AT, 4, u64::from(crc));
    write_at(path, 0, &h);
}

/// `len` bytes at logical offset `off` of a stream (they may straddle).
fn stream_read(segs: &[Seg], off: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut at = off;
    while out.len() < len {
        let s = segs
            .iter()
            .find(|s| (s.log_start..s.log_start + s.capacity).contains(&at))
            .unwrap();
        let n = ((s.log_start + s.capacity - at) as usize).min(len - out.len());
        out.extend(read_at(&s.path, SEGMENT_HEADER_BLOCK + at - s.log_start, n));
        at += n as u64;
    }
    out
}

fn stream_write(segs: &[Seg], off: u64, bytes: &[u8]) {
    let mut done = 0;
    while done < bytes.len() {
        let at = off + done as u64;
        let s = segs
            .iter()
            .find(|s| (s.log_start..s.log_start + s.capacity).contains(&at))
            .unwrap();
        let n = ((s.log_start + s.capacity - at) as usize).min(bytes.len() - done);
        write_at(
            &s.path,
            SEGMENT_HEADER_BLOCK + at - s.log_start,
            &bytes[done..done + n],
        );
        done += n;
    }
}

/// Patches the header of the frame at `off` and reseals it.
fn craft_frame_header(dir: &Path, off: u64, patch: impl FnOnce(&mut [u8])) {
    let segs = segments(dir, "-wal-seg-");
    let mut h = stream_read(&segs, off, FRAME_HEADER_BYTES);
    patch(&mut h);
    reseal_frame_header(dir, &mut h);
    stream_write(&segs, off, &h);
}

fn reseal_frame_header(dir: &Path, h: &mut [u8]) {
    let mut covered = db_id(dir).to_le_bytes().to_vec();
    covered.extend_from_slice(&h[..FRAME_CRC_AT]);
    put(h, FRAME_CRC_AT, 4, u64::from(crc32c::crc32c(&covered)));
}

/// Patches the payload of the frame at `off` and reseals payload and header.
fn craft_payload(dir: &Path, f: &DumpFrame, patch: impl FnOnce(&mut [u8])) {
    let segs = segments(dir, "-wal-seg-");
    let at = f.log_offset + FRAME_HEADER_BYTES as u64;
    let mut payload = stream_read(&segs, at, f.payload_len as usize);
    patch(&mut payload);
    stream_write(&segs, at, &payload);
    let crc = u64::from(crc32c::crc32c(&payload));
    craft_frame_header(dir, f.log_offset, |h| put(h, FRAME_PAYLOAD_CRC_AT, 4, crc));
}

/// Patches the header of the capsule the marker `f` names (capsule
/// headers have no checksum of their own: the marker's digest covers them).
fn craft_capsule_header(dir: &Path, f: &DumpFrame, patch: impl FnOnce(&mut [u8])) {
    let wal = segments(dir, "-wal-seg-");
    let payload = stream_read(&wal, f.log_offset + FRAME_HEADER_BYTES as u64, 88);
    let offset = get(&payload, MARKER_CAPSULE_OFFSET_AT, 8);
    let caps = segments(dir, "-cap-seg-");
    let mut h = stream_read(&caps, offset, CAPSULE_HEADER_BYTES);
    patch(&mut h);
    stream_write(&caps, offset, &h);
}

// ---------------------------------------------------------------------
// Base databases
// ---------------------------------------------------------------------

fn opts(mode: CommitMode) -> Options {
    Options {
        page_size: PAGE,
        commit_mode: mode,
        segment_size_bytes: SEGMENT_BYTES,
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    }
}

fn mode_name(mode: CommitMode) -> &'static str {
    match mode {
        CommitMode::Wal => "wal",
        CommitMode::Native => "native",
    }
}

/// A real database: commits, a checkpoint (so the main file has a map),
/// more commits in the log, a clean close.
struct Base {
    dir: PathBuf,
    mode: CommitMode,
    last_seq: u64,
    /// Every frame of the live log, in order.
    frames: Vec<DumpFrame>,
}

impl Base {
    fn build(root: &Path, mode: CommitMode) -> Base {
        let dir = root.join(format!("base-{}", mode_name(mode)));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Database::open(main_path(&dir), opts(mode)).unwrap();
        let commit = |i: u32| {
            let image = vec![i as u8; 100 + (i as usize * 37) % 800];
            let other = vec![!(i as u8); 200];
            let mut writes = vec![PageWrite::put(1 + i % 40, &image)];
            if i % 7 == 0 {
                writes.push(PageWrite::put(41 + i % 5, &other));
                writes.push(PageWrite::delete(50 + i % 3));
            }
            db.commit_batch(&writes).unwrap();
        };
        for i in 0..60 {
            commit(i);
        }
        db.checkpoint().unwrap();
        for i in 60..120 {
            commit(i);
        }
        let last_seq = db.stats().unwrap().last_commit_seq;
        db.close().unwrap();
        let mut frames = Vec::new();
        inspect::dump(main_path(&dir), &mut |_, f| frames.push(f.clone())).unwrap();
        Base {
            dir,
            mode,
            last_seq,
            frames,
        }
    }

    fn frames_of(&self, kind: &str) -> Vec<&DumpFrame> {
        self.frames.iter().filter(|f| f.kind == kind).collect()
    }

    /// A copy of the files to craft.
    fn copy_to(&self, dir: &Path) {
        copy_dir(&self.dir, dir);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

// ---------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------

#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, mode) = spec.split_once('|').unwrap();
    let mode = if mode == "native" {
        CommitMode::Native
    } else {
        CommitMode::Wal
    };
    // Panics are reported as outcomes; the default hook's output would
    // only repeat them.
    std::panic::set_hook(Box::new(|_| {}));
    for op in OPS {
        let work = PathBuf::from(format!("{dir}-{op}"));
        copy_dir(Path::new(dir), &work);
        let path = main_path(&work);
        let line = match catch_unwind(AssertUnwindSafe(|| run_op(op, &path, mode))) {
            Ok(Ok(summary)) => format!("OP {op} OK {summary}"),
            Ok(Err(e)) => format!("OP {op} ERR {:?} {}", e.status(), one_line(&e.to_string())),
            Err(payload) => format!("OP {op} PANIC {}", one_line(&panic_text(&*payload))),
        };
        child_say(&line);
        let _ = std::fs::remove_dir_all(&work);
    }
    child_say(&format!("DONE vm_peak_kib={}", vm_peak_kib()));
}

fn run_op(op: &str, path: &Path, mode: CommitMode) -> libcommit::Result<String> {
    match op {
        "info" => {
            let i = inspect::info(path)?;
            Ok(format!(
                "corrupt={} last={} page_size={}",
                i.corruption.is_some(),
                i.last_commit_seq,
                i.page_size
            ))
        }
        "verify" => {
            let v = inspect::verify(path, &mut |_, _| {})?;
            Ok(format!("clean={} torn={}", v.clean(), v.torn_tail))
        }
        "dump" => Ok(format!("frames={}", inspect::dump(path, &mut |_, _| {})?)),
        "open" => {
            let db = Database::open(path, opts(mode))?;
            let last = db.stats()?.last_commit_seq;
            // A database that opens must work: commit, read back, close.
            let then = (|| -> libcommit::Result<String> {
                let seq = db.commit_batch(&[PageWrite::put(PROBE_PAGE, PROBE_IMAGE)])?;
                let back = db.read(PROBE_PAGE)?;
                db.close()?;
                Ok(format!(
                    "commit={} readback={}",
                    seq == last + 1,
                    back.as_deref() == Some(PROBE_IMAGE)
                ))
            })()
            .unwrap_or_else(|e| {
                format!("after_open={:?}:{}", e.status(), one_line(&e.to_string()))
            });
            Ok(format!("last={last} {then}"))
        }
        "recover" | "recover_skip" => {
            let r = libcommit::recover(
                path,
                RecoveryOptions {
                    skip_corrupt: op == "recover_skip",
                    ..RecoveryOptions::default()
                },
            )?;
            Ok(format!("last={}", r.last_commit_seq))
        }
        other => panic!("unknown op {other}"),
    }
}

fn child_say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nCHILD {line}").unwrap();
    out.flush().unwrap();
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        return s.to_string();
    }
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| "(non-string panic)".into())
}

fn vm_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPeak:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------

/// What a child said, or how it ended.
#[derive(Debug, Default)]
struct Run {
    ops: BTreeMap<String, Outcome>,
    vm_peak_kib: Option<u64>,
    /// Ended by this signal.
    signal: Option<i32>,
    hung: bool,
    exit_code: Option<i32>,
    stderr_tail: String,
}

#[derive(Debug, Clone)]
enum Outcome {
    Ok(BTreeMap<String, String>),
    Err { status: String, message: String },
    Panic(String),
}

impl Outcome {
    fn field(&self, key: &str) -> Option<&str> {
        match self {
            Outcome::Ok(kv) => kv.get(key).map(String::as_str),
            _ => None,
        }
    }

    fn is_corrupt(&self) -> bool {
        matches!(self, Outcome::Err { status, .. } if status == "Corrupt")
    }
}

fn parse_op(line: &str) -> Option<(String, Outcome)> {
    let mut words = line.splitn(4, ' ');
    let (Some("OP"), Some(op), Some(kind)) = (words.next(), words.next(), words.next()) else {
        return None;
    };
    let rest = words.next().unwrap_or("");
    let outcome = match kind {
        "OK" => Outcome::Ok(
            rest.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        "ERR" => {
            let (status, message) = rest.split_once(' ').unwrap_or((rest, ""));
            Outcome::Err {
                status: status.to_string(),
                message: message.to_string(),
            }
        }
        _ => Outcome::Panic(rest.to_string()),
    };
    Some((op.to_string(), outcome))
}

/// Runs the child on the crafted files in `dir`, limited in memory and time.
fn run_child(dir: &Path, mode: CommitMode) -> Run {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{}", dir.display(), mode_name(mode)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and calls
    // only setrlimit, which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let limit = |resource, bytes: u64| {
                let lim = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(resource, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            limit(libc::RLIMIT_AS, CHILD_MEMORY_LIMIT_BYTES)?;
            // An abort must not leave a core file per case.
            limit(libc::RLIMIT_CORE, 0)
        });
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(|l| l.ok())
            .filter_map(|l| l.trim().strip_prefix("CHILD ").map(str::to_string))
            .collect::<Vec<String>>()
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let mut run = Run::default();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHILD_TIME_LIMIT {
            run.hung = true;
            // Our own child, by its handle.
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    run.signal = if run.hung { None } else { status.signal() };
    run.exit_code = status.code();
    for line in out_reader.join().unwrap() {
        if let Some(v) = line.strip_prefix("DONE vm_peak_kib=") {
            run.vm_peak_kib = v.parse().ok();
        } else if let Some((op, outcome)) = parse_op(&line) {
            run.ops.insert(op, outcome);
        }
    }
    // The line that says why it died, if any (a backtrace may follow it).
    let err = err_reader.join().unwrap();
    run.stderr_tail = err
        .lines()
        .find(|l| l.contains("memory allocation") || l.contains("panicked at"))
        .or_else(|| err.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .to_string();
    run
}

/// What a case's operations must give.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Open and recover fail with Corrupt; info and verify report it.
    Corrupt,
    /// Everything succeeds at this last commit, and inspect finds no damage.
    Opens(u64),
    /// Random input: any correct result or clear error, consistently.
    Any,
}

#[derive(Default)]
struct Totals {
    crafted: u64,
    aborts: u64,
    signals: u64,
    hangs: u64,
    anomalies: u64,
}

/// Checks one child's run; returns what was wrong with it.
fn judge(run: &Run, expect: Expect) -> Vec<String> {
    let mut wrong = Vec::new();
    if run.hung {
        wrong.push(format!("HANG: still running after {CHILD_TIME_LIMIT:?}"));
    }
    if let Some(sig) = run.signal {
        let what = if sig == libc::SIGABRT {
            "ABORT"
        } else {
            "SIGNAL"
        };
        wrong.push(format!(
            "{what}: child ended by signal {sig} ({})",
            run.stderr_tail
        ));
    }
    if !run.hung && run.signal.is_none() && run.exit_code != Some(0) {
        wrong.push(format!(
            "child exited with {:?} ({})",
            run.exit_code, run.stderr_tail
        ));
    }
    if run.hung || run.signal.is_some() {
        return wrong;
    }
    for op in OPS {
        match run.ops.get(op) {
            None => wrong.push(format!("{op}: no outcome reported")),
            Some(o) => wrong.extend(check_clear(op, o).map(|w| format!("{op}: {w}"))),
        }
    }
    if wrong.is_empty() {
        wrong.extend(check_expected(run, expect));
    }
    wrong
}

/// A panic, an unclear error, or a database that opened but does not work.
fn check_clear(op: &str, o: &Outcome) -> Option<String> {
    match o {
        Outcome::Panic(msg) => Some(format!("PANIC: {msg}")),
        Outcome::Err { status, message } => {
            if status != "Corrupt" && status != "InvalidArgument" {
                Some(format!("unexpected status {status}: {message}"))
            } else if !message.contains(DB_NAME) {
                Some(format!("error does not name the file: {status}: {message}"))
            } else {
                None
            }
        }
        Outcome::Ok(kv) if op == "open" => {
            let works = kv.get("commit").map(String::as_str) == Some("true")
                && kv.get("readback").map(String::as_str) == Some("true");
            (!works).then(|| format!("opened but does not work: {kv:?}"))
        }
        Outcome::Ok(_) => None,
    }
}

fn check_expected(run: &Run, expect: Expect) -> Vec<String> {
    let op = |name: &str| run.ops.get(name).expect("checked");
    let mut wrong = Vec::new();
    let mut want = |ok: bool, what: &str, name: &str| {
        if !ok {
            wrong.push(format!("{name}: {what}, got {:?}", op(name)));
        }
    };
    match expect {
        Expect::Corrupt => {
            want(op("open").is_corrupt(), "expected Corrupt", "open");
            want(op("recover").is_corrupt(), "expected Corrupt", "recover");
            let info = op("info");
            want(
                info.is_corrupt() || info.field("corrupt") == Some("true"),
                "expected corruption reported",
                "info",
            );
            let verify = op("verify");
            want(
                verify.is_corrupt() || verify.field("clean") == Some("false"),
                "expected damage reported",
                "verify",
            );
        }
        Expect::Opens(last) => {
            let last = last.to_string();
            for name in ["open", "recover", "recover_skip"] {
                want(
                    op(name).field("last") == Some(&last),
                    "expected success",
                    name,
                );
            }
            want(
                op("info").field("corrupt") == Some("false"),
                "expected clean",
                "info",
            );
            want(
                op("info").field("last") == Some(&last),
                "expected success",
                "info",
            );
            want(
                op("verify").field("clean") == Some("true"),
                "expected clean",
                "verify",
            );
            want(
                matches!(op("dump"), Outcome::Ok(_)),
                "expected success",
                "dump",
            );
        }
        Expect::Any => {
            // Open and offline recovery judge the same files the same way
            // (open may also refuse the caller's page size).
            let (open, recover) = (op("open"), op("recover"));
            let open_refused_size =
                matches!(open, Outcome::Err { status, .. } if status == "InvalidArgument");
            if !open_refused_size {
                want(
                    open.field("last").is_some() == recover.field("last").is_some()
                        && (open.field("last").is_none()
                            || open.field("last") == recover.field("last")),
                    &format!("open and recover disagree (recover: {recover:?})"),
                    "open",
                );
            }
            if let Some(last) = open.field("last") {
                let info = op("info");
                want(
                    info.field("corrupt") == Some("false") && info.field("last") == Some(last),
                    "opened, but info disagrees",
                    "info",
                );
            }
        }
    }
    wrong
}

struct Case {
    name: String,
    /// A healthy database, run to show the checks pass on good files.
    control: bool,
    /// Replays it.
    replay: String,
    mode: CommitMode,
    expect: Expect,
}

struct Suite {
    root: PathBuf,
    totals: Totals,
    anomalies: Anomalies,
    cases_run: u64,
}

impl Suite {
    /// Runs one crafted case (files already in `dir`) and records it.
    fn run(&mut self, case: &Case, dir: &Path) -> Run {
        let run = run_child(dir, case.mode);
        let wrong = judge(&run, case.expect);
        if std::env::var_os("LIBCOMMIT_CRAFTED_VERBOSE").is_some() {
            say(&format!("case {}: {:?}", case.name, run.ops));
        }
        self.totals.crafted += u64::from(!case.control);
        self.totals.hangs += u64::from(run.hung);
        match run.signal {
            Some(libc::SIGABRT) => self.totals.aborts += 1,
            Some(_) => self.totals.signals += 1,
            None => {}
        }
        if !wrong.is_empty() {
            self.totals.anomalies += 1;
            self.anomalies.add(
                &case.replay,
                &format!("{}: {}", case.name, wrong.join("; ")),
            );
        }
        let _ = std::fs::remove_dir_all(dir);
        self.cases_run += 1;
        run
    }

    fn case_dir(&self) -> PathBuf {
        self.root.join(format!("case-{}", self.cases_run))
    }
}

// ---------------------------------------------------------------------
// Targeted cases
// ---------------------------------------------------------------------

type Craft = fn(&Base, &Path) -> Expect;

/// Controls first (healthy files pass every check), then one case per
/// way a size in a file could reach an allocation or a loop unbounded.
const TARGETED: [(&str, CommitMode, Craft); 14] = [
    ("healthy", CommitMode::Wal, |b, _| Expect::Opens(b.last_seq)),
    ("healthy_native", CommitMode::Native, |b, _| {
        Expect::Opens(b.last_seq)
    }),
    ("main_slot_count_2^40", CommitMode::Wal, |_, dir| {
        craft_main(dir, true, |h| set_main(h, "slot_count", 1 << 40));
        Expect::Corrupt
    }),
    ("main_slot_count_max", CommitMode::Wal, |_, dir| {
        craft_main(dir, true, |h| set_main(h, "slot_count", u64::MAX));
        Expect::Corrupt
    }),
    ("main_map_entries_2^36", CommitMode::Wal, |_, dir| {
        craft_main(dir, true, |h| {
            let entries = 1u64 << 36;
            let slots = (entries * MAP_ENTRY_BYTES as u64).div_ceil(u64::from(PAGE));
            let map_slot = main_value(h, "map_slot");
            set_main(h, "map_entries", entries);
            set_main(h, "slot_count", map_slot + slots);
        });
        Expect::Corrupt
    }),
    ("main_page_size_3", CommitMode::Wal, |_, dir| {
        craft_main(dir, true, |h| set_main(h, "page_size", 3));
        Expect::Corrupt
    }),
    ("main_page_size_256", CommitMode::Wal, |_, dir| {
        // With an empty map, nothing else in the main file contradicts it.
        craft_main(dir, true, |h| {
            set_main(h, "page_size", 256);
            set_main(h, "map_entries", 0);
            set_main(h, "map_crc", u64::from(crc32c::crc32c(&[])));
        });
        Expect::Corrupt
    }),
    (
        "main_page_size_2^30_with_a_page_as_long",
        CommitMode::Wal,
        |_, dir| {
            // One map entry, in slot 0 (where the map itself is), claiming an
            // image of almost 1 GiB: legal under such a page size.
            let len = (1u64 << 30) - 8;
            let mut entry = [0u8; MAP_ENTRY_BYTES];
            put(&mut entry, 0, 4, 1);
            put(&mut entry, 4, 4, len);
            let path = main_path(dir);
            write_at(&path, MAIN_SLOTS_AT, &entry);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(MAIN_SLOTS_AT + MAP_ENTRY_BYTES as u64)
                .unwrap();
            craft_main(dir, true, |h| {
                set_main(h, "page_size", 1 << 30);
                set_main(h, "slot_count", 1);
                set_main(h, "map_slot", 0);
                set_main(h, "map_entries", 1);
                set_main(h, "map_crc", u64::from(crc32c::crc32c(&entry)));
            });
            Expect::Corrupt
        },
    ),
    (
        "main_map_offset_wraps_past_the_file",
        CommitMode::Wal,
        |_, dir| {
            // map_slot * page_size wraps around 2^64 onto the real map.
            craft_main(dir, true, |h| {
                let wrap = 1u64 << (64 - PAGE.trailing_zeros());
                let map_slot = main_value(h, "map_slot") + wrap;
                let slots = main_value(h, "slot_count");
                set_main(h, "map_slot", map_slot);
                set_main(h, "slot_count", map_slot + slots);
            });
            Expect::Corrupt
        },
    ),
    ("marker_capsule_len_64GiB", CommitMode::Native, |b, dir| {
        let m = b.frames_of("marker")[0].clone();
        craft_huge_capsule(dir, &m, false);
        Expect::Corrupt
    }),
    (
        "capsule_entry_count_2^32-1",
        CommitMode::Native,
        |b, dir| {
            let m = b.frames_of("marker")[0].clone();
            craft_huge_capsule(dir, &m, true);
            Expect::Corrupt
        },
    ),
    ("segment_capacity_2^60", CommitMode::Wal, |_, dir| {
        let last = segments(dir, "-wal-seg-").pop().unwrap();
        craft_segment(&last.path, |h| put(h, 40, 8, 1 << 60));
        Expect::Corrupt
    }),
    (
        "segment_window_1GiB_over_a_64KiB_file",
        CommitMode::Wal,
        |b, dir| {
            let last = segments(dir, "-wal-seg-").pop().unwrap();
            craft_segment(&last.path, |h| {
                put(h, 40, 8, SEGMENT_MAX_BYTES - SEGMENT_HEADER_BLOCK)
            });
            Expect::Opens(b.last_seq)
        },
    ),
    (
        "segment_file_truncated_in_its_last_commit",
        CommitMode::Wal,
        |b, dir| {
            // The last commit starts in segment `s`: later segments go, `s`
            // claims the largest window, and its file ends inside that commit.
            let commit = b.frames_of("commit").last().copied().unwrap().clone();
            let first = b
                .frames
                .iter()
                .rev()
                .find(|f| f.log_offset < commit.log_offset && f.kind == "commit")
                .map_or(0, |f| f.log_offset + 40 + 40);
            let segs = segments(dir, "-wal-seg-");
            let i = segs
                .iter()
                .position(|s| (s.log_start..s.log_start + s.capacity).contains(&first))
                .unwrap();
            for s in &segs[i + 1..] {
                std::fs::remove_file(&s.path).unwrap();
            }
            let s = &segs[i];
            craft_segment(&s.path, |h| {
                put(h, 40, 8, SEGMENT_MAX_BYTES - SEGMENT_HEADER_BLOCK)
            });
            let cut = SEGMENT_HEADER_BLOCK + first - s.log_start + 20;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&s.path)
                .unwrap()
                .set_len(cut)
                .unwrap();
            Expect::Opens(b.last_seq - 1)
        },
    ),
];

/// A marker and its capsule agreeing on a capsule of 2^32 - 1 entries
/// (64 GiB of them); with `page_count`, the marker's page count says so
/// too.
fn craft_huge_capsule(dir: &Path, marker: &DumpFrame, page_count: bool) {
    let count = u64::from(u32::MAX);
    let len = CAPSULE_HEADER_BYTES as u64 + count * CAPSULE_ENTRY_BYTES;
    craft_capsule_header(dir, marker, |h| {
        put(h, CAPSULE_COUNT_AT, 4, count);
        put(h, CAPSULE_LEN_AT, 8, len);
    });
    craft_payload(dir, marker, |p| put(p, MARKER_CAPSULE_LEN_AT, 8, len));
    if page_count {
        craft_frame_header(dir, marker.log_offset, |h| put(h, FRAME_PGNO_AT, 4, count));
    }
}

// ---------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------

/// A value for a field of `width` bytes now holding `orig`: boundaries,
/// powers of two, near the original, or anything.
fn hostile_value(r: &mut Rng, width: usize, orig: u64) -> u64 {
    let bits = width as u32 * 8;
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    let v = match r.below(6) {
        0 => r.next_u64(),
        1 => *r.pick(&[
            0,
            1,
            3,
            7,
            8,
            256,
            512,
            4096,
            65536,
            131072,
            max,
            max - 1,
            max - 7,
        ]),
        2 => 1u64
            .checked_shl(r.below(u64::from(bits)) as u32)
            .unwrap_or(0),
        3 => (1u64 << r.below(u64::from(bits)).min(63)).wrapping_add(r.range(0, 16) * 8),
        4 => orig.wrapping_add(r.range(1, 64) * 8),
        _ => orig.wrapping_sub(r.range(1, 64) * 8),
    };
    v & max
}

/// Sets 1-3 random fields of `fields` in `buf` to hostile values; names them.
fn patch_fields(r: &mut Rng, buf: &mut [u8], fields: &[(&str, usize, usize)]) -> String {
    let mut what = Vec::new();
    for _ in 0..r.range(1, 3) {
        let (name, at, width) = *r.pick(fields);
        let v = hostile_value(r, width, get(buf, at, width));
        put(buf, at, width, v);
        what.push(format!("{name}={v:#x}"));
    }
    what.join(",")
}

/// Raises slot_count, if need be, to cover the map the header names, so
/// that its sizes get past the header's own check; describes it.
fn cover_map(h: &mut [u8]) -> String {
    let page_size = main_value(h, "page_size").max(1);
    let end = main_value(h, "map_entries")
        .checked_mul(MAP_ENTRY_BYTES as u64)
        .map(|b| b.div_ceil(page_size))
        .and_then(|n| n.checked_add(main_value(h, "map_slot")));
    match end {
        Some(end) if end > main_value(h, "slot_count") => {
            set_main(h, "slot_count", end);
            format!(" (slot_count={end:#x} to cover the map)")
        }
        _ => String::new(),
    }
}

/// Crafts the files in `dir` (a copy of `base`) from `seed`; describes it.
fn craft_random(base: &Base, dir: &Path, seed: u64) -> String {
    let mut r = Rng::new(seed);
    let pick_frame = |r: &mut Rng, kinds: &[&str]| -> Option<DumpFrame> {
        let frames: Vec<&DumpFrame> = base
            .frames
            .iter()
            .filter(|f| kinds.contains(&f.kind))
            .collect();
        (!frames.is_empty()).then(|| (*r.pick(&frames)).clone())
    };
    match r.below(7) {
        0 => {
            let only = r.chance(50);
            let cover = r.chance(50);
            let mut what = String::new();
            craft_main(dir, only, |h| {
                what = patch_fields(&mut r, h, &MAIN_FIELDS);
                if cover {
                    what += &cover_map(h);
                }
            });
            format!(
                "main header ({}): {what}",
                if only { "only copy" } else { "newer copy" }
            )
        }
        1 | 2 => {
            let infix = if base.mode == CommitMode::Native && r.chance(50) {
                "-cap-seg-"
            } else {
                "-wal-seg-"
            };
            let segs = segments(dir, infix);
            let s = r.pick(&segs).clone();
            let mut what = String::new();
            craft_segment(&s.path, |h| what = patch_fields(&mut r, h, &SEGMENT_FIELDS));
            format!(
                "segment header {}: {what}",
                s.path.file_name().unwrap().to_string_lossy()
            )
        }
        3 => {
            let f = pick_frame(&mut r, &["page", "delete", "commit", "seal", "marker"]).unwrap();
            let mut what = String::new();
            craft_frame_header(dir, f.log_offset, |h| {
                what = patch_fields(&mut r, h, &FRAME_FIELDS)
            });
            format!("{} frame header at {}: {what}", f.kind, f.log_offset)
        }
        4 | 5 => {
            let f = pick_frame(&mut r, &["commit", "marker"]).unwrap();
            let mut fields: Vec<(&str, usize, usize)> = COMMIT_FIELDS.to_vec();
            if f.kind == "marker" {
                fields.extend(MARKER_FIELDS);
            }
            if f.kind == "marker" && r.chance(30) {
                let mut what = String::new();
                craft_capsule_header(dir, &f, |h| what = patch_fields(&mut r, h, &CAPSULE_FIELDS));
                return format!("capsule header of the marker at {}: {what}", f.log_offset);
            }
            let mut what = String::new();
            let mut capsule_len = None;
            craft_payload(dir, &f, |p| {
                what = patch_fields(&mut r, p, &fields);
                capsule_len =
                    (p.len() > MARKER_CAPSULE_LEN_AT).then(|| get(p, MARKER_CAPSULE_LEN_AT, 8));
            });
            if f.kind == "marker" && r.chance(50) {
                // The capsule agrees, with as many entries as the length
                // has room for.
                let len = capsule_len.expect("a marker's payload");
                let count = (len.saturating_sub(CAPSULE_HEADER_BYTES as u64) / CAPSULE_ENTRY_BYTES)
                    .min(u64::from(u32::MAX));
                craft_capsule_header(dir, &f, |h| {
                    put(h, CAPSULE_LEN_AT, 8, len);
                    put(h, CAPSULE_COUNT_AT, 4, count);
                });
                what += &format!(" (capsule agreeing: {count} entries)");
            }
            format!("{} payload at {}: {what}", f.kind, f.log_offset)
        }
        _ => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            let file = r.pick(&files).clone();
            let len = std::fs::metadata(&file).unwrap().len();
            let cut = r.below(len + 1);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&file)
                .unwrap()
                .set_len(cut)
                .unwrap();
            format!(
                "{} truncated to {cut} of {len} bytes",
                file.file_name().unwrap().to_string_lossy()
            )
        }
    }
}

#[test]
fn crafted_files_never_abort_hang_or_panic() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let bases = [
        Base::build(tmp.path(), CommitMode::Wal),
        Base::build(tmp.path(), CommitMode::Native),
    ];
    let base_of = |mode: CommitMode| bases.iter().find(|b| b.mode == mode).unwrap();
    let mut suite = Suite {
        root: tmp.path().to_path_buf(),
        totals: Totals::default(),
        anomalies: Anomalies::default(),
        cases_run: 0,
    };
    // LIBCOMMIT_CRAFTED_CASE=sweep runs only the sweep.
    let only_case = std::env::var("LIBCOMMIT_CRAFTED_CASE").ok();
    let one_seed = replay_seed();
    if one_seed.is_none() && only_case.as_deref() != Some("sweep") {
        for (name, mode, craft) in TARGETED {
            if only_case.as_deref().is_some_and(|c| c != name) {
                continue;
            }
            let base = base_of(mode);
            let dir = suite.case_dir();
            base.copy_to(&dir);
            let expect = craft(base, &dir);
            let case = Case {
                name: name.to_string(),
                control: name.starts_with("healthy"),
                replay: format!(
                    "LIBCOMMIT_CRAFTED_CASE={name} cargo test --release --test crafted_input"
                ),
                mode,
                expect,
            };
            let run = suite.run(&case, &dir);
            if name == "healthy" {
                say(&format!(
                    "crafted_input: a healthy child peaked at {} MiB of address space (limit {} MiB)",
                    run.vm_peak_kib.unwrap_or(0) / 1024,
                    CHILD_MEMORY_LIMIT_BYTES >> 20
                ));
            }
        }
    }
    if only_case.is_none() || only_case.as_deref() == Some("sweep") {
        let n = env_u64("LIBCOMMIT_CRAFTED_CASES").unwrap_or(scaled(SWEEP_CASES_DEFAULT));
        let base_seed = base_seed(0xC4AF_7ED0);
        let seeds: Vec<u64> = match one_seed {
            Some(s) => vec![s],
            None => (0..n).map(|i| mix(base_seed, i)).collect(),
        };
        for seed in seeds {
            let base = &bases[(seed % 2) as usize];
            let dir = suite.case_dir();
            base.copy_to(&dir);
            let what = craft_random(base, &dir, seed);
            if one_seed.is_some() {
                say(&format!("crafted_input: seed {seed:#x}: {what}"));
            }
            let case = Case {
                name: format!("{} base, {what}", mode_name(base.mode)),
                control: false,
                replay: format!(
                    "LIBCOMMIT_SEED={seed:#x} cargo test --release --test crafted_input"
                ),
                mode: base.mode,
                expect: Expect::Any,
            };
            suite.run(&case, &dir);
        }
    }
    let t = &suite.totals;
    say(&format!(
        "crafted_input: {} cases in {:.1} s",
        t.crafted,
        started.elapsed().as_secs_f64()
    ));
    print_totals(
        "crafted_input",
        &[
            ("crafted", t.crafted),
            ("aborts", t.aborts),
            ("signals", t.signals),
            ("hangs", t.hangs),
            ("anomalies", t.anomalies),
        ],
    );
    suite.anomalies.assert_none("crafted_input");
}
