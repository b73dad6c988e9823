//! [`SimStorage`]: the simulated machine as the engine and the tests see
//! it - the [`Storage`] implementation, and the test's controls (power,
//! processes, faults, inspection).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::mutex::Mutex;

use super::super::{parent_dir, OpenMode, SharedRegion, Storage, StorageFile};
use super::config::{
    CrashMode, Fault, FaultKind, FaultOp, GateInner, PauseRule, SimGate, SimStats,
};
use super::content::{DirOp, Inode, Rng};
use super::file::SimFile;
use super::memory::RegionMem;
use super::shared::SimRegion;
use super::state::{norm, pause_point, FaultRule, State, FIRST_PROCESS};
use super::SIM_BLOCK_BYTES;

/// Simulated file system. Cheap to clone: clones share one state, so a
/// test keeps a handle to crash or inspect the storage an engine uses.
///
/// Each view is one simulated *process*: [`SimStorage::spawn_process`]
/// makes a view of another one on the same machine, and
/// [`SimStorage::kill_process`] kills it as SIGKILL would (its calls fail,
/// its locks go, its page cache stays). Two views of different processes
/// are different storage instances to the engine, as two processes are.
#[derive(Clone)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
    process: u64,
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
            process: FIRST_PROCESS,
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

    /// A crash mode drawn from this machine's RNG, as [`SimStorage::crash`]
    /// draws one.
    pub fn random_crash_mode(&self) -> CrashMode {
        self.state.lock().random_crash_mode()
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

    /// Unsynced state vanishes as `mode` says while the machine stays up:
    /// no reboot (the boot tag, handles, locks and processes stay), but
    /// what was never synced now reads as the disk kept it - as after a
    /// write-back that failed without anyone syncing, or a network disk
    /// that failed over.
    pub fn lose_in_boot(&self, mode: CrashMode) {
        self.state.lock().lose_in_boot(mode);
    }

    // --- processes ---------------------------------------------------

    /// A view of a new simulated process on this machine.
    #[must_use]
    pub fn spawn_process(&self) -> SimStorage {
        let mut s = self.state.lock();
        let process = s.next_process;
        s.next_process += 1;
        SimStorage {
            state: Arc::clone(&self.state),
            process,
        }
    }

    /// This view's process.
    pub fn process_id(&self) -> u64 {
        self.process
    }

    /// Kills this view's process as SIGKILL would: every later call
    /// through it (or its handles) fails with EIO, its locks and shared
    /// mappings go, and what it wrote stays in the page cache as unsynced
    /// as it was - a later power loss decides its fate.
    pub fn kill_process(&self) {
        self.state.lock().kill(self.process);
    }

    /// False once this view's process was killed (until a power loss,
    /// which ends every process).
    pub fn is_process_alive(&self) -> bool {
        !self.state.lock().dead_processes.contains(&self.process)
    }

    /// Kills whichever process makes the call that would be step `step`
    /// (that call fails; see [`SimStorage::set_crash_at`] for steps).
    pub fn set_kill_at(&self, step: u64) {
        self.state.lock().kill_at = Some(step);
    }

    /// Cancels [`SimStorage::set_kill_at`].
    pub fn clear_kill_at(&self) {
        self.state.lock().kill_at = None;
    }

    /// With `false`, the storage says it cannot share memory between
    /// processes: the engine then keeps each database to one engine at a
    /// time through `{path}-lock`. On by default.
    pub fn set_shared_memory(&self, on: bool) {
        self.state.lock().shared_memory = on;
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
    #[must_use]
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
        copy.kill_at = None;
        copy.dead_processes.clear();
        copy.open_regions.clear();
        copy.region_locks.clear();
        copy.regions = copy
            .regions
            .iter()
            .map(|(p, m)| (p.clone(), Arc::new(m.deep_copy())))
            .collect();
        copy.gc();
        SimStorage {
            state: Arc::new(Mutex::new(copy)),
            process: FIRST_PROCESS,
        }
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
        s.check_alive(None, self.process)?;
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
                if let Some(kind) = s.enter(FaultOp::Create, &path, None, self.process, (0, 0))? {
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
            process: self.process,
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
        s.check_alive(None, self.process)?;
        Ok(s.names.contains_key(&norm(path)))
    }

    fn dir_exists(&self, dir: &Path) -> io::Result<bool> {
        let s = self.state.lock();
        s.check_alive(None, self.process)?;
        Ok(s.dirs.contains(&norm(dir)))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let path = norm(path);
        pause_point(&self.state, FaultOp::Remove, |_| path.clone());
        let mut s = self.state.lock();
        s.check_alive(None, self.process)?;
        lookup(&s.names, &path)?;
        if let Some(kind) = s.enter(FaultOp::Remove, &path, None, self.process, (0, 0))? {
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
        s.check_alive(None, self.process)?;
        let ino = lookup(&s.names, &from)?;
        s.dir_must_exist(&parent_dir(&to))?;
        if s.dirs.contains(&to) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sim: rename onto a directory",
            ));
        }
        if let Some(kind) = s.enter(FaultOp::Rename, &from, None, self.process, (0, 0))? {
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
        s.check_alive(None, self.process)?;
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
        s.check_alive(None, self.process)?;
        s.dir_must_exist(&dir)?;
        if let Some(kind) = s.enter(FaultOp::SyncDir, &dir, None, self.process, (0, 0))? {
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
        // Clones share one state and one process: one storage instance.
        // Views of other processes are other instances (as two processes
        // are), on the same files. Heap addresses stay below bit 48.
        (Arc::as_ptr(&self.state) as usize) ^ ((self.process as usize) << PROCESS_ID_SHIFT)
    }

    fn boot_tag(&self) -> u32 {
        let boot = self.state.lock().boot;
        (Rng(boot).next_u64() as u32) | 1
    }

    fn open_shared(&self, path: &Path, len: usize) -> io::Result<Option<Box<dyn SharedRegion>>> {
        let path = norm(path);
        let mut s = self.state.lock();
        if !s.shared_memory {
            return Ok(None);
        }
        s.check_alive(None, self.process)?;
        s.dir_must_exist(&parent_dir(&path))?;
        if s.dirs.contains(&path) || s.names.contains_key(&path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a shared-memory file",
            ));
        }
        let mem = match s.regions.get(&path) {
            Some(m) if m.len() >= len => Arc::clone(m),
            Some(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "sim: shared-memory file shorter than asked",
                ))
            }
            None => {
                // Its space is allocated before it is mapped, as the real
                // one's is: a full disk refuses it here, never at a write.
                let need = (len as u64).div_ceil(SIM_BLOCK_BYTES) * SIM_BLOCK_BYTES;
                if s.free_bytes().is_some_and(|free| free < need) {
                    s.stats.enospc_capacity += 1;
                    return Err(super::config::enospc());
                }
                let m = Arc::new(RegionMem::new(len / std::mem::size_of::<u64>()));
                s.regions.insert(path.clone(), Arc::clone(&m));
                m
            }
        };
        let region = SimRegion::map(&self.state, &mut s, path, self.process, mem);
        Ok(Some(Box::new(region)))
    }
}

/// Where the process id goes in [`Storage::instance_id`].
const PROCESS_ID_SHIFT: u32 = 48;
