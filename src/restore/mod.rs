//! Restore from a replica, and the offline look at one (`ls`, `verify`,
//! `prune`).
//!
//! Every object is read through a verified decoder and every slot is
//! checked against the one before it (hash chain, epochs, dense seqs), so
//! a gap, a broken link or a bad checksum stops the restore with an error
//! naming the object: a restore is never a silent prefix. A restore
//! starts from the newest snapshot at or before its target (its image's
//! digest checked) and replays the chunks after it into the database
//! through the ordinary commit path, each commit getting exactly the seq
//! it had.

mod check;
mod image;
mod run;
mod walk;

pub use check::{replica_ls, replica_prune, replica_verify};
pub use run::{restore, RestoreReport, RestoreTarget};
pub use walk::ReplicaObject;
