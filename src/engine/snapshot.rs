//! Snapshots of the main file for the replica: the checkpointed file is
//! uploaded as an image while a reader slot at its checkpoint holds every
//! checkpoint back, so no byte of it changes under the upload; then a
//! create-only marker makes the image part of the replica.

use std::time::Instant;

use crate::error::{Error, Result};
use crate::format::{MainHeader, MAIN_HEADER_BLOCK_BYTES, MAIN_HEADER_BYTES};
use crate::replica::{self, Created, Header, Kind, Store, DIGEST_BYTES, TOKEN_BYTES};
use crate::storage::OpenMode;
use crate::types::CommitSeq;

use super::parts::{Engine, ReaderGuard};

/// An uploaded image, not yet named by a marker.
pub(super) struct Image {
    pub(super) seq: CommitSeq,
    pub(super) bytes: u64,
    pub(super) digest: [u8; DIGEST_BYTES],
    pub(super) token: [u8; TOKEN_BYTES],
}

/// Where a snapshot's restore goes on: the slot it continues from, and
/// that slot's digest.
#[derive(Clone, Copy, Debug)]
pub(super) struct Anchor {
    pub(super) slot: u64,
    /// The first commit the slot after it holds.
    pub(super) next_seq: CommitSeq,
    pub(super) digest: [u8; DIGEST_BYTES],
}

impl Engine {
    /// A reader slot at the main file's checkpoint, taken where no
    /// checkpoint of this process is under way (one that had picked its
    /// target before the slot existed could still write); None when
    /// another process's checkpoint is moving the file on.
    pub(super) fn freeze_checkpoint(&self) -> Result<Option<(CommitSeq, ReaderGuard)>> {
        if self.lease.is_some() {
            // Another process's checkpoint: adopted like a reader would.
            drop(self.begin_read()?);
        }
        let _no_checkpoint = self.checkpoint_lock.lock();
        let seq = self.main.header().checkpoint_seq;
        Ok(self.hold_at(seq).map(|hold| (seq, hold)))
    }

    /// Uploads the main file, frozen at `seq` by the caller's hold, as the
    /// image of a snapshot in `epoch`.
    pub(super) fn upload_image(&self, store: &Store, epoch: u64, seq: CommitSeq) -> Result<Image> {
        let file = self
            .opts
            .storage
            .open(&self.path, OpenMode::ReadOnly)
            .map_err(|e| Error::io("open main file for a snapshot", &self.path, e))?;
        let len = file
            .len()
            .map_err(|e| Error::io("stat main file for a snapshot", &self.path, e))?;
        let token = self.image_token(seq);
        let name = replica::image_name(seq, epoch, &token);
        let mut hasher = blake3::Hasher::new();
        let mut at = 0u64;
        let sent = store.upload(&name, replica::SNAPSHOT_PART_BYTES, |buf| {
            let n = (len - at).min(buf.len() as u64) as usize;
            file.read_at(&mut buf[..n], at)
                .map_err(|e| Error::io("read main file for a snapshot", &self.path, e))?;
            if at == 0 {
                self.check_image_seq(&buf[..n], seq)?;
            }
            hasher.update(&buf[..n]);
            at += n as u64;
            Ok(n)
        })?;
        debug_assert_eq!(sent, len);
        Ok(Image {
            seq,
            bytes: sent,
            digest: *hasher.finalize().as_bytes(),
            token,
        })
    }

    /// The file's newest header must be the checkpoint the hold froze: a
    /// file another process moved on is never passed off as `seq`.
    fn check_image_seq(&self, head: &[u8], seq: CommitSeq) -> Result<()> {
        let newest = (0..2u64)
            .filter_map(|copy| {
                let at = (copy * MAIN_HEADER_BLOCK_BYTES) as usize;
                head.get(at..at + MAIN_HEADER_BYTES)
                    .and_then(|b| MainHeader::decode(b).ok())
            })
            .max_by_key(|h| h.generation);
        match newest {
            Some(h) if h.checkpoint_seq == seq => Ok(()),
            found => Err(Error::Internal(format!(
                "{}: snapshot of checkpoint {seq} found the file at {:?}",
                self.path.display(),
                found.map(|h| h.checkpoint_seq)
            ))),
        }
    }

    /// Random enough that no two uploads (of any writer, ever) share an
    /// image name: the writer, the time, the process and the seq, hashed.
    fn image_token(&self, seq: CommitSeq) -> [u8; TOKEN_BYTES] {
        let mut h = blake3::Hasher::new();
        h.update(&self.db_id.to_le_bytes());
        h.update(&seq.to_le_bytes());
        h.update(&std::process::id().to_le_bytes());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.update(&nanos.to_le_bytes());
        h.update(&format!("{:?}", Instant::now()).into_bytes());
        let mut token = [0u8; TOKEN_BYTES];
        token.copy_from_slice(&h.finalize().as_bytes()[..TOKEN_BYTES]);
        token
    }

    /// Creates the marker of `image` continuing from `anchor`; false when
    /// the name (unique by its token) holds other bytes, which no writer
    /// of ours makes: the image then stays an orphan.
    pub(super) fn write_marker(
        &self,
        store: &Store,
        epoch: u64,
        image: &Image,
        anchor: Anchor,
        created_ms: u64,
    ) -> Result<bool> {
        debug_assert!(anchor.next_seq <= image.seq + 1);
        let h = Header {
            kind: Kind::Snapshot,
            epoch,
            slot: anchor.slot,
            first_seq: image.seq + 1,
            last_seq: image.seq,
            created_ms,
            page_size: self.page_size(),
            commits: 0,
            prev_digest: anchor.digest,
        };
        let bytes = replica::encode_marker(&h, image.bytes, &image.digest, &image.token);
        let name = replica::marker_name(image.seq, epoch, &image.token);
        Ok(replica::create_or_match(store, &name, bytes)? == Created::Created)
    }
}
