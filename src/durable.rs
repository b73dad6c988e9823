//! Make durable, then publish: group commit and the visibility watermark.
//!
//! Committers report their commit written; the contiguous prefix of
//! written commits advances `written_upto`. Under sync FULL a committer then
//! waits for `durable_upto >= seq`: the first waiter that finds no flush in
//! flight becomes the leader, syncs every log byte written so far with one
//! fdatasync, publishes the new durable prefix and wakes the rest. Nothing
//! waits on a timer unless `max_flush_delay` asks for it.
//!
//! A commit becomes visible to new snapshots when it and every earlier
//! commit is durable (FULL) or written (NORMAL, OFF): `visible` only moves
//! over a contiguous prefix. A failed write or sync poisons the pipeline:
//! every waiting and later commit fails.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::mutex::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::groupsync::SharedSync;
use crate::metrics::Metrics;
use crate::native::CapsuleStore;
use crate::options::SyncMode;
use crate::types::CommitSeq;
use crate::wal::Log;

/// What a group flush makes durable, in order.
#[derive(Clone, Copy)]
pub struct Logs<'a> {
    /// NATIVE mode's capsules: a capsule must be durable before the
    /// marker naming it is.
    pub capsules: Option<&'a CapsuleStore>,
    pub wal: &'a Log,
    /// Several processes share the log: sync it for all of them at once.
    /// Capsules stay each process's own to sync.
    pub shared: Option<SharedSync<'a>>,
}

impl Logs<'_> {
    fn sync(&self, from: u64, to: u64) -> Result<()> {
        if let Some(c) = self.capsules {
            c.sync_relaxed()?;
        }
        match &self.shared {
            Some(s) => s.sync(self.wal, from, to).map(|_| ()),
            None => self.wal.sync_range(from, to),
        }
    }
}

struct State {
    /// Every commit <= this is fully written.
    written_upto: CommitSeq,
    /// Log offset just past commit `written_upto`.
    written_end: u64,
    /// Written commits beyond the contiguous prefix: seq -> end offset.
    out_of_order: BTreeMap<CommitSeq, u64>,
    /// Every commit <= this is synced.
    durable_upto: CommitSeq,
    durable_end: u64,
    flushing: bool,
    /// Group-commit generation: incremented by each flush.
    epoch: u64,
    /// Set by the first failed write or sync; the database is then closed
    /// to writes until reopened.
    failed: Option<Error>,
    /// (seq, end offset) of each written commit not yet checkpointed, so
    /// a checkpoint at C knows where commits after C begin in the log.
    ends: VecDeque<(CommitSeq, u64)>,
}

/// The group-commit pipeline of one database.
pub struct Pipeline {
    sync: SyncMode,
    max_flush_delay: Duration,
    state: Mutex<State>,
    cv: Condvar,
    visible: AtomicU64,
    durable: AtomicU64,
    written: AtomicU64,
    /// Log offset just past commit `written` (with it).
    written_end: AtomicU64,
    epoch: AtomicU64,
    pub metrics: Metrics,
    /// Told where the durable log ends when a sync of the log fails:
    /// other processes sharing the log must stop building on it.
    on_sync_failure: std::sync::OnceLock<SyncFailureHook>,
}

/// See [`Pipeline::on_sync_failure`].
pub type SyncFailureHook = Box<dyn Fn(u64) + Send + Sync>;

impl Pipeline {
    /// A pipeline whose commits up to `last_seq` (ending at `end`) are
    /// already durable and visible.
    pub fn new(
        sync: SyncMode,
        max_flush_delay_us: u32,
        last_seq: CommitSeq,
        end: u64,
        epoch: u64,
    ) -> Pipeline {
        Pipeline {
            sync,
            max_flush_delay: Duration::from_micros(u64::from(max_flush_delay_us)),
            state: Mutex::new(State {
                written_upto: last_seq,
                written_end: end,
                out_of_order: BTreeMap::new(),
                durable_upto: last_seq,
                durable_end: end,
                flushing: false,
                epoch,
                failed: None,
                ends: VecDeque::new(),
            }),
            cv: Condvar::new(),
            visible: AtomicU64::new(last_seq),
            durable: AtomicU64::new(last_seq),
            written: AtomicU64::new(last_seq),
            written_end: AtomicU64::new(end),
            epoch: AtomicU64::new(epoch),
            metrics: Metrics::default(),
            on_sync_failure: std::sync::OnceLock::new(),
        }
    }

    /// Sets what a failed sync of the log tells others (once).
    pub fn on_sync_failure(&self, hook: SyncFailureHook) {
        let _ = self.on_sync_failure.set(hook);
    }

    /// The first failure poisons.
    fn poison(st: &mut State, err: Error) {
        if st.failed.is_none() {
            st.failed = Some(err);
        }
    }

    /// A sync of the log (or of capsules) failed: after that the kernel may
    /// hold pages that read back fine but never reach the disk - which
    /// another process's later sync would not notice. Poisons, and tells
    /// the hook where the durable log ends.
    fn poison_sync(&self, st: &mut State, err: Error) {
        if st.failed.is_none() {
            if let Some(hook) = self.on_sync_failure.get() {
                hook(st.durable_end);
            }
        }
        Self::poison(st, err);
    }

    /// [`Pipeline::fail`] for a failed sync of the log or of capsules.
    pub fn fail_sync(&self, err: &Error) {
        let mut st = self.state.lock();
        self.poison_sync(&mut st, err.duplicate());
        drop(st);
        self.cv.notify_all();
    }

    /// Highest commit visible to new snapshots.
    pub fn visible(&self) -> CommitSeq {
        self.visible.load(Ordering::Acquire)
    }

    /// Highest commit known durable (with every lower one).
    pub fn durable(&self) -> CommitSeq {
        self.durable.load(Ordering::Acquire)
    }

    /// Highest commit fully written (with every lower one).
    pub fn written(&self) -> CommitSeq {
        self.written.load(Ordering::Acquire)
    }

    /// Log offset just past the written commits: every byte before it is
    /// whole. Read with [`Pipeline::written`] it may be a little further
    /// on, never behind.
    pub fn written_end(&self) -> u64 {
        self.written_end.load(Ordering::Acquire)
    }

    /// Current group-commit generation.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The error that poisoned the pipeline, if any.
    pub fn check_failed(&self) -> Result<()> {
        match &self.state.lock().failed {
            Some(e) => Err(closed_by(e)),
            None => Ok(()),
        }
    }

    /// Poisons the pipeline with `err` and wakes every waiter.
    pub fn fail(&self, err: &Error) {
        let mut st = self.state.lock();
        Self::poison(&mut st, err.duplicate());
        drop(st);
        self.cv.notify_all();
    }

    /// Records commit `seq` (ending at log offset `end`) as written, then
    /// waits as `wait` says: until durable (FULL) or written (NORMAL, OFF).
    /// Under the database's own mode that also makes it visible; a commit
    /// relaxed below a FULL database's mode becomes visible with the next
    /// flush.
    pub fn complete(&self, logs: Logs<'_>, seq: CommitSeq, end: u64, wait: SyncMode) -> Result<()> {
        self.mark_written(seq, end);
        self.wait_done(logs, seq, wait)
    }

    /// The first half of [`Pipeline::complete`]: records commit `seq` as
    /// written (its bytes are all in the log), without waiting.
    pub fn mark_written(&self, seq: CommitSeq, end: u64) {
        let mut st = self.state.lock();
        st.out_of_order.insert(seq, end);
        let mut advanced = false;
        while let Some(end) = {
            let next = st.written_upto + 1;
            st.out_of_order.remove(&next)
        } {
            st.written_upto += 1;
            st.written_end = end;
            let s = st.written_upto;
            st.ends.push_back((s, end));
            advanced = true;
        }
        if advanced {
            self.written_end.store(st.written_end, Ordering::Release);
            self.written.store(st.written_upto, Ordering::Release);
        }
        if advanced && self.sync != SyncMode::Full {
            self.visible.store(st.written_upto, Ordering::Release);
            self.cv.notify_all();
        }
    }

    /// The second half of [`Pipeline::complete`]: waits as `wait` says
    /// for written commit `seq`, leading a group flush when none runs.
    pub fn wait_done(&self, logs: Logs<'_>, seq: CommitSeq, wait: SyncMode) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if let Some(e) = &st.failed {
                return Err(closed_by(e));
            }
            let done = match wait {
                SyncMode::Full => st.durable_upto >= seq,
                SyncMode::Normal | SyncMode::Off => st.written_upto >= seq,
            };
            if done {
                return Ok(());
            }
            if wait == SyncMode::Full && !st.flushing && st.written_upto > st.durable_upto {
                self.lead_flush(&mut st, logs);
                continue;
            }
            self.cv.wait(&mut st);
        }
    }

    /// One group flush, run by the leader with the state lock held on entry
    /// and exit (released around the sync).
    fn lead_flush(&self, st: &mut crate::mutex::MutexGuard<'_, State>, logs: Logs<'_>) {
        st.flushing = true;
        if !self.max_flush_delay.is_zero() {
            // Let more committers finish their writes and join this group.
            let deadline = Instant::now() + self.max_flush_delay;
            while Instant::now() < deadline && st.failed.is_none() {
                if self.cv.wait_until(st, deadline).timed_out() {
                    break;
                }
            }
        }
        let (target, target_end, from) = (st.written_upto, st.written_end, st.durable_end);
        st.epoch += 1;
        self.epoch.store(st.epoch, Ordering::Release);
        let group = target - st.durable_upto;
        let started = Instant::now();
        let _span = tracing::debug_span!("group_flush", group, bytes = target_end - from).entered();
        let result = crate::mutex::MutexGuard::unlocked(st, || logs.sync(from, target_end));
        if result.is_ok() && group > 0 {
            self.metrics.group_size.record(group);
            self.metrics
                .flush_us
                .record(started.elapsed().as_micros() as u64);
        }
        st.flushing = false;
        match result {
            Ok(()) => {
                // Commits adopted from another process meanwhile may have
                // moved it further already.
                if target > st.durable_upto {
                    st.durable_upto = target;
                    st.durable_end = target_end;
                }
                self.durable.fetch_max(target, Ordering::AcqRel);
                // Under NORMAL/OFF commits became visible when written,
                // possibly past this flush's target: never move back.
                self.visible.fetch_max(target, Ordering::AcqRel);
            }
            Err(e) => self.poison_sync(st, e),
        }
        self.cv.notify_all();
    }

    /// Waits up to `timeout` for commit `seq` to be durable, leading a
    /// flush when none is running. Ok(false) on timeout.
    pub fn wait_durable(&self, logs: Logs<'_>, seq: CommitSeq, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock();
        loop {
            if let Some(e) = &st.failed {
                return Err(closed_by(e));
            }
            if st.durable_upto >= seq {
                return Ok(true);
            }
            if !st.flushing && st.written_upto > st.durable_upto {
                self.lead_flush(&mut st, logs);
                continue;
            }
            if self.cv.wait_until(&mut st, deadline).timed_out() {
                return Ok(st.durable_upto >= seq);
            }
        }
    }

    /// Syncs everything written so far (sync NORMAL at checkpoint and
    /// close); returns the commit now durable. Waits for a running flush.
    pub fn flush_all(&self, logs: Logs<'_>) -> Result<CommitSeq> {
        let mut st = self.state.lock();
        while st.flushing {
            self.cv.wait(&mut st);
        }
        if let Some(e) = &st.failed {
            return Err(closed_by(e));
        }
        if st.written_upto > st.durable_upto || self.sync == SyncMode::Normal {
            self.lead_flush(&mut st, logs);
        }
        match &st.failed {
            Some(e) => Err(closed_by(e)),
            None => Ok(st.durable_upto),
        }
    }

    /// Takes on commits another process wrote, up to `last_seq` (ending at
    /// `end`; `ends` are theirs in order). They are durable as far as
    /// `durable_hint` says, and this process's next flush syncs from there
    /// on; visible now, or (`visible_when_durable`) once durable. Called
    /// only while this process has no commit in flight.
    pub fn adopt(
        &self,
        last_seq: CommitSeq,
        end: u64,
        ends: Vec<(CommitSeq, u64)>,
        epoch: u64,
        durable_hint: CommitSeq,
        visible_when_durable: bool,
    ) {
        let mut st = self.state.lock();
        if last_seq <= st.written_upto {
            return;
        }
        // A flush of this process's own (older) commits may be running;
        // it never moves the watermarks back (see lead_flush).
        assert!(
            st.out_of_order.is_empty(),
            "adopting commits while this process has commits in flight"
        );
        st.written_upto = last_seq;
        st.written_end = end;
        st.ends.extend(ends);
        st.epoch = st.epoch.max(epoch);
        self.epoch.store(st.epoch, Ordering::Release);
        let durable = durable_hint.min(last_seq);
        if durable > st.durable_upto {
            let i = st.ends.partition_point(|&(s, _)| s < durable);
            if let Some(&(s, e)) = st.ends.get(i).filter(|&&(s, _)| s == durable) {
                st.durable_upto = s;
                st.durable_end = e;
                self.durable.fetch_max(s, Ordering::AcqRel);
            }
        }
        self.written_end.store(end, Ordering::Release);
        self.written.store(last_seq, Ordering::Release);
        // Under FULL a holder shows them once durable (its next flush);
        // a reader catches up only to what was published visible.
        let visible = if visible_when_durable {
            st.durable_upto
        } else {
            last_seq
        };
        self.visible.fetch_max(visible, Ordering::AcqRel);
        drop(st);
        self.cv.notify_all();
    }

    /// Another process published commits up to `seq` as visible (and so,
    /// under FULL, durable); this process has them written already.
    pub fn raise_visible(&self, seq: CommitSeq) {
        let seq = seq.min(self.written());
        self.visible.fetch_max(seq, Ordering::AcqRel);
    }

    /// After another process's checkpoint at `seq` (whose commits after it
    /// begin at `log_start`) overtook everything this process knew.
    pub fn jump_to_checkpoint(&self, seq: CommitSeq, log_start: u64) {
        let mut st = self.state.lock();
        if seq <= st.written_upto {
            return;
        }
        assert!(st.out_of_order.is_empty());
        st.ends.clear();
        st.ends.push_back((seq, log_start));
        st.written_upto = seq;
        st.written_end = log_start;
        st.durable_upto = seq;
        st.durable_end = log_start;
        self.written_end.store(log_start, Ordering::Release);
        self.written.store(seq, Ordering::Release);
        self.durable.fetch_max(seq, Ordering::AcqRel);
        self.visible.fetch_max(seq, Ordering::AcqRel);
    }

    /// Records the ends of commits replayed by recovery.
    pub fn seed_ends(&self, ends: Vec<(CommitSeq, u64)>) {
        self.state.lock().ends.extend(ends);
    }

    /// Where commits after `seq` begin in the log (`seq` must be written
    /// and not yet trimmed).
    pub fn end_of(&self, seq: CommitSeq) -> Option<u64> {
        let st = self.state.lock();
        let i = st.ends.partition_point(|&(s, _)| s < seq);
        st.ends.get(i).filter(|&&(s, _)| s == seq).map(|&(_, e)| e)
    }

    /// Forgets commit ends up to `seq` (checkpointed).
    pub fn trim_ends(&self, seq: CommitSeq) {
        let mut st = self.state.lock();
        while st.ends.front().is_some_and(|&(s, _)| s <= seq) {
            st.ends.pop_front();
        }
    }
}

/// The error a commit gets once the pipeline has failed.
fn closed_by(e: &Error) -> Error {
    match e {
        Error::Full(_) => e.duplicate(),
        Error::Io { context, source } => Error::Io {
            context: format!("database closed to writes after an earlier failure: {context}"),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => other.duplicate(),
    }
}
