//! Simulated storage for crash and fault tests.
//!
//! [`SimStorage`] is an in-memory file system that remembers, per file,
//! the bytes a power loss would keep (the *durable* image) beside the bytes
//! reads return now (the *volatile* image), and per directory the durable
//! set of names. It follows the rules of [`super`]: written bytes become
//! durable at `sync_data`/`sync_all` of that file; a created, renamed or
//! removed name at `sync_dir` of its directory.
//!
//! On command it loses power ([`SimStorage::crash`]), choosing from a
//! seeded RNG how much of the unsynced state survives ([`CrashMode`]): none
//! of it, a random subset of 512-byte sectors, every write but the last
//! one torn at a sector boundary, a random prefix of the writes in order,
//! or all of it; likewise for directory operations. Every file handle
//! opened before the power loss is dead afterwards (all calls fail with
//! EIO), so an engine instance cannot keep writing into the new "boot".
//!
//! Faults: [`SimStorage::inject`] fails the Nth call of a [`FaultOp`] with
//! EIO or ENOSPC; [`SimStorage::set_capacity_bytes`] makes writes and
//! allocations past a disk size fail with ENOSPC; and
//! [`SimStorage::set_crash_at`] cuts power when the global step counter
//! (one step per mutating call) reaches a given value.
//!
//! Orchestration and inspection: [`SimStorage::pause_at`] holds a chosen
//! call inside the storage until the test releases it (to force a thread
//! interleaving without sleeping); [`SimStorage::set_trace`] records every
//! step; [`SimStorage::fork`] copies the whole disk (to try many crashes
//! or byte flips on one image); [`SimStorage::corrupt_byte`] flips bits
//! on the "platter".
//!
//! The fault model is adversarial where real systems are:
//! - A failed write (injected, or out of space) may have written a prefix
//!   of the buffer (whole sectors for injected faults, whole 4 KiB blocks
//!   for a full disk), like a short `pwrite` followed by an error.
//! - A failed file sync behaves like Linux after an fdatasync error: a
//!   random subset of the unsynced sectors reached the disk, the rest is
//!   marked clean and lost at the next power loss *even if a later sync
//!   succeeds*. An engine that retries fsync and reports success is caught
//!   by the crash checkers.
//!
//! Everything is deterministic given the seed and the order of calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{parent_dir, OpenMode, Storage, StorageFile};

/// The unit a power loss keeps or drops, and the granularity of tearing.
pub const SIM_SECTOR_BYTES: u64 = 512;
/// Allocation unit of the simulated disk (for capacity accounting).
pub const SIM_BLOCK_BYTES: u64 = 4096;

// ---------------------------------------------------------------------
// Public configuration types
// ---------------------------------------------------------------------

/// Which call a fault targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultOp {
    /// `StorageFile::write_at`.
    Write,
    /// `StorageFile::sync_data` and `StorageFile::sync_all`.
    SyncData,
    /// `Storage::sync_dir`.
    SyncDir,
    /// `StorageFile::allocate`.
    Allocate,
    /// `Storage::open` when it creates the file.
    Create,
    /// `Storage::rename`.
    Rename,
    /// `Storage::remove`.
    Remove,
    /// `StorageFile::read_at`.
    Read,
    /// `StorageFile::set_len`.
    SetLen,
}

impl FaultOp {
    /// Every operation, in declaration order.
    pub const ALL: [FaultOp; 9] = [
        FaultOp::Write,
        FaultOp::SyncData,
        FaultOp::SyncDir,
        FaultOp::Allocate,
        FaultOp::Create,
        FaultOp::Rename,
        FaultOp::Remove,
        FaultOp::Read,
        FaultOp::SetLen,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// What a fault returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// `EIO`: the device failed.
    Eio,
    /// `ENOSPC`: no space left.
    Enospc,
}

impl FaultKind {
    fn error(self) -> io::Error {
        io::Error::from_raw_os_error(match self {
            FaultKind::Eio => libc::EIO,
            FaultKind::Enospc => libc::ENOSPC,
        })
    }
}

/// Every call on a dead handle or a machine without power fails so.
fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

/// One fault to inject: fail the `nth` matching call (1 = the next one)
/// of `op`, counted from when the fault is injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub op: FaultOp,
    pub nth: u64,
    pub kind: FaultKind,
    /// Also fail every later matching call (a broken device).
    pub sticky: bool,
    /// Only calls on paths containing this string match.
    pub path_contains: Option<String>,
    /// Only calls on paths ending with this string match.
    pub path_suffix: Option<String>,
}

impl Fault {
    /// Fails the `nth` (1-based) call of `op` with `kind`.
    pub fn new(op: FaultOp, nth: u64, kind: FaultKind) -> Fault {
        assert!(nth >= 1, "Fault::new: nth is 1-based");
        Fault {
            op,
            nth,
            kind,
            sticky: false,
            path_contains: None,
            path_suffix: None,
        }
    }

    /// Keeps failing every matching call after the `nth`.
    pub fn sticky(mut self) -> Fault {
        self.sticky = true;
        self
    }

    /// Only counts calls on paths that contain `fragment`.
    pub fn on_paths_containing(mut self, fragment: impl Into<String>) -> Fault {
        self.path_contains = Some(fragment.into());
        self
    }

    /// Only counts calls on paths that end with `suffix` (e.g. "/db" for a
    /// main file whose segments are "/db-wal-seg-...").
    pub fn on_paths_ending_with(mut self, suffix: impl Into<String>) -> Fault {
        self.path_suffix = Some(suffix.into());
        self
    }

    /// True when a call of `op` on `path` counts against this fault.
    pub fn matches(&self, op: FaultOp, path: &str) -> bool {
        op == self.op
            && self
                .path_contains
                .as_ref()
                .is_none_or(|f| path.contains(f.as_str()))
            && self
                .path_suffix
                .as_ref()
                .is_none_or(|f| path.ends_with(f.as_str()))
    }
}

/// What a power loss keeps of the unsynced file data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataLoss {
    /// Every unsynced write is lost.
    DropUnsynced,
    /// Each unsynced sector survives or not, independently.
    KeepRandomSectors,
    /// Every unsynced write but the last survives; the last of each file
    /// is cut at a sector boundary (possibly all of it lost).
    TearLast,
    /// A random prefix of each file's unsynced writes survives, in order;
    /// the next one is torn at a sector boundary.
    KeepPrefix,
    /// Everything written survives (a process crash, or a lucky machine).
    KeepAll,
}

/// What a power loss keeps of the unsynced directory operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DirLoss {
    /// Creations, renames and removals since the last `sync_dir` are lost.
    DropUnsynced,
    /// A random prefix of them (in the order they were made) survives.
    KeepPrefix,
    /// All of them survive.
    KeepAll,
}

/// How a power loss treats unsynced state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrashMode {
    pub data: DataLoss,
    pub dirs: DirLoss,
}

impl CrashMode {
    /// Only synced state survives: the strictest power loss.
    pub const STRICT: CrashMode = CrashMode {
        data: DataLoss::DropUnsynced,
        dirs: DirLoss::DropUnsynced,
    };
    /// Everything survives: a process crash (the page cache lives on).
    pub const PROCESS_CRASH: CrashMode = CrashMode {
        data: DataLoss::KeepAll,
        dirs: DirLoss::KeepAll,
    };
}

/// Counters of what the simulator did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Mutating calls executed (the clock of [`SimStorage::set_crash_at`]).
    pub steps: u64,
    /// Faults injected (calls failed by [`Fault`]s).
    pub faults_injected: u64,
    /// Calls refused because the disk was full.
    pub enospc_capacity: u64,
    /// Power losses applied.
    pub crashes: u64,
    /// Successful `sync_data`/`sync_all`/`sync_dir` calls.
    pub syncs: u64,
    /// Successful `write_at` calls and the bytes they wrote.
    pub writes: u64,
    pub bytes_written: u64,
}

/// A call held at a [`SimStorage::pause_at`] point: the calling thread
/// blocks inside the storage call until the gate is released (or dropped),
/// so a test can order an engine's threads deterministically.
#[derive(Debug)]
pub struct SimGate {
    inner: Arc<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    /// (a call arrived and waits, released)
    state: Mutex<(bool, bool)>,
    cv: parking_lot::Condvar,
}

impl GateInner {
    /// Called by the paused thread: announces itself, waits for release.
    fn block(&self) {
        let mut st = self.state.lock();
        st.0 = true;
        self.cv.notify_all();
        while !st.1 {
            self.cv.wait(&mut st);
        }
    }
}

impl SimGate {
    /// Waits until a call is held at the gate; false if none arrived
    /// within `timeout` (a guard against a hung test, not a sleep).
    pub fn wait_paused(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut st = self.inner.state.lock();
        while !st.0 {
            if self.inner.cv.wait_until(&mut st, deadline).timed_out() {
                return st.0;
            }
        }
        true
    }

    /// True once a call is held at the gate.
    pub fn is_paused(&self) -> bool {
        self.inner.state.lock().0
    }

    /// Lets the held call (and any later one at this gate) go on.
    pub fn release(&self) {
        let mut st = self.inner.state.lock();
        st.1 = true;
        self.inner.cv.notify_all();
    }
}

impl Drop for SimGate {
    fn drop(&mut self) {
        self.release();
    }
}

#[derive(Clone)]
struct PauseRule {
    op: FaultOp,
    nth: u64,
    seen: u64,
    path_contains: Option<String>,
    gate: Arc<GateInner>,
}

// ---------------------------------------------------------------------
// Deterministic RNG
// ---------------------------------------------------------------------

/// SplitMix64: tiny, fast, good enough to pick crash outcomes.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n
    }

    fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
}

// ---------------------------------------------------------------------
// Sparse file content
// ---------------------------------------------------------------------

/// File content as 4 KiB blocks; missing blocks read as zeros. Invariant:
/// no byte at or past `len` is nonzero, so extending reads zeros.
#[derive(Clone, Default)]
struct Sparse {
    len: u64,
    blocks: BTreeMap<u64, Box<[u8]>>,
}

impl Sparse {
    /// Copies `[offset, offset + buf.len())` into `buf`, ignoring `len`
    /// (bytes past it read as zeros).
    fn read_raw(&self, offset: u64, buf: &mut [u8]) {
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let block = pos / SIM_BLOCK_BYTES;
            let within = (pos % SIM_BLOCK_BYTES) as usize;
            let n = (SIM_BLOCK_BYTES as usize - within).min(buf.len() - done);
            match self.blocks.get(&block) {
                Some(b) => buf[done..done + n].copy_from_slice(&b[within..within + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Writes `data` at `offset`, extending the length.
    fn write(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let pos = offset + done as u64;
            let block = pos / SIM_BLOCK_BYTES;
            let within = (pos % SIM_BLOCK_BYTES) as usize;
            let n = (SIM_BLOCK_BYTES as usize - within).min(data.len() - done);
            let b = self
                .blocks
                .entry(block)
                .or_insert_with(|| vec![0u8; SIM_BLOCK_BYTES as usize].into_boxed_slice());
            b[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.len = self.len.max(offset + data.len() as u64);
    }

    /// Truncates (zeroing what is cut) or extends with zeros.
    fn set_len(&mut self, len: u64) {
        if len < self.len {
            let first_gone = len.div_ceil(SIM_BLOCK_BYTES);
            let _cut = self.blocks.split_off(&first_gone);
            let within = (len % SIM_BLOCK_BYTES) as usize;
            if within != 0 {
                if let Some(b) = self.blocks.get_mut(&(len / SIM_BLOCK_BYTES)) {
                    b[within..].fill(0);
                }
            }
        }
        self.len = len;
    }

    /// Blocks present at index `>= first`.
    fn blocks_from(&self, first: u64) -> u64 {
        self.blocks.range(first..).count() as u64
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len as usize];
        self.read_raw(0, &mut out);
        out
    }
}

// ---------------------------------------------------------------------
// File system state
// ---------------------------------------------------------------------

/// An unsynced change to a file's data.
#[derive(Clone, Debug)]
enum DataOp {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

/// An unsynced change to a directory.
#[derive(Clone, Debug)]
enum DirOp {
    Link {
        path: PathBuf,
        ino: u64,
    },
    Unlink {
        path: PathBuf,
    },
    /// A rename within one directory (atomic).
    Rename {
        from: PathBuf,
        to: PathBuf,
        ino: u64,
    },
}

impl DirOp {
    fn dir(&self) -> PathBuf {
        match self {
            DirOp::Link { path, .. } | DirOp::Unlink { path } => parent_dir(path),
            DirOp::Rename { to, .. } => parent_dir(to),
        }
    }

    fn ino(&self) -> Option<u64> {
        match self {
            DirOp::Link { ino, .. } | DirOp::Rename { ino, .. } => Some(*ino),
            DirOp::Unlink { .. } => None,
        }
    }

    fn apply(&self, names: &mut BTreeMap<PathBuf, u64>) {
        match self {
            DirOp::Link { path, ino } => {
                names.insert(path.clone(), *ino);
            }
            DirOp::Unlink { path } => {
                names.remove(path);
            }
            DirOp::Rename { from, to, ino } => {
                names.remove(from);
                names.insert(to.clone(), *ino);
            }
        }
    }
}

#[derive(Clone, Default)]
struct Inode {
    /// What reads return now.
    data: Sparse,
    /// What a power loss keeps for sure.
    durable: Sparse,
    /// Changes since the last sync, oldest first.
    pending: Vec<DataOp>,
    /// Bytes reserved by `allocate` (from offset 0).
    reserved: u64,
    /// Open handles of the current boot.
    handles: u32,
}

impl Inode {
    fn reserved_blocks(&self) -> u64 {
        self.reserved.div_ceil(SIM_BLOCK_BYTES)
    }

    /// Disk space the file occupies.
    fn usage(&self) -> u64 {
        self.usage_if_reserved(self.reserved)
    }

    /// Disk space the file would occupy with `reserved` bytes reserved.
    fn usage_if_reserved(&self, reserved: u64) -> u64 {
        let blocks = reserved.div_ceil(SIM_BLOCK_BYTES);
        (blocks + self.data.blocks_from(blocks)) * SIM_BLOCK_BYTES
    }

    /// New blocks a write of `len` bytes at `offset` needs, block by block:
    /// returns the blocks in order with whether each needs new space.
    fn blocks_needed(&self, offset: u64, len: u64) -> Vec<(u64, bool)> {
        if len == 0 {
            return Vec::new();
        }
        let reserved = self.reserved_blocks();
        let first = offset / SIM_BLOCK_BYTES;
        let last = (offset + len - 1) / SIM_BLOCK_BYTES;
        (first..=last)
            .map(|b| (b, b >= reserved && !self.data.blocks.contains_key(&b)))
            .collect()
    }

    /// Makes every pending change durable.
    fn sync(&mut self) {
        for op in self.pending.drain(..) {
            apply_data_op(&mut self.durable, &op);
        }
    }
}

fn apply_data_op(target: &mut Sparse, op: &DataOp) {
    match op {
        DataOp::Write { offset, bytes } => target.write(*offset, bytes),
        DataOp::SetLen(len) => target.set_len(*len),
    }
}

#[derive(Clone)]
struct Lock {
    ino: u64,
    handle: u64,
}

#[derive(Clone)]
struct FaultRule {
    fault: Fault,
    seen: u64,
}

#[derive(Clone)]
struct State {
    seed: u64,
    rng: Rng,
    inodes: BTreeMap<u64, Inode>,
    /// The names the running system sees.
    names: BTreeMap<PathBuf, u64>,
    /// The names a power loss keeps for sure.
    durable_names: BTreeMap<PathBuf, u64>,
    /// Directory changes not yet made durable, oldest first.
    dir_log: Vec<DirOp>,
    dirs: BTreeSet<PathBuf>,
    locks: Vec<Lock>,
    next_ino: u64,
    next_handle: u64,
    /// Bumped at every power loss; handles of older boots are dead.
    generation: u64,
    powered: bool,
    crash_at: Option<u64>,
    faults: Vec<FaultRule>,
    pauses: Vec<PauseRule>,
    calls: [u64; FaultOp::ALL.len()],
    capacity_bytes: Option<u64>,
    stats: SimStats,
    last_crash: Option<CrashMode>,
    /// One line per step, when tracing.
    trace: Option<Vec<String>>,
}

/// Normalizes a path: drops `.` components so "x" and "./x" are one file.
fn norm(path: &Path) -> PathBuf {
    let out: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn is_mutating(op: FaultOp) -> bool {
    !matches!(op, FaultOp::Read)
}

impl State {
    fn new(seed: u64) -> State {
        let mut dirs = BTreeSet::new();
        dirs.insert(PathBuf::from("/"));
        dirs.insert(PathBuf::from("."));
        State {
            seed,
            rng: Rng(seed ^ 0x5151_C0DE_D15C_0001),
            inodes: BTreeMap::new(),
            names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            dir_log: Vec::new(),
            dirs,
            locks: Vec::new(),
            next_ino: 1,
            next_handle: 1,
            generation: 1,
            powered: true,
            crash_at: None,
            faults: Vec::new(),
            pauses: Vec::new(),
            calls: [0; FaultOp::ALL.len()],
            capacity_bytes: None,
            stats: SimStats::default(),
            last_crash: None,
            trace: None,
        }
    }

    /// Checks that the machine is up (and `generation`, when a handle
    /// makes the call, is this boot's).
    fn check_alive(&self, generation: Option<u64>) -> io::Result<()> {
        if let Some(g) = generation {
            if g != self.generation {
                return Err(eio());
            }
        }
        if !self.powered {
            return Err(eio());
        }
        Ok(())
    }

    /// The prologue of every call of kind `op`: checks power and handle,
    /// advances the step clock (mutating calls; may cut power), counts the
    /// call and returns the fault to inject, if any.
    fn enter(
        &mut self,
        op: FaultOp,
        path: &Path,
        generation: Option<u64>,
        args: (u64, u64),
    ) -> io::Result<Option<FaultKind>> {
        self.check_alive(generation)?;
        if is_mutating(op) {
            let step = self.stats.steps + 1;
            if self.crash_at == Some(step) {
                self.powered = false;
                return Err(eio());
            }
            self.stats.steps = step;
            if let Some(trace) = &mut self.trace {
                trace.push(format!(
                    "{step} {op:?} {} {} {}",
                    path.display(),
                    args.0,
                    args.1
                ));
            }
        }
        self.calls[op.index()] += 1;
        Ok(self.match_fault(op, path))
    }

    /// The gate a call of `op` on `path` must wait at, if any (counts the
    /// call against every pause rule of `op`).
    fn take_pause(&mut self, op: FaultOp, path: &Path) -> Option<Arc<GateInner>> {
        let path_str = path.to_string_lossy();
        let mut hit = None;
        self.pauses.retain_mut(|rule| {
            if rule.op != op {
                return true;
            }
            if let Some(frag) = &rule.path_contains {
                if !path_str.contains(frag.as_str()) {
                    return true;
                }
            }
            rule.seen += 1;
            if rule.seen == rule.nth && hit.is_none() {
                hit = Some(Arc::clone(&rule.gate));
                return false;
            }
            true
        });
        hit
    }

    fn match_fault(&mut self, op: FaultOp, path: &Path) -> Option<FaultKind> {
        let path_str = path.to_string_lossy();
        let mut fired = None;
        let mut spent = None;
        for (i, rule) in self.faults.iter_mut().enumerate() {
            let f = &rule.fault;
            if !f.matches(op, &path_str) {
                continue;
            }
            rule.seen += 1;
            let hit = rule.seen == f.nth || (f.sticky && rule.seen > f.nth);
            if hit && fired.is_none() {
                fired = Some(f.kind);
                if !f.sticky {
                    spent = Some(i);
                }
            }
        }
        if let Some(i) = spent {
            self.faults.remove(i);
        }
        if fired.is_some() {
            self.stats.faults_injected += 1;
        }
        fired
    }

    /// Disk space used by files the running system can reach.
    fn used_bytes(&self) -> u64 {
        let linked: BTreeSet<u64> = self.names.values().copied().collect();
        self.inodes
            .iter()
            .filter(|(ino, inode)| linked.contains(ino) || inode.handles > 0)
            .map(|(_, inode)| inode.usage())
            .sum()
    }

    fn free_bytes(&self) -> Option<u64> {
        self.capacity_bytes
            .map(|cap| cap.saturating_sub(self.used_bytes()))
    }

    /// Drops inodes nothing can reach any more (no name, durable or not,
    /// no pending directory operation, no open handle).
    fn gc(&mut self) {
        let mut keep: BTreeSet<u64> = self.names.values().copied().collect();
        keep.extend(self.durable_names.values().copied());
        keep.extend(self.dir_log.iter().filter_map(DirOp::ino));
        self.inodes
            .retain(|ino, inode| keep.contains(ino) || inode.handles > 0);
    }

    fn dir_must_exist(&self, dir: &Path) -> io::Result<()> {
        if self.dirs.contains(dir) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("sim: no directory {}", dir.display()),
            ))
        }
    }

    fn push_dir_op(&mut self, op: DirOp) {
        op.apply(&mut self.names);
        self.dir_log.push(op);
    }

    fn inode_mut(&mut self, ino: u64) -> &mut Inode {
        self.inodes
            .get_mut(&ino)
            .expect("sim: open handle to a collected inode")
    }
}

// ---------------------------------------------------------------------
// Power loss
// ---------------------------------------------------------------------

impl State {
    fn random_crash_mode(&mut self) -> CrashMode {
        let data = match self.rng.below(100) {
            0..=29 => DataLoss::DropUnsynced,
            30..=54 => DataLoss::KeepRandomSectors,
            55..=74 => DataLoss::TearLast,
            75..=89 => DataLoss::KeepPrefix,
            _ => DataLoss::KeepAll,
        };
        let dirs = match self.rng.below(100) {
            0..=49 => DirLoss::DropUnsynced,
            50..=79 => DirLoss::KeepPrefix,
            _ => DirLoss::KeepAll,
        };
        CrashMode { data, dirs }
    }

    /// Applies a power loss and boots again.
    fn power_loss(&mut self, mode: CrashMode) {
        let kept_dir_ops = match mode.dirs {
            DirLoss::DropUnsynced => 0,
            DirLoss::KeepAll => self.dir_log.len(),
            DirLoss::KeepPrefix => self.rng.below(self.dir_log.len() as u64 + 1) as usize,
        };
        let mut names = std::mem::take(&mut self.durable_names);
        for op in &self.dir_log[..kept_dir_ops] {
            op.apply(&mut names);
        }
        self.dir_log.clear();
        let live: BTreeSet<u64> = names.values().copied().collect();
        let mut inodes = std::mem::take(&mut self.inodes);
        inodes.retain(|ino, _| live.contains(ino));
        for inode in inodes.values_mut() {
            let content = self.surviving_content(inode, mode.data);
            inode.data = content.clone();
            inode.durable = content;
            inode.pending.clear();
            inode.handles = 0;
        }
        self.inodes = inodes;
        self.names = names.clone();
        self.durable_names = names;
        self.locks.clear();
        self.generation += 1;
        self.powered = true;
        self.crash_at = None;
        self.stats.crashes += 1;
        self.last_crash = Some(mode);
    }

    /// What of `inode` survives a power loss of kind `loss`.
    fn surviving_content(&mut self, inode: &Inode, loss: DataLoss) -> Sparse {
        let n = inode.pending.len();
        match loss {
            DataLoss::DropUnsynced => inode.durable.clone(),
            DataLoss::KeepAll => inode.data.clone(),
            DataLoss::KeepRandomSectors => self.random_sectors(inode),
            DataLoss::TearLast => self.prefix_then_tear(inode, n.saturating_sub(1)),
            DataLoss::KeepPrefix => {
                let k = self.rng.below(n as u64 + 1) as usize;
                self.prefix_then_tear(inode, k)
            }
        }
    }

    /// The durable image plus the first `k` pending changes, plus a torn
    /// head of change `k` when it is a write.
    fn prefix_then_tear(&mut self, inode: &Inode, k: usize) -> Sparse {
        let mut out = inode.durable.clone();
        for op in &inode.pending[..k.min(inode.pending.len())] {
            apply_data_op(&mut out, op);
        }
        if let Some(DataOp::Write { offset, bytes }) = inode.pending.get(k) {
            let keep = self.tear_point(*offset, bytes.len() as u64);
            out.write(*offset, &bytes[..keep as usize]);
        }
        out
    }

    /// How many leading bytes of a write at `offset` of `len` bytes a tear
    /// keeps: 0, or up to a sector boundary strictly inside the write.
    fn tear_point(&mut self, offset: u64, len: u64) -> u64 {
        let end = offset + len;
        let first_boundary = (offset / SIM_SECTOR_BYTES + 1) * SIM_SECTOR_BYTES;
        let inner = if first_boundary < end {
            (end - 1 - first_boundary) / SIM_SECTOR_BYTES + 1
        } else {
            0
        };
        let pick = self.rng.below(inner + 1);
        if pick == 0 {
            0
        } else {
            first_boundary + (pick - 1) * SIM_SECTOR_BYTES - offset
        }
    }

    /// The durable image with each sector touched since the last sync
    /// replaced by its current content or not, independently; the length
    /// is the old or the new one.
    fn random_sectors(&mut self, inode: &Inode) -> Sparse {
        let mut touched = BTreeSet::new();
        for op in &inode.pending {
            if let DataOp::Write { offset, bytes } = op {
                if bytes.is_empty() {
                    continue;
                }
                let first = offset / SIM_SECTOR_BYTES;
                let last = (offset + bytes.len() as u64 - 1) / SIM_SECTOR_BYTES;
                touched.extend(first..=last);
            }
        }
        let mut out = inode.durable.clone();
        let len = if self.rng.coin() {
            inode.data.len
        } else {
            inode.durable.len
        };
        out.set_len(len);
        let mut sector = vec![0u8; SIM_SECTOR_BYTES as usize];
        for s in touched {
            let start = s * SIM_SECTOR_BYTES;
            if !self.rng.coin() || start >= len.min(inode.data.len) {
                continue;
            }
            let n = SIM_SECTOR_BYTES.min(len.min(inode.data.len) - start) as usize;
            inode.data.read_raw(start, &mut sector[..n]);
            out.write(start, &sector[..n]);
        }
        out
    }
}

// ---------------------------------------------------------------------
// SimStorage
// ---------------------------------------------------------------------

/// Simulated file system. Cheap to clone: clones share one state, so a
/// test keeps a handle to crash or inspect the storage an engine uses.
#[derive(Clone)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for SimStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("SimStorage")
            .field("seed", &s.seed)
            .field("files", &s.names.len())
            .field("powered", &s.powered)
            .field("crash_at", &s.crash_at)
            .field("stats", &s.stats)
            .finish_non_exhaustive()
    }
}

impl Default for SimStorage {
    fn default() -> Self {
        SimStorage::new(0)
    }
}

impl SimStorage {
    /// An empty file system with directories "/" and "."; every random
    /// choice comes from `seed`.
    pub fn new(seed: u64) -> SimStorage {
        SimStorage {
            state: Arc::new(Mutex::new(State::new(seed))),
        }
    }

    /// The seed this file system was made with.
    pub fn seed(&self) -> u64 {
        self.state.lock().seed
    }

    /// Creates `dir` and its parents (durably; setup, not a step).
    pub fn create_dir_all(&self, dir: impl AsRef<Path>) {
        let mut s = self.state.lock();
        let mut cur = norm(dir.as_ref());
        loop {
            s.dirs.insert(cur.clone());
            match cur.parent() {
                Some(p) if !p.as_os_str().is_empty() => cur = p.to_path_buf(),
                _ => break,
            }
        }
    }

    // --- power -------------------------------------------------------

    /// Cuts power when the step counter would reach `step`: steps
    /// `1..step` run, the call that would be step `step` and every later
    /// call fail with EIO until [`SimStorage::crash`] or
    /// [`SimStorage::reboot`]. Steps count from the creation of the file
    /// system (see [`SimStorage::steps`]); a `step` already passed never
    /// fires.
    pub fn set_crash_at(&self, step: u64) {
        self.state.lock().crash_at = Some(step);
    }

    /// Cancels [`SimStorage::set_crash_at`].
    pub fn clear_crash_at(&self) {
        self.state.lock().crash_at = None;
    }

    /// Mutating calls executed so far (writes, syncs, allocations, length
    /// changes, creations, renames, removals; reads are not steps).
    pub fn steps(&self) -> u64 {
        self.state.lock().stats.steps
    }

    /// Cuts power now: every call fails with EIO until a reboot.
    pub fn power_off(&self) {
        self.state.lock().powered = false;
    }

    /// False after [`SimStorage::power_off`] or a [`SimStorage::set_crash_at`]
    /// step was reached, until the next reboot.
    pub fn is_powered(&self) -> bool {
        self.state.lock().powered
    }

    /// Power loss and reboot: unsynced state is kept or lost as a
    /// randomly chosen [`CrashMode`] says; handles opened before are dead.
    /// Returns the mode used.
    pub fn crash(&self) -> CrashMode {
        let mut s = self.state.lock();
        let mode = s.random_crash_mode();
        s.power_loss(mode);
        mode
    }

    /// [`SimStorage::crash`] with a chosen mode.
    pub fn crash_with(&self, mode: CrashMode) {
        self.state.lock().power_loss(mode);
    }

    /// Same as [`SimStorage::crash`]: the machine was off (or is cut now)
    /// and comes back with what the disk kept.
    pub fn reboot(&self) -> CrashMode {
        self.crash()
    }

    /// The mode of the last power loss, if any.
    pub fn last_crash_mode(&self) -> Option<CrashMode> {
        self.state.lock().last_crash
    }

    // --- faults ------------------------------------------------------

    /// Adds a fault; several may be pending at once.
    pub fn inject(&self, fault: Fault) {
        self.state.lock().faults.push(FaultRule { fault, seen: 0 });
    }

    /// Fails the `nth` (1-based, counted from now) call of `op` with `kind`.
    pub fn fail_nth(&self, op: FaultOp, nth: u64, kind: FaultKind) {
        self.inject(Fault::new(op, nth, kind));
    }

    /// Holds the `nth` (1-based, counted from now) call of `op` (on a path
    /// containing `path_contains`, if given) inside the storage before it
    /// does anything, until the returned gate is released or dropped.
    pub fn pause_at(&self, op: FaultOp, nth: u64, path_contains: Option<&str>) -> SimGate {
        assert!(nth >= 1, "pause_at: nth is 1-based");
        let inner = Arc::new(GateInner::default());
        self.state.lock().pauses.push(PauseRule {
            op,
            nth,
            seen: 0,
            path_contains: path_contains.map(str::to_string),
            gate: Arc::clone(&inner),
        });
        SimGate { inner }
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    /// Faults injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.state.lock().stats.faults_injected
    }

    /// Calls of `op` made so far (failed ones included).
    pub fn calls(&self, op: FaultOp) -> u64 {
        self.state.lock().calls[op.index()]
    }

    /// Sets the disk size: writes and allocations that need space past it
    /// fail with ENOSPC. `None` = unlimited.
    pub fn set_capacity_bytes(&self, capacity: Option<u64>) {
        self.state.lock().capacity_bytes = capacity;
    }

    /// Disk space used by the files the running system can reach.
    pub fn used_bytes(&self) -> u64 {
        self.state.lock().used_bytes()
    }

    /// Starts (or with `false` stops and clears) recording one line per
    /// step: "step op path arg arg" (offset and length for writes).
    pub fn set_trace(&self, on: bool) {
        self.state.lock().trace = if on { Some(Vec::new()) } else { None };
    }

    /// The steps recorded since [`SimStorage::set_trace`].
    pub fn trace(&self) -> Vec<String> {
        self.state.lock().trace.clone().unwrap_or_default()
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        self.state.lock().stats
    }

    // --- inspection and tampering (no steps, work while powered off) ---

    /// Every file name, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        self.state.lock().names.keys().cloned().collect()
    }

    /// Every file name with its file's identity (an inode number: a
    /// rename keeps it, a new file gets a new one), sorted by name.
    pub fn file_ids(&self) -> Vec<(PathBuf, u64)> {
        let s = self.state.lock();
        s.names.iter().map(|(p, &ino)| (p.clone(), ino)).collect()
    }

    /// The current content of `path`.
    pub fn read_file(&self, path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        let s = self.state.lock();
        let ino = lookup(&s.names, &norm(path.as_ref()))?;
        Ok(s.inodes[&ino].data.to_vec())
    }

    /// The content a strict power loss would keep of `path` (None when
    /// its name is not durable).
    pub fn read_durable(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let s = self.state.lock();
        let ino = *s.durable_names.get(&norm(path.as_ref()))?;
        Some(s.inodes[&ino].durable.to_vec())
    }

    /// XORs the byte at `offset` of `path` with `mask`, both in the
    /// current and the durable content, as a bit rot on the disk would.
    /// Meant for files with nothing unsynced.
    pub fn corrupt_byte(&self, path: impl AsRef<Path>, offset: u64, mask: u8) -> io::Result<()> {
        let mut s = self.state.lock();
        let ino = lookup(&s.names, &norm(path.as_ref()))?;
        let inode = s.inode_mut(ino);
        if offset >= inode.data.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sim: corrupt_byte past the end",
            ));
        }
        for image in [&mut inode.data, &mut inode.durable] {
            if offset < image.len {
                let mut b = [0u8];
                image.read_raw(offset, &mut b);
                b[0] ^= mask;
                image.write(offset, &b);
            }
        }
        Ok(())
    }

    /// A deep copy of the whole file system as it would be after a clean
    /// shutdown of every handle (no open handles, no locks, no faults, no
    /// pending crash), with its own seed and zeroed counters. Pending
    /// (unsynced) state is copied as is.
    pub fn fork(&self, seed: u64) -> SimStorage {
        let s = self.state.lock();
        let mut copy = s.clone();
        drop(s);
        for inode in copy.inodes.values_mut() {
            inode.handles = 0;
        }
        copy.seed = seed;
        copy.rng = Rng(seed ^ 0x5151_C0DE_D15C_0001);
        copy.locks.clear();
        copy.faults.clear();
        copy.pauses.clear();
        copy.crash_at = None;
        copy.powered = true;
        copy.generation += 1;
        copy.calls = [0; FaultOp::ALL.len()];
        copy.stats = SimStats::default();
        copy.last_crash = None;
        copy.trace = None;
        copy.gc();
        SimStorage {
            state: Arc::new(Mutex::new(copy)),
        }
    }
}

/// Blocks at a pause gate when a [`SimStorage::pause_at`] rule picks
/// this call. Runs before the call takes the state lock for its work, so
/// other threads keep doing I/O meanwhile.
fn pause_point(state: &Mutex<State>, op: FaultOp, path: impl FnOnce(&State) -> PathBuf) {
    let gate = {
        let mut s = state.lock();
        if s.pauses.is_empty() {
            return;
        }
        let path = path(&s);
        s.take_pause(op, &path)
    };
    if let Some(gate) = gate {
        gate.block();
    }
}

fn lookup(names: &BTreeMap<PathBuf, u64>, path: &Path) -> io::Result<u64> {
    names.get(path).copied().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("sim: no file {}", path.display()),
        )
    })
}

impl Storage for SimStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let path = norm(path);
        if matches!(mode, OpenMode::Create | OpenMode::CreateNew) {
            pause_point(&self.state, FaultOp::Create, |_| path.clone());
        }
        let mut s = self.state.lock();
        s.check_alive(None)?;
        if s.dirs.contains(&path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let existing = s.names.get(&path).copied();
        let ino = match (existing, mode) {
            (Some(_), OpenMode::CreateNew) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("sim: {} exists", path.display()),
                ))
            }
            (Some(ino), _) => ino,
            (None, OpenMode::ReadOnly | OpenMode::ReadWrite) => {
                s.dir_must_exist(&parent_dir(&path))?;
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("sim: no file {}", path.display()),
                ));
            }
            (None, OpenMode::Create | OpenMode::CreateNew) => {
                s.dir_must_exist(&parent_dir(&path))?;
                if let Some(kind) = s.enter(FaultOp::Create, &path, None, (0, 0))? {
                    return Err(kind.error());
                }
                let ino = s.next_ino;
                s.next_ino += 1;
                s.inodes.insert(ino, Inode::default());
                s.push_dir_op(DirOp::Link {
                    path: path.clone(),
                    ino,
                });
                ino
            }
        };
        let id = s.next_handle;
        s.next_handle += 1;
        s.inode_mut(ino).handles += 1;
        Ok(Box::new(SimFile {
            state: Arc::clone(&self.state),
            path,
            ino,
            id,
            generation: s.generation,
            writable: mode != OpenMode::ReadOnly,
        }))
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let s = self.state.lock();
        s.check_alive(None)?;
        Ok(s.names.contains_key(&norm(path)))
    }

    fn dir_exists(&self, dir: &Path) -> io::Result<bool> {
        let s = self.state.lock();
        s.check_alive(None)?;
        Ok(s.dirs.contains(&norm(dir)))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let path = norm(path);
        pause_point(&self.state, FaultOp::Remove, |_| path.clone());
        let mut s = self.state.lock();
        s.check_alive(None)?;
        lookup(&s.names, &path)?;
        if let Some(kind) = s.enter(FaultOp::Remove, &path, None, (0, 0))? {
            return Err(kind.error());
        }
        s.push_dir_op(DirOp::Unlink { path });
        s.gc();
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (norm(from), norm(to));
        pause_point(&self.state, FaultOp::Rename, |_| from.clone());
        let mut s = self.state.lock();
        s.check_alive(None)?;
        let ino = lookup(&s.names, &from)?;
        s.dir_must_exist(&parent_dir(&to))?;
        if s.dirs.contains(&to) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sim: rename onto a directory",
            ));
        }
        if let Some(kind) = s.enter(FaultOp::Rename, &from, None, (0, 0))? {
            return Err(kind.error());
        }
        if from == to {
            return Ok(());
        }
        if parent_dir(&from) == parent_dir(&to) {
            s.push_dir_op(DirOp::Rename { from, to, ino });
        } else {
            // Two directories: each side becomes durable with its own
            // directory's sync.
            s.push_dir_op(DirOp::Link { path: to, ino });
            s.push_dir_op(DirOp::Unlink { path: from });
        }
        s.gc();
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let dir = norm(dir);
        let s = self.state.lock();
        s.check_alive(None)?;
        s.dir_must_exist(&dir)?;
        Ok(s.names
            .keys()
            .filter(|p| parent_dir(p) == dir)
            .cloned()
            .collect())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let dir = norm(dir);
        pause_point(&self.state, FaultOp::SyncDir, |_| dir.clone());
        let mut s = self.state.lock();
        s.check_alive(None)?;
        s.dir_must_exist(&dir)?;
        if let Some(kind) = s.enter(FaultOp::SyncDir, &dir, None, (0, 0))? {
            // The entries stay unsynced: a later sync_dir can still
            // persist them (directories are metadata, not page cache).
            return Err(kind.error());
        }
        let log = std::mem::take(&mut s.dir_log);
        let mut rest = Vec::with_capacity(log.len());
        for op in log {
            if op.dir() == dir {
                op.apply(&mut s.durable_names);
            } else {
                rest.push(op);
            }
        }
        s.dir_log = rest;
        s.stats.syncs += 1;
        s.gc();
        Ok(())
    }

    fn instance_id(&self) -> usize {
        // Clones share one state: they are one file system.
        Arc::as_ptr(&self.state) as usize
    }
}

// ---------------------------------------------------------------------
// SimFile
// ---------------------------------------------------------------------

/// An open simulated file; dead after a power loss.
struct SimFile {
    state: Arc<Mutex<State>>,
    path: PathBuf,
    ino: u64,
    id: u64,
    generation: u64,
    writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl SimFile {
    /// The file's current name (it may have been renamed since it was
    /// opened), so path-filtered faults and traces follow renames.
    fn name(&self, s: &State) -> PathBuf {
        s.names
            .iter()
            .find(|(_, &ino)| ino == self.ino)
            .map_or_else(|| self.path.clone(), |(p, _)| p.clone())
    }

    /// A failed sync or write-out (fsyncgate): some unsynced sectors reached
    /// the disk, the rest is marked clean and will never be written.
    fn lose_unsynced(&self, s: &mut State, kind: FaultKind) -> io::Error {
        let inode = s.inodes[&self.ino].clone();
        let kept = s.random_sectors(&inode);
        let inode = s.inode_mut(self.ino);
        inode.durable = kept;
        inode.pending.clear();
        kind.error()
    }

    /// [`State::enter`] for a call on this handle.
    fn enter(&self, s: &mut State, op: FaultOp, args: (u64, u64)) -> io::Result<Option<FaultKind>> {
        let name = self.name(s);
        s.enter(op, &name, Some(self.generation), args)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::EBADF))
        }
    }

    /// A failed write leaves a sector-aligned prefix of `buf` (possibly
    /// none) behind, like a short write followed by an error.
    fn partial_write(s: &mut State, ino: u64, buf: &[u8], offset: u64) {
        let keep = s.tear_point(offset, buf.len() as u64);
        Self::apply_write(s, ino, &buf[..keep as usize], offset);
    }

    fn apply_write(s: &mut State, ino: u64, buf: &[u8], offset: u64) {
        if buf.is_empty() {
            return;
        }
        let inode = s.inode_mut(ino);
        inode.data.write(offset, buf);
        inode.pending.push(DataOp::Write {
            offset,
            bytes: buf.to_vec(),
        });
    }

    /// How many leading bytes of a write fit on the disk.
    fn bytes_that_fit(s: &State, ino: u64, len: u64, offset: u64) -> u64 {
        let Some(mut free) = s.free_bytes() else {
            return len;
        };
        for (block, needs_space) in s.inodes[&ino].blocks_needed(offset, len) {
            if needs_space {
                if free < SIM_BLOCK_BYTES {
                    return (block * SIM_BLOCK_BYTES).saturating_sub(offset);
                }
                free -= SIM_BLOCK_BYTES;
            }
        }
        len
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut s = self.state.lock();
        if s.generation != self.generation {
            return;
        }
        if let Some(inode) = s.inodes.get_mut(&self.ino) {
            inode.handles = inode.handles.saturating_sub(1);
        }
        s.locks.retain(|l| l.handle != self.id);
        s.gc();
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::Read, |s| self.name(s));
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::Read, (offset, buf.len() as u64))? {
            return Err(kind.error());
        }
        let data = &s.inodes[&self.ino].data;
        let in_range = match offset.checked_add(buf.len() as u64) {
            Some(end) => end <= data.len,
            None => false,
        };
        if !in_range {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "sim: read past the end of the file",
            ));
        }
        data.read_raw(offset, buf);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::Write, |s| self.name(s));
        self.check_writable()?;
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::Write, (offset, buf.len() as u64))? {
            Self::partial_write(&mut s, self.ino, buf, offset);
            return Err(kind.error());
        }
        let fit = Self::bytes_that_fit(&s, self.ino, buf.len() as u64, offset);
        Self::apply_write(&mut s, self.ino, &buf[..fit as usize], offset);
        if fit < buf.len() as u64 {
            s.stats.enospc_capacity += 1;
            return Err(enospc());
        }
        s.stats.writes += 1;
        s.stats.bytes_written += buf.len() as u64;
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let s = self.state.lock();
        s.check_alive(Some(self.generation))?;
        Ok(s.inodes[&self.ino].data.len)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::SetLen, |s| self.name(s));
        self.check_writable()?;
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::SetLen, (len, 0))? {
            return Err(kind.error());
        }
        let inode = s.inode_mut(self.ino);
        inode.data.set_len(len);
        // Truncation frees reserved space past the new end, as on Linux.
        inode.reserved = inode.reserved.min(len);
        inode.pending.push(DataOp::SetLen(len));
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        pause_point(&self.state, FaultOp::Allocate, |s| self.name(s));
        self.check_writable()?;
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::Allocate, (len, 0))? {
            return Err(kind.error());
        }
        let inode = &s.inodes[&self.ino];
        let extra = inode
            .usage_if_reserved(inode.reserved.max(len))
            .saturating_sub(inode.usage());
        if let Some(free) = s.free_bytes() {
            if extra > free {
                s.stats.enospc_capacity += 1;
                return Err(enospc());
            }
        }
        let inode = s.inode_mut(self.ino);
        inode.reserved = inode.reserved.max(len);
        if inode.data.len < len {
            inode.data.set_len(len);
            inode.pending.push(DataOp::SetLen(len));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        pause_point(&self.state, FaultOp::SyncData, |s| self.name(s));
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::SyncData, (0, 0))? {
            return Err(self.lose_unsynced(&mut s, kind));
        }
        s.inode_mut(self.ino).sync();
        s.stats.syncs += 1;
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    /// Starting write-out makes nothing durable here (a crash may keep any
    /// unsynced sector either way), but it can fail as a sync does - with
    /// the same fsyncgate loss - and counts as a sync for fault injection.
    fn write_behind(&self) -> io::Result<()> {
        let mut s = self.state.lock();
        if let Some(kind) = self.enter(&mut s, FaultOp::SyncData, (0, 0))? {
            return Err(self.lose_unsynced(&mut s, kind));
        }
        Ok(())
    }

    fn try_lock_exclusive(&self) -> io::Result<bool> {
        let mut s = self.state.lock();
        s.check_alive(Some(self.generation))?;
        match s.locks.iter().find(|l| l.ino == self.ino) {
            Some(l) => Ok(l.handle == self.id),
            None => {
                s.locks.push(Lock {
                    ino: self.ino,
                    handle: self.id,
                });
                Ok(true)
            }
        }
    }
}
