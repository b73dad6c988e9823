//! The state of one simulated machine: inodes and names (live and
//! durable), locks, shared-memory regions, simulated processes, and the
//! step clock with the faults and pauses it triggers.

use crate::mutex::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::config::{eio, CrashMode, Fault, FaultKind, FaultOp, GateInner, PauseRule, SimStats};
use super::content::{DirOp, Inode, Rng};
use super::memory::{RegionLife, RegionMem};

/// An advisory lock (flock) held through one handle.
#[derive(Clone)]
pub(super) struct Lock {
    pub(super) ino: u64,
    pub(super) handle: u64,
    pub(super) process: u64,
}

/// A byte lock held through one shared region (like an OFD lock: it
/// belongs to the region, not to the process).
#[derive(Clone)]
pub(super) struct RegionLock {
    pub(super) path: PathBuf,
    pub(super) byte: u64,
    pub(super) region: u64,
    pub(super) exclusive: bool,
}

/// A mapped region of the current boot.
#[derive(Clone)]
pub(super) struct OpenRegion {
    pub(super) id: u64,
    pub(super) process: u64,
    pub(super) mem: Arc<RegionMem>,
    pub(super) life: Arc<RegionLife>,
}

#[derive(Clone)]
pub(super) struct FaultRule {
    pub(super) fault: Fault,
    pub(super) seen: u64,
}

/// The first simulated process; [`super::SimStorage::new`] returns a view
/// of it.
pub(super) const FIRST_PROCESS: u64 = 1;

#[derive(Clone)]
pub(super) struct State {
    pub(super) seed: u64,
    pub(super) rng: Rng,
    pub(super) inodes: BTreeMap<u64, Inode>,
    /// The names the running system sees.
    pub(super) names: BTreeMap<PathBuf, u64>,
    /// The names a power loss keeps for sure.
    pub(super) durable_names: BTreeMap<PathBuf, u64>,
    /// Directory changes not yet made durable, oldest first.
    pub(super) dir_log: Vec<DirOp>,
    pub(super) dirs: BTreeSet<PathBuf>,
    pub(super) locks: Vec<Lock>,
    pub(super) next_ino: u64,
    pub(super) next_handle: u64,
    /// Bumped at every power loss (and fork); handles of older
    /// generations are dead.
    pub(super) generation: u64,
    /// Bumped at every power loss only: what `boot_tag` reports.
    pub(super) boot: u64,
    pub(super) powered: bool,
    pub(super) crash_at: Option<u64>,
    /// The process making this step's call is killed instead of it.
    pub(super) kill_at: Option<u64>,
    pub(super) next_process: u64,
    /// Killed processes: every call they make fails.
    pub(super) dead_processes: BTreeSet<u64>,
    /// Shared memory by path; it outlives its mappings (as a file would).
    pub(super) regions: BTreeMap<PathBuf, Arc<RegionMem>>,
    pub(super) open_regions: Vec<OpenRegion>,
    pub(super) region_locks: Vec<RegionLock>,
    pub(super) next_region: u64,
    /// False: `open_shared` says the storage cannot share memory (the
    /// engine then keeps a database to one engine at a time).
    pub(super) shared_memory: bool,
    pub(super) faults: Vec<FaultRule>,
    pub(super) pauses: Vec<PauseRule>,
    pub(super) calls: [u64; FaultOp::ALL.len()],
    pub(super) capacity_bytes: Option<u64>,
    pub(super) stats: SimStats,
    pub(super) last_crash: Option<CrashMode>,
    /// One line per step, when tracing.
    pub(super) trace: Option<Vec<String>>,
}

/// Normalizes a path: drops `.` components so "x" and "./x" are one file.
pub(super) fn norm(path: &Path) -> PathBuf {
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
    pub(super) fn new(seed: u64) -> State {
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
            boot: 1,
            powered: true,
            crash_at: None,
            kill_at: None,
            next_process: FIRST_PROCESS + 1,
            dead_processes: BTreeSet::new(),
            regions: BTreeMap::new(),
            open_regions: Vec::new(),
            region_locks: Vec::new(),
            next_region: 1,
            shared_memory: true,
            faults: Vec::new(),
            pauses: Vec::new(),
            calls: [0; FaultOp::ALL.len()],
            capacity_bytes: None,
            stats: SimStats::default(),
            last_crash: None,
            trace: None,
        }
    }

    /// Checks that the machine is up, that `process` lives, and (when a
    /// handle makes the call) that the handle's `generation` is this one.
    pub(super) fn check_alive(&self, generation: Option<u64>, process: u64) -> io::Result<()> {
        if let Some(g) = generation {
            if g != self.generation {
                return Err(eio());
            }
        }
        if !self.powered || self.dead_processes.contains(&process) {
            return Err(eio());
        }
        Ok(())
    }

    /// The prologue of every call of kind `op`: checks power, process and
    /// handle, advances the step clock (mutating calls; may cut power or
    /// kill the calling process), counts the call and returns the fault to
    /// inject, if any.
    pub(super) fn enter(
        &mut self,
        op: FaultOp,
        path: &Path,
        generation: Option<u64>,
        process: u64,
        args: (u64, u64),
    ) -> io::Result<Option<FaultKind>> {
        self.check_alive(generation, process)?;
        if is_mutating(op) {
            let step = self.stats.steps + 1;
            if self.crash_at == Some(step) {
                self.powered = false;
                return Err(eio());
            }
            if self.kill_at == Some(step) {
                self.kill_at = None;
                self.kill(process);
                return Err(eio());
            }
            self.stats.steps = step;
            if let Some(trace) = &mut self.trace {
                trace.push(format!(
                    "{step} {op:?} {} {} {} p{process}",
                    path.display(),
                    args.0,
                    args.1
                ));
            }
        }
        self.calls[op.index()] += 1;
        match self.match_fault(op, path, process) {
            Some(FaultKind::Kill) => {
                self.kill(process);
                Err(eio())
            }
            other => Ok(other),
        }
    }

    /// Kills simulated process `process` as SIGKILL would: every later
    /// call it makes fails, its locks (file and region) go, and its view
    /// of shared memory freezes - but what it wrote stays in the page
    /// cache exactly as unsynced as it was.
    pub(super) fn kill(&mut self, process: u64) {
        if !self.dead_processes.insert(process) {
            return;
        }
        self.locks.retain(|l| l.process != process);
        let (dying, rest): (Vec<OpenRegion>, Vec<OpenRegion>) =
            std::mem::take(&mut self.open_regions)
                .into_iter()
                .partition(|r| r.process == process);
        self.open_regions = rest;
        for r in &dying {
            r.life.die(&r.mem);
        }
        let dead_ids: BTreeSet<u64> = dying.iter().map(|r| r.id).collect();
        self.region_locks.retain(|l| !dead_ids.contains(&l.region));
        self.stats.process_kills += 1;
    }

    /// Every mapping dies with the boot: their locks go and their views
    /// freeze (the memory itself is kept, as a file would be).
    pub(super) fn unmap_all(&mut self) {
        for r in self.open_regions.drain(..) {
            r.life.die(&r.mem);
        }
        self.region_locks.clear();
    }

    /// The gate a call of `op` on `path` must wait at, if any (counts the
    /// call against every pause rule of `op`).
    pub(super) fn take_pause(&mut self, op: FaultOp, path: &Path) -> Option<Arc<GateInner>> {
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

    fn match_fault(&mut self, op: FaultOp, path: &Path, process: u64) -> Option<FaultKind> {
        let path_str = path.to_string_lossy();
        let mut fired = None;
        let mut spent = None;
        for (i, rule) in self.faults.iter_mut().enumerate() {
            let f = &rule.fault;
            if !f.matches_in(op, &path_str, process) {
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

    /// Disk space used by files the running system can reach, and by
    /// shared-memory files.
    pub(super) fn used_bytes(&self) -> u64 {
        let linked: BTreeSet<u64> = self.names.values().copied().collect();
        let files: u64 = self
            .inodes
            .iter()
            .filter(|(ino, inode)| linked.contains(ino) || inode.handles > 0)
            .map(|(_, inode)| inode.usage())
            .sum();
        files + self.regions.values().map(|m| m.bytes()).sum::<u64>()
    }

    pub(super) fn free_bytes(&self) -> Option<u64> {
        self.capacity_bytes
            .map(|cap| cap.saturating_sub(self.used_bytes()))
    }

    /// Drops inodes nothing can reach any more (no name, durable or not,
    /// no pending directory operation, no open handle).
    pub(super) fn gc(&mut self) {
        let mut keep: BTreeSet<u64> = self.names.values().copied().collect();
        keep.extend(self.durable_names.values().copied());
        keep.extend(self.dir_log.iter().filter_map(DirOp::ino));
        self.inodes
            .retain(|ino, inode| keep.contains(ino) || inode.handles > 0);
    }

    pub(super) fn dir_must_exist(&self, dir: &Path) -> io::Result<()> {
        if self.dirs.contains(dir) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("sim: no directory {}", dir.display()),
            ))
        }
    }

    pub(super) fn push_dir_op(&mut self, op: DirOp) {
        op.apply(&mut self.names);
        self.dir_log.push(op);
    }

    pub(super) fn inode_mut(&mut self, ino: u64) -> &mut Inode {
        self.inodes
            .get_mut(&ino)
            .expect("sim: open handle to a collected inode")
    }
}

/// Blocks at a pause gate when a [`super::SimStorage::pause_at`] rule picks
/// this call. Runs before the call takes the state lock for its work, so
/// other threads keep doing I/O meanwhile.
pub(super) fn pause_point(state: &Mutex<State>, op: FaultOp, path: impl FnOnce(&State) -> PathBuf) {
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
