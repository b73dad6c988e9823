//! Replication to object storage: the store client, the objects and their
//! chain, snapshots and retention, the probe of create-only semantics,
//! and the shipper's status.
//! The shipper loop itself is `engine/ship.rs` (it reads the engine's
//! log); restore is `crate::restore`.

mod history;
mod lineage;
mod object;
mod probe;
mod report;
mod retain;
mod snapshot;
mod standing;
mod status;
mod store;
mod url;

pub use history::{
    check_link, check_link_to, create_or_match, is_restart, next_seq, read_slot, read_slot_if_any,
    slots, tip, Tip,
};
pub use lineage::{lineage_path, Lineage, LineageFile, Part, NO_SLOT};
pub use object::{
    chunk_commits, decode, digest_of, encode, manifest_name, put_commit, slot_name, Commit, Header,
    Kind, CHUNK_TARGET_BYTES, DIGEST_BYTES, HEADER_BYTES,
};
pub use probe::{probe, probe_at_open};
pub use report::{read_status, status_path, write_status};
pub use retain::{prune, Pruned, Retention};
pub use snapshot::{
    encode_marker, fetch_image, image_name, marker_name, snapshots, Snapshot, SNAPSHOT_PART_BYTES,
    TOKEN_BYTES,
};
pub use standing::{standing, Standing};
pub use status::{now_ms, ReplicaStatus, State, Tracker, PUT_LATENCY_BUCKETS_MS};
pub use store::{Created, Store};
pub use url::ReplicaUrl;
