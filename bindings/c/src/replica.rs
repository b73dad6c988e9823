//! Replication to object storage: `lc_options_set_replica`, its
//! snapshot interval and retention, `lc_replica_status`,
//! `lc_wait_replicated`, `lc_restore`.

// The C names, as the header spells them.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, CStr};
use std::time::Duration;

use libcommit::{ReplicaState, RestoreTarget};

use crate::args::{check_out, path_arg, write_out};
use crate::boundary::{boundary, Failure};
use crate::state::{lc_db, lc_options, with_db, with_options};
use crate::types::lc_status;

/// Bytes of `lc_replica_info.last_error`, its NUL included.
pub const LC_REPLICA_ERROR_BYTES: usize = 256;

/// What the replica shipper is doing.
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
}

/// The shipper's status, as `lc_replica_status` fills it.
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
}

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
        ReplicaState::Shipping => lc_replica_state::LC_REPLICA_SHIPPING,
        ReplicaState::Backoff => lc_replica_state::LC_REPLICA_BACKOFF,
        ReplicaState::Fenced => lc_replica_state::LC_REPLICA_FENCED,
        ReplicaState::NeedsSnapshot => lc_replica_state::LC_REPLICA_NEEDS_SNAPSHOT,
        ReplicaState::Standby => lc_replica_state::LC_REPLICA_STANDBY,
        _ => lc_replica_state::LC_REPLICA_OFF,
    }
}

/// The replica shipper's status (state LC_REPLICA_OFF without a replica).
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
