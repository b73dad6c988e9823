//! Shared machinery of the crash, fault and corruption suites: a seeded
//! RNG, self-verifying page payloads, a model of committed state, a random
//! workload driver that checks every answer against the model, and the
//! recovery checker.
//!
//! Every suite is deterministic from a seed: the workload runs on one
//! thread (interleaving up to 16 open transactions), the engine runs with
//! no flush delay, and [`SimStorage`] takes its random choices from its own
//! seed. A failing case prints its seed and the environment variables that
//! replay it.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libcommit::storage::SimStorage;
use libcommit::{
    CommitMode, CommitSeq, Database, Error, Isolation, Options, PageWrite, Pgno, SyncMode,
    Transaction,
};

// ---------------------------------------------------------------------
// RNG and environment
// ---------------------------------------------------------------------

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Mixes two numbers into a seed.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut r = Rng(a.rotate_left(17) ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.next_u64()
}

/// A number from the environment (decimal or 0x-hex).
pub fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v}: not a number")))
}

/// A default run size: as given in release builds (what `make test`
/// runs), a twentieth of it in debug builds, which are ~20x slower.
/// Environment variables that set a size are taken as given.
pub fn scaled(release_default: u64) -> u64 {
    if cfg!(debug_assertions) {
        release_default.div_ceil(20)
    } else {
        release_default
    }
}

/// The seed to replay (`LIBCOMMIT_SEED`), if any.
pub fn replay_seed() -> Option<u64> {
    env_u64("LIBCOMMIT_SEED")
}

/// A base seed for a run: `LIBCOMMIT_BASE_SEED` or a fixed default, so the
/// default run is the same every time.
pub fn base_seed(default: u64) -> u64 {
    env_u64("LIBCOMMIT_BASE_SEED").unwrap_or(default)
}

/// Writes a line to stderr past the test harness's output capture, so
/// totals show in `cargo test` / `make test` output.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Prints a suite's totals line.
pub fn print_totals(suite: &str, fields: &[(&str, u64)]) {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    say(&format!("TOTALS {suite}: {}", body.join(" ")));
}

/// A path unique to this case, so parallel tests never share an engine.
pub fn db_path(suite: &str, seed: u64, extra: u64) -> PathBuf {
    PathBuf::from(format!("/sim/{suite}-{seed:016x}-{extra}/db"))
}

/// A fresh simulated disk holding the directory of `path`.
pub fn new_sim(seed: u64, path: &Path) -> SimStorage {
    let sim = SimStorage::new(seed);
    sim.create_dir_all(path.parent().expect("db path has a parent"));
    sim
}

// ---------------------------------------------------------------------
// Self-verifying page payloads
// ---------------------------------------------------------------------

/// Who wrote an image and which one: with the pgno, enough to rebuild it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId {
    pub writer: u32,
    pub counter: u64,
    pub len: u32,
}

/// Bytes of the payload header: writer u32, counter u64, pgno u32,
/// len u32, checksum u32 (FNV-1a of everything else).
pub const PAYLOAD_HEADER_BYTES: usize = 24;

fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for part in parts {
        for &b in *part {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

fn body_bytes(pgno: Pgno, id: ImageId, len: usize) -> Vec<u8> {
    let mut r = Rng::new(mix(
        u64::from(id.writer) << 32 | u64::from(pgno),
        id.counter,
    ));
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&r.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The image `id` of `pgno`: when long enough, a header naming writer,
/// counter, pgno and length with a checksum, then pseudo-random bytes
/// derived from them; shorter images are just the derived bytes.
pub fn image(pgno: Pgno, id: ImageId) -> Vec<u8> {
    let len = id.len as usize;
    if len < PAYLOAD_HEADER_BYTES {
        return body_bytes(pgno, id, len);
    }
    let mut out = vec![0u8; PAYLOAD_HEADER_BYTES];
    out[0..4].copy_from_slice(&id.writer.to_le_bytes());
    out[4..12].copy_from_slice(&id.counter.to_le_bytes());
    out[12..16].copy_from_slice(&pgno.to_le_bytes());
    out[16..20].copy_from_slice(&id.len.to_le_bytes());
    out.extend_from_slice(&body_bytes(pgno, id, len - PAYLOAD_HEADER_BYTES));
    let sum = fnv1a(&[&out[0..20], &out[PAYLOAD_HEADER_BYTES..]]);
    out[20..24].copy_from_slice(&sum.to_le_bytes());
    out
}

/// Checks an image read from page `pgno` on its own: for images with a
/// header, that it names this page, its length, has a valid checksum and
/// is exactly the image it claims to be. Returns its id (None for images
/// too short to carry one).
pub fn verify_image(pgno: Pgno, bytes: &[u8]) -> Result<Option<ImageId>, String> {
    if bytes.len() < PAYLOAD_HEADER_BYTES {
        return Ok(None);
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let id = ImageId {
        writer: u32_at(0),
        counter: u64::from_le_bytes(bytes[4..12].try_into().unwrap()),
        len: u32_at(16),
    };
    let named = u32_at(12);
    if named != pgno {
        return Err(format!("page {pgno} holds an image of page {named}"));
    }
    if id.len as usize != bytes.len() {
        return Err(format!(
            "page {pgno}: image says {} bytes, read {}",
            id.len,
            bytes.len()
        ));
    }
    let sum = fnv1a(&[&bytes[0..20], &bytes[PAYLOAD_HEADER_BYTES..]]);
    if sum != u32_at(20) {
        return Err(format!("page {pgno}: payload checksum mismatch"));
    }
    if image(pgno, id) != bytes {
        return Err(format!("page {pgno}: payload bytes differ from {id:?}"));
    }
    Ok(Some(id))
}

// ---------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------

/// One commit: its page writes (None = delete).
pub type Writes = BTreeMap<Pgno, Option<ImageId>>;

/// What the database must contain: every commit by seq.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// commits[i] has seq i + 1.
    pub commits: Vec<Writes>,
    /// Per page: (seq, image) of each committed version, oldest first.
    pub versions: BTreeMap<Pgno, Vec<(CommitSeq, Option<ImageId>)>>,
}

impl Model {
    pub fn last_seq(&self) -> CommitSeq {
        self.commits.len() as CommitSeq
    }

    /// Records the next commit.
    pub fn apply(&mut self, writes: Writes) -> CommitSeq {
        let seq = self.last_seq() + 1;
        for (&pgno, &img) in &writes {
            self.versions.entry(pgno).or_default().push((seq, img));
        }
        self.commits.push(writes);
        seq
    }

    /// The image of `pgno` at snapshot `seq`.
    pub fn at(&self, pgno: Pgno, seq: CommitSeq) -> Option<ImageId> {
        let versions = self.versions.get(&pgno)?;
        let i = versions.partition_point(|&(s, _)| s <= seq);
        if i == 0 {
            None
        } else {
            versions[i - 1].1
        }
    }

    /// The newest commit that wrote `pgno`.
    pub fn last_writer(&self, pgno: Pgno) -> CommitSeq {
        self.versions
            .get(&pgno)
            .and_then(|v| v.last())
            .map_or(0, |&(s, _)| s)
    }

    /// Pages among `pages` written by a commit after `snapshot`.
    pub fn conflicts(&self, snapshot: CommitSeq, pages: &BTreeSet<Pgno>) -> BTreeSet<Pgno> {
        pages
            .iter()
            .copied()
            .filter(|&p| self.last_writer(p) > snapshot)
            .collect()
    }

    /// Every page ever written.
    pub fn universe(&self) -> impl Iterator<Item = Pgno> + '_ {
        self.versions.keys().copied()
    }

    /// The model after its first `n` commits only.
    pub fn prefix(&self, n: CommitSeq) -> Model {
        let mut m = Model::default();
        for w in &self.commits[..n as usize] {
            m.apply(w.clone());
        }
        m
    }
}

/// Compares what the engine returned for `pgno` with the model's image.
pub fn check_page(
    pgno: Pgno,
    got: Option<&[u8]>,
    want: Option<ImageId>,
    what: &str,
) -> Result<(), String> {
    if let Some(bytes) = got {
        verify_image(pgno, bytes).map_err(|e| format!("{what}: WRONG BYTES: {e}"))?;
    }
    match (got, want) {
        (None, None) => Ok(()),
        (Some(bytes), Some(id)) if bytes == image(pgno, id).as_slice() => Ok(()),
        (got, want) => Err(format!(
            "{what}: page {pgno}: got {}, want {}",
            describe(pgno, got),
            want.map_or("not found".to_string(), |id| format!("{id:?}"))
        )),
    }
}

fn describe(pgno: Pgno, got: Option<&[u8]>) -> String {
    match got {
        None => "not found".into(),
        Some(b) => match verify_image(pgno, b) {
            Ok(Some(id)) => format!("{id:?}"),
            Ok(None) => format!("a {}-byte image", b.len()),
            Err(e) => e,
        },
    }
}

// ---------------------------------------------------------------------
// Workload configuration
// ---------------------------------------------------------------------

/// The knobs of one random workload, all drawn from its seed.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub page_size: u32,
    pub sync: SyncMode,
    pub isolation: Isolation,
    pub lanes: u32,
    pub segment_size_bytes: u64,
    pub checkpoint_threshold_bytes: u64,
    /// Random operations to run.
    pub ops: u32,
    /// Open transactions at most at once (1..=16).
    pub max_open_txns: u32,
    /// Pages per transaction or batch at most (1..=64).
    pub max_pages: u32,
    /// Dense page numbers are drawn from 1..=hot_pages (small = conflicts).
    pub hot_pages: u32,
    /// Percent of operations that are explicit checkpoints.
    pub checkpoint_percent: u64,
    /// WAL (page images in the log) or NATIVE (capsules plus markers).
    pub commit_mode: CommitMode,
}

impl Config {
    pub fn random(seed: u64, sync: SyncMode) -> Config {
        let mut r = Rng::new(mix(seed, 0xC0F1));
        Config {
            seed,
            page_size: *r.pick(&[512, 1024, 1024, 4096]),
            sync,
            isolation: if r.chance(30) {
                Isolation::Serializable
            } else {
                Isolation::Snapshot
            },
            lanes: *r.pick(&[1, 1, 2, 4]),
            segment_size_bytes: 64 << 10,
            checkpoint_threshold_bytes: *r.pick(&[0, 128 << 10, 512 << 10]),
            ops: r.range(10, 150) as u32,
            max_open_txns: r.range(1, 16) as u32,
            max_pages: *r.pick(&[4, 16, 64]),
            hot_pages: *r.pick(&[8, 40, 200]),
            checkpoint_percent: *r.pick(&[0, 3, 8]),
            // Drawn last so the other knobs of a seed do not depend on it.
            commit_mode: if r.chance(30) {
                CommitMode::Native
            } else {
                CommitMode::Wal
            },
        }
    }

    /// The knobs in one line, for failure reports.
    pub fn describe(&self) -> String {
        format!(
            "(mode={:?} page_size={} sync={:?} isolation={:?} lanes={} checkpoint_threshold={} ops={} open_txns<={} pages<={} hot={})",
            self.commit_mode,
            self.page_size,
            self.sync,
            self.isolation,
            self.lanes,
            self.checkpoint_threshold_bytes,
            self.ops,
            self.max_open_txns,
            self.max_pages,
            self.hot_pages
        )
    }

    pub fn options(&self, sim: &SimStorage) -> Options {
        Options {
            page_size: self.page_size,
            sync: self.sync,
            commit_mode: self.commit_mode,
            isolation: self.isolation,
            lanes: self.lanes,
            max_flush_delay_us: 0,
            checkpoint_threshold_bytes: self.checkpoint_threshold_bytes,
            segment_size_bytes: self.segment_size_bytes,
            storage: Arc::new(sim.clone()),
            ..Options::default()
        }
    }
}

// ---------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------

/// Formerly an engine bug (fixed; its regression test is in crash_regressions.rs): under NATIVE + sync NORMAL a
/// flush syncs markers but not capsules, so a power loss can leave a
/// database that refuses to open. True when `err` (a reopen failure) is
/// that, and known bugs are being skipped.
pub fn known_native_normal_bug(mode: CommitMode, sync: SyncMode, err: &str) -> bool {
    skip_known_bugs()
        && mode == CommitMode::Native
        && sync == SyncMode::Normal
        && err.contains("capsule of commit")
}

/// Every bug these suites found is fixed, so by default a recurrence is an
/// anomaly like any other; LIBCOMMIT_LENIENT=1 counts such cases instead
/// (for bisecting an old engine).
pub fn skip_known_bugs() -> bool {
    std::env::var_os("LIBCOMMIT_LENIENT").is_some()
}

/// Why a workload stopped early.
#[derive(Debug)]
pub struct Stop {
    pub op: &'static str,
    pub err: Error,
}

struct OpenTxn {
    txn: Transaction,
    writer: u32,
    snapshot: CommitSeq,
    writes: Writes,
    reads: BTreeSet<Pgno>,
    target_pages: u32,
}

/// Runs random operations against a database and checks every answer
/// against the model. Single-threaded, so a seed replays exactly.
pub struct Driver {
    pub cfg: Config,
    pub rng: Rng,
    pub model: Model,
    /// Commits that returned an error other than a conflict, in order:
    /// each may or may not have reached the disk.
    pub in_doubt: Vec<Writes>,
    /// The newest commit known durable whatever the sync mode (a
    /// successful checkpoint covers it).
    pub durable_floor: CommitSeq,
    /// Model mismatches seen while running.
    pub anomalies: Vec<String>,
    pub commits_ok: u64,
    pub conflicts: u64,
    pub checkpoints: u64,
    /// The disk under the database, for checks that look at files.
    pub sim: Option<SimStorage>,
    /// Treat `Error::Full` from a commit or checkpoint as an outcome (the
    /// commit did not happen) and go on, instead of stopping.
    pub continue_on_full: bool,
    /// `Error::Full` answers seen (with `continue_on_full`).
    pub full_errors: u64,
    /// The message of the first of them.
    pub first_full: Option<String>,
    /// Commit numbers the engine may have used up for commits that failed
    /// with Full (a former engine bug, fixed; see crash_regressions.rs): a gap of at most
    /// this many is absorbed as empty commits instead of an anomaly.
    pub voids_allowed: u64,
    /// Commit numbers so absorbed.
    pub voids_absorbed: u64,
    /// (last acknowledged commit then, pages) of each commit that failed
    /// with Full (known engine bug: their pages may still conflict).
    pub full_failed: Vec<(CommitSeq, BTreeSet<Pgno>)>,
    /// Conflicts explained only by such pages.
    pub spurious_conflicts: u64,
    /// Set by suites when the run stopped on an error.
    pub stopped: bool,
    /// Operations run so far.
    pub ops_done: u32,
    /// A commit another process left in doubt (written, never
    /// acknowledged) that this driver's engine may still adopt when it
    /// takes the writer lease: then it shows up as the next commit.
    pub adoptable: Option<Writes>,
    next_writer: u32,
    next_counter: u64,
    txns: Vec<OpenTxn>,
}

impl Driver {
    pub fn new(cfg: Config) -> Driver {
        let rng = Rng::new(mix(cfg.seed, 0xD21));
        Driver {
            cfg,
            rng,
            model: Model::default(),
            in_doubt: Vec::new(),
            durable_floor: 0,
            anomalies: Vec::new(),
            commits_ok: 0,
            conflicts: 0,
            checkpoints: 0,
            sim: None,
            continue_on_full: false,
            full_errors: 0,
            first_full: None,
            voids_allowed: 0,
            voids_absorbed: 0,
            full_failed: Vec::new(),
            spurious_conflicts: 0,
            stopped: false,
            ops_done: 0,
            adoptable: None,
            next_writer: 1,
            next_counter: 1,
            txns: Vec::new(),
        }
    }

    /// A driver that goes on from `model` (what an earlier process
    /// committed) in another process: its writers and images are numbered
    /// apart from the earlier one's.
    pub fn resume(cfg: Config, model: Model, generation: u32) -> Driver {
        let mut d = Driver::new(cfg);
        d.model = model;
        d.next_writer = generation * 1_000_000 + 1;
        d.next_counter = u64::from(generation) << 40 | 1;
        d
    }

    fn anomaly(&mut self, what: String) {
        self.anomalies.push(what);
    }

    /// Drops every open transaction (they abort).
    pub fn abort_all(&mut self) {
        self.txns.clear();
    }

    fn pick_pgno(&mut self) -> Pgno {
        match self.rng.below(100) {
            0..=89 => self.rng.range(1, u64::from(self.cfg.hot_pages)) as Pgno,
            90..=96 => self.rng.range(1000, 1100) as Pgno,
            _ => *self
                .rng
                .pick(&[u32::MAX, u32::MAX - 1, 1 << 20, 77_777_777]),
        }
    }

    fn new_image(&mut self, writer: u32) -> ImageId {
        let ps = u64::from(self.cfg.page_size);
        let len = match self.rng.below(10) {
            0 => 0,
            1 => self.rng.range(1, PAYLOAD_HEADER_BYTES as u64 - 1),
            2 | 3 => ps,
            _ => self.rng.range(PAYLOAD_HEADER_BYTES as u64, ps),
        } as u32;
        let counter = self.next_counter;
        self.next_counter += 1;
        ImageId {
            writer,
            counter,
            len,
        }
    }

    /// Draws a write set of 1..=max_pages pages (a few deletes).
    fn random_writes(&mut self, writer: u32, n: u32) -> Writes {
        let mut w = Writes::new();
        for _ in 0..n {
            let pgno = self.pick_pgno();
            let img = if self.rng.chance(10) {
                None
            } else {
                Some(self.new_image(writer))
            };
            w.insert(pgno, img);
        }
        w
    }

    fn fresh_writer(&mut self) -> u32 {
        let w = self.next_writer;
        self.next_writer += 1;
        w
    }

    /// Runs `cfg.ops` random operations. Stops at the first error that is
    /// not a conflict (the caller decides whether it was expected).
    /// After a stop, calling it again goes on with the remaining ones.
    pub fn run(&mut self, db: &Database) -> Result<(), Stop> {
        while self.ops_done < self.cfg.ops {
            self.ops_done += 1;
            self.step(db)?;
        }
        Ok(())
    }

    /// Like [`Driver::run`], in a simulated process that `alive` says may
    /// be killed meanwhile: an answer that comes back after the kill was
    /// never seen by anyone (the process is gone), so commits it reported
    /// are in doubt, not acknowledged. Ok once the process is dead.
    pub fn run_while(&mut self, db: &Database, alive: impl Fn() -> bool) -> Result<(), Stop> {
        while self.ops_done < self.cfg.ops && alive() {
            self.ops_done += 1;
            let before = self.model.last_seq();
            let r = self.step(db);
            if !alive() {
                self.demote_since(before);
                return Ok(());
            }
            r?;
        }
        Ok(())
    }

    /// Commits after `n` go back to being in doubt.
    fn demote_since(&mut self, n: CommitSeq) {
        let late: Vec<Writes> = self.model.commits[n as usize..].to_vec();
        if late.is_empty() {
            return;
        }
        self.commits_ok -= late.len() as u64;
        self.model = self.model.prefix(n);
        let mut in_doubt = late;
        in_doubt.append(&mut self.in_doubt);
        self.in_doubt = in_doubt;
    }

    /// One random operation.
    pub fn step(&mut self, db: &Database) -> Result<(), Stop> {
        self.random_op(db)
    }

    fn random_op(&mut self, db: &Database) -> Result<(), Stop> {
        let open = self.txns.len() as u32;
        let can_begin = open < self.cfg.max_open_txns;
        match self.rng.below(100) {
            0..=14 if can_begin => self.op_begin(db),
            0..=44 if open > 0 => self.op_txn_work(),
            0..=44 => self.op_begin(db),
            45..=64 if open > 0 => self.op_commit_txn(),
            65..=67 if open > 0 => {
                let i = self.rng.below(u64::from(open)) as usize;
                self.txns.swap_remove(i);
                Ok(())
            }
            90..=94 => self.op_read(db),
            95..=99 if self.rng.chance(self.cfg.checkpoint_percent * 20) => self.op_checkpoint(db),
            _ => self.op_batch(db),
        }
    }

    fn op_begin(&mut self, db: &Database) -> Result<(), Stop> {
        let txn = db.begin().map_err(|err| Stop { op: "begin", err })?;
        let snapshot = txn.snapshot();
        self.absorb_voids(snapshot);
        let last = self.model.last_seq();
        if snapshot != last {
            self.anomaly(format!(
                "begin: snapshot {snapshot}, but the last acknowledged commit is {last}"
            ));
        }
        let writer = self.fresh_writer();
        let target_pages = self.rng.range(1, u64::from(self.cfg.max_pages)) as u32;
        self.txns.push(OpenTxn {
            txn,
            writer,
            snapshot,
            writes: Writes::new(),
            reads: BTreeSet::new(),
            target_pages,
        });
        Ok(())
    }

    /// Reads, writes or deletes a few pages in one open transaction.
    fn op_txn_work(&mut self) -> Result<(), Stop> {
        let i = self.rng.below(self.txns.len() as u64) as usize;
        let n = self.rng.range(1, 8);
        for _ in 0..n {
            let pgno = self.pick_pgno();
            let read = self.rng.chance(30);
            let t = &self.txns[i];
            if read || t.writes.len() as u32 >= t.target_pages {
                self.txn_read(i, pgno)?;
            } else {
                let writer = self.txns[i].writer;
                let img = if self.rng.chance(10) {
                    None
                } else {
                    Some(self.new_image(writer))
                };
                let t = &mut self.txns[i];
                let r = match img {
                    Some(id) => t.txn.write(pgno, &image(pgno, id)),
                    None => t.txn.delete(pgno),
                };
                r.map_err(|err| Stop {
                    op: "txn write",
                    err,
                })?;
                t.writes.insert(pgno, img);
            }
        }
        Ok(())
    }

    fn txn_read(&mut self, i: usize, pgno: Pgno) -> Result<(), Stop> {
        let t = &mut self.txns[i];
        let got = t.txn.read(pgno).map_err(|err| Stop {
            op: "txn read",
            err,
        })?;
        let want = match t.writes.get(&pgno) {
            Some(&own) => own,
            None => {
                t.reads.insert(pgno);
                self.model.at(pgno, t.snapshot)
            }
        };
        let what = format!("txn read at snapshot {}", t.snapshot);
        if let Err(e) = check_page(pgno, got.as_deref(), want, &what) {
            self.anomaly(e);
        }
        Ok(())
    }

    fn op_commit_txn(&mut self) -> Result<(), Stop> {
        let i = self.rng.below(self.txns.len() as u64) as usize;
        let t = self.txns.swap_remove(i);
        let mut checked: BTreeSet<Pgno> = t.writes.keys().copied().collect();
        if self.cfg.isolation == Isolation::Serializable && !t.writes.is_empty() {
            checked.extend(t.reads.iter().copied());
        }
        let expect_conflict = self.model.conflicts(t.snapshot, &checked);
        let result = t.txn.commit();
        if t.writes.is_empty() {
            return match result {
                Ok(_) => Ok(()),
                Err(err) => Err(Stop {
                    op: "read-only commit",
                    err,
                }),
            };
        }
        self.finish_commit("txn commit", result, t.writes, expect_conflict, t.snapshot)
    }

    fn op_batch(&mut self, db: &Database) -> Result<(), Stop> {
        let writer = self.fresh_writer();
        let n = self.rng.range(1, u64::from(self.cfg.max_pages)) as u32;
        let writes = self.random_writes(writer, n);
        let images: Vec<(Pgno, Option<Vec<u8>>)> = writes
            .iter()
            .map(|(&p, img)| (p, img.map(|id| image(p, id))))
            .collect();
        let batch: Vec<PageWrite<'_>> = images
            .iter()
            .map(|(p, data)| PageWrite {
                pgno: *p,
                data: data.as_deref(),
            })
            .collect();
        let result = db.commit_batch(&batch);
        self.finish_commit("batch commit", result, writes, BTreeSet::new(), 0)
    }

    fn finish_commit(
        &mut self,
        op: &'static str,
        result: libcommit::Result<CommitSeq>,
        writes: Writes,
        expect_conflict: BTreeSet<Pgno>,
        snapshot: CommitSeq,
    ) -> Result<(), Stop> {
        match result {
            Ok(seq) => {
                self.absorb_voids(seq.saturating_sub(1));
                // Taking the lease settled it: adopted now, or voided.
                self.adoptable = None;
                if !expect_conflict.is_empty() {
                    self.anomaly(format!(
                        "{op}: committed as {seq} but pages {expect_conflict:?} were written after its snapshot (lost update)"
                    ));
                }
                let want = self.model.last_seq() + 1;
                if seq != want {
                    self.anomaly(format!("{op}: got commit_seq {seq}, expected {want}"));
                }
                self.model.apply(writes);
                self.commits_ok += 1;
                Ok(())
            }
            Err(Error::Conflict { pages, commit_seq }) => {
                self.conflicts += 1;
                let reported: BTreeSet<Pgno> = pages.iter().copied().collect();
                if commit_seq == self.model.last_seq() + 1 {
                    if let Some(w) = self.adoptable.take() {
                        // The commit another process left in doubt was
                        // adopted when this one took the lease, and it
                        // won: first-committer-wins against it is right.
                        let adopted: BTreeSet<Pgno> = w.keys().copied().collect();
                        self.model.apply(w);
                        if reported.is_subset(&expect_conflict.union(&adopted).copied().collect()) {
                            return Ok(());
                        }
                    }
                }
                // Formerly an engine bug (fixed; its regression test is in crash_regressions.rs): pages of commits
                // that failed with Full after this snapshot still count.
                let mut possible = expect_conflict.clone();
                for (failed_after, pages) in &self.full_failed {
                    if *failed_after >= snapshot {
                        possible.extend(pages.iter().copied());
                    }
                }
                if !reported.is_empty()
                    && !reported.is_subset(&expect_conflict)
                    && reported.is_subset(&possible)
                {
                    self.spurious_conflicts += 1;
                    return Ok(());
                }
                if expect_conflict.is_empty() {
                    self.anomaly(format!(
                        "{op}: conflict on {pages:?} (by {commit_seq}) but the model sees none"
                    ));
                } else if !reported.is_subset(&expect_conflict) || reported.is_empty() {
                    self.anomaly(format!(
                        "{op}: conflict reports {reported:?}, model expects {expect_conflict:?}"
                    ));
                }
                Ok(())
            }
            Err(Error::Full(msg)) if self.continue_on_full => {
                // Out of space: nothing of this commit may remain.
                self.full_errors += 1;
                self.first_full.get_or_insert(msg);
                if skip_known_bugs() {
                    self.voids_allowed += 1;
                    self.full_failed
                        .push((self.model.last_seq(), writes.keys().copied().collect()));
                }
                Ok(())
            }
            Err(err) => {
                self.in_doubt.push(writes);
                Err(Stop { op, err })
            }
        }
    }

    fn op_read(&mut self, db: &Database) -> Result<(), Stop> {
        if self.adoptable.is_some() {
            // The in-doubt commit may have become visible meanwhile.
            let last = db.stats().map_err(|err| Stop { op: "stats", err })?;
            self.absorb_voids(last.last_commit_seq);
        }
        let pgno = self.pick_pgno();
        let got = db.read(pgno).map_err(|err| Stop { op: "read", err })?;
        let want = self.model.at(pgno, self.model.last_seq());
        if let Err(e) = check_page(pgno, got.as_deref(), want, "db read") {
            self.anomaly(e);
        }
        Ok(())
    }

    fn op_checkpoint(&mut self, db: &Database) -> Result<(), Stop> {
        let segments_before = self.segment_files();
        let report = match db.checkpoint() {
            Ok(r) => r,
            Err(err) => {
                // Gone under every name: renaming a retired segment for
                // reuse (the background worker) is not a deletion.
                let live = self.file_ids();
                let gone: Vec<_> = segments_before
                    .iter()
                    .filter(|(id, _)| !live.contains(id))
                    .map(|(_, p)| p.clone())
                    .collect();
                // Deleting segments is allowed once the main file is
                // durable, so a failure while removing them (or syncing
                // the directory after) may follow deletions; an error
                // from an earlier failure says nothing about this call
                // (the background worker may have retired segments).
                let msg = err.to_string();
                let late_phase = ["remove", "sync directory", "closed to writes"]
                    .iter()
                    .any(|w| msg.contains(w));
                if !gone.is_empty() && !late_phase {
                    self.anomaly(format!(
                        "a failed checkpoint ({err}) deleted segments {gone:?}"
                    ));
                }
                if let (Error::Full(msg), true) = (&err, self.continue_on_full) {
                    self.full_errors += 1;
                    self.first_full.get_or_insert(msg.clone());
                    return Ok(());
                }
                return Err(Stop {
                    op: "checkpoint",
                    err,
                });
            }
        };
        self.checkpoints += 1;
        self.absorb_voids(report.checkpoint_seq);
        let last = self.model.last_seq();
        if report.checkpoint_seq > last {
            self.anomaly(format!(
                "checkpoint_seq {} past the last commit {last}",
                report.checkpoint_seq
            ));
        }
        self.durable_floor = self.durable_floor.max(report.checkpoint_seq.min(last));
        Ok(())
    }

    /// Identities of the WAL segment files on the disk (empty without
    /// `sim`).
    fn segment_files(&self) -> BTreeSet<(u64, PathBuf)> {
        self.sim.as_ref().map_or_else(BTreeSet::new, |sim| {
            sim.file_ids()
                .into_iter()
                .filter(|(p, _)| p.to_string_lossy().contains("-wal-seg-"))
                .map(|(p, id)| (id, p))
                .collect()
        })
    }

    /// Identities of every file on the disk.
    fn file_ids(&self) -> BTreeSet<u64> {
        self.sim.as_ref().map_or_else(BTreeSet::new, |sim| {
            sim.file_ids().into_iter().map(|(_, id)| id).collect()
        })
    }

    /// The engine shows commit `engine_last`: if that is past the model
    /// by no more than the commit numbers failed Full commits may have
    /// used up (known engine bug), record those as empty commits.
    pub fn absorb_voids(&mut self, engine_last: CommitSeq) {
        if engine_last == self.model.last_seq() + 1 {
            if let Some(w) = self.adoptable.take() {
                self.model.apply(w);
            }
        }
        let gap = engine_last.saturating_sub(self.model.last_seq());
        if gap > 0 && gap <= self.voids_allowed {
            for _ in 0..gap {
                self.model.apply(Writes::new());
            }
            self.voids_allowed -= gap;
            self.voids_absorbed += gap;
        }
    }

    /// The lowest commit a recovery may come back with.
    pub fn recovery_floor(&self) -> CommitSeq {
        match self.cfg.sync {
            SyncMode::Full => self.model.last_seq(),
            _ => self.durable_floor,
        }
    }

    /// The model extended by every in-doubt commit.
    pub fn model_with_in_doubt(&self) -> Model {
        let mut m = self.model.clone();
        for w in &self.in_doubt {
            m.apply(w.clone());
        }
        m
    }
}

// ---------------------------------------------------------------------
// The recovery checker
// ---------------------------------------------------------------------

/// Checks a reopened database: its last commit L lies in `floor..=ceiling`
/// and every page equals the model after exactly commits 1..=L (a prefix:
/// no lost acknowledged commit below the floor, no gap, no partial
/// commit). Returns L.
pub fn check_prefix(
    db: &Database,
    model: &Model,
    floor: CommitSeq,
    ceiling: CommitSeq,
) -> Result<CommitSeq, String> {
    let stats = db.stats().map_err(|e| format!("stats after reopen: {e}"))?;
    let last = stats.last_commit_seq;
    if last < floor {
        return Err(format!(
            "LOST COMMITS: reopened at commit {last}, but {floor} was acknowledged durable"
        ));
    }
    if last > ceiling {
        return Err(format!(
            "reopened at commit {last}, but only {ceiling} were ever attempted"
        ));
    }
    check_state(db, model, last)?;
    Ok(last)
}

/// Every page the model knows (and a few it does not) reads as at `seq`.
pub fn check_state(db: &Database, model: &Model, seq: CommitSeq) -> Result<(), String> {
    for pgno in model.universe().chain([2_000_000, 3]) {
        let got = db
            .read(pgno)
            .map_err(|e| format!("read {pgno} after reopen at {seq}: {e}"))?;
        check_page(
            pgno,
            got.as_deref(),
            model.at(pgno, seq),
            &format!("after reopen at {seq}"),
        )?;
    }
    Ok(())
}

/// Opens `path` after unsynced data vanished within the boot. Under NORMAL
/// and OFF commits are acknowledged once written, so such a loss can take
/// acknowledged ones, and open then refuses with Corrupt when a later
/// record saw the missing commit written; `recover` with skip_corrupt then
/// keeps the durable prefix (which the caller checks). Returns the open
/// database and whether that happened.
pub fn open_after_loss_in_boot(
    path: &Path,
    options: Options,
    sync: SyncMode,
) -> Result<(Database, bool), String> {
    match Database::open(path, options.clone()) {
        Ok(db) => Ok((db, false)),
        Err(Error::Corrupt(why)) if sync != SyncMode::Full => {
            libcommit::recover(
                path,
                libcommit::RecoveryOptions {
                    skip_corrupt: true,
                    storage: Arc::clone(&options.storage),
                    ..libcommit::RecoveryOptions::default()
                },
            )
            .map_err(|e| format!("recover after {why}: {e}"))?;
            let db = Database::open(path, options)
                .map_err(|e| format!("open after recovering from {why}: {e}"))?;
            Ok((db, true))
        }
        Err(e) => Err(format!("reopen failed: {e}")),
    }
}

/// Commits one more batch and checks it gets `last + 1` (dense numbering
/// across the crash) and reads back.
pub fn check_next_commit(db: &Database, last: CommitSeq) -> Result<(), String> {
    let id = ImageId {
        writer: u32::MAX,
        counter: last + 1,
        len: 100,
    };
    let img = image(5, id);
    let seq = db
        .commit_batch(&[PageWrite::put(5, &img)])
        .map_err(|e| format!("first commit after reopen: {e}"))?;
    if seq != last + 1 {
        return Err(format!(
            "GAP: first commit after reopen at {last} got seq {seq}"
        ));
    }
    let got = db.read(5).map_err(|e| format!("read back: {e}"))?;
    check_page(5, got.as_deref(), Some(id), "read back after reopen")
}

/// Anomalies of a whole suite, with the replay line of each.
#[derive(Debug, Default)]
pub struct Anomalies {
    pub found: Vec<String>,
}

impl Anomalies {
    pub fn add(&mut self, replay: &str, what: &str) {
        let line = format!("ANOMALY [{replay}]: {what}");
        say(&line);
        self.found.push(line);
    }

    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Fails the test when anything was found.
    pub fn assert_none(&self, suite: &str) {
        assert!(
            self.found.is_empty(),
            "{suite}: {} anomalies:\n{}",
            self.found.len(),
            self.found.join("\n")
        );
    }
}

/// Flips the bits `mask` of the byte at `offset` of a real file.
pub fn flip_file_byte(path: &Path, offset: u64, mask: u8) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= mask;
    f.write_all_at(&b, offset).unwrap();
}
