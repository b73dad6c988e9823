//! Handles on one path in one process share one engine.
//!
//! The writer lock is per open file description, so a second independent
//! engine on the same path in the same process would lock itself out; the
//! registry hands the second opener the first one's engine instead. It is
//! per-process state only, keyed by the storage instance and the canonical
//! path, so it never stands between two processes.
//!
//! A forked child gets a table of its own on first use (its parent's,
//! with the parent's engines in it, is leaked there: those engines belong
//! to the parent, and its mutex may have been held by a thread that does
//! not exist in the child). So a child opening a path the parent has open
//! gets a fresh engine, never the parent's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::mutex::Mutex;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::storage::process::PerProcess;
use crate::storage::Storage;

type Key = (usize, PathBuf);

struct Entry {
    engine: Arc<Engine>,
    handles: usize,
}

fn table() -> &'static Mutex<HashMap<Key, Entry>> {
    static TABLE: PerProcess<Mutex<HashMap<Key, Entry>>> = PerProcess::new();
    TABLE.get(|| Mutex::new(HashMap::new()))
}

fn key(storage: &Arc<dyn Storage>, path: &Path) -> Key {
    (storage.instance_id(), canonical(path))
}

/// The path with its directory resolved, so "./a.db" and "/x/a.db" match.
fn canonical(path: &Path) -> PathBuf {
    let dir = crate::storage::parent_dir(path);
    match (std::fs::canonicalize(&dir), path.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => path.to_path_buf(),
    }
}

/// An engine for `path`: the open one, or a newly opened one.
pub fn acquire(path: &Path, opts: &Options) -> Result<Arc<Engine>> {
    let k = key(&opts.storage, path);
    // Opening holds the table lock: two threads opening one path must not
    // both build an engine.
    let mut t = table().lock();
    if let Some(e) = t.get_mut(&k) {
        if e.engine.page_size() != opts.page_size {
            return Err(Error::invalid(format!(
                "{}: page_size {} does not match the open database's {}",
                path.display(),
                opts.page_size,
                e.engine.page_size()
            )));
        }
        if e.engine.read_only() && !opts.read_only {
            return Err(Error::Busy(format!(
                "{}: open read-only in this process; close those handles to write",
                path.display()
            )));
        }
        e.handles += 1;
        return Ok(Arc::clone(&e.engine));
    }
    let engine = Engine::open(path, opts)?;
    t.insert(
        k,
        Entry {
            engine: Arc::clone(&engine),
            handles: 1,
        },
    );
    Ok(engine)
}

/// Drops one handle's claim; the last one shuts the engine down.
pub fn release(engine: &Arc<Engine>) -> Result<()> {
    let mut t = table().lock();
    let k = t
        .iter()
        .find(|(_, e)| Arc::ptr_eq(&e.engine, engine))
        .map(|(k, _)| k.clone());
    let Some(k) = k else {
        return Ok(());
    };
    let entry = t.get_mut(&k).expect("found above");
    entry.handles -= 1;
    if entry.handles > 0 {
        return Ok(());
    }
    let entry = t.remove(&k).expect("found above");
    drop(t);
    entry.engine.shutdown()
}

/// Fails with Busy when `path` is open in this process (offline tools
/// must not run under a live engine). Other processes are kept out by the
/// writer lock the caller takes next.
pub fn exclusive_offline(storage: &Arc<dyn Storage>, path: &Path) -> Result<OfflineLease> {
    let k = key(storage, path);
    if table().lock().contains_key(&k) {
        return Err(Error::Busy(format!(
            "{} is open in this process",
            path.display()
        )));
    }
    let opts = Options {
        storage: Arc::clone(storage),
        busy_timeout_ms: 0,
        ..Options::default()
    };
    crate::mainfile::require_parent_dir(storage.as_ref(), path)?;
    match crate::shm::Shm::open(storage, path)? {
        Some(shm) => {
            if !shm.try_alone()? {
                return Err(Error::Busy(format!(
                    "{} is open in another process",
                    path.display()
                )));
            }
            Ok(OfflineLease::Shared { _shm: shm })
        }
        None => Ok(OfflineLease::Alone {
            _file: crate::lease::take_writer_lock(&opts, path)?,
        }),
    }
}

impl OfflineLease {
    /// Where a sync failure recorded in `{path}-shm` by a process of this
    /// database, in this boot, left the log known durable (see
    /// [`crate::shm::Shm::record_failure`]).
    pub fn failure_limit(&self, db_id: u64, boot_tag: u32) -> Option<u64> {
        match self {
            OfflineLease::Shared { _shm: shm } => crate::shm::failure_limit(shm, db_id, boot_tag),
            OfflineLease::Alone { .. } => None,
        }
    }
}

/// Keeps every engine off the database during an offline operation.
pub enum OfflineLease {
    /// Shared storage: `{path}-shm`'s open byte held exclusively, so no
    /// process is attached and none can attach.
    Shared { _shm: crate::shm::Shm },
    /// Storage that cannot be shared: `{path}-lock`.
    Alone {
        _file: Box<dyn crate::storage::StorageFile>,
    },
}
