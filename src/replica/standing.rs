//! Where a database's lineage stands against what the store holds now:
//! at the tip, behind another writer's slots that continue it, or on a
//! history the store no longer has.

use super::history::{self, check_link_to, Link};
use super::lineage::{Lineage, NO_SLOT};
use super::object::{digest_of, slot_name, Header, Kind};
use super::store::Store;
use crate::error::Result;

/// What [`standing`] found.
#[derive(Clone, Debug)]
pub enum Standing {
    /// The store's tip is this database's (after its own slots, if any
    /// were shipped since the record was written: the lineage is moved
    /// on past them).
    AtTip(Lineage),
    /// The store goes on after this database's last slot with slots that
    /// are not its own but continue it: `next` is the first of them. A
    /// follower applies them; a writer is fenced by them.
    Behind { lineage: Lineage, next: Header },
    /// The store does not hold this database's history (rolled back,
    /// replaced, or its slots deleted by retention): why.
    Apart(String),
}

impl Lineage {
    /// What the slot after this lineage's last one must continue.
    pub fn link(&self) -> Link {
        if self.slot == NO_SLOT {
            return Link::START;
        }
        Link {
            digest: self.digest,
            epoch: self.epoch,
            next_seq: self.seq + 1,
        }
    }

    /// True when slot `h` (whose bytes have digest `digest`) is this
    /// database's own: its pending fence, or a chunk of the epoch it
    /// writes.
    fn owns(&self, h: &Header, digest: &[u8; 32]) -> bool {
        let pending = self.pending_slot == h.slot && &self.pending_digest == digest;
        let chunk = self.owned_epoch != 0 && h.kind == Kind::Chunk && h.epoch == self.owned_epoch;
        pending || chunk
    }

    /// The lineage moved on to slot `h`.
    pub fn advanced(&self, h: &Header, digest: [u8; 32]) -> Lineage {
        let mine = self.pending_slot == h.slot;
        let own = mine || (self.owned_epoch != 0 && h.epoch == self.owned_epoch);
        Lineage {
            epoch: h.epoch,
            owned_epoch: if own { h.epoch } else { 0 },
            slot: h.slot,
            seq: history::next_seq(h) - 1,
            digest,
            pending_slot: if mine { NO_SLOT } else { self.pending_slot },
            pending_digest: if mine { [0; 32] } else { self.pending_digest },
            ..self.clone()
        }
    }
}

/// Where `l` stands against the store now.
pub fn standing(store: &Store, l: &Lineage) -> Result<Standing> {
    let present = match history::slots(store) {
        Ok(p) => p,
        Err(e) if e.status() == crate::error::Status::Corrupt => {
            return Ok(Standing::Apart(e.to_string()))
        }
        Err(e) => return Err(e),
    };
    let (Some(&(oldest, _)), Some(&(tip, _))) = (present.first(), present.last()) else {
        if l.slot == NO_SLOT {
            return Ok(Standing::AtTip(l.clone()));
        }
        return Ok(Standing::Apart(format!(
            "the replica is empty, but this database's history reaches its {}",
            slot_name(l.slot)
        )));
    };
    let mut at = l.clone();
    if l.slot != NO_SLOT {
        if l.slot > tip {
            return Ok(Standing::Apart(format!(
                "the replica ends at {} but this database's history reaches {}: \
                 the replica was rolled back or replaced",
                slot_name(tip),
                slot_name(l.slot)
            )));
        }
        if l.slot + 1 < oldest {
            return Ok(Standing::Apart(format!(
                "the replica no longer holds {} (retention deleted it: its oldest slot is {})",
                slot_name(l.slot + 1),
                slot_name(oldest)
            )));
        }
        if l.slot >= oldest {
            let (_, bytes) = history::read_slot(store, l.slot)?;
            if digest_of(&bytes) != l.digest {
                return Ok(Standing::Apart(format!(
                    "{} in the replica holds other bytes than the slot this database has \
                     (two histories)",
                    slot_name(l.slot)
                )));
            }
        }
    }
    let first = l.slot.wrapping_add(1);
    for slot in first..=tip {
        let (h, bytes) = history::read_slot(store, slot)?;
        if let Err(e) = check_link_to(&at.link(), &h) {
            return Ok(Standing::Apart(e.to_string()));
        }
        let digest = digest_of(&bytes);
        if !at.owns(&h, &digest) {
            return Ok(Standing::Behind {
                lineage: at,
                next: h,
            });
        }
        at = at.advanced(&h, digest);
    }
    Ok(Standing::AtTip(at))
}
