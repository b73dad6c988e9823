//! The public handles: [`Database`] and [`Transaction`].
//!
//! A `Database` is a handle onto a shared [`Engine`]; opening the same path
//! twice in one process gives two handles onto one engine. Handles count
//! their own commits and conflicts, and closing one waits for its in-flight
//! commits, then makes it (and its transactions) refuse further use.
//!
//! A handle belongs to the process that opened it. In a child forked with
//! it open, every call fails with Closed (the child must open the database
//! again), and close and drop there touch nothing shared: the engine, its
//! locks and its shared memory are the parent's, and a mutex of it may
//! have been held by a parent thread at the fork, so the child leaks it.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::mutex::RwLock;

use crate::engine::{Engine, ReaderGuard};
use crate::error::{Error, Result};
use crate::options::{Isolation, Options, SyncMode};
use crate::registry;
use crate::stage::WriteSet;
use crate::storage::process::Owner;
use crate::types::{
    CheckpointReport, CommitSeq, Metrics, Page, PageWrite, Pgno, RecoveryReport, Stats,
};

/// State of one handle, shared by the handle's clones and transactions.
struct Handle {
    engine: Arc<Engine>,
    /// The process that opened it (a forked child may not use it).
    owner: Owner,
    /// This handle was opened read-only (its engine may be writable when
    /// another handle in the process opened the path for writing).
    read_only: bool,
    closed: AtomicBool,
    commits: AtomicU64,
    conflicts: AtomicU64,
    /// Commits hold it shared; close takes it exclusively so that it
    /// waits for them to finish.
    in_flight: RwLock<()>,
}

impl Handle {
    fn check_open(&self) -> Result<()> {
        if self.owner.forked() {
            return Err(self.forked_error());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed(format!(
                "database {} is closed",
                self.engine.path().display()
            )));
        }
        Ok(())
    }

    fn forked_error(&self) -> Error {
        Error::Closed(format!(
            "database {} was opened in process {} and is used in forked child {}; \
             open it again in the child",
            self.engine.path().display(),
            self.owner.pid(),
            std::process::id()
        ))
    }

    fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.read_only {
            return Err(Error::ReadOnly(format!(
                "{} was opened read-only",
                self.engine.path().display()
            )));
        }
        Ok(())
    }

    fn count(&self, result: &Result<CommitSeq>) {
        match result {
            Ok(_) => {
                self.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(Error::Conflict { .. }) => {
                self.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }

    fn commit(
        &self,
        snapshot: Option<CommitSeq>,
        writes: WriteSet,
        reads: &[Pgno],
        sync: Option<SyncMode>,
    ) -> Result<CommitSeq> {
        let _guard = self.in_flight.read();
        self.check_writable()?;
        let result = self.engine.commit(snapshot, writes, reads, sync);
        self.count(&result);
        result
    }

    fn close(&self) -> Result<()> {
        if self.owner.forked() {
            // Nothing here is the child's to release (see the module doc).
            self.closed.store(true, Ordering::Release);
            return Ok(());
        }
        let _guard = self.in_flight.write();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        registry::release(&self.engine)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.owner.forked() {
            // The engine must never drop in a forked child: that would
            // join threads that do not exist here and release the
            // parent's locks and slot.
            std::mem::forget(Arc::clone(&self.engine));
            return;
        }
        if !self.closed.load(Ordering::Acquire) {
            // Dropped without close: release quietly; errors have nowhere to go.
            let _ = self.close();
        }
    }
}

/// An open database. Cheap to clone; clones are the same handle. Safe to
/// share across threads: commits from many threads group-commit together.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.db");
/// use libcommit::{Database, Options, PageWrite};
/// let db = Database::open(&path, Options::default())?;
/// let writer = db.clone(); // the same handle, for another thread
/// std::thread::spawn(move || writer.commit_batch(&[PageWrite::put(1, b"from a thread")]))
///     .join()
///     .unwrap()?;
/// assert_eq!(db.read(1)?.as_deref(), Some(&b"from a thread"[..]));
/// db.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Database {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.handle.engine.path())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Database {
    /// Opens the database at `path`, creating it when missing (unless
    /// read-only), and replays its write-ahead log.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.db");
    /// use libcommit::{Database, Options, SyncMode};
    /// let options = Options { sync: SyncMode::Normal, ..Options::default() };
    /// let db = Database::open(&path, options)?;
    /// assert_eq!(db.page_size(), 4096);
    /// assert_eq!(db.last_recovery().commits_recovered, 0); // a new database
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Database> {
        options.validate()?;
        let engine = registry::acquire(path.as_ref(), &options)?;
        Ok(Database {
            handle: Arc::new(Handle {
                engine,
                owner: Owner::current(),
                read_only: options.read_only,
                closed: AtomicBool::new(false),
                commits: AtomicU64::new(0),
                conflicts: AtomicU64::new(0),
                in_flight: RwLock::new(()),
            }),
        })
    }

    /// The engine behind this handle, while it is open.
    pub(crate) fn engine(&self) -> Result<Arc<Engine>> {
        self.handle.check_open()?;
        Ok(Arc::clone(&self.handle.engine))
    }

    /// The path the database was opened with.
    pub fn path(&self) -> &Path {
        self.handle.engine.path()
    }

    /// The database's page size in bytes.
    pub fn page_size(&self) -> u32 {
        self.handle.engine.page_size()
    }

    /// True once [`Database::close`] was called on this handle.
    pub fn is_closed(&self) -> bool {
        self.handle.closed.load(Ordering::Acquire)
    }

    /// Starts a transaction at the latest visible commit.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.db");
    /// use libcommit::{Database, Error, Options, PageWrite};
    /// let db = Database::open(&path, Options::default())?;
    /// db.commit_batch(&[PageWrite::put(1, b"v1")])?;
    /// let mut txn = db.begin()?;
    /// let mut other = db.begin()?;
    /// txn.write(1, b"v2")?;
    /// other.write(1, b"v3")?;
    /// let seq = txn.commit()?;
    /// match other.commit() {
    ///     Err(Error::Conflict { pages, commit_seq }) => assert_eq!((pages, commit_seq), (vec![1], seq)),
    ///     result => panic!("expected a conflict, got {result:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn begin(&self) -> Result<Transaction> {
        self.handle.check_open()?;
        let reader = self.handle.engine.begin_read()?;
        Ok(Transaction {
            handle: Arc::clone(&self.handle),
            reader: Some(reader),
            writes: WriteSet::new(),
            reads: BTreeSet::new(),
            sync: None,
        })
    }

    /// Atomically applies `writes` (blind writes and deletes; they never
    /// conflict, and the later commit wins). Returns the commit's
    /// `commit_seq`. One bad entry rejects the whole batch.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.db");
    /// use libcommit::{Database, Options, PageWrite, Status};
    /// let db = Database::open(&path, Options::default())?;
    /// assert_eq!(db.commit_batch(&[PageWrite::put(1, b"a"), PageWrite::put(2, b"b")])?, 1);
    /// let bad = db.commit_batch(&[PageWrite::put(3, b"c"), PageWrite::put(0, b"page 0")]);
    /// assert_eq!(bad.unwrap_err().status(), Status::InvalidArgument);
    /// assert_eq!(db.read(3)?, None); // nothing of the bad batch was written
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_batch(&self, writes: &[PageWrite<'_>]) -> Result<CommitSeq> {
        self.commit_batch_inner(writes, None)
    }

    /// [`Database::commit_batch`] with its own sync mode: `SyncMode::Full`
    /// waits until the commit is durable, `Normal`/`Off` return once it is
    /// written (a commit ticket: [`Database::wait_durable`] waits for the
    /// rest). In a FULL database a relaxed commit becomes visible when the
    /// group flush started for it completes.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.db");
    /// use std::time::Duration;
    /// use libcommit::{Database, Options, PageWrite, SyncMode};
    /// let db = Database::open(&path, Options::default())?;
    /// let ticket = db.commit_batch_with_sync(&[PageWrite::put(1, b"soon durable")], SyncMode::Normal)?;
    /// assert!(db.wait_durable(ticket, Duration::from_secs(5))?);
    /// assert!(db.durable_seq()? >= ticket);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_batch_with_sync(
        &self,
        writes: &[PageWrite<'_>],
        sync: SyncMode,
    ) -> Result<CommitSeq> {
        self.commit_batch_inner(writes, Some(sync))
    }

    fn commit_batch_inner(
        &self,
        writes: &[PageWrite<'_>],
        sync: Option<SyncMode>,
    ) -> Result<CommitSeq> {
        self.handle.check_open()?;
        let engine = &self.handle.engine;
        let mut set = WriteSet::new();
        for w in writes {
            match w.data {
                Some(data) => engine.check_image(w.pgno, data)?,
                None => Engine::check_pgno(w.pgno)?,
            }
        }
        {
            let _stage = tracing::trace_span!("stage", pages = writes.len()).entered();
            for w in writes {
                set.put(engine.spill_policy(), w.pgno, w.data)?;
            }
        }
        self.handle.commit(None, set, &[], sync)
    }

    /// The latest committed image of `pgno`, or `None` if it was never
    /// written or was deleted.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.db");
    /// use libcommit::{Database, Options, PageWrite};
    /// let db = Database::open(&path, Options::default())?;
    /// db.commit_batch(&[PageWrite::put(7, b"")])?;
    /// assert_eq!(db.read(7)?.as_deref(), Some(&b""[..])); // an empty page is found
    /// assert_eq!(db.read(8)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read(&self, pgno: Pgno) -> Result<Option<Page>> {
        self.handle.check_open()?;
        let engine = &self.handle.engine;
        Engine::check_pgno(pgno)?;
        let reader = engine.begin_read()?;
        engine.read_at(pgno, reader.snapshot())
    }

    /// How the replica shipper is doing (state `Off` without a replica).
    pub fn replica_status(&self) -> Result<crate::replica::ReplicaStatus> {
        self.handle.check_open()?;
        Ok(self.handle.engine.replica_status())
    }

    /// Waits until commit `seq` is in the replica: false when `timeout`
    /// passes first (or the shipper can no longer get there).
    pub fn wait_replicated(&self, seq: CommitSeq, timeout: std::time::Duration) -> Result<bool> {
        self.handle.check_open()?;
        self.handle.engine.wait_replicated(seq, timeout)
    }

    /// Copies every committed page not yet in the main file into it, then
    /// removes the log segments it no longer needs.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.db");
    /// use libcommit::{Database, Options, PageWrite};
    /// let db = Database::open(&path, Options::default())?;
    /// let seq = db.commit_batch(&[PageWrite::put(1, b"a"), PageWrite::put(2, b"b")])?;
    /// let report = db.checkpoint()?;
    /// assert_eq!((report.pages_written, report.checkpoint_seq), (2, seq));
    /// assert_eq!(db.stats()?.checkpoint_seq, seq);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn checkpoint(&self) -> Result<CheckpointReport> {
        self.handle.check_writable()?;
        self.handle.engine.checkpoint()
    }

    /// What recovery did when the database was opened.
    pub fn last_recovery(&self) -> RecoveryReport {
        self.handle.engine.last_recovery().clone()
    }

    /// The durable watermark: every commit <= it is on stable storage,
    /// covered by a sync that succeeded (under sync OFF it moves only when
    /// a sync is asked for: [`Database::wait_durable`], a `Full` commit).
    pub fn durable_seq(&self) -> Result<CommitSeq> {
        self.handle.check_open()?;
        Ok(self.handle.engine.durable_seq())
    }

    /// Waits up to `timeout` until commit `seq` is durable. Ok(true) once
    /// it is, Ok(false) on timeout; InvalidArgument for a seq not yet
    /// handed out; the I/O error if the database failed meanwhile.
    pub fn wait_durable(&self, seq: CommitSeq, timeout: std::time::Duration) -> Result<bool> {
        self.handle.check_open()?;
        self.handle.engine.wait_durable(seq, timeout)
    }

    /// Latency and group-size histograms, and how far the oldest reader
    /// lags and what it pins.
    pub fn metrics(&self) -> Result<Metrics> {
        self.handle.check_open()?;
        Ok(self.handle.engine.metrics())
    }

    /// Counters of this handle and watermarks of the database.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.db");
    /// use libcommit::{Database, Options, PageWrite};
    /// let db = Database::open(&path, Options::default())?;
    /// db.commit_batch(&[PageWrite::put(1, b"a")])?;
    /// let stats = db.stats()?;
    /// assert_eq!((stats.commits, stats.last_commit_seq), (1, 1));
    /// assert!(stats.syncs >= 1 && stats.durable_commit_seq == 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> Result<Stats> {
        self.handle.check_open()?;
        let mut stats = self.handle.engine.stats();
        stats.commits = self.handle.commits.load(Ordering::Relaxed);
        stats.conflicts = self.handle.conflicts.load(Ordering::Relaxed);
        Ok(stats)
    }

    /// Waits for this handle's in-flight commits, then closes it. The
    /// engine shuts down when its last handle closes. Closing twice is
    /// harmless. An error reports a failure of the final shutdown; the
    /// handle is closed all the same.
    pub fn close(&self) -> Result<()> {
        self.handle.close()
    }
}

/// A snapshot plus a write set. Reads see the snapshot and the
/// transaction's own writes. Use from one thread at a time.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.db");
/// use libcommit::{Database, Options, PageWrite};
/// let db = Database::open(&path, Options::default())?;
/// db.commit_batch(&[PageWrite::put(1, b"old")])?;
/// let mut txn = db.begin()?;
/// db.commit_batch(&[PageWrite::put(1, b"new")])?; // after the snapshot
/// assert_eq!(txn.read(1)?.as_deref(), Some(&b"old"[..]));
/// txn.write(2, b"mine")?;
/// txn.delete(3)?;
/// assert_eq!(txn.read(2)?.as_deref(), Some(&b"mine"[..])); // its own write
/// assert_eq!(db.read(2)?, None); // not committed yet
/// txn.commit()?;
/// assert_eq!(db.read(2)?.as_deref(), Some(&b"mine"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Transaction {
    handle: Arc<Handle>,
    /// Registered snapshot; `None` once committed or aborted.
    reader: Option<ReaderGuard>,
    writes: WriteSet,
    reads: BTreeSet<Pgno>,
    /// Overrides the database's sync mode for this commit.
    sync: Option<SyncMode>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("snapshot", &self.reader.as_ref().map(|r| r.snapshot()))
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl Transaction {
    fn live(&self) -> Result<&ReaderGuard> {
        self.handle.check_open()?;
        self.reader
            .as_ref()
            .ok_or_else(|| Error::Closed("transaction already finished".into()))
    }

    /// The commit_seq this transaction reads at.
    pub fn snapshot(&self) -> CommitSeq {
        self.reader.as_ref().map_or(0, |r| r.snapshot())
    }

    /// Reads `pgno`: this transaction's own write if any, else the image
    /// at the snapshot. `None` if not found.
    pub fn read(&mut self, pgno: Pgno) -> Result<Option<Page>> {
        let snapshot = self.live()?.snapshot();
        let engine = &self.handle.engine;
        Engine::check_pgno(pgno)?;
        if let Some(own) = self.writes.get(pgno) {
            return own.as_ref().map(|s| s.page()).transpose();
        }
        if engine.isolation() == Isolation::Serializable {
            self.reads.insert(pgno);
        }
        engine.read_at(pgno, snapshot)
    }

    /// Writes `data` as the new image of `pgno` (visible to this
    /// transaction at once, to others after commit).
    pub fn write(&mut self, pgno: Pgno, data: &[u8]) -> Result<()> {
        self.live()?;
        let engine = &self.handle.engine;
        engine.check_image(pgno, data)?;
        self.writes.put(engine.spill_policy(), pgno, Some(data))?;
        Ok(())
    }

    /// Sets the sync mode of this transaction's commit, overriding the
    /// database's (see [`Database::commit_batch_with_sync`]).
    pub fn set_sync(&mut self, sync: SyncMode) {
        self.sync = Some(sync);
    }

    /// Deletes `pgno`.
    pub fn delete(&mut self, pgno: Pgno) -> Result<()> {
        self.live()?;
        let engine = &self.handle.engine;
        Engine::check_pgno(pgno)?;
        self.writes.put(engine.spill_policy(), pgno, None)?;
        Ok(())
    }

    /// Validates and commits. Returns the commit's `commit_seq`; a
    /// read-only transaction commits nothing and returns its snapshot.
    /// Consumes the transaction, also on failure.
    pub fn commit(mut self) -> Result<CommitSeq> {
        let snapshot = self.live()?.snapshot();
        let writes = std::mem::take(&mut self.writes);
        let reads: Vec<Pgno> = std::mem::take(&mut self.reads).into_iter().collect();
        if writes.is_empty() {
            self.reader = None;
            return Ok(snapshot);
        }
        let result = self
            .handle
            .commit(Some(snapshot), writes, &reads, self.sync);
        self.reader = None;
        result
    }

    /// Discards the transaction.
    pub fn abort(self) {
        // Dropping it is aborting it (see Drop: also in a forked child).
        drop(self);
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.handle.owner.forked() {
            // Unregistering would lock the parent's reader table (a
            // parent thread may have held its mutex at the fork) and
            // write the parent's slot.
            std::mem::forget(self.reader.take());
        }
    }
}
