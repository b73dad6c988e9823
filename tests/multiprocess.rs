//! Many processes on one database. The test binary re-executes itself as
//! the other processes (roles below), which report on stdout; the parent
//! checks what only a whole run can show:
//! - 4 processes x 4 threads (WAL and NATIVE, sync FULL and NORMAL): every
//!   acknowledged commit is there, commit seqs are dense and unique across
//!   processes, first-committer-wins conflicts across processes lose no
//!   update;
//! - the process holding the writer lease (WAL or NATIVE) is SIGKILLed
//!   mid-commit (50 times): nothing acknowledged is lost, another process
//!   goes on within busy_timeout + 1 s;
//! - the holder is SIGSTOPped: others get Busy within busy_timeout +
//!   250 ms (never at once), and readers are not blocked;
//! - a reader process pins its snapshot against checkpoints elsewhere, and
//!   once killed its slot is reclaimed and checkpoints catch up;
//! - the bank invariant under SERIALIZABLE with transfers from 3 processes.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::{env_u64, image, mix, print_totals, verify_image, ImageId, Rng};
use libcommit::{CommitMode, Database, Error, Isolation, Options, Pgno, Status, SyncMode};

const CHILD_ENV: &str = "LIBCOMMIT_MP_CHILD";
const PAGE: u32 = 1024;
/// Shared counters every committer increments (FCW across processes).
const COUNTERS: u32 = 4;
const COUNTER_BASE: Pgno = 1;
/// Byte offset of the writer pid in `{path}-shm` (docs/FORMAT.md).
const SHM_WRITER_PID_OFFSET: u64 = 13 * 8;
const BUSY_MS: u32 = 2000;

fn opts() -> Options {
    Options {
        page_size: PAGE,
        busy_timeout_ms: BUSY_MS,
        segment_size_bytes: 256 << 10,
        checkpoint_threshold_bytes: 512 << 10,
        ..Options::default()
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nCHILD {line}").unwrap();
    out.flush().unwrap();
}

/// Pages of writer `w` never overlap another writer's: commit `i` writes
/// page `own_page(w, i)`, never written again.
fn own_page(writer: u32, i: u64) -> Pgno {
    1_000 + writer * 100_000 + i as u32
}

fn counter_value(page: Option<libcommit::Page>) -> u64 {
    page.map_or(0, |p| u64::from_le_bytes(p[..8].try_into().unwrap()))
}

/// One commit of writer `w`: its own page and +1 on a shared counter, in
/// one transaction, retried on conflict and Busy. Returns (seq, counter).
fn commit_one(db: &Database, writer: u32, i: u64, busies: &mut u64) -> (u64, Pgno) {
    let counter = COUNTER_BASE + (writer + i as u32) % COUNTERS;
    let pgno = own_page(writer, i);
    let len = 64 + (mix(u64::from(writer), i) % u64::from(PAGE - 64)) as u32;
    let img = image(
        pgno,
        ImageId {
            writer,
            counter: i,
            len,
        },
    );
    loop {
        let mut t = db.begin().unwrap();
        let v = counter_value(t.read(counter).unwrap());
        t.write(counter, &(v + 1).to_le_bytes()).unwrap();
        t.write(pgno, &img).unwrap();
        match t.commit() {
            Ok(seq) => return (seq, counter),
            Err(e) if e.status() == Status::Conflict => continue,
            Err(e) if e.status() == Status::Busy => {
                *busies += 1;
                continue;
            }
            Err(e) => panic!("writer {writer} commit {i}: {e}"),
        }
    }
}

/// How commit process `instance` runs: processes of one database may
/// differ in commit mode and sync mode.
fn mixed_opts(instance: u32, vary_sync: bool) -> Options {
    Options {
        commit_mode: if instance % 2 == 1 {
            CommitMode::Native
        } else {
            CommitMode::Wal
        },
        sync: if vary_sync && instance % 4 >= 2 {
            SyncMode::Normal
        } else {
            SyncMode::Full
        },
        ..opts()
    }
}

/// Role "commit": `threads` threads commit `count` commits each (0 =
/// until killed), acknowledging each as "ACK seq writer i counter".
fn child_commit(path: &str, instance: u32, threads: u32, count: u64) {
    // Processes that run to completion may relax sync (they close
    // cleanly); those that are killed keep FULL.
    let db = Database::open(path, mixed_opts(instance, count > 0)).unwrap();
    say(&format!("READY {}", std::process::id()));
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = &db;
            s.spawn(move || {
                let writer = instance * threads + t;
                let mut busies = 0;
                let mut i = 0;
                while count == 0 || i < count {
                    let (seq, counter) = commit_one(db, writer, i, &mut busies);
                    say(&format!("ACK {seq} {writer} {i} {counter}"));
                    i += 1;
                }
                say(&format!("BUSIES {busies}"));
            });
        }
    });
    db.close().unwrap();
    say("DONE");
}

/// Role "pin": holds a snapshot, re-reads through it on request.
fn child_pin(path: &str) {
    let db = Database::open(path, opts()).unwrap();
    let mut t = db.begin().unwrap();
    let v = counter_value(t.read(COUNTER_BASE).unwrap());
    say(&format!("PINNED {} {v}", t.snapshot()));
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).unwrap() > 0 {
        let again = counter_value(t.read(COUNTER_BASE).unwrap());
        say(&format!("REREAD {again}"));
        line.clear();
    }
}

const ACCOUNTS: u32 = 8;
const ACCOUNT_BASE: Pgno = 10;
const OPENING_BALANCE: u64 = 1_000;

fn balance(p: Option<libcommit::Page>) -> u64 {
    counter_value(p)
}

/// Role "bank": transfers between accounts under SERIALIZABLE, auditing
/// the total at snapshots in between.
fn child_bank(path: &str, instance: u32, threads: u32, transfers: u64) {
    let o = Options {
        isolation: Isolation::Serializable,
        ..opts()
    };
    let db = Database::open(path, o).unwrap();
    say("READY");
    let results: Vec<(u64, u64, u64)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let db = &db;
                s.spawn(move || {
                    let mut r = Rng::new(mix(u64::from(instance), u64::from(t)));
                    let (mut done, mut conflicts, mut bad_audits) = (0, 0, 0);
                    while done < transfers {
                        let from = ACCOUNT_BASE + r.below(u64::from(ACCOUNTS)) as u32;
                        let to = ACCOUNT_BASE + r.below(u64::from(ACCOUNTS)) as u32;
                        let amount = r.below(50);
                        let mut tx = db.begin().unwrap();
                        let a = balance(tx.read(from).unwrap());
                        let b = balance(tx.read(to).unwrap());
                        if from == to || a < amount {
                            tx.abort();
                            continue;
                        }
                        tx.write(from, &(a - amount).to_le_bytes()).unwrap();
                        tx.write(to, &(b + amount).to_le_bytes()).unwrap();
                        match tx.commit() {
                            Ok(_) => done += 1,
                            Err(e) if matches!(e.status(), Status::Conflict | Status::Busy) => {
                                conflicts += 1
                            }
                            Err(e) => panic!("transfer: {e}"),
                        }
                        if r.chance(20) {
                            let mut audit = db.begin().unwrap();
                            let total: u64 = (0..ACCOUNTS)
                                .map(|i| balance(audit.read(ACCOUNT_BASE + i).unwrap()))
                                .sum();
                            if total != u64::from(ACCOUNTS) * OPENING_BALANCE {
                                bad_audits += 1;
                            }
                        }
                    }
                    (done, conflicts, bad_audits)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sum = |f: fn(&(u64, u64, u64)) -> u64| results.iter().map(f).sum::<u64>();
    say(&format!(
        "BANK {} {} {}",
        sum(|r| r.0),
        sum(|r| r.1),
        sum(|r| r.2)
    ));
    db.close().unwrap();
}

#[test]
fn child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    // A child outlives a failed parent only as long as it takes to notice.
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: as above.
        if unsafe { libc::getppid() } != parent {
            std::process::exit(3);
        }
    });
    let a: Vec<&str> = spec.split('|').collect();
    let n = |i: usize| a[i].parse::<u64>().unwrap();
    match a[0] {
        "commit" => child_commit(a[1], n(2) as u32, n(3) as u32, n(4)),
        "pin" => child_pin(a[1]),
        "bank" => child_bank(a[1], n(2) as u32, n(3) as u32, n(4)),
        other => panic!("unknown role {other}"),
    }
}

/// A child process and the lines it reports (read on a thread, so the
/// parent never blocks on a child's pipe).
struct Proc {
    child: Child,
    lines: Receiver<(Instant, String)>,
}

impl Proc {
    fn spawn(spec: &str) -> Proc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out: ChildStdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(word) = line.trim().strip_prefix("CHILD ") {
                    if tx.send((Instant::now(), word.to_string())).is_err() {
                        break;
                    }
                }
            }
        });
        Proc { child, lines: rx }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next line starting with `prefix` (others are passed to `seen`).
    fn expect(&self, prefix: &str, seen: &mut impl FnMut(Instant, &str)) -> String {
        loop {
            let (at, line) = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("child said nothing starting with {prefix}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
            seen(at, &line);
        }
    }

    /// Every line so far, without waiting.
    fn drain(&self, seen: &mut impl FnMut(Instant, &str)) {
        while let Ok((at, line)) = self.lines.try_recv() {
            seen(at, &line);
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill only sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0);
    }

    fn kill_and_reap(mut self, seen: &mut impl FnMut(Instant, &str)) {
        self.signal(libc::SIGKILL);
        self.child.wait().unwrap();
        // Lines written before the kill are still in the pipe.
        while let Ok((at, line)) = self.lines.recv_timeout(Duration::from_secs(5)) {
            seen(at, &line);
        }
    }

    fn finish(mut self, seen: &mut impl FnMut(Instant, &str)) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        while let Ok((at, line)) = self.lines.recv_timeout(Duration::from_secs(5)) {
            seen(at, &line);
        }
        assert!(status.success(), "child failed: {status}");
    }
}

/// Acknowledged commits: seq -> (writer, i, counter page).
#[derive(Default)]
struct Acks {
    by_seq: BTreeMap<u64, (u32, u64, Pgno)>,
    dup: Vec<u64>,
    last_at: Option<Instant>,
    busies: u64,
}

impl Acks {
    fn note(&mut self, at: Instant, line: &str) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"ACK") => {
                let seq: u64 = f[1].parse().unwrap();
                let v = (
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[4].parse().unwrap(),
                );
                if self.by_seq.insert(seq, v).is_some() {
                    self.dup.push(seq);
                }
                self.last_at = Some(at);
            }
            Some(&"BUSIES") => self.busies += f[1].parse::<u64>().unwrap(),
            _ => {}
        }
    }

    /// Every acknowledged commit is in `db`: its own page verifies and
    /// the shared counters count at least every acknowledged increment.
    fn check(&self, db: &Database, exact_counters: bool) {
        assert!(
            self.dup.is_empty(),
            "commit seqs acknowledged twice: {:?}",
            self.dup
        );
        let last = db.stats().unwrap().last_commit_seq;
        let mut per_counter: BTreeMap<Pgno, u64> = BTreeMap::new();
        for (&seq, &(writer, i, counter)) in &self.by_seq {
            assert!(
                seq <= last,
                "acknowledged commit {seq} past the last one {last}"
            );
            let pgno = own_page(writer, i);
            let page = db
                .read(pgno)
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged commit {seq} lost: page {pgno} missing"));
            let id = verify_image(pgno, &page).unwrap().expect("a full image");
            assert_eq!((id.writer, id.counter), (writer, i), "page {pgno}");
            *per_counter.entry(counter).or_default() += 1;
        }
        for (&counter, &n) in &per_counter {
            let v = counter_value(db.read(counter).unwrap());
            if exact_counters {
                assert_eq!(v, n, "counter page {counter}: an update was lost");
            } else {
                assert!(v >= n, "counter page {counter}: {v} < {n} acknowledged");
            }
        }
    }
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

/// Waits until `pid` is stopped: kill(SIGSTOP) returns before it is.
fn wait_stopped(pid: i32) {
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // "pid (comm) S ...": the state follows the last ')'.
        let state = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .next();
        if state == Some("T") {
            return;
        }
        std::thread::yield_now();
    }
}

/// Stops `p` at a moment it holds the writer lease (tries until it does).
fn stop_while_holding(p: &Proc, path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        p.signal(libc::SIGSTOP);
        wait_stopped(p.pid());
        // A stopped process cannot give the lease up, so what the shm says
        // stays true.
        if shm_writer_pid(path) == p.pid() {
            return;
        }
        p.signal(libc::SIGCONT);
        assert!(Instant::now() < deadline, "child never held the lease");
        std::thread::yield_now();
    }
}

#[test]
fn four_processes_of_four_threads_commit_densely() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mp.db");
    let per_thread = env_u64("LIBCOMMIT_MP_COMMITS").unwrap_or(150);
    let (procs, threads) = (4u32, 4u32);
    let children: Vec<Proc> = (0..procs)
        .map(|i| {
            Proc::spawn(&format!(
                "commit|{}|{i}|{threads}|{per_thread}",
                path.display()
            ))
        })
        .collect();
    let mut acks = Acks::default();
    for c in children {
        let mut note = |at: Instant, l: &str| acks.note(at, l);
        c.expect("DONE", &mut note);
        c.finish(&mut note);
    }
    let total = u64::from(procs * threads) * per_thread;
    assert_eq!(acks.by_seq.len() as u64, total);
    // Dense: the acknowledged seqs are exactly 1..=total.
    let seqs: Vec<u64> = acks.by_seq.keys().copied().collect();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "commit_seq not dense"
    );
    let db = Database::open(&path, opts()).unwrap();
    assert_eq!(db.stats().unwrap().last_commit_seq, total);
    acks.check(&db, true);
    print_totals(
        "multiprocess",
        &[
            ("mp_processes", u64::from(procs)),
            ("mp_commits", total),
            ("anomalies", 0),
        ],
    );
}

#[test]
fn killing_the_lease_holder_loses_nothing_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.db");
    let kills = env_u64("LIBCOMMIT_MP_KILLS").unwrap_or(50);
    let spec = |instance: u32| format!("commit|{}|{instance}|2|0", path.display());
    let mut acks = Acks::default();
    let mut next_instance = 0u32;
    let mut spawn = |acks: &mut Acks| {
        let p = Proc::spawn(&spec(next_instance));
        next_instance += 1;
        p.expect("READY", &mut |at, l| acks.note(at, l));
        p
    };
    let mut a = spawn(&mut acks);
    let mut b = spawn(&mut acks);
    let mut worst = Duration::ZERO;
    for _ in 0..kills {
        // Both make progress before the next kill.
        for p in [&a, &b] {
            let mut n = 0;
            while n < 3 {
                let l = p.expect("ACK", &mut |at, l| acks.note(at, l));
                acks.note(Instant::now(), &format!("ACK {l}"));
                n += 1;
            }
        }
        stop_while_holding(&a, &path);
        let killed_at = Instant::now();
        a.kill_and_reap(&mut |at, l| acks.note(at, l));
        // The survivor commits again within busy_timeout + 1 s.
        b.drain(&mut |at, l| acks.note(at, l));
        let l = b.expect("ACK", &mut |at, l| acks.note(at, l));
        let took = killed_at.elapsed();
        acks.note(Instant::now(), &format!("ACK {l}"));
        assert!(
            took <= Duration::from_millis(u64::from(BUSY_MS) + 1000),
            "no commit for {took:?} after the holder died"
        );
        worst = worst.max(took);
        a = b;
        b = spawn(&mut acks);
    }
    for p in [a, b] {
        p.kill_and_reap(&mut |at, l| acks.note(at, l));
    }
    let db = Database::open(&path, opts()).unwrap();
    acks.check(&db, false);
    // Dense on: the next commit takes the next number.
    let last = db.stats().unwrap().last_commit_seq;
    let seq = db
        .commit_batch(&[libcommit::PageWrite::put(2, b"after")])
        .unwrap();
    assert_eq!(seq, last + 1);
    eprintln!(
        "holder kills: {kills}, acknowledged {}, slowest takeover {worst:?}",
        acks.by_seq.len()
    );
    print_totals(
        "multiprocess_kill",
        &[
            ("mp_holder_kills", kills),
            ("mp_commits", acks.by_seq.len() as u64),
            ("anomalies", 0),
        ],
    );
}

#[test]
fn a_stopped_holder_makes_others_busy_after_their_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stop.db");
    let busy_ms = 500u64;
    let mine = Database::open(
        &path,
        Options {
            busy_timeout_ms: busy_ms as u32,
            ..opts()
        },
    )
    .unwrap();
    let seq = mine
        .commit_batch(&[libcommit::PageWrite::put(COUNTER_BASE, &7u64.to_le_bytes())])
        .unwrap();
    let p = Proc::spawn(&format!("commit|{}|0|2|0", path.display()));
    let mut acks = Acks::default();
    p.expect("ACK", &mut |at, l| acks.note(at, l));
    stop_while_holding(&p, &path);
    // Readers are never blocked by the writer lease.
    let r = mine.begin().unwrap();
    assert!(r.snapshot() >= seq);
    drop(r);
    for _ in 0..2 {
        let started = Instant::now();
        let e = mine
            .commit_batch(&[libcommit::PageWrite::put(999, b"mine")])
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.status(), Status::Busy, "{e}");
        assert!(
            took >= Duration::from_millis(busy_ms) && took <= Duration::from_millis(busy_ms + 250),
            "Busy after {took:?}, busy_timeout {busy_ms} ms"
        );
    }
    p.signal(libc::SIGCONT);
    let seq2 = loop {
        match mine.commit_batch(&[libcommit::PageWrite::put(999, b"mine")]) {
            Ok(s) => break s,
            Err(Error::Busy(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(seq2 > seq);
    p.kill_and_reap(&mut |at, l| acks.note(at, l));
    print_totals("multiprocess_stop", &[("mp_stops", 1), ("anomalies", 0)]);
}

#[test]
fn a_killed_readers_slot_is_reclaimed_and_checkpoints_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pin.db");
    let db = Database::open(&path, opts()).unwrap();
    let put = |v: u64| {
        db.commit_batch(&[libcommit::PageWrite::put(COUNTER_BASE, &v.to_le_bytes())])
            .unwrap()
    };
    put(1);
    let mut reader = Proc::spawn(&format!("pin|{}", path.display()));
    let pinned = reader.expect("PINNED", &mut |_, _| {});
    let (snap, seen): (u64, u64) = {
        let mut f = pinned.split_whitespace().map(|x| x.parse().unwrap());
        (f.next().unwrap(), f.next().unwrap())
    };
    assert_eq!(seen, 1);
    for v in 2..=200 {
        put(v);
    }
    // Checkpoints here never pass the other process's snapshot...
    let c = db.checkpoint().unwrap();
    assert!(
        c.checkpoint_seq <= snap,
        "checkpoint {} passed a live reader's snapshot {snap}",
        c.checkpoint_seq
    );
    // ...which still reads what it read, through its own snapshot.
    writeln!(reader.child.stdin.as_mut().unwrap(), "reread").unwrap();
    assert_eq!(reader.expect("REREAD", &mut |_, _| {}), "1");
    let last = db.stats().unwrap().last_commit_seq;
    reader.kill_and_reap(&mut |_, _| {});
    // The dead reader's slot no longer holds anything back.
    let c = db.checkpoint().unwrap();
    assert_eq!(c.checkpoint_seq, last, "checkpoint did not catch up");
    assert_eq!(counter_value(db.read(COUNTER_BASE).unwrap()), 200);
    print_totals(
        "multiprocess_reader",
        &[("mp_reader_kills", 1), ("anomalies", 0)],
    );
}

#[test]
fn the_bank_balances_across_processes_under_serializable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    {
        let db = Database::open(&path, opts()).unwrap();
        let opening = OPENING_BALANCE.to_le_bytes();
        let writes: Vec<_> = (0..ACCOUNTS)
            .map(|i| libcommit::PageWrite::put(ACCOUNT_BASE + i, &opening))
            .collect();
        db.commit_batch(&writes).unwrap();
        db.close().unwrap();
    }
    let transfers = env_u64("LIBCOMMIT_MP_TRANSFERS").unwrap_or(300);
    let procs: Vec<Proc> = (0..3)
        .map(|i| Proc::spawn(&format!("bank|{}|{i}|2|{transfers}", path.display())))
        .collect();
    let (mut done, mut conflicts) = (0u64, 0u64);
    for p in procs {
        let r = p.expect("BANK", &mut |_, _| {});
        let f: Vec<u64> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
        assert_eq!(f[2], 0, "an audit saw money appear or vanish");
        done += f[0];
        conflicts += f[1];
        p.finish(&mut |_, _| {});
    }
    assert_eq!(done, 3 * 2 * transfers);
    let db = Database::open(&path, opts()).unwrap();
    let total: u64 = (0..ACCOUNTS)
        .map(|i| balance(db.read(ACCOUNT_BASE + i).unwrap()))
        .sum();
    assert_eq!(total, u64::from(ACCOUNTS) * OPENING_BALANCE);
    assert_eq!(db.stats().unwrap().last_commit_seq, 1 + done);
    eprintln!("bank: {done} transfers, {conflicts} conflicts retried");
    print_totals(
        "multiprocess_bank",
        &[("mp_bank_transfers", done), ("anomalies", 0)],
    );
}
