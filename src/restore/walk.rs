//! Walking a replica's slots in order, each verified and checked against
//! the one before it, from slot 0 or from a snapshot's anchor.

use crate::error::{Error, Result};
use crate::replica::{self, Commit, Header, Kind, Snapshot, Store, Tip};
use crate::types::CommitSeq;

/// One object of a replica as `lcctl replica ls` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaObject {
    /// The object's name under the replica's prefix (a snapshot: its
    /// marker's).
    pub name: String,
    /// "chunk", "fence", "snapshot", or "stray snapshot" (a marker outside
    /// the history: its writer's fence lost the race for its anchor).
    pub kind: &'static str,
    /// The epoch of the writer that made it.
    pub epoch: u64,
    /// A chunk's first commit; a fence's first commit of its epoch; a
    /// snapshot's checkpoint seq.
    pub first_seq: CommitSeq,
    /// A chunk's last commit; a fence's replica tip when its epoch began;
    /// a snapshot's checkpoint seq.
    pub last_seq: CommitSeq,
    /// When it was made (ms since the Unix epoch).
    pub created_ms: u64,
    /// Its size in the store (a snapshot: its image's).
    pub bytes: u64,
}

impl ReplicaObject {
    pub(super) fn of_slot(h: &Header, bytes: u64) -> ReplicaObject {
        ReplicaObject {
            name: replica::slot_name(h.slot),
            kind: if h.kind == Kind::Fence {
                "fence"
            } else {
                "chunk"
            },
            epoch: h.epoch,
            first_seq: h.first_seq,
            last_seq: h.last_seq,
            created_ms: h.created_ms,
            bytes,
        }
    }

    pub(super) fn of_snapshot(s: &Snapshot) -> ReplicaObject {
        ReplicaObject {
            name: s.name.clone(),
            kind: "snapshot",
            epoch: s.header.epoch,
            first_seq: s.seq(),
            last_seq: s.seq(),
            created_ms: s.header.created_ms,
            bytes: s.image_bytes,
        }
    }
}

/// Objects and bytes a walk read.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counts {
    pub(super) objects: u64,
    pub(super) bytes: u64,
}

/// A verified slot as a walk hands it over.
pub(super) struct Slot<'a> {
    pub(super) header: &'a Header,
    /// A chunk's commits (empty for a fence).
    pub(super) commits: Vec<Commit>,
    pub(super) digest: [u8; replica::DIGEST_BYTES],
}

/// The slot `slot` read and verified as a chain start: its digest must
/// be `digest` (a snapshot's anchor), since the slot before it may be
/// gone. None when the slot is missing, damaged or holds other bytes;
/// a store that fails is an error.
pub(super) fn anchor(store: &Store, slot: u64, digest: &[u8; 32]) -> Result<Option<Anchor>> {
    let (header, bytes) = match replica::read_slot(store, slot) {
        Ok(x) => x,
        Err(e) if e.status() == crate::error::Status::Io => return Err(e),
        Err(_) => return Ok(None),
    };
    let tip = Tip {
        digest: replica::digest_of(&bytes),
        header,
    };
    Ok((&tip.digest == digest).then_some(Anchor {
        tip,
        bytes: bytes.len() as u64,
    }))
}

/// A verified chain start and its size.
pub(super) struct Anchor {
    pub(super) tip: Tip,
    pub(super) bytes: u64,
}

/// Walks the slots after `start` (from slot 0 when None) to the tip,
/// verifying each and its link, handing each to `visit` until it returns
/// false. `chunks` says whether a chunk's commits are decoded.
pub(super) fn walk(
    store: &Store,
    start: Option<Tip>,
    chunks: impl Fn(&Header) -> bool,
    mut visit: impl FnMut(Slot<'_>, u64) -> Result<bool>,
    counts: &mut Counts,
) -> Result<()> {
    let first = start.as_ref().map_or(0, |t| t.header.slot + 1);
    let present = replica::slots(store)?;
    match present.first() {
        Some(&(s, _)) if s > first => {
            return Err(Error::corrupt(format!(
                "replica: object {} is missing (deleted by retention? the oldest slot kept is {})",
                replica::slot_name(first),
                replica::slot_name(s)
            )))
        }
        _ => {}
    }
    let mut prev = start;
    for &(slot, _) in present.iter().filter(|(s, _)| *s >= first) {
        let (h, bytes) = replica::read_slot(store, slot)?;
        replica::check_link(prev.as_ref(), &h)?;
        counts.objects += 1;
        counts.bytes += bytes.len() as u64;
        let name = replica::slot_name(slot);
        let commits = if h.kind == Kind::Chunk && chunks(&h) {
            let (_, body) = replica::decode(&name, &bytes)?;
            replica::chunk_commits(&name, &h, body)?
        } else {
            Vec::new()
        };
        let digest = replica::digest_of(&bytes);
        let more = visit(
            Slot {
                header: &h,
                commits,
                digest,
            },
            bytes.len() as u64,
        )?;
        if !more {
            break;
        }
        prev = Some(Tip { digest, header: h });
    }
    Ok(())
}
