//! Kill -9: a child process commits self-verifying page images from 4
//! threads and reports each commit's write set before it commits and its
//! commit_seq once acknowledged; the parent SIGKILLs it at a random moment,
//! reopens, and checks: every acknowledged commit is there, each thread's
//! commits form a prefix (no partial commit, no gap), every image verifies,
//! and the next commit gets the next number. 100 kills by default
//! (LIBCOMMIT_KILLS to change), half of them in NATIVE mode.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{image, mix, print_totals, verify_image, ImageId, Rng};
use libcommit::{CommitMode, Database, Options, PageWrite, Pgno};

const CHILD_ENV: &str = "LIBCOMMIT_KILL9_CHILD";
const THREADS: u32 = 4;
/// Pages each thread owns; threads never share pages, so each thread's
/// commits apply in its own order and its state is a prefix of them.
const PAGES_PER_THREAD: u32 = 24;
const PAGE: u32 = 1024;

fn opts(mode: CommitMode) -> Options {
    Options {
        page_size: PAGE,
        commit_mode: mode,
        segment_size_bytes: 128 << 10,
        checkpoint_threshold_bytes: 256 << 10,
        ..Options::default()
    }
}

fn mode_of(s: &str) -> CommitMode {
    if s == "native" {
        CommitMode::Native
    } else {
        CommitMode::Wal
    }
}

/// The write set of commit `counter` of `thread`: 1..=4 of its pages.
fn write_set(thread: u32, counter: u64) -> Vec<(Pgno, ImageId)> {
    let mut r = Rng::new(mix(u64::from(thread), counter));
    let n = 1 + r.below(4) as u32;
    let mut pages = BTreeSet::new();
    while pages.len() < n as usize {
        pages.insert(1 + thread * PAGES_PER_THREAD + r.below(u64::from(PAGES_PER_THREAD)) as u32);
    }
    pages
        .into_iter()
        .map(|p| {
            let len = 24 + r.below(u64::from(PAGE) - 24) as u32;
            (
                p,
                ImageId {
                    writer: thread,
                    counter,
                    len,
                },
            )
        })
        .collect()
}

/// Child: commit forever from 4 threads, reporting "ack T C SEQ" after
/// each acknowledged commit. The parent knows write sets from (T, C).
fn child_main(path: &str, mode: CommitMode, start: u64) {
    let db = Database::open(path, opts(mode)).unwrap();
    let out = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (db, out) = (&db, &out);
            s.spawn(move || {
                for c in start.. {
                    let set = write_set(t, c);
                    let images: Vec<Vec<u8>> = set.iter().map(|&(p, id)| image(p, id)).collect();
                    let batch: Vec<PageWrite> = set
                        .iter()
                        .zip(&images)
                        .map(|(&(p, _), img)| PageWrite::put(p, img))
                        .collect();
                    let seq = db.commit_batch(&batch).unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ack {t} {c} {seq}").unwrap();
                    o.flush().unwrap();
                }
            });
        }
    });
}

#[test]
fn kill9_child_entry() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let mut parts = spec.split('|');
        let (path, mode, start) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        child_main(path, mode_of(mode), start.parse().unwrap());
    }
}

/// Per thread, the counters committed so far (in order) across all runs.
#[derive(Default)]
struct History {
    /// thread -> counters ever attempted, ascending.
    attempted: BTreeMap<u32, Vec<u64>>,
    /// thread -> highest acknowledged counter.
    acked: BTreeMap<u32, u64>,
    max_acked_seq: u64,
}

/// Checks the reopened database against the history; returns how many
/// anomalies it found (printing each) and each thread's newest counter.
fn verify(db: &Database, h: &History, kill: u32) -> (u64, BTreeMap<u32, u64>) {
    let mut tops = BTreeMap::new();
    let mut anomalies = 0;
    let mut bad = |what: String| {
        eprintln!("kill {kill}: ANOMALY {what}");
        anomalies += 1;
    };
    let last = db.stats().unwrap().last_commit_seq;
    if last < h.max_acked_seq {
        bad(format!(
            "last_commit_seq {last} < acknowledged {}",
            h.max_acked_seq
        ));
    }
    for t in 0..THREADS {
        // The newest counter of thread t that shows anywhere.
        let mut seen: BTreeMap<Pgno, u64> = BTreeMap::new();
        for p in 1 + t * PAGES_PER_THREAD..=(t + 1) * PAGES_PER_THREAD {
            if let Some(img) = db.read(p).unwrap() {
                match verify_image(p, &img) {
                    Ok(Some(id)) if id.writer == t => {
                        seen.insert(p, id.counter);
                    }
                    other => bad(format!("page {p}: bad image {other:?}")),
                }
            }
        }
        let top = seen.values().copied().max();
        if let Some(top) = top {
            tops.insert(t, top);
        }
        if let Some(&a) = h.acked.get(&t) {
            if top.is_none_or(|top| top < a) {
                bad(format!(
                    "thread {t}: acknowledged commit {a} lost (newest seen {top:?})"
                ));
            }
        }
        // The state must be exactly the prefix of t's commits up to `top`.
        let mut want: BTreeMap<Pgno, u64> = BTreeMap::new();
        if let Some(top) = top {
            for &c in h
                .attempted
                .get(&t)
                .into_iter()
                .flatten()
                .filter(|&&c| c <= top)
            {
                for (p, _) in write_set(t, c) {
                    want.insert(p, c);
                }
            }
        }
        if want != seen {
            bad(format!(
                "thread {t}: state is not a prefix of its commits (newest {top:?})"
            ));
        }
    }
    // The next commit gets the next number.
    let seq = db
        .commit_batch(&[PageWrite::put(THREADS * PAGES_PER_THREAD + 1, b"probe")])
        .unwrap();
    if seq != last + 1 {
        bad(format!("next commit got {seq}, expected {}", last + 1));
    }
    (anomalies, tops)
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_commit() {
    let kills: u32 = std::env::var("LIBCOMMIT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut rng = Rng::new(common::base_seed(0x9e37_79b9));
    let (mut anomalies, mut acks_total) = (0u64, 0u64);
    for mode in ["wal", "native"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let mut h = History::default();
        let mut next_counter = 1u64;
        for kill in 0..kills / 2 {
            let start = next_counter;
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "kill9_child_entry",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, format!("{}|{mode}|{start}", path.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Every counter from `start` on may have been attempted.
            let out = BufReader::new(child.stdout.take().unwrap());
            let wait_for = 1 + rng.below(60);
            let mut acks = 0;
            for line in out.lines() {
                let line = line.unwrap();
                let Some(rest) = line.trim().strip_prefix("ack ") else {
                    continue;
                };
                let v: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
                let (t, c, seq) = (v[0] as u32, v[1], v[2]);
                let e = h.acked.entry(t).or_insert(0);
                *e = (*e).max(c);
                h.max_acked_seq = h.max_acked_seq.max(seq);
                acks += 1;
                if acks >= wait_for {
                    break;
                }
            }
            child.kill().unwrap();
            child.wait().unwrap();
            acks_total += acks;
            // Counters this run may have committed: each thread commits its
            // counters in order, and none got past the acks we read by more
            // than what fits in the pipe meanwhile; allow a wide margin.
            let reach = start + acks + 4096;
            for t in 0..THREADS {
                h.attempted.entry(t).or_default().extend(start..reach);
            }
            let db = Database::open(&path, opts(mode_of(mode))).unwrap();
            let (found, tops) = verify(&db, &h, kill);
            anomalies += found;
            db.close().unwrap();
            // Counters of this run past each thread's newest were never
            // committed and never will be: the next run starts at `reach`.
            for (t, v) in h.attempted.iter_mut() {
                let top = tops.get(t).copied().unwrap_or(0);
                v.retain(|&c| c < start || c <= top);
            }
            next_counter = reach;
        }
    }
    print_totals(
        "crash_kill9",
        &[
            ("kills", u64::from(kills)),
            ("acks", acks_total),
            ("anomalies", anomalies),
        ],
    );
    assert_eq!(anomalies, 0);
}
