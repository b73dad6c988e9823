//! Replication to object storage: `lc_options_set_replica`, its
//! snapshot interval and retention, `lc_replica_status`,
//! `lc_wait_replicated`, `lc_restore`; read replicas: `lc_open_follower`,
//! its poll interval and resnapshot setting, `lc_promote`.

// The C names, as the header spells them.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, CStr};
use std::sync::Arc;
use std::time::Duration;

use libcommit::{Database, Options, ReplicaState, RestoreTarget};

use crate::args::{check_out, path_arg, write_out};
use crate::boundary::{boundary, Failure};
use crate::handle::{arc_into_ptr, box_ref};
use crate::state::{lc_db, lc_options, with_db, with_options, DbState};
use crate::types::lc_status;

/// Bytes of `lc_replica_info.last_error`, its NUL included.
pub const LC_REPLICA_ERROR_BYTES: usize = 256;

/// What the replica shipper (or, on a follower, the follower) is doing.
/// The numbers are part of the ABI: new states get new numbers.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lc_replica_state {
    LC_REPLICA_OFF = 0,
    LC_REPLICA_SHIPPING = 1,
    LC_REPLICA_BACKOFF = 2,
    LC_REPLICA_FENCED = 3,
    LC_REPLICA_NEEDS_SNAPSHOT = 4,
    /// Another process of this database ships (or this one has not
    /// started yet).
    LC_REPLICA_STANDBY = 5,
    /// A follower (`lc_open_follower`): applying the replica's commits as
    /// they appear.
    LC_REPLICA_FOLLOWING = 6,
    /// A follower that found the replica on another history than its own
    /// (a fork, a rollback): it applies no more; `last_error` says why.
    /// Open it again with `lc_options_set_replica_resnapshot` to replace
    /// it with a fresh restore.
    LC_REPLICA_FORKED = 7,
}

/// The shipper's (or follower's) status, as `lc_replica_status` fills it.
/// Fields are only ever appended.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lc_replica_info {
    pub state: lc_replica_state,
    pub epoch: u64,
    /// Every commit up to this one is in the replica.
    pub shipped_seq: u64,
    pub lag_commits: u64,
    pub lag_bytes: u64,
    /// Age of the oldest unshipped commit (the current RPO), 0 if none.
    pub oldest_unshipped_ms: u64,
    pub chunks_shipped: u64,
    /// The last store error, NUL-terminated (truncated), "" if none.
    pub last_error: [c_char; LC_REPLICA_ERROR_BYTES],
    /// A follower: every commit up to this one is applied here (0 on a
    /// database that does not follow).
    pub applied_seq: u64,
    /// A follower: commits the replica holds that are not applied yet, as
    /// of its last look (0: it found nothing newer).
    pub behind_commits: u64,
    /// A follower: how long the oldest of those has been in the replica,
    /// in milliseconds (0 when none).
    pub behind_ms: u64,
    /// A follower: from the newest applied chunk's making to its commits
    /// being visible here, in milliseconds: the replication delay end to
    /// end.
    pub apply_lag_ms: u64,
}

// The layout C sees: the state (padded to 8 bytes), six counters, the
// message, then the follower's four counters - appended, never moved.
const _: () = assert!(
    std::mem::size_of::<lc_replica_info>() == 8 + 6 * 8 + LC_REPLICA_ERROR_BYTES + 4 * 8,
    "lc_replica_info: fields are only appended"
);

/// `lc_restore_target.kind`: everything the replica holds (`value`
/// ignored).
pub const LC_RESTORE_LATEST: u32 = 0;
/// Exactly commit_seq `value`.
pub const LC_RESTORE_SEQ: u32 = 1;
/// Every chunk made at or before `value` milliseconds since the Unix epoch
/// (the shipping interval's resolution, about 1 s).
pub const LC_RESTORE_TIME_MS: u32 = 2;

/// What `lc_restore` restores up to (a plain integer kind, so any value
/// from C is safe to receive).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct lc_restore_target {
    /// LC_RESTORE_LATEST, LC_RESTORE_SEQ or LC_RESTORE_TIME_MS.
    pub kind: u32,
    pub value: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct lc_restore_report {
    pub restored_seq: u64,
    pub objects_read: u64,
    pub commits_applied: u64,
    pub bytes_read: u64,
    pub elapsed_ms: u64,
}

/// # Safety
/// `ptr` is NULL or a NUL-terminated string valid for this call.
unsafe fn url_arg(ptr: *const c_char) -> Result<String, Failure> {
    if ptr.is_null() {
        return Err(Failure::null("url"));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    String::from_utf8(bytes.to_vec()).map_err(|_| Failure::invalid("url is not UTF-8"))
}

/// Ships every durable commit to the replica at `url`
/// (`file:///dir/prefix` or `s3://bucket/prefix?endpoint=...&region=...`,
/// credentials from the `AWS_*` environment variables); NULL turns
/// replication off. The URL is copied. Commits never wait for the store.
///
/// Returns LC_INVALID_ARGUMENT (NULL `opts`, a malformed URL: options
/// unchanged).
#[no_mangle]
pub extern "C" fn lc_options_set_replica(opts: *mut lc_options, url: *const c_char) -> lc_status {
    with_options("lc_options_set_replica", opts, |o| {
        if url.is_null() {
            o.replica = None;
            return Ok(());
        }
        // SAFETY: url is non-NULL and NUL-terminated per the contract.
        let url = unsafe { url_arg(url) }?;
        libcommit::check_replica_url(&url)?;
        o.replica = Some(url);
        Ok(())
    })
}

/// Sets the least time between two snapshots of the main file in the
/// replica, in milliseconds (default 3600000; 0 = after every
/// checkpoint). Each snapshot uploads the whole main file.
///
/// Returns LC_INVALID_ARGUMENT if `opts` is NULL.
#[no_mangle]
pub extern "C" fn lc_options_set_replica_snapshot_interval_ms(
    opts: *mut lc_options,
    ms: u64,
) -> lc_status {
    with_options("lc_options_set_replica_snapshot_interval_ms", opts, |o| {
        o.replica_snapshot_interval_ms = ms;
        Ok(())
    })
}

/// Sets the replica's retention: the newest `snapshots` snapshots are
/// kept (default 2, at least 1), and so are those younger than
/// `window_ms` (default 86400000), with every chunk after the oldest kept
/// one; older objects are deleted `grace_ms` (default 600000) after they
/// stopped being needed, so that a restore already under way still finds
/// them.
///
/// Returns LC_INVALID_ARGUMENT (NULL `opts`, `snapshots` 0: options
/// unchanged).
#[no_mangle]
pub extern "C" fn lc_options_set_replica_retention(
    opts: *mut lc_options,
    snapshots: u32,
    window_ms: u64,
    grace_ms: u64,
) -> lc_status {
    with_options("lc_options_set_replica_retention", opts, |o| {
        if snapshots == 0 {
            return Err(Failure::invalid(
                "snapshots must be at least 1: a replica keeps its newest snapshot",
            ));
        }
        o.replica_retain_snapshots = snapshots;
        o.replica_retain_window_ms = window_ms;
        o.replica_delete_grace_ms = grace_ms;
        Ok(())
    })
}

fn state_of(s: ReplicaState) -> lc_replica_state {
    match s {
        ReplicaState::Off => lc_replica_state::LC_REPLICA_OFF,
        ReplicaState::Shipping => lc_replica_state::LC_REPLICA_SHIPPING,
        ReplicaState::Backoff => lc_replica_state::LC_REPLICA_BACKOFF,
        ReplicaState::Fenced => lc_replica_state::LC_REPLICA_FENCED,
        ReplicaState::NeedsSnapshot => lc_replica_state::LC_REPLICA_NEEDS_SNAPSHOT,
        ReplicaState::Standby => lc_replica_state::LC_REPLICA_STANDBY,
        ReplicaState::Following => lc_replica_state::LC_REPLICA_FOLLOWING,
        ReplicaState::Forked => lc_replica_state::LC_REPLICA_FORKED,
    }
}

/// The replica shipper's status (state LC_REPLICA_OFF without a replica);
/// on a follower, how far it applied and how far behind it is.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_replica_status(db: *const lc_db, out: *mut lc_replica_info) -> lc_status {
    with_db("lc_replica_status", db, |state| {
        check_out(out, "out")?;
        let s = state.db.replica_status()?;
        let mut last_error = [0 as c_char; LC_REPLICA_ERROR_BYTES];
        for (d, b) in last_error
            .iter_mut()
            .zip(s.last_error.bytes().filter(|&b| b != 0))
            .take(LC_REPLICA_ERROR_BYTES - 1)
        {
            *d = b as c_char;
        }
        let status = lc_replica_info {
            state: state_of(s.state),
            epoch: s.epoch,
            shipped_seq: s.shipped_seq,
            lag_commits: s.lag_commits,
            lag_bytes: s.lag_bytes,
            oldest_unshipped_ms: s.oldest_unshipped_ms,
            chunks_shipped: s.chunks_shipped,
            last_error,
            applied_seq: s.applied_seq,
            behind_commits: s.behind_commits,
            behind_ms: s.behind_ms,
            apply_lag_ms: s.apply_lag_ms,
        };
        // SAFETY: out was checked non-NULL; it is writable.
        unsafe { write_out(out, status) };
        Ok(())
    })
}

/// Waits up to `timeout_ms` until commit `seq` is in the replica: RPO 0
/// for that commit. On LC_OK `*out_replicated` is false when the timeout
/// passed first, or the shipper cannot get there (fenced, needs a
/// snapshot). Blocks the calling thread only.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db` or `out_replicated`; no replica
/// configured), LC_CLOSED.
#[no_mangle]
pub extern "C" fn lc_wait_replicated(
    db: *mut lc_db,
    seq: u64,
    timeout_ms: u32,
    out_replicated: *mut bool,
) -> lc_status {
    with_db("lc_wait_replicated", db, |state| {
        check_out(out_replicated, "out_replicated")?;
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let done = state.db.wait_replicated(seq, timeout)?;
        // SAFETY: out_replicated was checked non-NULL; it is writable.
        unsafe { write_out(out_replicated, done) };
        Ok(())
    })
}

/// Restores the replica at `url` into a new database at `dest_path` (which
/// must not exist), up to `target`; `report` may be NULL. A gap, a broken
/// hash chain or a bad checksum fails the restore naming the object.
///
/// Returns LC_INVALID_ARGUMENT (NULL `url` or `dest_path`, `dest_path`
/// exists, an unknown target kind, a target past what the replica holds), LC_CORRUPT, LC_IO.
#[no_mangle]
pub extern "C" fn lc_restore(
    url: *const c_char,
    dest_path: *const c_char,
    target: lc_restore_target,
    report: *mut lc_restore_report,
) -> lc_status {
    boundary("lc_restore", || {
        // SAFETY: both are NULL or NUL-terminated strings valid for this call.
        let url = unsafe { url_arg(url) }?;
        // SAFETY: as above.
        let dest = unsafe { path_arg(dest_path, "dest_path") }?;
        let target = match target.kind {
            LC_RESTORE_LATEST => RestoreTarget::Latest,
            LC_RESTORE_SEQ => RestoreTarget::Seq(target.value),
            LC_RESTORE_TIME_MS => RestoreTarget::TimeMs(target.value),
            k => return Err(Failure::invalid(format!("target.kind {k}: unknown"))),
        };
        let r = libcommit::restore(&url, dest, target)?;
        let out = lc_restore_report {
            restored_seq: r.restored_seq,
            objects_read: r.objects_read,
            commits_applied: r.commits_applied,
            bytes_read: r.bytes_read,
            elapsed_ms: r.elapsed_ms,
        };
        // SAFETY: report is NULL (skipped) or writable.
        unsafe { write_out(report, out) };
        Ok(())
    })
}

/// Sets how often a follower (`lc_open_follower`) looks for the replica's
/// next chunk, in milliseconds (default 100, at least 1). Each look is
/// one request to the store.
///
/// Returns LC_INVALID_ARGUMENT (NULL `opts`, `ms` 0: options unchanged).
#[no_mangle]
pub extern "C" fn lc_options_set_replica_poll_ms(opts: *mut lc_options, ms: u64) -> lc_status {
    with_options("lc_options_set_replica_poll_ms", opts, |o| {
        if ms == 0 {
            return Err(Failure::invalid("replica_poll_ms must be at least 1"));
        }
        o.replica_poll_ms = ms;
        Ok(())
    })
}

/// When `resnapshot` is true (default false), `lc_open_follower` replaces
/// a local database the replica cannot continue (a fork: it has commits
/// the replica never had; the replica was rolled back or restarted; it
/// never followed a replica) with a fresh restore, instead of refusing
/// it. The replaced database's files are deleted.
///
/// Returns LC_INVALID_ARGUMENT if `opts` is NULL.
#[no_mangle]
pub extern "C" fn lc_options_set_replica_resnapshot(
    opts: *mut lc_options,
    resnapshot: bool,
) -> lc_status {
    with_options("lc_options_set_replica_resnapshot", opts, |o| {
        o.replica_resnapshot = resnapshot;
        Ok(())
    })
}

/// Opens the database at `local_path` as a read replica of the replica at
/// `url`: restored from it first when `local_path` does not exist,
/// resumed where it stopped when it does. A thread of this handle then
/// applies new commits as they appear in the replica (every
/// `lc_options_set_replica_poll_ms`); readers see them at their next
/// transaction. Commits through any handle of the database return
/// LC_READ_ONLY until `lc_promote`. `lc_replica_status` tells how far it
/// applied (state LC_REPLICA_FOLLOWING, `applied_seq`, `behind_*`).
///
/// `url` and `local_path` are NUL-terminated and copied. `opts` may be
/// NULL for the defaults; it is copied and stays the caller's (its
/// replica URL and read-only setting are ignored). On LC_OK, `*out` is a
/// new handle, as from `lc_open`, that the caller must pass to `lc_close`
/// exactly once; closing it stops the follower.
///
/// Returns LC_INVALID_ARGUMENT (NULL `url`, `local_path` or `out`, an
/// empty path, a malformed URL, a bad option; `local_path` belongs to
/// another replica or never followed one), LC_FENCED (a fork: the local
/// database has commits the replica never had, or the replica no longer
/// continues its history - the message says "fork"; see
/// `lc_options_set_replica_resnapshot`), LC_BUSY (it is open in this
/// process as a writer, or locked by another process), LC_CORRUPT (a
/// damaged replica object or local file, named in the message), LC_IO,
/// LC_FULL.
#[no_mangle]
pub extern "C" fn lc_open_follower(
    url: *const c_char,
    local_path: *const c_char,
    opts: *const lc_options,
    out: *mut *mut lc_db,
) -> lc_status {
    boundary("lc_open_follower", || {
        check_out(out, "out")?;
        // SAFETY: url is NULL or a NUL-terminated string valid for this call.
        let url = unsafe { url_arg(url) }?;
        // SAFETY: as above, for local_path.
        let path = unsafe { path_arg(local_path, "local_path") }?;
        // SAFETY: opts is NULL or a live object from lc_options_new that no
        // other thread mutates during this call.
        let options = unsafe { box_ref::<lc_options>(opts) }
            .cloned()
            .unwrap_or_else(Options::default);
        let db = Database::open_follower(&url, path, options)?;
        let ptr = arc_into_ptr::<lc_db>(Arc::new(DbState::new(db)));
        // SAFETY: out was checked non-NULL and is writable (caller's contract).
        unsafe { write_out(out, ptr) };
        Ok(())
    })
}

/// Promotes a follower to the writer: the process that follows the
/// database (this one or another) applies everything the replica holds,
/// takes the replica with a new epoch - the old writer, if it comes back,
/// is fenced (LC_FENCED on its first commit) - and ships this database's
/// commits from then on; commits are accepted as soon as this returns.
/// `db` may come from `lc_open_follower`, or from `lc_open` of a follower's
/// database with `lc_options_set_replica` set to the replica's URL. Blocks
/// the calling thread, up to 60 s. On LC_OK `*epoch_out` (may be NULL) is
/// the new epoch.
///
/// Returns LC_INVALID_ARGUMENT (NULL `db`; the database does not follow a
/// replica; no replica URL to follow it with), LC_FENCED (the follower
/// stopped on a fork, or the promotion was refused: the message says why),
/// LC_BUSY (the process that follows did not answer in time, or the old
/// writer kept shipping), LC_CLOSED, LC_IO.
#[no_mangle]
pub extern "C" fn lc_promote(db: *mut lc_db, epoch_out: *mut u64) -> lc_status {
    with_db("lc_promote", db, |state| {
        let epoch = state.db.promote()?;
        // SAFETY: epoch_out is NULL (skipped) or writable.
        unsafe { write_out(epoch_out, epoch) };
        Ok(())
    })
}
