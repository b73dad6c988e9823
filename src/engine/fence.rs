//! Taking the replica: a fence with a new epoch in the slot after the
//! tip, then the epoch's manifest. Where the log after the tip is gone
//! (checkpointed before it shipped), the epoch restarts the chain from a
//! snapshot of the main file instead.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::replica::{
    self, Created, Header, Kind, Lineage, Part, Standing, State, Store, Tracker, DIGEST_BYTES,
    NO_SLOT,
};
use crate::types::CommitSeq;

use super::parts::{Engine, ReaderGuard};
use super::role::{now_ms, Role};
use super::snapshot::Anchor;

/// What an attempt to take the replica came to.
pub(super) enum Take {
    Taken(Box<Role>),
    /// Not now (a checkpoint of another process is moving the main file).
    Later,
    /// Never: fenced or refused; the state says why.
    Refused,
    /// Another writer's slots continue the replica past this database's
    /// last one (why): fenced as a writer; a follower being promoted
    /// applies them and tries again.
    Behind(String),
}

/// Where a new epoch goes: the slot after the tip and what it follows.
struct Next {
    slot: u64,
    epoch: u64,
    /// The replica's last commit.
    base: CommitSeq,
    prev: [u8; DIGEST_BYTES],
    /// This database's lineage, at the tip.
    lineage: Lineage,
}

impl Next {
    fn after(tip: Option<&replica::Tip>, lineage: Lineage) -> Next {
        match tip {
            None => Next {
                slot: 0,
                epoch: 1,
                base: 0,
                prev: [0; DIGEST_BYTES],
                lineage,
            },
            Some(p) => Next {
                slot: p.header.slot + 1,
                epoch: p.header.epoch + 1,
                base: replica::next_seq(&p.header) - 1,
                prev: p.digest,
                lineage,
            },
        }
    }
}

impl Engine {
    /// Fences the replica with the next epoch at the slot after its tip -
    /// if the tip is this database's own history (its lineage says so).
    pub(super) fn take_role(&self, store: &Store, t: &Tracker) -> Result<Take> {
        let tip = replica::tip(store)?;
        let lineage = match self.lineage_at_tip(store, t, tip.as_ref())? {
            Ok(l) => l,
            Err(take) => return Ok(take),
        };
        let next = Next::after(tip.as_ref(), lineage);
        let base = next.base;
        if self.pipe.durable() < base {
            t.set_state(
                State::Fenced,
                Some(format!(
                    "the replica holds commits up to {base}, this database only up to {}: \
                     restore from the replica instead of writing a second history",
                    self.pipe.durable()
                )),
            );
            return Ok(Take::Refused);
        }
        let newest_snapshot_ms = replica::snapshots(store)?
            .iter()
            .map(|s| s.header.created_ms)
            .max();
        let main = self.main.header();
        let hold = self.hold_at(base);
        let cursor = if base == main.checkpoint_seq {
            Some(main.log_start)
        } else {
            self.pipe.end_of(base)
        };
        let (Some(hold), Some(cursor)) = (hold, cursor) else {
            return self.restart(store, t, &next, newest_snapshot_ms);
        };
        let fence = Header {
            kind: Kind::Fence,
            epoch: next.epoch,
            slot: next.slot,
            first_seq: base + 1,
            last_seq: base,
            created_ms: now_ms(),
            page_size: self.page_size(),
            commits: 0,
            prev_digest: next.prev,
        };
        let (bytes, digest) = self.fence_bytes(&fence);
        if !self.write_fence(store, &next.lineage, &fence, bytes)? {
            return Ok(Take::Behind(format!(
                "another writer took {} first",
                replica::slot_name(next.slot)
            )));
        }
        t.set_epoch(next.epoch, base);
        t.set_state(State::Shipping, None);
        let anchor = Anchor {
            slot: next.slot,
            next_seq: base + 1,
            digest,
        };
        Ok(Take::Taken(Box::new(Role::new(
            next.epoch,
            anchor,
            cursor,
            hold,
            newest_snapshot_ms,
        ))))
    }

    /// This database's lineage when the replica's tip is its own; what
    /// the attempt to take it comes to otherwise.
    fn lineage_at_tip(
        &self,
        store: &Store,
        t: &Tracker,
        tip: Option<&replica::Tip>,
    ) -> Result<std::result::Result<Lineage, Take>> {
        Ok(match self.read_lineage()? {
            Some(l) => match replica::standing(store, &l)? {
                Standing::AtTip(l) => Ok(l),
                Standing::Behind { next, .. } => Err(Take::Behind(behind_why(&next))),
                Standing::Apart(why) => {
                    t.set_state(State::Fenced, Some(why));
                    Err(Take::Refused)
                }
            },
            None if tip.is_none() => Ok(Lineage::at(
                Part::Writer,
                self.replica_url(),
                0,
                NO_SLOT,
                0,
                [0; DIGEST_BYTES],
            )),
            None => {
                t.set_state(State::Fenced, Some(never_shipped_why(&self.path)));
                Err(Take::Refused)
            }
        })
    }

    /// The epoch starts from a snapshot at the main file's checkpoint:
    /// the image first, then its marker (anchored at the fence about to
    /// be written, whose digest is known before it exists), then the
    /// fence. So a restart fence in the replica always has its snapshot;
    /// a marker whose fence lost the race names a slot holding other
    /// bytes, and restores pass it by.
    fn restart(
        &self,
        store: &Store,
        t: &Tracker,
        next: &Next,
        newest_snapshot_ms: Option<u64>,
    ) -> Result<Take> {
        let Some((seq, hold)) = self.freeze_checkpoint()? else {
            return Ok(Take::Later);
        };
        if seq <= next.base {
            // The log is not gone after all (another process's commits
            // not yet adopted, say): look again.
            return Ok(Take::Later);
        }
        t.set_state(
            State::NeedsSnapshot,
            Some(format!(
                "the replica ends at commit {} but this database checkpointed to {seq}: \
                 uploading a snapshot",
                next.base
            )),
        );
        let image = self.upload_image(store, next.epoch, seq)?;
        let fence = Header {
            kind: Kind::Fence,
            epoch: next.epoch,
            slot: next.slot,
            first_seq: seq + 1,
            last_seq: next.base,
            created_ms: now_ms(),
            page_size: self.page_size(),
            commits: 0,
            prev_digest: next.prev,
        };
        let (bytes, digest) = self.fence_bytes(&fence);
        let anchor = Anchor {
            slot: next.slot,
            next_seq: seq + 1,
            digest,
        };
        let created_ms = now_ms();
        if !self.write_marker(store, next.epoch, &image, anchor, created_ms)? {
            // Never a restart fence without its snapshot.
            return Err(crate::error::Error::Internal(format!(
                "{}: the snapshot marker for commit {seq} holds other bytes",
                self.path.display()
            )));
        }
        if !self.write_fence(store, &next.lineage, &fence, bytes)? {
            return Ok(Take::Behind(format!(
                "another writer took {} first",
                replica::slot_name(next.slot)
            )));
        }
        t.set_epoch(next.epoch, seq);
        t.set_state(State::Shipping, None);
        t.snapshot_made(seq);
        // The hold froze the checkpoint at `seq`: the log starts there.
        let cursor = self.main.header().log_start;
        let mut role = Role::new(next.epoch, anchor, cursor, hold, newest_snapshot_ms);
        role.snapshot_seq = seq;
        role.snapshot_ms = Some(created_ms);
        Ok(Take::Taken(Box::new(role)))
    }

    /// A fence's bytes and digest. Writer ids make two writers' fences
    /// differ even when made in the same millisecond: a lost response is
    /// told from a lost race.
    fn fence_bytes(&self, h: &Header) -> (Vec<u8>, [u8; DIGEST_BYTES]) {
        let bytes = replica::encode(h, &self.fence_ids());
        let digest = replica::digest_of(&bytes);
        (bytes, digest)
    }

    fn fence_ids(&self) -> Vec<u8> {
        let mut ids = self.db_id.to_le_bytes().to_vec();
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(40);
        ids.extend_from_slice(&nonce.to_le_bytes());
        ids
    }

    /// An old writer that comes back after another took its replica is
    /// fenced before its first commit: one look at the store at open.
    /// A store that does not answer leaves it to the shipper.
    pub(super) fn fence_at_open(&self, t: &Tracker, url: &str) {
        let (Ok(lineage), Ok(store)) = (self.read_lineage(), Store::open(url)) else {
            return;
        };
        let Some(l) = lineage else {
            if let Ok(Some(_)) = replica::tip(&store) {
                t.set_state(State::Fenced, Some(never_shipped_why(&self.path)));
            }
            return;
        };
        match replica::standing(&store, &l) {
            Ok(Standing::Behind { next, .. }) => {
                t.set_state(State::Fenced, Some(behind_why(&next)));
            }
            Ok(Standing::Apart(why)) => t.set_state(State::Fenced, Some(why)),
            Ok(Standing::AtTip(_)) | Err(_) => {}
        }
    }

    /// A reader slot at `seq`, if no checkpoint has passed it.
    pub(super) fn hold_at(&self, seq: CommitSeq) -> Option<ReaderGuard> {
        let token = self.readers.register(|| seq);
        let passed = self.main.header().checkpoint_seq > seq
            || self
                .lease
                .as_ref()
                .is_some_and(|l| l.shm.checkpoint_target() > seq);
        (!passed).then_some(ReaderGuard { token })
    }
}

impl Engine {
    /// Writes the fence, then the epoch's manifest; false (state fenced)
    /// when another writer's fence holds the slot. The lineage names the
    /// fence as pending (durably) before it is created, so that after a
    /// crash in between the fence is known as this database's own.
    fn write_fence(
        &self,
        store: &Store,
        lineage: &Lineage,
        h: &Header,
        fence: Vec<u8>,
    ) -> Result<bool> {
        let digest = replica::digest_of(&fence);
        let pending = Lineage {
            pending_slot: h.slot,
            pending_digest: digest,
            ..lineage.clone()
        };
        self.write_lineage(&pending, true)?;
        let body = fence[replica::HEADER_BYTES..fence.len() - DIGEST_BYTES].to_vec();
        let name = replica::slot_name(h.slot);
        if replica::create_or_match(store, &name, fence)? == Created::Taken {
            return Ok(false);
        }
        let mut taken = pending.advanced(h, digest);
        taken.role = Part::Writer;
        self.write_lineage(&taken, false)?;
        let manifest = Header {
            kind: Kind::Manifest,
            prev_digest: digest,
            ..h.clone()
        };
        let manifest = replica::encode(&manifest, &body);
        replica::create_or_match(store, &replica::manifest_name(h.epoch), manifest)?;
        Ok(true)
    }
}

/// Why a writer whose replica went on without it is fenced.
fn behind_why(next: &Header) -> String {
    format!(
        "epoch {} took the replica at {} after this database's last slot: \
         it writes no second history",
        next.epoch,
        replica::slot_name(next.slot)
    )
}

/// Why a database that never shipped to a non-empty replica may not.
fn never_shipped_why(path: &std::path::Path) -> String {
    format!(
        "the replica holds another database's history and {} never shipped there: \
         restore from the replica, or ship to a new prefix",
        path.display()
    )
}
