//! The C ABI of libcommit: `libcommit.so`, `libcommit.a` and, generated
//! from this crate by cbindgen, `include/libcommit.h`.
//!
//! A thin layer over the engine crate: every exported function checks its
//! pointers, calls the engine inside one panic boundary
//! ([`boundary::boundary`]), maps the engine's error to `lc_status` and
//! records the message for `lc_last_error`. Handles have one ownership kind
//! each ([`handle`]): `lc_db` is shared (`Arc`), `lc_txn` and `lc_options`
//! are owned (`Box`). The conventions for C callers are written once in the
//! header's top comment (`cbindgen.toml`) and per function in the doc
//! comments here, which cbindgen copies into the header.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_debug_implementations)]
// The exported functions are called from C, where `unsafe` means nothing,
// so they are plain `extern "C" fn`s. Each one NULL-checks its pointers,
// documents in the header what validity it requires of the rest, and
// dereferences only inside the unsafe helpers of `handle` and `boundary`
// (each use with its SAFETY comment).
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod args;
mod boundary;
mod handle;
mod state;

pub mod types;

pub mod library;

pub mod options;

pub mod open;

pub mod txn;

pub mod db;

pub mod recover;

pub mod durable;

pub mod metrics;

pub mod segments;

pub mod replica;
