//! Snapshot objects: an image of the main file after a checkpoint, and
//! the small create-only marker that makes it part of the replica
//! (docs/FORMAT.md, "Snapshots").
//!
//! A multipart upload cannot be made create-only on every store, so the
//! image goes to a name no one else can pick (epoch, seq and a random
//! token); only the marker, written create-only after the upload
//! completed, makes it visible. An image without a marker is an orphan
//! that restores never read and retention deletes after the grace period.
//!
//! The marker names the slot its restore continues from (the anchor) and
//! that slot's digest, so a restore checks that the chunks after the
//! image belong to the history the image came from.

use super::object::{self, decode, Header, Kind, DIGEST_BYTES};
use super::store::Store;
use crate::error::{Error, Result};
use crate::types::CommitSeq;

/// Where snapshot markers and images live.
pub const SNAPSHOT_DIR: &str = "snapshot";
const MARKER_SUFFIX: &str = ".snap";
const IMAGE_SUFFIX: &str = ".main";
/// A marker's body: image bytes (8), image digest (32), token (16).
const MARKER_BODY_BYTES: usize = 8 + DIGEST_BYTES + TOKEN_BYTES;
/// Random bytes in an image's name: two uploads never share a name.
pub const TOKEN_BYTES: usize = 16;
/// Bytes per uploaded part: S3 wants at least 5 MiB for every part but
/// the last, and a part is what the shipper holds in memory.
pub const SNAPSHOT_PART_BYTES: usize = 8 << 20;

/// A verified snapshot marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The marker's name.
    pub name: String,
    /// Its header: `last_seq` is the image's checkpoint seq, `slot` the
    /// anchor, `prev_digest` the anchor's digest.
    pub header: Header,
    /// Size and BLAKE3-256 digest of the image.
    pub image_bytes: u64,
    pub image_digest: [u8; DIGEST_BYTES],
    pub token: [u8; TOKEN_BYTES],
    /// The marker's own size in the store.
    pub marker_bytes: u64,
}

impl Snapshot {
    /// The commit whose state the image holds.
    pub fn seq(&self) -> CommitSeq {
        self.header.last_seq
    }

    /// The image object's name.
    pub fn image_name(&self) -> String {
        image_name(self.seq(), self.header.epoch, &self.token)
    }
}

/// The name both objects of a snapshot start with. The token makes it
/// unique: two writers that raced for one epoch number (the loser's
/// marker stays behind, outside the history) never collide on a name.
fn stem(seq: CommitSeq, epoch: u64, token: &[u8; TOKEN_BYTES]) -> String {
    let hex = u128::from_be_bytes(*token);
    format!("{SNAPSHOT_DIR}/{seq:016x}-{epoch:016x}-{hex:032x}")
}

/// The marker of the snapshot at `seq` made in `epoch` with `token`.
pub fn marker_name(seq: CommitSeq, epoch: u64, token: &[u8; TOKEN_BYTES]) -> String {
    format!("{}{MARKER_SUFFIX}", stem(seq, epoch, token))
}

/// The image a marker names.
pub fn image_name(seq: CommitSeq, epoch: u64, token: &[u8; TOKEN_BYTES]) -> String {
    format!("{}{IMAGE_SUFFIX}", stem(seq, epoch, token))
}

/// True for a name that is an image (a marker's or an orphan).
pub fn is_image(name: &str) -> bool {
    name.starts_with(SNAPSHOT_DIR) && name.ends_with(IMAGE_SUFFIX)
}

/// Encodes a marker.
pub fn encode_marker(
    h: &Header,
    image_bytes: u64,
    image_digest: &[u8; DIGEST_BYTES],
    token: &[u8; TOKEN_BYTES],
) -> Vec<u8> {
    debug_assert_eq!(h.kind, Kind::Snapshot);
    let mut body = Vec::with_capacity(MARKER_BODY_BYTES);
    body.extend_from_slice(&image_bytes.to_le_bytes());
    body.extend_from_slice(image_digest);
    body.extend_from_slice(token);
    debug_assert_eq!(body.len(), MARKER_BODY_BYTES);
    object::encode(h, &body)
}

/// Verifies the marker `name` holding `bytes`.
pub fn decode_marker(name: &str, bytes: &[u8]) -> Result<Snapshot> {
    let bad = |why: &str| Error::corrupt(format!("replica snapshot {name}: {why}"));
    let (h, body) = decode(name, bytes)?;
    if h.kind != Kind::Snapshot {
        return Err(bad("is not a snapshot marker"));
    }
    if body.len() != MARKER_BODY_BYTES {
        return Err(bad("marker body has the wrong length"));
    }
    if h.first_seq != h.last_seq + 1 {
        return Err(bad("its first commit does not follow its checkpoint"));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&body[..8]);
    let mut image_digest = [0u8; DIGEST_BYTES];
    image_digest.copy_from_slice(&body[8..8 + DIGEST_BYTES]);
    let mut token = [0u8; TOKEN_BYTES];
    token.copy_from_slice(&body[8 + DIGEST_BYTES..]);
    if name != marker_name(h.last_seq, h.epoch, &token) {
        return Err(bad(&format!(
            "claims commit {} of epoch {}, which its name does not",
            h.last_seq, h.epoch
        )));
    }
    Ok(Snapshot {
        name: name.to_string(),
        header: h,
        image_bytes: u64::from_le_bytes(size),
        image_digest,
        token,
        marker_bytes: bytes.len() as u64,
    })
}

/// Every snapshot marker of the replica, verified, oldest commit first
/// (for one commit, oldest epoch first).
pub fn snapshots(store: &Store) -> Result<Vec<Snapshot>> {
    let mut out = Vec::new();
    for (name, _) in store.list(SNAPSHOT_DIR)? {
        if !name.ends_with(MARKER_SUFFIX) {
            continue;
        }
        let bytes = store
            .get(&name)?
            .ok_or_else(|| Error::corrupt(format!("replica: object {name} is missing")))?;
        out.push(decode_marker(&name, &bytes)?);
    }
    out.sort_by_key(|s| (s.seq(), s.header.epoch));
    Ok(out)
}

/// Streams the image of `snap` to `sink`, then checks its size and
/// digest: an error names the image when either is wrong. Nothing
/// `sink` received may be trusted before this returns Ok.
pub fn fetch_image(
    store: &Store,
    snap: &Snapshot,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let name = snap.image_name();
    let mut hasher = blake3::Hasher::new();
    let got = store.download(&name, |piece| {
        hasher.update(piece);
        sink(piece)
    })?;
    let got = got.ok_or_else(|| {
        Error::corrupt(format!(
            "replica: object {name} (the image of {}) is missing",
            snap.name
        ))
    })?;
    if got != snap.image_bytes || hasher.finalize().as_bytes() != &snap.image_digest {
        return Err(Error::corrupt(format!(
            "replica snapshot {name}: {got} bytes whose BLAKE3 digest does not match {} \
             ({} bytes)",
            snap.name, snap.image_bytes
        )));
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_a_renamed_marker_is_refused() {
        let h = Header {
            kind: Kind::Snapshot,
            epoch: 3,
            slot: 9,
            first_seq: 42,
            last_seq: 41,
            created_ms: 5,
            page_size: 4096,
            commits: 0,
            prev_digest: [7; 32],
        };
        let bytes = encode_marker(&h, 8192, &[1; 32], &[2; 16]);
        let name = marker_name(41, 3, &[2; 16]);
        let s = decode_marker(&name, &bytes).unwrap();
        assert_eq!((s.seq(), s.image_bytes, s.header.slot), (41, 8192, 9));
        assert_eq!(
            s.image_name(),
            format!("snapshot/{:016x}-{:016x}-{}.main", 41, 3, "02".repeat(16))
        );
        assert!(is_image(&s.image_name()) && !is_image(&name));
        assert!(decode_marker(&marker_name(40, 3, &[2; 16]), &bytes).is_err());
        assert!(decode_marker(&marker_name(41, 3, &[3; 16]), &bytes).is_err());
        let mut flipped = bytes.clone();
        flipped[110] ^= 1;
        assert!(decode_marker(&name, &flipped).is_err());
    }
}
