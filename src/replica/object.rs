//! The replica's objects, byte by byte (docs/FORMAT.md, "Replica
//! objects"): a fixed header, a body, and a BLAKE3-256 digest of both.
//!
//! Slot objects (`log/{slot:016x}`) are chunks of commits or fences; each
//! carries the digest of the object in the slot before it, so the slots
//! form one hash chain and a replica holds exactly one history. Every
//! object is immutable: written once, create-only.

use crate::error::{Error, Result};
use crate::types::{CommitSeq, Page, Pgno};

pub const OBJECT_MAGIC: [u8; 8] = *b"LCREPL01";
pub const OBJECT_VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 104;
pub const DIGEST_BYTES: usize = 32;
/// Image length that marks a deleted page in a chunk.
const DELETED_LEN: u32 = u32::MAX;
/// A chunk is cut at this size (a commit larger than it makes a chunk
/// of its own).
pub const CHUNK_TARGET_BYTES: usize = 16 << 20;
/// Bound on records of one commit in a chunk, checked before decoding
/// sizes a vector.
const RECORDS_PER_COMMIT_MAX: u32 = 1 << 24;

const O_MAGIC: usize = 0;
const O_KIND: usize = 8;
const O_VERSION: usize = 12;
const O_EPOCH: usize = 16;
const O_SLOT: usize = 24;
const O_FIRST_SEQ: usize = 32;
const O_LAST_SEQ: usize = 40;
const O_CREATED_MS: usize = 48;
const O_PAGE_SIZE: usize = 56;
const O_COMMITS: usize = 60;
const O_PREV_DIGEST: usize = 64;
const O_BODY_LEN: usize = 96;
const _: () = assert!(O_BODY_LEN + 8 == HEADER_BYTES);

/// What an object is.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Whole commits, in seq order.
    Chunk = 1,
    /// A writer took the role with a new epoch at this slot.
    Fence = 2,
    /// Describes an epoch: written after its fence won.
    Manifest = 3,
    /// A main file image, whose body is the main file's bytes.
    Snapshot = 4,
}

/// The fixed header of every object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub epoch: u64,
    pub slot: u64,
    /// Chunk: its first commit. Fence and manifest: the first commit the
    /// epoch will ship. Snapshot: 0.
    pub first_seq: CommitSeq,
    /// Chunk: its last commit. Fence and manifest: the last commit the
    /// replica held when the epoch began. Snapshot: the checkpoint seq.
    pub last_seq: CommitSeq,
    /// Wall-clock milliseconds since the Unix epoch when it was made.
    pub created_ms: u64,
    pub page_size: u32,
    pub commits: u32,
    /// The digest of the object in the previous slot (zero for slot 0,
    /// and for objects outside the chain).
    pub prev_digest: [u8; DIGEST_BYTES],
}

/// One commit as it travels: its seq and its page writes (None: deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub seq: CommitSeq,
    pub writes: Vec<(Pgno, Option<Page>)>,
}

/// An object's name in its store.
pub fn slot_name(slot: u64) -> String {
    format!("log/{slot:016x}")
}
pub fn manifest_name(epoch: u64) -> String {
    format!("manifest/{epoch:016x}")
}

/// Encodes an object; the digest (also the chain link to it) is its last
/// 32 bytes.
pub fn encode(h: &Header, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_BYTES];
    out[O_MAGIC..O_MAGIC + 8].copy_from_slice(&OBJECT_MAGIC);
    out[O_KIND..O_KIND + 4].copy_from_slice(&(h.kind as u32).to_le_bytes());
    out[O_VERSION..O_VERSION + 4].copy_from_slice(&OBJECT_VERSION.to_le_bytes());
    for (at, v) in [
        (O_EPOCH, h.epoch),
        (O_SLOT, h.slot),
        (O_FIRST_SEQ, h.first_seq),
        (O_LAST_SEQ, h.last_seq),
        (O_CREATED_MS, h.created_ms),
        (O_BODY_LEN, body.len() as u64),
    ] {
        out[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    out[O_PAGE_SIZE..O_PAGE_SIZE + 4].copy_from_slice(&h.page_size.to_le_bytes());
    out[O_COMMITS..O_COMMITS + 4].copy_from_slice(&h.commits.to_le_bytes());
    out[O_PREV_DIGEST..O_PREV_DIGEST + DIGEST_BYTES].copy_from_slice(&h.prev_digest);
    out.extend_from_slice(body);
    let digest = blake3::hash(&out);
    out.extend_from_slice(digest.as_bytes());
    out
}

/// The digest an encoded object ends with.
pub fn digest_of(encoded: &[u8]) -> [u8; DIGEST_BYTES] {
    let mut d = [0u8; DIGEST_BYTES];
    if encoded.len() >= DIGEST_BYTES {
        d.copy_from_slice(&encoded[encoded.len() - DIGEST_BYTES..]);
    }
    d
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Verifies an object named `name` and splits it into header and body.
pub fn decode<'a>(name: &str, bytes: &'a [u8]) -> Result<(Header, &'a [u8])> {
    let bad = |why: &str| Error::corrupt(format!("replica object {name}: {why}"));
    if bytes.len() < HEADER_BYTES + DIGEST_BYTES {
        return Err(bad("shorter than a header and digest"));
    }
    let (covered, digest) = bytes.split_at(bytes.len() - DIGEST_BYTES);
    if blake3::hash(covered).as_bytes() != digest {
        return Err(bad("checksum (BLAKE3) does not match"));
    }
    if covered[O_MAGIC..O_MAGIC + 8] != OBJECT_MAGIC {
        return Err(bad("not a libcommit replica object (bad magic)"));
    }
    if u32_at(covered, O_VERSION) != OBJECT_VERSION {
        return Err(bad("unknown object version"));
    }
    let kind = match u32_at(covered, O_KIND) {
        1 => Kind::Chunk,
        2 => Kind::Fence,
        3 => Kind::Manifest,
        4 => Kind::Snapshot,
        _ => return Err(bad("unknown object kind")),
    };
    let body = &covered[HEADER_BYTES..];
    if u64_at(covered, O_BODY_LEN) != body.len() as u64 {
        return Err(bad("body length does not match the header"));
    }
    let mut prev_digest = [0u8; DIGEST_BYTES];
    prev_digest.copy_from_slice(&covered[O_PREV_DIGEST..O_PREV_DIGEST + DIGEST_BYTES]);
    let h = Header {
        kind,
        epoch: u64_at(covered, O_EPOCH),
        slot: u64_at(covered, O_SLOT),
        first_seq: u64_at(covered, O_FIRST_SEQ),
        last_seq: u64_at(covered, O_LAST_SEQ),
        created_ms: u64_at(covered, O_CREATED_MS),
        page_size: u32_at(covered, O_PAGE_SIZE),
        commits: u32_at(covered, O_COMMITS),
        prev_digest,
    };
    Ok((h, body))
}

/// Appends a commit to a chunk body.
pub fn put_commit(body: &mut Vec<u8>, c: &Commit) {
    body.extend_from_slice(&c.seq.to_le_bytes());
    body.extend_from_slice(&(c.writes.len() as u32).to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    for (pgno, data) in &c.writes {
        body.extend_from_slice(&pgno.to_le_bytes());
        match data {
            Some(p) => {
                body.extend_from_slice(&(p.len() as u32).to_le_bytes());
                body.extend_from_slice(p);
            }
            None => body.extend_from_slice(&DELETED_LEN.to_le_bytes()),
        }
    }
}

/// The commits of a verified chunk: dense seqs from `first_seq` to
/// `last_seq`, pages in range, images no larger than the page size.
pub fn chunk_commits(name: &str, h: &Header, body: &[u8]) -> Result<Vec<Commit>> {
    let bad = |why: String| Error::corrupt(format!("replica chunk {name}: {why}"));
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let end = at.checked_add(n).filter(|&e| e <= body.len());
        let end = end.ok_or_else(|| bad(format!("body ends inside a record at byte {at}")))?;
        let s = &body[at..end];
        at = end;
        Ok(s)
    };
    let mut out = Vec::with_capacity(h.commits.min(1 << 16) as usize);
    for i in 0..u64::from(h.commits) {
        let head = take(16)?;
        let seq = u64_at(head, 0);
        let n = u32_at(head, 8);
        if seq != h.first_seq + i {
            return Err(bad(format!(
                "commit {seq} where {} belongs (a gap in the seqs)",
                h.first_seq + i
            )));
        }
        if n > RECORDS_PER_COMMIT_MAX {
            return Err(bad(format!("commit {seq} claims {n} records")));
        }
        let mut writes = Vec::with_capacity(n.min(1 << 12) as usize);
        for _ in 0..n {
            let rec = take(8)?;
            let (pgno, len) = (u32_at(rec, 0), u32_at(rec, 4));
            if pgno == 0 {
                return Err(bad(format!("commit {seq} writes page 0")));
            }
            if len == DELETED_LEN {
                writes.push((pgno, None));
            } else if len > h.page_size {
                return Err(bad(format!(
                    "commit {seq}: page {pgno} image of {len} bytes"
                )));
            } else {
                writes.push((pgno, Some(Page::from(take(len as usize)?))));
            }
        }
        out.push(Commit { seq, writes });
    }
    if at != body.len() || (h.commits > 0 && h.last_seq != h.first_seq + u64::from(h.commits) - 1) {
        return Err(bad(
            "header and body disagree on the commits it holds".into()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk() -> (Header, Vec<u8>) {
        let commits = [
            Commit {
                seq: 5,
                writes: vec![(1, Some(Page::from(&b"ab"[..]))), (9, None)],
            },
            Commit {
                seq: 6,
                writes: vec![(2, Some(Page::from(&b""[..])))],
            },
        ];
        let mut body = Vec::new();
        for c in &commits {
            put_commit(&mut body, c);
        }
        let h = Header {
            kind: Kind::Chunk,
            epoch: 1,
            slot: 3,
            first_seq: 5,
            last_seq: 6,
            created_ms: 7,
            page_size: 4096,
            commits: 2,
            prev_digest: [4; 32],
        };
        (h.clone(), encode(&h, &body))
    }

    #[test]
    fn chunks_round_trip_and_every_flipped_byte_is_caught() {
        let (h, bytes) = chunk();
        let (back, body) = decode("x", &bytes).unwrap();
        assert_eq!(back, h);
        let commits = chunk_commits("x", &back, body).unwrap();
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].writes[1], (9, None));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(decode("x", &b).is_err(), "flip at {i}");
        }
        for n in 0..bytes.len() {
            assert!(decode("x", &bytes[..n]).is_err());
        }
    }
}
