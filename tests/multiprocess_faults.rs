//! Processes that the kernel, not pid numbers, must judge: real processes
//! (the test binary re-executes itself as the roles below) in situations
//! where a pid means nothing or a process has a double:
//! - a reader in another PID namespace (`unshare -p`), whose pid does not
//!   exist out here, keeps its snapshot against checkpoints, and its spill
//!   file survives another process opening the database;
//! - a process forks with the database open: the child's use of the
//!   inherited handle is refused (Closed) and its close touches nothing
//!   shared; once the parent is SIGKILLed its slot and lease are free
//!   although the child lives on; a child that opens the path itself gets
//!   a working engine of its own;
//! - opening a database on a full file system returns Full (the shm is
//!   allocated before it is mapped: no SIGBUS), and works once space is
//!   freed;
//! - `stats().active_readers` counts the readers of every live process.
//!
//! One test runs the scenarios one after another (they time lease
//! hand-overs, so they do not compete for the cores) and prints one
//! `TOTALS multiprocess_faults:` line. Scenarios that need root powers (a
//! PID namespace, a tmpfs mount) print `SKIP ...` and count as skipped
//! when the system refuses them. What goes wrong is collected as
//! anomalies (a panic in a scenario is one), and the test fails at the
//! end listing all of them.

mod common;
#[path = "common/pid.rs"]
mod pid;
mod procs;

use pid::running;
use std::os::unix::process::ExitStatusExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libcommit::{Database, Options, PageWrite, Pgno};
use procs::{
    fill, next_request, numbers, say, spawn_namespaced, Anomalies, Mount, Proc, CHILD_ENV,
};

const PAGE: u32 = 1024;
/// The page whose versions the readers pin.
const PINNED: Pgno = 1;
/// Byte offset of the writer pid in `{path}-shm` (docs/FORMAT.md).
const SHM_WRITER_PID_OFFSET: u64 = 13 * 8;
const BUSY_MS: u32 = 2000;

fn opts() -> Options {
    Options {
        page_size: PAGE,
        busy_timeout_ms: BUSY_MS,
        segment_size_bytes: 256 << 10,
        // Checkpoints only when asked: the tests count them.
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    }
}

fn value(page: Option<libcommit::Page>) -> u64 {
    page.map_or(0, |p| u64::from_le_bytes(p[..8].try_into().unwrap()))
}

fn put(db: &Database, pgno: Pgno, v: u64) -> u64 {
    db.commit_batch(&[PageWrite::put(pgno, &v.to_le_bytes())])
        .unwrap()
}

fn outcome<T>(r: &libcommit::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{:?} {e}", e.status()),
    }
}

/// Role "pin": a snapshot of PINNED, re-read on request through the same
/// transaction after a fresh begin (which catches up on checkpoints).
fn child_pin(path: &str) {
    let db = Database::open(path, opts()).unwrap();
    let mut t = db.begin().unwrap();
    let v = value(t.read(PINNED).unwrap());
    say(&format!(
        "PINNED {} {v} {}",
        t.snapshot(),
        std::process::id()
    ));
    while next_request().is_some() {
        let fresh = db.begin().unwrap();
        drop(fresh);
        match t.read(PINNED) {
            Ok(p) => say(&format!("REREAD {}", value(p))),
            Err(e) => say(&format!("REREAD error {e}")),
        }
    }
}

/// Role "spill": a transaction large enough to spill, committed on request.
fn child_spill(path: &str) {
    let o = Options {
        spill_threshold_bytes: 4096,
        ..opts()
    };
    let db = Database::open(path, o).unwrap();
    let mut t = db.begin().unwrap();
    for pgno in 100..164 {
        t.write(pgno, &[pgno as u8; 1000]).unwrap();
    }
    say(&format!("SPILLED {}", std::process::id()));
    next_request();
    say(&format!("COMMIT {}", outcome(&t.commit())));
}

/// Role "readers": `n` open transactions; reports the database's reader
/// count now and on every request.
fn child_readers(path: &str, n: usize) {
    let db = Database::open(path, opts()).unwrap();
    let held: Vec<_> = (0..n).map(|_| db.begin().unwrap()).collect();
    loop {
        say(&format!("READERS {}", db.stats().unwrap().active_readers));
        if next_request().is_none() {
            break;
        }
    }
    drop(held);
}

/// Role "open": opens the database, commits and reads once, and reports;
/// exits normally either way.
fn child_open(path: &str) {
    let r = Database::open(path, opts()).and_then(|db| {
        let seq = db.commit_batch(&[PageWrite::put(PINNED, b"fits")])?;
        assert_eq!(db.read(PINNED)?.as_deref(), Some(&b"fits"[..]));
        db.close()?;
        Ok(seq)
    });
    match r {
        Ok(seq) => say(&format!("OPEN ok {seq}")),
        Err(e) => say(&format!("OPEN {:?} {e}", e.status())),
    }
}

/// Times a forked child opens, commits to and closes the database itself.
const CHILD_REOPEN_ROUNDS: u32 = 32;

/// Role "forker": a snapshot, then fork(); the parent commits in a loop
/// (so it holds the writer lease often) until killed. The child uses the
/// inherited handle (`use`) or only lives on (`idle`).
fn child_forker(path: &str, mode: &str) {
    let db = Database::open(path, opts()).unwrap();
    let t = db.begin().unwrap();
    let snap = t.snapshot();
    // SAFETY: fork has no preconditions; the child runs only this
    // thread's code (forked_child), which never returns.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        if mode == "use" {
            forked_child_uses(db, t, path);
        }
        forked_child_lives_on();
    }
    say(&format!("FORKER {pid} {snap}"));
    let mut i = 0u64;
    loop {
        i += 1;
        let _ = db.commit_batch(&[PageWrite::put(10_000 + (i % 64) as u32, &i.to_le_bytes())]);
    }
}

/// Reports what `f` returned, or that it panicked.
fn report<T>(op: &str, f: impl FnOnce() -> libcommit::Result<T>) {
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_or_else(|_| "panicked".to_string(), |r| outcome(&r));
    say(&format!("FORKED {op} {got}"));
}

/// The forked child: every use of the inherited handle must be refused;
/// then it opens the database itself.
fn forked_child_uses(db: Database, mut t: libcommit::Transaction, path: &str) {
    report("stats", || db.stats());
    report("read", || db.read(PINNED));
    report("begin", || db.begin());
    report("commit", || {
        db.commit_batch(&[PageWrite::put(PINNED, b"child")])
    });
    report("checkpoint", || db.checkpoint());
    report("txn.read", || t.read(PINNED));
    report("txn.write", || t.write(2, b"x"));
    report("txn.commit", || t.commit());
    report("close", || db.close());
    report("drop", || {
        drop(db);
        Ok(())
    });
    // Many rounds: each open starts threads on stacks that the parent's
    // threads (parked when it forked) left behind, and each close wakes
    // them; a lock with process-wide wait queues breaks on the first that
    // meets a stale entry.
    report("reopen", || {
        let mut seq = 0;
        for round in 0..CHILD_REOPEN_ROUNDS {
            let own = Database::open(path, opts())?;
            seq = own.commit_batch(&[PageWrite::put(20_000, &round.to_le_bytes())])?;
            let back = own.read(20_000)?;
            own.close()?;
            if back.as_deref() != Some(&round.to_le_bytes()[..]) {
                return Err(libcommit::Error::Internal(format!(
                    "round {round}: read back {back:?}"
                )));
            }
        }
        Ok(seq)
    });
}

fn forked_child_lives_on() -> ! {
    say(&format!("FORKED LIVING {}", std::process::id()));
    std::thread::sleep(Duration::from_secs(120));
    // SAFETY: _exit ends the process without running the parent's atexit
    // handlers or destructors, which belong to the parent.
    unsafe { libc::_exit(0) }
}

#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let a: Vec<&str> = spec.split('|').collect();
    match a[0] {
        "pin" => child_pin(a[1]),
        "spill" => child_spill(a[1]),
        "readers" => child_readers(a[1], a[2].parse().unwrap()),
        "open" => child_open(a[1]),
        "forker" => child_forker(a[1], a[2]),
        other => panic!("unknown role {other}"),
    }
}

/// How a scenario ended when it did not fail.
enum Ran {
    Done,
    Skipped(String),
}

type Scenario = fn(&mut Anomalies) -> Ran;

#[test]
fn multiprocess_faults() {
    const SUITE: &str = "multiprocess_faults";
    // (totals key, rounds a run counts, scenario)
    let scenarios: [(&str, u64, Scenario); 5] = [
        ("mp_pidns_readers", 1, pidns_reader_keeps_its_snapshot),
        ("mp_pidns_spills", 1, pidns_spill_file_survives),
        ("mp_forks", 2, forked_child_is_refused),
        ("mp_full_fs", 1, full_fs_open_is_full_not_sigbus),
        ("mp_reader_counts", 1, active_readers_of_every_process),
    ];
    let mut bad = Anomalies::default();
    let mut fields = Vec::new();
    let mut skipped = 0;
    for (key, rounds, scenario) in scenarios {
        let ran = catch_unwind(AssertUnwindSafe(|| scenario(&mut bad)));
        let done = match ran {
            Ok(Ran::Done) => rounds,
            Ok(Ran::Skipped(why)) => {
                common::say(&format!("SKIP {SUITE} {key}: {why}"));
                skipped += 1;
                0
            }
            Err(_) => {
                bad.note(format!("{key}: the scenario panicked (message above)"));
                0
            }
        };
        fields.push((key, done));
    }
    fields.push(("skipped", skipped));
    bad.finish(SUITE, &fields);
}

fn spill_files(path: &Path) -> Vec<PathBuf> {
    let name = format!("{}-spill-", path.file_name().unwrap().to_str().unwrap());
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&name))
        .collect()
}

fn pidns_reader_keeps_its_snapshot(bad: &mut Anomalies) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pidns.db");
    let db = Database::open(&path, opts()).unwrap();
    put(&db, PINNED, 1);
    // The reader reads version 1 from the main file.
    db.checkpoint().unwrap();
    let (mut reader, pinned) = match spawn_namespaced(&format!("pin|{}", path.display()), "PINNED")
    {
        Ok(r) => r,
        Err(why) => return Ran::Skipped(why),
    };
    let (snap, seen) = (pinned[0], pinned[1]);
    bad.check(seen == 1, || format!("the reader saw {seen}, not 1"));
    // Two rounds: the second checkpoint may reuse the slots the first freed.
    let mut checkpoints = Vec::new();
    for round in 0..2u64 {
        for v in 2..=50 {
            put(&db, PINNED, round * 100 + v);
        }
        checkpoints.push(db.checkpoint().unwrap().checkpoint_seq);
    }
    for c in &checkpoints {
        bad.check(*c <= snap, || {
            format!("a checkpoint reached {c}, past the live namespaced reader's snapshot {snap}")
        });
    }
    reader.request();
    let again = reader.expect("REREAD");
    bad.check(again.as_deref() == Some("1"), || {
        format!("the namespaced reader's snapshot {snap} now reads {again:?}, not 1")
    });
    reader.kill_all();
    // Dead now: its snapshot pins nothing.
    let last = db.stats().unwrap().last_commit_seq;
    let c = db.checkpoint().unwrap().checkpoint_seq;
    bad.check(c == last, || {
        format!("checkpoint {c} < {last} after the namespaced reader died")
    });
    Ran::Done
}

fn pidns_spill_file_survives(bad: &mut Anomalies) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spill.db");
    Database::open(&path, opts()).unwrap().close().unwrap();
    let mut writer = match spawn_namespaced(&format!("spill|{}", path.display()), "SPILLED") {
        Ok((w, _)) => w,
        Err(why) => return Ran::Skipped(why),
    };
    let before = spill_files(&path);
    bad.check(!before.is_empty(), || "no spill file was made".into());
    // Opening here cleans up spill files of processes that are gone.
    let db = Database::open(&path, opts()).unwrap();
    let gone: Vec<_> = before.iter().filter(|p| !p.exists()).collect();
    bad.check(gone.is_empty(), || {
        format!("opening removed the live namespaced transaction's spill file(s) {gone:?}")
    });
    writer.request();
    let committed = writer.expect("COMMIT");
    bad.check(committed.as_deref() == Some("ok"), || {
        format!("the spilled transaction's commit: {committed:?}")
    });
    for pgno in [100, 163] {
        let p = db.read(pgno).unwrap();
        bad.check(p.as_deref() == Some(&[pgno as u8; 1000][..]), || {
            format!(
                "page {pgno} of the spilled commit reads {:?}",
                p.map(|p| p.len())
            )
        });
    }
    let status = writer.finish();
    bad.check(status.success(), || {
        format!("the spilling writer ended {status}")
    });
    let left = spill_files(&path);
    bad.check(left.is_empty(), || format!("spill files left: {left:?}"));
    Ran::Done
}

fn shm_writer_pid(path: &Path) -> i32 {
    use std::os::unix::fs::FileExt;
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    let f = std::fs::File::open(PathBuf::from(shm)).unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, SHM_WRITER_PID_OFFSET).unwrap();
    u64::from_le_bytes(b) as i32
}

/// Stops `p` at a moment it holds the writer lease; false if it never did.
fn stop_while_holding(p: &Proc, path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        p.signal(libc::SIGSTOP);
        // kill(SIGSTOP) returns before the process is stopped.
        while !std::fs::read_to_string(format!("/proc/{}/stat", p.pid()))
            .is_ok_and(|s| s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('T'))
        {
            std::thread::yield_now();
        }
        if shm_writer_pid(path) == p.pid() {
            return true;
        }
        p.signal(libc::SIGCONT);
        std::thread::yield_now();
    }
    false
}

/// One fork round (`mode` as for role "forker"): checks the child's view,
/// then kills the parent holding the lease and checks that nothing of it
/// stays alive through the child.
fn fork_round(mode: &str, bad: &mut Anomalies) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.db");
    let db = Database::open(&path, opts()).unwrap();
    put(&db, PINNED, 1);
    let forker = Proc::spawn(&format!("forker|{}|{mode}", path.display()));
    let f = numbers(&forker.expect("FORKER").expect("the forker forked"));
    let (child_pid, snap) = (f[0] as i32, f[1]);
    // Ends the forked child however this round ends (it lives on past
    // its parent, so nothing else would).
    let _reaper = KillOnDrop(child_pid);
    let refusals = [
        "stats",
        "read",
        "begin",
        "commit",
        "checkpoint",
        "txn.read",
        "txn.write",
        "txn.commit",
    ];
    let oks = ["close", "drop", "reopen"];
    let steps = if mode == "use" { &refusals[..] } else { &[] };
    for op in steps
        .iter()
        .chain(if mode == "use" { &oks[..] } else { &[] })
    {
        let Some(got) = forker.expect(&format!("FORKED {op} ")) else {
            bad.note(format!("{mode}: the forked child hung in {op}"));
            break;
        };
        let want = format!(
            "Closed closed: database {} was opened in process {} and is used in forked child \
             {child_pid}; open it again in the child",
            path.display(),
            forker.pid()
        );
        let fine = if oks.contains(op) {
            got == "ok"
        } else {
            got == want
        };
        bad.check(fine, || format!("{mode}: forked child's {op}: {got}"));
    }
    bad.check(forker.expect("FORKED LIVING").is_some(), || {
        format!("{mode}: the forked child did not get to live on")
    });
    // The child must not have released the parent's slot.
    match db.checkpoint() {
        Ok(c) => bad.check(c.checkpoint_seq <= snap, || {
            format!(
                "{mode}: checkpoint {} passed the live parent's snapshot {snap}",
                c.checkpoint_seq
            )
        }),
        Err(e) => bad.note(format!("{mode}: checkpoint while the parent lives: {e}")),
    }
    bad.check(stop_while_holding(&forker, &path), || {
        format!("{mode}: the forker never held the writer lease")
    });
    forker.kill();
    bad.check(running(child_pid), || {
        format!("{mode}: the forked child died with its parent")
    });
    // The parent died holding the lease; the child must not keep it.
    let started = Instant::now();
    let r = db.commit_batch(&[PageWrite::put(PINNED, &2u64.to_le_bytes())]);
    let took = started.elapsed();
    bad.check(
        r.is_ok() && took < Duration::from_millis(u64::from(BUSY_MS) / 2),
        || {
            format!(
                "{mode}: commit after the parent died: {} after {took:?}",
                outcome(&r)
            )
        },
    );
    let last = db.stats().unwrap().last_commit_seq;
    match db.checkpoint() {
        Ok(c) => bad.check(c.checkpoint_seq == last, || {
            format!(
                "{mode}: checkpoint stopped at {} < {last}: the dead parent's slot looks alive",
                c.checkpoint_seq
            )
        }),
        Err(e) => bad.note(format!("{mode}: checkpoint after the parent died: {e}")),
    }
    let v = db.read(PINNED).map(value);
    bad.check(matches!(v, Ok(2)) || r.is_err(), || {
        format!("{mode}: page {PINNED} reads {v:?} after a commit of 2")
    });
}

/// SIGKILLs a process that is not our child (so no `Child` ends it).
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill only sends a signal, to the forked child the forker
        // left behind (its parent, our child, is dead or dies with us).
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

fn forked_child_is_refused(bad: &mut Anomalies) -> Ran {
    for mode in ["idle", "use"] {
        fork_round(mode, bad);
    }
    Ran::Done
}

fn full_fs_open_is_full_not_sigbus(bad: &mut Anomalies) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(dir.path(), "512k") else {
        return Ran::Skipped("mount -t tmpfs failed here (missing, or no CAP_SYS_ADMIN)".into());
    };
    let path = mount.0.join("full.db");
    let filler = fill(&mount.0);
    let p = Proc::spawn(&format!("open|{}", path.display()));
    let got = p.expect("OPEN ");
    let status = p.finish();
    eprintln!("open on a full tmpfs: {got:?}, {status}");
    bad.check(status.success(), || match status.signal() {
        Some(sig) => format!("the opener died of signal {sig} (7 = SIGBUS) on a full disk"),
        None => format!("the opener ended {status}"),
    });
    bad.check(
        got.as_deref()
            .is_some_and(|g| g.starts_with("Full ") && g.contains("-shm")),
        || format!("open on a full disk: {got:?} (expected Full naming the -shm file)"),
    );
    std::fs::remove_file(&filler).unwrap();
    let p = Proc::spawn(&format!("open|{}", path.display()));
    let got = p.expect("OPEN ");
    let status = p.finish();
    bad.check(status.success() && got.as_deref() == Some("ok 1"), || {
        format!("open once space is free: {got:?}, {status}")
    });
    drop(mount);
    Ran::Done
}

fn active_readers_of_every_process(bad: &mut Anomalies) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readers.db");
    let db = Database::open(&path, opts()).unwrap();
    put(&db, PINNED, 1);
    let mine: Vec<_> = (0..2).map(|_| db.begin().unwrap()).collect();
    let mut other = Proc::spawn(&format!("readers|{}|3", path.display()));
    let theirs = other.expect("READERS");
    bad.check(theirs.as_deref() == Some("5"), || {
        format!("the other process counts {theirs:?} readers, not 5")
    });
    let here = db.stats().unwrap().active_readers;
    bad.check(here == 5, || {
        format!("this process counts {here} readers, not 5")
    });
    drop(mine);
    other.request();
    let theirs = other.expect("READERS");
    bad.check(theirs.as_deref() == Some("3"), || {
        format!("after 2 ended here, the other process counts {theirs:?}, not 3")
    });
    let _one = db.begin().unwrap();
    other.kill();
    let here = db.stats().unwrap().active_readers;
    bad.check(here == 1, || {
        format!("after the other process died this one counts {here} readers, not 1")
    });
    Ran::Done
}
