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
//! Tests that need root powers (a PID namespace, a tmpfs mount) print
//! `SKIP ...` and count as skipped when the system refuses them.
//! Each test collects what went wrong as anomalies and fails listing all
//! of them.

mod common;
mod procs;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libcommit::{Database, Options, PageWrite, Pgno};
use procs::{next_request, say, skip, Anomalies, Proc, CHILD_ENV};

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
    report("reopen", || {
        let own = Database::open(path, opts())?;
        let seq = own.commit_batch(&[PageWrite::put(20_000, b"forked child")])?;
        let back = own.read(20_000)?;
        own.close()?;
        match back.as_deref() {
            Some(b"forked child") => Ok(seq),
            _ => Err(libcommit::Error::Internal(format!("read back {back:?}"))),
        }
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

fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

fn pid_exists_here(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether this system lets us make a PID namespace (CI may refuse).
fn pid_namespaces_work() -> bool {
    Command::new("unshare")
        .args(["-p", "-f", "--mount-proc", "--kill-child", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A pid number no process has out here, with room after it.
fn unused_pid() -> u32 {
    // Past this namespace's pid_max when the kernel allows it there (per
    // namespace pid_max); `echo` fails quietly otherwise and the check of
    // the reported pid below tells.
    4_000_000
}

fn spill_files(path: &Path) -> Vec<PathBuf> {
    let name = format!("{}-spill-", path.file_name().unwrap().to_str().unwrap());
    std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&name))
        .collect()
}

#[test]
fn a_reader_in_another_pid_namespace_keeps_its_snapshot() {
    const SUITE: &str = "multiprocess_faults_pidns";
    if !pid_namespaces_work() {
        return skip(SUITE, "mp_pidns_readers", "unshare -p refused here");
    }
    let mut bad = Anomalies::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pidns.db");
    let db = Database::open(&path, opts()).unwrap();
    put(&db, PINNED, 1);
    // The reader reads version 1 from the main file.
    db.checkpoint().unwrap();
    let mut reader = Proc::spawn_in_pid_namespace(&format!("pin|{}", path.display()), unused_pid());
    let pinned = numbers(&reader.expect("PINNED").expect("the reader pinned"));
    let (snap, seen, pid) = (pinned[0], pinned[1], pinned[2]);
    bad.check(seen == 1, || format!("the reader saw {seen}, not 1"));
    if pid_exists_here(pid) {
        reader.kill();
        let why =
            format!("the reader's namespace pid {pid} exists here too (ns_last_pid refused?)");
        return skip(SUITE, "mp_pidns_readers", &why);
    }
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
            format!("a checkpoint reached {c}, past the live reader's snapshot {snap}")
        });
    }
    reader.request();
    let again = reader.expect("REREAD");
    bad.check(again.as_deref() == Some("1"), || {
        format!("the reader's snapshot {snap} now reads {again:?}, not 1")
    });
    reader.kill();
    // Dead now: its snapshot pins nothing.
    let last = db.stats().unwrap().last_commit_seq;
    let c = db.checkpoint().unwrap().checkpoint_seq;
    bad.check(c == last, || {
        format!("checkpoint {c} < {last} after the reader died")
    });
    bad.finish(SUITE, &[("mp_pidns_readers", 1), ("skipped", 0)]);
}

#[test]
fn a_spill_file_in_another_pid_namespace_survives_an_open_elsewhere() {
    const SUITE: &str = "multiprocess_faults_pidns_spill";
    if !pid_namespaces_work() {
        return skip(SUITE, "mp_pidns_spills", "unshare -p refused here");
    }
    let mut bad = Anomalies::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spill.db");
    Database::open(&path, opts()).unwrap().close().unwrap();
    let mut writer =
        Proc::spawn_in_pid_namespace(&format!("spill|{}", path.display()), unused_pid());
    let pid = numbers(&writer.expect("SPILLED").expect("the writer spilled"))[0];
    if pid_exists_here(pid) {
        writer.kill();
        let why =
            format!("the writer's namespace pid {pid} exists here too (ns_last_pid refused?)");
        return skip(SUITE, "mp_pidns_spills", &why);
    }
    let before = spill_files(&path);
    bad.check(!before.is_empty(), || "no spill file was made".into());
    // Opening here cleans up spill files of processes that are gone.
    let db = Database::open(&path, opts()).unwrap();
    let gone: Vec<_> = before.iter().filter(|p| !p.exists()).collect();
    bad.check(gone.is_empty(), || {
        format!("opening removed the live transaction's spill file(s) {gone:?}")
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
    bad.check(status.success(), || format!("the writer ended {status}"));
    let left = spill_files(&path);
    bad.check(left.is_empty(), || format!("spill files left: {left:?}"));
    bad.finish(SUITE, &[("mp_pidns_spills", 1), ("skipped", 0)]);
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

/// Whether `pid` is a process that has not ended (a zombie has).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
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
    // SAFETY: signal 0 and SIGKILL to the child the forker left behind.
    unsafe { libc::kill(child_pid, libc::SIGKILL) };
}

#[test]
fn a_forked_child_is_refused_and_keeps_nothing_of_its_parent_alive() {
    let mut bad = Anomalies::default();
    for mode in ["idle", "use"] {
        fork_round(mode, &mut bad);
    }
    bad.finish("multiprocess_faults_fork", &[("mp_forks", 2)]);
}

/// A tmpfs mounted for one test, unmounted when dropped (also on failure).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Fills the file system of `dir` with one file; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0xA5u8; 4096];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&block[..1]).is_ok() {}
    let _ = f.sync_all();
    filler
}

#[test]
fn opening_on_a_full_file_system_is_full_not_sigbus() {
    const SUITE: &str = "multiprocess_faults_full";
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(dir.path(), "512k") else {
        return skip(SUITE, "mp_full_fs", "mounting a tmpfs was refused here");
    };
    let mut bad = Anomalies::default();
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
    bad.finish(SUITE, &[("mp_full_fs", 1), ("skipped", 0)]);
}

#[test]
fn active_readers_counts_every_live_process() {
    const SUITE: &str = "multiprocess_faults_readers";
    let mut bad = Anomalies::default();
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
    bad.finish(SUITE, &[("mp_reader_counts", 1)]);
}
