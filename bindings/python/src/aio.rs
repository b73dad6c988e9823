//! The threads behind the asyncio methods (`commit_async`,
//! `Transaction.commit_async`, `wait_durable_async`).
//!
//! The event loop's thread only converts the writes, makes a future and
//! queues the job: it never waits on the engine. Writer threads (a few per
//! database) commit queued jobs with sync relaxed to NORMAL, which returns
//! once the commit is in the log; a job that must be durable then goes to
//! the one durability thread, which waits on the engine for the highest
//! sequence number anyone awaits and, after each sync, settles every future
//! at or below the durable watermark with one callback per event loop. So a
//! thousand tasks committing at once hold a handful of threads, none per
//! waiter, and share syncs.
//!
//! The threads are Python threads (the interpreter joins them at exit, and
//! they may re-enter it), but their loops run detached from it: they take
//! the GIL once per batch of results, never per commit. With a thread per
//! commit re-taking the GIL, the loop's thread lost it for tens of
//! milliseconds at a time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use libcommit::{Database, Error, PageWrite, SyncMode, Transaction};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::convert::Entry;
use crate::errors::{panic_error, to_py_err};

/// Enough writers to keep the log's lanes busy while one of them waits for
/// another process's writer lease.
const WRITERS_MAX: usize = 4;
/// How long an idle thread lingers before it ends, so that a steady trickle
/// of commits does not start a thread each. Interpreter exit does not wait
/// it out (`stop`).
const IDLE: Duration = Duration::from_millis(500);
/// How long the durability thread waits in the engine before it looks again
/// at what is awaited.
const WAIT_SLICE: Duration = Duration::from_millis(100);
/// A writer delivers its results at least this often while busy, so early
/// commits of a long burst are not held back by later ones.
const DELIVER_EVERY: usize = 64;

/// What a job commits.
pub(crate) enum Work {
    Batch {
        writes: Vec<Entry>,
        sync: Option<SyncMode>,
    },
    Txn(Transaction),
}

/// One queued commit, with the future (and its loop) it settles.
pub(crate) struct Job {
    pub(crate) work: Work,
    /// Settle only once the commit is durable.
    pub(crate) durable: bool,
}

struct Queued {
    job: Job,
    future: Py<PyAny>,
    event_loop: Py<PyAny>,
}

/// What a settled future gets.
enum Outcome {
    Seq(u64),
    Flag(bool),
    Failed(&'static str, Error),
    /// A thread could not be started (the interpreter is shutting down).
    Raised(PyErr),
}

struct Settled {
    future: Py<PyAny>,
    event_loop: Py<PyAny>,
    outcome: Outcome,
}

/// A future waiting for `seq` to be durable. Ordered by seq, then arrival.
struct Waiter {
    seq: u64,
    order: u64,
    settled: Settled,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.seq, self.order) == (other.seq, other.order)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.seq, self.order).cmp(&(other.seq, other.order))
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Queued>,
    writers: usize,
    idle_writers: usize,
    waiters: BinaryHeap<Reverse<Waiter>>,
    /// At least every awaited seq (possibly one already settled).
    top: u64,
    order: u64,
    durability_running: bool,
    /// The interpreter is exiting: idle threads end at once.
    exiting: bool,
}

/// The asyncio machinery of one database.
#[pyclass(module = "libcommit._native", name = "_AsyncState", frozen, weakref)]
pub(crate) struct AsyncState {
    db: Database,
    state: Mutex<State>,
    writer_cv: Condvar,
    durability_cv: Condvar,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs an engine call, turning a panic into Error::Internal.
fn guarded<T>(f: impl FnOnce() -> libcommit::Result<T>) -> libcommit::Result<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_error(p)))
}

impl AsyncState {
    pub(crate) fn new(db: Database) -> Self {
        AsyncState {
            db,
            state: Mutex::new(State::default()),
            writer_cv: Condvar::new(),
            durability_cv: Condvar::new(),
        }
    }

    /// Queues `job` for a writer thread; `future` (of `event_loop`) gets
    /// its sequence number or its exception.
    pub(crate) fn submit(
        slf: &Bound<'_, Self>,
        job: Job,
        future: Py<PyAny>,
        event_loop: Py<PyAny>,
    ) -> PyResult<()> {
        let this = slf.get();
        let ours = future.as_ptr();
        let start = {
            let mut st = lock(&this.state);
            st.jobs.push_back(Queued {
                job,
                future,
                event_loop,
            });
            if st.idle_writers > 0 {
                this.writer_cv.notify_one();
                false
            } else if st.writers == 0 {
                st.writers = 1;
                true
            } else {
                // Busy writers start more themselves (see `run_writer`).
                false
            }
        };
        if start {
            if let Err(e) = spawn(slf, "_writer", "libcommit-commit") {
                // No writer runs: take the job back, or later ones would
                // queue behind a writer that does not exist.
                let mut st = lock(&this.state);
                st.writers -= 1;
                st.jobs.retain(|q| q.future.as_ptr() != ours);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Settles `future` with True once `seq` is durable.
    pub(crate) fn wait(
        slf: &Bound<'_, Self>,
        seq: u64,
        future: Py<PyAny>,
        event_loop: Py<PyAny>,
    ) -> PyResult<()> {
        let settled = Settled {
            future,
            event_loop,
            outcome: Outcome::Flag(true),
        };
        if slf.get().add_waiter(seq, settled) {
            start_durability(slf)?;
        }
        Ok(())
    }

    /// Returns true when the durability thread must be started.
    fn add_waiter(&self, seq: u64, settled: Settled) -> bool {
        let mut st = lock(&self.state);
        st.order += 1;
        let order = st.order;
        st.waiters.push(Reverse(Waiter {
            seq,
            order,
            settled,
        }));
        st.top = st.top.max(seq);
        if st.durability_running {
            self.durability_cv.notify_one();
            false
        } else {
            st.durability_running = true;
            true
        }
    }

    fn commit(&self, work: Work) -> libcommit::Result<u64> {
        guarded(|| match work {
            Work::Batch { writes, sync } => {
                let batch: Vec<PageWrite<'_>> = writes
                    .iter()
                    .map(|(pgno, data)| PageWrite {
                        pgno: *pgno,
                        data: data.as_deref(),
                    })
                    .collect();
                match sync {
                    None => self.db.commit_batch(&batch),
                    Some(sync) => self.db.commit_batch_with_sync(&batch, sync),
                }
            }
            Work::Txn(txn) => txn.commit(),
        })
    }

    /// A writer's work until it has results to deliver, should start
    /// another writer, or ends. Runs detached from the interpreter.
    fn write_some(&self, done: &mut Vec<Settled>) -> WriterStep {
        let mut st = lock(&self.state);
        loop {
            if let Some(q) = st.jobs.pop_front() {
                let grow = !st.jobs.is_empty() && st.idle_writers == 0 && st.writers < WRITERS_MAX;
                if grow {
                    st.writers += 1;
                }
                drop(st);
                let result = self.commit(q.job.work);
                let settled = |outcome| Settled {
                    future: q.future,
                    event_loop: q.event_loop,
                    outcome,
                };
                let mut start_durability = false;
                match result {
                    Ok(seq) if q.job.durable => {
                        start_durability = self.add_waiter(seq, settled(Outcome::Seq(seq)));
                    }
                    Ok(seq) => done.push(settled(Outcome::Seq(seq))),
                    Err(e) => done.push(settled(Outcome::Failed("commit", e))),
                }
                if grow || start_durability || done.len() >= DELIVER_EVERY {
                    return WriterStep {
                        grow,
                        start_durability,
                        exit: false,
                    };
                }
                st = lock(&self.state);
                continue;
            }
            if !done.is_empty() {
                return WriterStep::default();
            }
            let timed_out = if st.exiting {
                true
            } else {
                st.idle_writers += 1;
                let (guard, wait) = self
                    .writer_cv
                    .wait_timeout(st, IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
                st = guard;
                st.idle_writers -= 1;
                wait.timed_out() || st.exiting
            };
            if timed_out && st.jobs.is_empty() {
                st.writers -= 1;
                return WriterStep {
                    exit: true,
                    ..WriterStep::default()
                };
            }
        }
    }

    /// One round of the durability thread: waits for the highest awaited
    /// commit, then takes every waiter it made durable. Detached.
    fn durable_round(&self, done: &mut Vec<Settled>) -> bool {
        let target = {
            let mut st = lock(&self.state);
            while st.waiters.is_empty() {
                let timed_out = st.exiting || {
                    let (guard, wait) = self
                        .durability_cv
                        .wait_timeout(st, IDLE)
                        .unwrap_or_else(PoisonError::into_inner);
                    st = guard;
                    wait.timed_out() || st.exiting
                };
                if timed_out && st.waiters.is_empty() {
                    st.durability_running = false;
                    st.top = 0;
                    return true;
                }
            }
            st.top
        };
        let result = guarded(|| {
            self.db.wait_durable(target, WAIT_SLICE)?;
            self.db.durable_seq()
        });
        let mut st = lock(&self.state);
        match result {
            Ok(durable) => {
                while st.waiters.peek().is_some_and(|w| w.0.seq <= durable) {
                    done.push(st.waiters.pop().expect("peeked").0.settled);
                }
            }
            Err(e @ Error::InvalidArgument(_)) => {
                // `target` was not handed out yet; lower ones may be fine.
                let (bad, good): (Vec<_>, Vec<_>) =
                    st.waiters.drain().partition(|w| w.0.seq >= target);
                st.waiters = good.into_iter().collect();
                st.top = st.waiters.iter().map(|w| w.0.seq).max().unwrap_or(0);
                for w in bad {
                    let mut settled = w.0.settled;
                    settled.outcome = Outcome::Failed("wait_durable_async", e.duplicate());
                    done.push(settled);
                }
            }
            Err(e) => {
                for w in st.waiters.drain() {
                    let mut settled = w.0.settled;
                    settled.outcome = Outcome::Failed("wait_durable_async", e.duplicate());
                    done.push(settled);
                }
                st.top = 0;
            }
        }
        false
    }
}

#[derive(Default)]
struct WriterStep {
    grow: bool,
    start_durability: bool,
    exit: bool,
}

/// Starts the durability thread; if it cannot start, every waiter gets the
/// error (no thread would ever settle them) and so does the caller.
fn start_durability(slf: &Bound<'_, AsyncState>) -> PyResult<()> {
    let Err(e) = spawn(slf, "_durability", "libcommit-durable") else {
        return Ok(());
    };
    let py = slf.py();
    let this = slf.get();
    let stranded: Vec<Settled> = {
        let mut st = lock(&this.state);
        st.durability_running = false;
        st.top = 0;
        st.waiters.drain().map(|w| w.0.settled).collect()
    };
    let done = stranded
        .into_iter()
        .map(|mut s| {
            s.outcome = Outcome::Raised(e.clone_ref(py));
            s
        })
        .collect();
    deliver(py, done)?;
    Err(e)
}

/// Starts a Python thread running `method` of the state.
fn spawn(slf: &Bound<'_, AsyncState>, method: &str, name: &str) -> PyResult<()> {
    let py = slf.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("target", slf.getattr(method)?)?;
    kwargs.set_item("name", name)?;
    let thread = py
        .import("threading")?
        .getattr("Thread")?
        .call((), Some(&kwargs))?;
    thread.call_method0("start")?;
    Ok(())
}

/// Hands results to their loops: one `call_soon_threadsafe` per loop.
fn deliver(py: Python<'_>, done: Vec<Settled>) -> PyResult<()> {
    if done.is_empty() {
        return Ok(());
    }
    let settle = py.import("libcommit._aio")?.getattr("_settle")?;
    let mut by_loop: Vec<(Py<PyAny>, Bound<'_, PyList>)> = Vec::new();
    for s in done {
        let value: Bound<'_, PyAny> = match s.outcome {
            Outcome::Seq(seq) => seq.into_pyobject(py)?.into_any(),
            Outcome::Flag(flag) => flag.into_pyobject(py)?.to_owned().into_any(),
            Outcome::Raised(e) => e.into_value(py).into_bound(py).into_any(),
            Outcome::Failed(op, e) => to_py_err(py, op, &e)
                .into_value(py)
                .into_bound(py)
                .into_any(),
        };
        let item = PyTuple::new(py, [s.future.into_bound(py), value])?;
        let slot = by_loop
            .iter()
            .position(|(l, _)| l.as_ptr() == s.event_loop.as_ptr());
        match slot {
            Some(i) => by_loop[i].1.append(item)?,
            None => by_loop.push((s.event_loop, PyList::new(py, [item])?)),
        }
    }
    for (event_loop, items) in by_loop {
        // A closed loop raises RuntimeError: nobody is left to tell.
        let _ = event_loop.call_method1(py, "call_soon_threadsafe", (&settle, items));
    }
    Ok(())
}

#[pymethods]
impl AsyncState {
    /// A writer thread's body.
    fn _writer(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        loop {
            let mut done = Vec::new();
            let step = py.detach(|| this.write_some(&mut done));
            if step.grow && spawn(slf, "_writer", "libcommit-commit").is_err() {
                // This writer carries on alone.
                lock(&this.state).writers -= 1;
            }
            if step.start_durability {
                // A failure reaches the waiters; this writer carries on.
                let _ = start_durability(slf);
            }
            if let Err(e) = deliver(py, done) {
                if !step.exit {
                    // Leaving early: let `submit` start a writer again.
                    lock(&this.state).writers -= 1;
                }
                return Err(e);
            }
            if step.exit {
                return Ok(());
            }
        }
    }

    /// The durability thread's body.
    fn _durability(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        loop {
            let mut done = Vec::new();
            let exit = py.detach(|| this.durable_round(&mut done));
            if let Err(e) = deliver(py, done) {
                if !exit {
                    // Leaving early: the next waiter starts a thread again.
                    lock(&this.state).durability_running = false;
                }
                return Err(e);
            }
            if exit {
                return Ok(());
            }
        }
    }

    /// Idle threads end now rather than after lingering: called as the
    /// interpreter exits, before it joins its threads.
    fn _stop(&self) {
        lock(&self.state).exiting = true;
        self.writer_cv.notify_all();
        self.durability_cv.notify_all();
    }
}
