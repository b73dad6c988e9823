//! Read replicas: opening a database that follows a replica, and
//! promoting it. The follower's thread and the promotion itself are the
//! engine's (`engine/follow.rs`); this is the part a caller sees: restore
//! or resume, refuse a database that belongs to another history (or,
//! asked to, replace it with a fresh restore).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::db::Database;
use crate::error::{Error, Result, Status};
use crate::options::Options;
use crate::replica::{self, LineageFile, Part, ReplicaUrl};
use crate::restore::{restore, RestoreTarget};
use crate::storage::{parent_dir, Storage};
use crate::wal::{classify, LogFileName};

/// How long a promote waits for the follower to take the replica: a
/// round of store requests for each slot still to apply, then a fence.
pub const PROMOTE_TIMEOUT: Duration = Duration::from_secs(60);

/// A try at following that resnapshot could mend.
enum Tried {
    Following(Database),
    Mendable(Error),
}

impl Database {
    /// Opens the database at `path` as a follower of the replica at
    /// `url`: restored from it first when `path` does not exist, resumed
    /// where it stopped when it does. It applies new commits as they
    /// appear in the replica; its callers' commits are refused
    /// (`Status::ReadOnly`) until [`Database::promote`]. A database whose
    /// history the replica does not continue (it has commits the replica
    /// never had; the replica was rolled back or restarted; `path`
    /// belongs to another replica) is refused with `Status::Fenced` - or,
    /// with `options.replica_resnapshot`, replaced by a fresh restore.
    pub fn open_follower(url: &str, path: impl AsRef<Path>, options: Options) -> Result<Database> {
        ReplicaUrl::parse(url)?;
        let path = path.as_ref();
        let opts = Options {
            replica: Some(url.to_string()),
            read_only: false,
            ..options
        };
        opts.validate()?;
        match try_follow(url, path, &opts)? {
            Tried::Following(db) => Ok(db),
            Tried::Mendable(e) if opts.replica_resnapshot => {
                tracing::warn!(path = %path.display(), error = %e, "resnapshot");
                remove_database(&opts.storage, path)?;
                match try_follow(url, path, &opts)? {
                    Tried::Following(db) => Ok(db),
                    Tried::Mendable(e) => Err(e),
                }
            }
            Tried::Mendable(e) => Err(e),
        }
    }

    /// Promotes this follower: it applies everything the replica holds,
    /// takes it with a new epoch (the old writer, if it comes back, is
    /// fenced) and ships its own commits from then on. Works from any
    /// process that has the database open; the process that follows it
    /// does the work. The new epoch.
    pub fn promote(&self) -> Result<u64> {
        let engine = self.engine()?;
        engine.promote(PROMOTE_TIMEOUT)
    }
}

fn try_follow(url: &str, path: &Path, opts: &Options) -> Result<Tried> {
    let storage = opts.storage.as_ref();
    let exists = storage
        .exists(path)
        .map_err(|e| Error::io("look for database", path, e))?;
    if !exists {
        restore(url, path, RestoreTarget::Latest)?;
    }
    let file = LineageFile::open(storage, path, false)?;
    let lineage = match &file {
        Some(f) => f.read()?,
        None => None,
    };
    let (Some(file), Some(mut lineage)) = (file, lineage) else {
        return Ok(Tried::Mendable(Error::invalid(format!(
            "{}: it was never restored from, shipped to or followed a replica \
             ({} is missing): follow with resnapshot to replace it",
            path.display(),
            replica::lineage_path(path).display()
        ))));
    };
    if lineage.url != url {
        return Ok(Tried::Mendable(Error::invalid(format!(
            "{}: it belongs to the replica {}, not {url}",
            path.display(),
            lineage.url
        ))));
    }
    if lineage.role != Part::Follower {
        // Requests made before it followed are not for this follower.
        lineage.promotes_seen = file.promote_requests()?;
        lineage.role = Part::Follower;
        file.write(&lineage, true)?;
    }
    drop(file);
    let db = Database::open(path, opts.clone())?;
    let engine = db.engine()?;
    if !engine.is_following()? {
        return Err(Error::Busy(format!(
            "{}: it is open in this process as a writer",
            path.display()
        )));
    }
    match start(&engine) {
        Ok(()) => Ok(Tried::Following(db)),
        Err(e) if e.status() == Status::Fenced => {
            db.close()?;
            Ok(Tried::Mendable(e))
        }
        Err(e) => Err(e),
    }
}

/// Starts the follower thread unless this process runs one already.
fn start(engine: &Arc<crate::engine::Engine>) -> Result<()> {
    if engine.has_background_replica_thread() {
        return Ok(());
    }
    engine.start_follower()
}

/// Removes the database at `path` for a fresh restore: the main file,
/// its log and its replica files. No engine may have it open, here or
/// in another process.
fn remove_database(storage: &Arc<dyn Storage>, path: &Path) -> Result<()> {
    let _alone = crate::registry::exclusive_offline(storage, path)?;
    let dir = parent_dir(path);
    let listing = storage
        .list(&dir)
        .map_err(|e| Error::io("list directory", &dir, e))?;
    let mut doomed: Vec<_> = listing
        .into_iter()
        .filter(|p| !matches!(classify(path, p), LogFileName::Other))
        .collect();
    doomed.push(replica::status_path(path));
    doomed.push(replica::lineage_path(path));
    doomed.push(path.to_path_buf());
    for p in doomed {
        match storage.remove(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove for resnapshot", &p, e)),
        }
    }
    storage
        .sync_dir(&dir)
        .map_err(|e| Error::io("sync directory", &dir, e))
}
