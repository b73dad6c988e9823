//! Reading a replica back: its slots, checked link by link.

use super::object::{self, decode, slot_name, Header, Kind, DIGEST_BYTES};
use super::store::{Created, Store};
use crate::error::{Error, Result};

/// The newest slot of a replica, verified.
#[derive(Clone, Debug)]
pub struct Tip {
    pub header: Header,
    pub digest: [u8; DIGEST_BYTES],
}

/// Slot numbers present and their sizes, in order, from the oldest one
/// kept (slot 0 until retention deletes it); an error names the first
/// missing one after that.
pub fn slots(store: &Store) -> Result<Vec<(u64, u64)>> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (name, size) in store.list("log")? {
        let hex = name.strip_prefix("log/").unwrap_or("");
        let slot = u64::from_str_radix(hex, 16)
            .ok()
            .filter(|_| hex.len() == 16)
            .ok_or_else(|| Error::corrupt(format!("replica: unexpected object {name}")))?;
        let want = out.last().map_or(slot, |&(s, _)| s + 1);
        if slot != want {
            return Err(Error::corrupt(format!(
                "replica: object {} is missing (a gap before {name})",
                slot_name(want)
            )));
        }
        out.push((slot, size));
    }
    Ok(out)
}

/// Reads and verifies slot `slot`.
pub fn read_slot(store: &Store, slot: u64) -> Result<(Header, Vec<u8>)> {
    read_slot_if_any(store, slot)?
        .ok_or_else(|| Error::corrupt(format!("replica: object {} is missing", slot_name(slot))))
}

/// Reads and verifies slot `slot`; None when the store has no such
/// object (yet): what a follower polls.
pub fn read_slot_if_any(store: &Store, slot: u64) -> Result<Option<(Header, Vec<u8>)>> {
    let name = slot_name(slot);
    let Some(bytes) = store.get(&name)? else {
        return Ok(None);
    };
    let (h, _) = decode(&name, &bytes)?;
    if h.slot != slot || !matches!(h.kind, Kind::Chunk | Kind::Fence) {
        return Err(Error::corrupt(format!(
            "replica: object {name} claims to be slot {} of kind {:?}",
            h.slot, h.kind
        )));
    }
    Ok(Some((h, bytes)))
}

/// The newest slot, or None for an empty replica.
pub fn tip(store: &Store) -> Result<Option<Tip>> {
    let Some(&(last, _)) = slots(store)?.last() else {
        return Ok(None);
    };
    let (header, bytes) = read_slot(store, last)?;
    Ok(Some(Tip {
        header,
        digest: object::digest_of(&bytes),
    }))
}

/// The first commit the slot after `h` holds: a chunk's next commit, or
/// the commit a fence's epoch starts shipping at.
pub fn next_seq(h: &Header) -> u64 {
    match h.kind {
        Kind::Fence => h.first_seq,
        _ => h.last_seq + 1,
    }
}

/// True for a fence that skips commits: its epoch starts from a snapshot.
pub fn is_restart(h: &Header) -> bool {
    h.kind == Kind::Fence && h.first_seq > h.last_seq + 1
}

/// Checks that `h` (in slot `slot`) follows `prev` in one history.
pub fn check_link(prev: Option<&Tip>, h: &Header) -> Result<()> {
    let after = match prev {
        None => Link::START,
        Some(p) => Link {
            digest: p.digest,
            epoch: p.header.epoch,
            next_seq: next_seq(&p.header),
        },
    };
    check_link_to(&after, h)
}

/// What the slot after a slot must continue: its digest, its epoch and
/// the next commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub digest: [u8; DIGEST_BYTES],
    pub epoch: u64,
    pub next_seq: u64,
}

impl Link {
    /// Before slot 0.
    pub const START: Link = Link {
        digest: [0; DIGEST_BYTES],
        epoch: 0,
        next_seq: 1,
    };
}

/// Checks that `h` continues the history ending as `after` says.
pub fn check_link_to(after: &Link, h: &Header) -> Result<()> {
    let name = slot_name(h.slot);
    let Link {
        digest,
        epoch,
        next_seq,
    } = *after;
    if h.prev_digest != digest {
        return Err(Error::corrupt(format!(
            "replica: object {name} does not link to the slot before it (broken hash chain)"
        )));
    }
    let epoch_ok = match h.kind {
        Kind::Fence => h.epoch > epoch,
        _ => h.epoch == epoch,
    };
    // A fence may restart the chain further on (its epoch begins with a
    // snapshot, after log that was never shipped): the commits between
    // are in no chunk, and restores past them start from that snapshot.
    let seq_ok = match h.kind {
        Kind::Fence => h.first_seq >= next_seq && h.last_seq + 1 == next_seq,
        _ => h.first_seq == next_seq,
    };
    if !epoch_ok || !seq_ok {
        return Err(Error::corrupt(format!(
            "replica: object {name} (epoch {}, commits {}..={}) does not continue epoch {epoch} at commit {next_seq}",
            h.epoch, h.first_seq, h.last_seq
        )));
    }
    Ok(())
}

/// Creates `name` with `bytes`; a name already holding exactly these
/// bytes is ours too (a create whose response was lost and was tried
/// again), anything else there means someone else took it.
pub fn create_or_match(store: &Store, name: &str, bytes: Vec<u8>) -> Result<Created> {
    let want = object::digest_of(&bytes);
    match store.create(name, bytes)? {
        Created::Created => Ok(Created::Created),
        Created::Taken => match store.get(name)? {
            Some(b) if b.len() >= DIGEST_BYTES && object::digest_of(&b) == want => {
                Ok(Created::Created)
            }
            Some(_) => Ok(Created::Taken),
            // S3 answers 409 to a conditional put while another one of the
            // same name is in flight, which may be our own earlier try:
            // only an object that is there and not ours is a lost slot.
            None => Err(Error::Io {
                context: format!("replica create {name}"),
                source: std::io::Error::other(
                    "the store refused the create but holds no object there yet",
                ),
            }),
        },
    }
}
