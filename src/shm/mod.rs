//! `{path}-shm`: what the processes sharing a database tell each other.
//!
//! A small file every process maps (see docs/FORMAT.md for the layout):
//! a header - checksummed identity (magic, version, page size, db id) and
//! the published state (commit tip, durable tip, checkpoint) - and a table
//! of slots, one cache line per attached process (pid, the oldest snapshot
//! it reads at, its reader count, heartbeat, whether it waits for the
//! writer lease; see `slots`).
//!
//! Locks on single bytes of the file (never on its content) carry what
//! must die with a process: every attached process holds the open byte
//! shared (the first opener holds it exclusively while it recovers), the
//! writer lease is the lease byte held exclusively, and each slot's owner
//! holds that slot's byte, the replica shipper holds the shipper byte - so a slot whose byte nobody holds belongs to a
//! dead process, whatever its pid field says.

mod failure;
mod layout;
mod lease;
mod region;
mod shipper;
mod slots;
mod sync;
mod tips;

pub use failure::failure_limit;
#[cfg(test)]
pub use layout::SHM_SLOTS;
pub use region::{now_ms, shm_path, Shm};
pub use slots::SlotInfo;
pub use tips::ShmState;
