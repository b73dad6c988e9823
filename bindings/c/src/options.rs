//! `lc_options`: settings for `lc_open`.

use libcommit::Options;

use crate::args::{check_out, sync_arg, write_out};
use crate::boundary::{boundary, catch, Failure};
use crate::handle::{box_from_ptr, box_into_ptr};
use crate::state::{lc_options, with_options};
use crate::types::{
    commit_mode_from_arg, isolation_from_arg, lc_commit_mode_arg, lc_isolation_arg, lc_status,
    lc_sync_arg,
};

/// Creates an options object holding the defaults (page size 4096, sync
/// FULL, mode WAL, isolation SNAPSHOT, lanes 0, max flush delay 0, busy
/// timeout 5000 ms, read-write).
///
/// On LC_OK, `*out` owns the new object: free it with `lc_options_free`.
/// Returns LC_INVALID_ARGUMENT if `out` is NULL.
#[no_mangle]
pub extern "C" fn lc_options_new(out: *mut *mut lc_options) -> lc_status {
    boundary("lc_options_new", || {
        check_out(out, "out")?;
        let ptr = box_into_ptr::<lc_options>(Options::default());
        // SAFETY: out was checked non-NULL and points to writable storage
        // for one pointer (the caller's contract).
        unsafe { write_out(out, ptr) };
        Ok(())
    })
}

/// Frees an options object. NULL is a no-op. Databases opened with it are
/// unaffected (`lc_open` copies the options).
#[no_mangle]
pub extern "C" fn lc_options_free(opts: *mut lc_options) {
    catch("lc_options_free", (), || {
        // SAFETY: opts is NULL or from lc_options_new and not yet freed; the
        // caller gives it up here.
        drop(unsafe { box_from_ptr(opts) });
    })
}

/// Sets the page size of a new database: a power of two in 512 ..= 65536
/// (default 4096). An existing database keeps the page size it was created
/// with.
///
/// Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
/// value is out of range.
#[no_mangle]
pub extern "C" fn lc_options_set_page_size(opts: *mut lc_options, page_size: u32) -> lc_status {
    with_options("lc_options_set_page_size", opts, |o| {
        o.set_page_size(page_size)?;
        Ok(())
    })
}

/// Sets the durability mode (default LC_SYNC_FULL).
///
/// Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or
/// `sync` is not an `lc_sync` value.
#[no_mangle]
pub extern "C" fn lc_options_set_sync(opts: *mut lc_options, sync: lc_sync_arg) -> lc_status {
    with_options("lc_options_set_sync", opts, |o| {
        o.sync = sync_arg(sync)?;
        Ok(())
    })
}

/// Sets the commit mode (default LC_MODE_WAL).
///
/// Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or
/// `mode` is not an `lc_commit_mode` value.
#[no_mangle]
pub extern "C" fn lc_options_set_commit_mode(
    opts: *mut lc_options,
    mode: lc_commit_mode_arg,
) -> lc_status {
    with_options("lc_options_set_commit_mode", opts, |o| {
        o.commit_mode = commit_mode_from_arg(mode)
            .ok_or_else(|| Failure::invalid(format!("mode {mode}: not an lc_commit_mode value")))?;
        Ok(())
    })
}

/// Sets the isolation level (default LC_ISOLATION_SNAPSHOT).
///
/// Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or
/// `isolation` is not an `lc_isolation` value.
#[no_mangle]
pub extern "C" fn lc_options_set_isolation(
    opts: *mut lc_options,
    isolation: lc_isolation_arg,
) -> lc_status {
    with_options("lc_options_set_isolation", opts, |o| {
        o.isolation = isolation_from_arg(isolation).ok_or_else(|| {
            Failure::invalid(format!("isolation {isolation}: not an lc_isolation value"))
        })?;
        Ok(())
    })
}

/// Sets the number of staging lanes: 0 = one per core (the default), at
/// most 256.
///
/// Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
/// value is out of range.
#[no_mangle]
pub extern "C" fn lc_options_set_lanes(opts: *mut lc_options, lanes: u32) -> lc_status {
    with_options("lc_options_set_lanes", opts, |o| {
        o.set_lanes(lanes)?;
        Ok(())
    })
}

/// Sets how long a group-commit leader waits for more committers, in
/// microseconds: 0 = flush as soon as a leader is free (the default), at
/// most 1000000.
///
/// Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
/// value is out of range.
#[no_mangle]
pub extern "C" fn lc_options_set_max_flush_delay_us(opts: *mut lc_options, us: u32) -> lc_status {
    with_options("lc_options_set_max_flush_delay_us", opts, |o| {
        o.set_max_flush_delay_us(us)?;
        Ok(())
    })
}

/// Sets how long to wait for another process's lock - the writer lease a
/// commit or checkpoint needs, or the lock of a process opening the
/// database - before LC_BUSY, in milliseconds (default 5000; any value).
///
/// Returns LC_INVALID_ARGUMENT if `opts` is NULL.
#[no_mangle]
pub extern "C" fn lc_options_set_busy_timeout_ms(opts: *mut lc_options, ms: u32) -> lc_status {
    with_options("lc_options_set_busy_timeout_ms", opts, |o| {
        o.busy_timeout_ms = ms;
        Ok(())
    })
}

/// Opens read-only when `read_only` is true (default false): the database
/// must exist, and writes return LC_READ_ONLY.
///
/// Returns LC_INVALID_ARGUMENT if `opts` is NULL.
#[no_mangle]
pub extern "C" fn lc_options_set_read_only(opts: *mut lc_options, read_only: bool) -> lc_status {
    with_options("lc_options_set_read_only", opts, |o| {
        o.read_only = read_only;
        Ok(())
    })
}

/// Sets the size of each WAL segment file in bytes: a multiple of 4096 in
/// 65536 ..= 2^30 (default 16 MiB). An extension to the API.
///
/// Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
/// value is out of range.
#[no_mangle]
pub extern "C" fn lc_options_set_segment_size_bytes(
    opts: *mut lc_options,
    bytes: u64,
) -> lc_status {
    with_options("lc_options_set_segment_size_bytes", opts, |o| {
        o.set_segment_size_bytes(bytes)?;
        Ok(())
    })
}

/// Sets the WAL size in bytes past which commits trigger an automatic
/// checkpoint; 0 = never (default 64 MiB). An extension to the API.
///
/// Returns LC_INVALID_ARGUMENT if `opts` is NULL.
#[no_mangle]
pub extern "C" fn lc_options_set_checkpoint_threshold_bytes(
    opts: *mut lc_options,
    bytes: u64,
) -> lc_status {
    with_options("lc_options_set_checkpoint_threshold_bytes", opts, |o| {
        o.checkpoint_threshold_bytes = bytes;
        Ok(())
    })
}
