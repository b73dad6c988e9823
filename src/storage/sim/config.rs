//! What a test tells the simulator: which calls fail and how, what a power
//! loss keeps, counters, and gates that hold a call.

use std::io;
use std::sync::Arc;

use crate::mutex::Mutex;

/// The unit a power loss keeps or drops, and the granularity of tearing.
pub const SIM_SECTOR_BYTES: u64 = 512;
/// Allocation unit of the simulated disk (for capacity accounting).
pub const SIM_BLOCK_BYTES: u64 = 4096;

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

    pub(super) fn index(self) -> usize {
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
    /// The calling process is killed (as SIGKILL would) instead of making
    /// the call; the call fails with `EIO` for whoever is still unwinding.
    Kill,
}

impl FaultKind {
    pub(super) fn error(self) -> io::Error {
        io::Error::from_raw_os_error(match self {
            FaultKind::Eio | FaultKind::Kill => libc::EIO,
            FaultKind::Enospc => libc::ENOSPC,
        })
    }
}

/// Every call on a dead handle or a machine without power fails so.
pub(super) fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

pub(super) fn enospc() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

/// One fault to inject: fail the `nth` matching call (1 = the next one)
/// of `op`, counted from when the fault is injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The call to fail.
    pub op: FaultOp,
    /// Which matching call fails (1 = the next one).
    pub nth: u64,
    /// How it fails.
    pub kind: FaultKind,
    /// Also fail every later matching call (a broken device).
    pub sticky: bool,
    /// Only calls on paths containing this string match.
    pub path_contains: Option<String>,
    /// Only calls on paths ending with this string match.
    pub path_suffix: Option<String>,
    /// Only calls made by this simulated process match (see
    /// [`super::SimStorage::spawn_process`]).
    pub process: Option<u64>,
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
            process: None,
        }
    }

    /// Keeps failing every matching call after the `nth`.
    #[must_use]
    pub fn sticky(mut self) -> Fault {
        self.sticky = true;
        self
    }

    /// Only counts calls on paths that contain `fragment`.
    #[must_use]
    pub fn on_paths_containing(mut self, fragment: impl Into<String>) -> Fault {
        self.path_contains = Some(fragment.into());
        self
    }

    /// Only counts calls on paths that end with `suffix` (e.g. "/db" for a
    /// main file whose segments are "/db-wal-seg-...").
    #[must_use]
    pub fn on_paths_ending_with(mut self, suffix: impl Into<String>) -> Fault {
        self.path_suffix = Some(suffix.into());
        self
    }

    /// Only counts calls made by simulated process `process`.
    #[must_use]
    pub fn in_process(mut self, process: u64) -> Fault {
        self.process = Some(process);
        self
    }

    /// True when a call of `op` on `path` counts against this fault
    /// (whatever process makes it).
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

    /// [`Fault::matches`] for a call by simulated process `process`.
    pub fn matches_in(&self, op: FaultOp, path: &str, process: u64) -> bool {
        self.process.is_none_or(|p| p == process) && self.matches(op, path)
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
    /// What happens to unsynced file data.
    pub data: DataLoss,
    /// What happens to unsynced directory entries.
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
    /// Mutating calls executed (the clock of [`super::SimStorage::set_crash_at`]).
    pub steps: u64,
    /// Faults injected (calls failed by [`Fault`]s).
    pub faults_injected: u64,
    /// Calls refused because the disk was full.
    pub enospc_capacity: u64,
    /// Power losses applied.
    pub crashes: u64,
    /// Simulated processes killed (their page cache kept).
    pub process_kills: u64,
    /// Times unsynced data was lost while the machine stayed up.
    pub losses_in_boot: u64,
    /// Successful `sync_data`/`sync_all`/`sync_dir` calls.
    pub syncs: u64,
    /// Successful `write_at` calls and the bytes they wrote.
    pub writes: u64,
    /// The bytes those calls wrote.
    pub bytes_written: u64,
}

/// A call held at a [`super::SimStorage::pause_at`] point: the calling thread
/// blocks inside the storage call until the gate is released (or dropped),
/// so a test can order an engine's threads deterministically.
#[derive(Debug)]
pub struct SimGate {
    pub(super) inner: Arc<GateInner>,
}

#[derive(Debug, Default)]
pub(super) struct GateInner {
    /// (a call arrived and waits, released)
    state: Mutex<(bool, bool)>,
    cv: crate::mutex::Condvar,
}

impl GateInner {
    /// Called by the paused thread: announces itself, waits for release.
    pub(super) fn block(&self) {
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
pub(super) struct PauseRule {
    pub(super) op: FaultOp,
    pub(super) nth: u64,
    pub(super) seen: u64,
    pub(super) path_contains: Option<String>,
    pub(super) gate: Arc<GateInner>,
}
