//! Replication to object storage: the store client, the objects and their
//! chain, the probe of create-only semantics, and the shipper's status.
//! The shipper loop itself is `engine/ship.rs` (it reads the engine's
//! log); restore is `crate::restore`.

mod history;
mod object;
mod probe;
mod status;
mod store;
mod url;

pub use history::{check_link, create_or_match, read_slot, slots, tip, Tip};
pub use object::{
    chunk_commits, decode, digest_of, encode, manifest_name, put_commit, slot_name, Commit, Header,
    Kind, CHUNK_TARGET_BYTES,
};
pub use probe::{probe, probe_at_open};
pub use status::{ReplicaStatus, State, Tracker, PUT_LATENCY_BUCKETS_MS};
pub use store::{Created, Store};
pub use url::ReplicaUrl;
