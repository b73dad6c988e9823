//! NATIVE mode's commit capsules and the markers that commit them.
//!
//! A capsule is a write set persisted by its own committer into the capsule
//! stream, before it has a commit_seq. The coordinator then appends only a
//! marker to the WAL: the commit_seq, where the capsule is, and its
//! BLAKE3-256 digest. A commit exists if and only if its marker is valid and
//! its capsule verifies against the digest.
//!
//! Capsule layout (8-aligned): header (32 bytes) | entries (16 bytes per
//! page) | images, each padded to 8. The digest is BLAKE3 over the database
//! id (8 bytes LE) followed by the whole capsule.

use crate::error::Result;
use crate::format::{
    align_up, CommitPayload, FrameHeader, FrameKind, COMMIT_PAYLOAD_BYTES, FRAME_HEADER_BYTES,
    LOG_OFFSET_MAX_BYTES,
};
use crate::stage::{Placement, WriteSet, STAGE_CHUNK_BYTES};
use crate::types::Pgno;

/// Magic opening every capsule ("LCC1").
pub const CAPSULE_MAGIC: u32 = u32::from_le_bytes(*b"LCC1");
/// Size of the capsule header.
pub const CAPSULE_HEADER_BYTES: usize = 32;
/// Size of one capsule entry.
pub const CAPSULE_ENTRY_BYTES: usize = 16;
/// Entry flag: the page is deleted (no image).
const ENTRY_DELETE: u32 = 1;
pub use crate::format::MARKER_PAYLOAD_BYTES;
/// Marker flag: the capsule was synced before the marker was written, so a
/// capsule that fails verification is corruption, not a torn write.
pub const MARKER_CAPSULE_SYNCED: u32 = 1;

const _: () = assert!(MARKER_PAYLOAD_BYTES % 8 == 0);

/// Bytes a capsule of `writes` occupies in the capsule stream.
pub fn capsule_len(writes: &WriteSet) -> u64 {
    let images: u64 = writes
        .iter()
        .map(|(_, w)| align_up(w.as_ref().map_or(0, |s| u64::from(s.len))))
        .sum();
    (CAPSULE_HEADER_BYTES + CAPSULE_ENTRY_BYTES * writes.len()) as u64 + images
}

/// Encodes the capsule of `writes` placed at `offset`, passing chunks to
/// `sink`; returns its digest.
pub fn encode(
    db_id: u64,
    writes: &WriteSet,
    offset: u64,
    buf: &mut Vec<u8>,
    mut sink: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<[u8; 32]> {
    let total = capsule_len(writes);
    let mut hasher = blake3::Hasher::new();
    hasher.update(&db_id.to_le_bytes());
    buf.clear();
    buf.extend_from_slice(&CAPSULE_MAGIC.to_le_bytes());
    buf.extend_from_slice(&(writes.len() as u32).to_le_bytes());
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&total.to_le_bytes());
    buf.extend_from_slice(&0u64.to_le_bytes());
    let mut pos = offset;
    let mut flush = |buf: &mut Vec<u8>, pos: &mut u64, hasher: &mut blake3::Hasher| -> Result<()> {
        hasher.update(buf);
        sink(*pos, buf)?;
        *pos += buf.len() as u64;
        buf.clear();
        Ok(())
    };
    for (&pgno, w) in writes.iter() {
        let (len, crc, flags) = match w {
            Some(s) => (s.len, s.crc, 0),
            None => (0, 0, ENTRY_DELETE),
        };
        buf.extend_from_slice(&pgno.to_le_bytes());
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&crc.to_le_bytes());
        buf.extend_from_slice(&flags.to_le_bytes());
        if buf.len() >= STAGE_CHUNK_BYTES {
            flush(buf, &mut pos, &mut hasher)?;
        }
    }
    for (_, w) in writes.iter() {
        if let Some(s) = w {
            s.append_to(buf)?;
            let padded = align_up(u64::from(s.len)) as usize;
            buf.resize(buf.len() + padded - s.len as usize, 0);
        }
        if buf.len() >= STAGE_CHUNK_BYTES {
            flush(buf, &mut pos, &mut hasher)?;
        }
    }
    flush(buf, &mut pos, &mut hasher)?;
    debug_assert_eq!(pos, offset + total);
    Ok(*hasher.finalize().as_bytes())
}

/// Where each image of a capsule at `offset` lies, in entry order.
pub fn image_offsets(writes: &WriteSet, offset: u64) -> impl Iterator<Item = u64> + '_ {
    let mut pos = offset + (CAPSULE_HEADER_BYTES + CAPSULE_ENTRY_BYTES * writes.len()) as u64;
    writes.iter().map(move |(_, w)| {
        let here = pos;
        pos += align_up(w.as_ref().map_or(0, |s| u64::from(s.len)));
        here
    })
}

/// One page of a verified capsule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapsuleEntry {
    pub pgno: Pgno,
    /// `None` for a delete; else (image offset in the stream, len, crc).
    pub image: Option<(u64, u32, u32)>,
}

/// Most bytes a capsule of `page_count` pages can occupy: its header, an
/// entry per page and a whole page image per page.
pub fn capsule_len_max(page_count: u32, page_size: u32) -> u64 {
    let per_page = CAPSULE_ENTRY_BYTES as u64 + align_up(u64::from(page_size));
    CAPSULE_HEADER_BYTES as u64 + u64::from(page_count) * per_page
}

/// Reads the capsule of `page_count` pages at `offset` (`len` bytes)
/// through `read` (which returns false when the bytes are not there),
/// checks it against `digest` and its own structure, and returns its
/// entries, or `None` if it does not verify. `len` is bounded by the page
/// count before anything is read, and everything is read in bounded
/// chunks: a length the capsule segments do not hold fails at the first
/// chunk they lack, having allocated one chunk.
pub fn verify(
    db_id: u64,
    offset: u64,
    len: u64,
    page_count: u32,
    digest: &[u8; 32],
    page_size: u32,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<bool>,
) -> Result<Option<Vec<CapsuleEntry>>> {
    if len < CAPSULE_HEADER_BYTES as u64
        || len % 8 != 0
        || offset % 8 != 0
        || len > capsule_len_max(page_count, page_size)
        || offset > LOG_OFFSET_MAX_BYTES
    {
        return Ok(None);
    }
    let end = offset + len;
    let mut header = [0u8; CAPSULE_HEADER_BYTES];
    if !read(offset, &mut header)? {
        return Ok(None);
    }
    let word = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let dword =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let count = word(&header, 4);
    let entries_len = u64::from(count) * CAPSULE_ENTRY_BYTES as u64;
    if word(&header, 0) != CAPSULE_MAGIC
        || count != page_count
        || dword(&header, 8) != offset
        || dword(&header, 16) != len
        || dword(&header, 24) != 0
        || CAPSULE_HEADER_BYTES as u64 + entries_len > len
    {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&db_id.to_le_bytes());
    hasher.update(&header);
    let mut chunk = vec![0u8; STAGE_CHUNK_BYTES.min(len as usize)];
    let entries_per_chunk = chunk.len() / CAPSULE_ENTRY_BYTES;
    let mut entries = Vec::with_capacity((count as usize).min(entries_per_chunk));
    let mut at = offset + CAPSULE_HEADER_BYTES as u64;
    let images_start = at + entries_len;
    let mut image_at = images_start;
    while at < images_start {
        let n = ((images_start - at) as usize).min(entries_per_chunk * CAPSULE_ENTRY_BYTES);
        if !read(at, &mut chunk[..n])? {
            return Ok(None);
        }
        hasher.update(&chunk[..n]);
        for e in chunk[..n].chunks_exact(CAPSULE_ENTRY_BYTES) {
            let (pgno, elen, crc, flags) = (word(e, 0), word(e, 4), word(e, 8), word(e, 12));
            let image = match flags {
                0 if pgno != 0 && elen <= page_size => {
                    let here = image_at;
                    image_at += align_up(u64::from(elen));
                    Some((here, elen, crc))
                }
                ENTRY_DELETE if pgno != 0 && elen == 0 && crc == 0 => None,
                _ => return Ok(None),
            };
            entries.push(CapsuleEntry { pgno, image });
        }
        at += n as u64;
    }
    if image_at != end {
        return Ok(None);
    }
    while at < end {
        let n = ((end - at) as usize).min(chunk.len());
        if !read(at, &mut chunk[..n])? {
            return Ok(None);
        }
        hasher.update(&chunk[..n]);
        at += n as u64;
    }
    Ok((hasher.finalize().as_bytes() == digest).then_some(entries))
}

/// The payload of a marker frame: the commit fields, then where the
/// capsule is and its digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkerPayload {
    /// `frames_crc` carries the marker flags.
    pub commit: CommitPayload,
    pub capsule_offset: u64,
    pub capsule_len: u64,
    pub digest: [u8; 32],
}

impl MarkerPayload {
    pub fn encode(&self) -> [u8; MARKER_PAYLOAD_BYTES] {
        let mut out = [0u8; MARKER_PAYLOAD_BYTES];
        out[..COMMIT_PAYLOAD_BYTES].copy_from_slice(&self.commit.encode());
        out[40..48].copy_from_slice(&self.capsule_offset.to_le_bytes());
        out[48..56].copy_from_slice(&self.capsule_len.to_le_bytes());
        out[56..88].copy_from_slice(&self.digest);
        out
    }

    pub fn decode(buf: &[u8]) -> Option<MarkerPayload> {
        if buf.len() != MARKER_PAYLOAD_BYTES {
            return None;
        }
        Some(MarkerPayload {
            commit: CommitPayload::decode(&buf[..COMMIT_PAYLOAD_BYTES])?,
            capsule_offset: u64::from_le_bytes(buf[40..48].try_into().ok()?),
            capsule_len: u64::from_le_bytes(buf[48..56].try_into().ok()?),
            digest: buf[56..88].try_into().ok()?,
        })
    }

    pub fn capsule_synced(&self) -> bool {
        self.commit.frames_crc & MARKER_CAPSULE_SYNCED != 0
    }
}

/// The marker frame (header and payload) committing a capsule as `at.seq`.
pub fn encode_marker(
    db_id: u64,
    at: &Placement,
    page_count: u32,
    capsule_offset: u64,
    capsule_len: u64,
    digest: [u8; 32],
    flags: u32,
) -> Vec<u8> {
    let payload = MarkerPayload {
        commit: CommitPayload {
            first_frame_offset: at.log_offset,
            epoch: at.epoch,
            durable_hint: at.durable_hint,
            written_hint: at.written_hint,
            boot_tag: at.boot_tag,
            acks_written: at.acks_written,
            frames_crc: flags,
        },
        capsule_offset,
        capsule_len,
        digest,
    }
    .encode();
    let mut header = [0u8; FRAME_HEADER_BYTES];
    FrameHeader {
        kind: FrameKind::Marker,
        log_offset: at.log_offset,
        commit_seq: at.seq,
        pgno: page_count,
        payload_len: MARKER_PAYLOAD_BYTES as u32,
        payload_crc: crate::format::crc32c(&payload),
    }
    .encode(db_id, &mut header);
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + MARKER_PAYLOAD_BYTES);
    out.extend_from_slice(&header);
    out.extend_from_slice(&payload);
    out
}

/// Log bytes of a marker frame.
pub fn marker_log_len() -> u64 {
    crate::format::frame_len(MARKER_PAYLOAD_BYTES)
}

/// The commit record a commit frame or a NATIVE marker carries (a marker
/// holds one inside it); None for other kinds or a payload that does not
/// decode.
pub fn commit_record(kind: FrameKind, payload: &[u8]) -> Option<CommitPayload> {
    match kind {
        FrameKind::Commit => CommitPayload::decode(payload),
        FrameKind::Marker => MarkerPayload::decode(payload).map(|m| m.commit),
        _ => None,
    }
}
