//! Replication to object storage: the store client, the objects and their
//! chain, snapshots and retention, the probe of create-only semantics,
//! and the shipper's status.
//! The shipper loop itself is `engine/ship.rs` (it reads the engine's
//! log); restore is `crate::restore`.

mod history;
mod object;
mod probe;
mod report;
mod retain;
mod snapshot;
mod status;
mod store;
mod url;

pub use history::{check_link, create_or_match, is_restart, next_seq, read_slot, slots, tip, Tip};
pub use object::{
    chunk_commits, decode, digest_of, encode, manifest_name, put_commit, slot_name, Commit, Header,
    Kind, CHUNK_TARGET_BYTES, DIGEST_BYTES, HEADER_BYTES,
};
pub use probe::{probe, probe_at_open};
pub use report::{read_status, write_status};
pub use retain::{prune, Pruned, Retention};
pub use snapshot::{
    encode_marker, fetch_image, image_name, marker_name, snapshots, Snapshot, SNAPSHOT_PART_BYTES,
    TOKEN_BYTES,
};
pub use status::{ReplicaStatus, State, Tracker, PUT_LATENCY_BUCKETS_MS};
pub use store::{Created, Store};
pub use url::ReplicaUrl;
