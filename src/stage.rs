//! Stage: turn a write set into log bytes, outside any lock.
//!
//! Page images are checksummed when they enter a transaction
//! ([`StagedPage`]); once the sequencer has placed the commit, [`encode`]
//! lays out the frames - one per page write or delete, then the commit
//! frame - and hands them to a sink in bounded chunks, so a commit of any
//! size streams through a lane buffer of fixed size.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::format::{
    align_up, chain_frame_crc, frame_len, CommitPayload, FrameHeader, FrameKind,
    COMMIT_PAYLOAD_BYTES, FRAME_HEADER_BYTES,
};
use crate::types::{CommitSeq, Page, Pgno};

/// Chunk size at which the encoder hands bytes to the sink.
pub const STAGE_CHUNK_BYTES: usize = 1 << 20;

/// A page image checksummed on entry.
#[derive(Clone, Debug)]
pub struct StagedPage {
    pub page: Page,
    /// CRC32C of the image.
    pub crc: u32,
}

impl StagedPage {
    pub fn new(page: Page) -> StagedPage {
        let crc = crate::format::crc32c(&page);
        StagedPage { page, crc }
    }
}

/// Pages a commit writes (`Some`) or deletes (`None`), in page order.
pub type WriteSet = BTreeMap<Pgno, Option<StagedPage>>;

/// Log bytes a commit of `writes` occupies.
pub fn commit_log_len(writes: &WriteSet) -> u64 {
    let pages: u64 = writes
        .values()
        .map(|w| frame_len(w.as_ref().map_or(0, |s| s.page.len())))
        .sum();
    pages + frame_len(COMMIT_PAYLOAD_BYTES)
}

/// Where the sequencer placed a commit.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub seq: CommitSeq,
    pub log_offset: u64,
    pub epoch: u64,
    pub durable_hint: CommitSeq,
    pub written_hint: CommitSeq,
    pub boot_tag: u32,
}

/// Encodes `writes` as placed, passing `(log_offset, bytes)` chunks to
/// `sink` in order. `buf` is a reusable staging buffer (a lane's).
pub fn encode(
    db_id: u64,
    writes: &WriteSet,
    at: Placement,
    buf: &mut Vec<u8>,
    mut sink: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    buf.clear();
    let mut chunk_start = at.log_offset;
    let mut pos = at.log_offset;
    let mut frames_crc = 0u32;
    let mut header = [0u8; FRAME_HEADER_BYTES];
    for (&pgno, write) in writes {
        let (kind, payload, payload_crc): (FrameKind, &[u8], u32) = match write {
            Some(s) => (FrameKind::Page, &s.page, s.crc),
            None => (FrameKind::Delete, &[], 0),
        };
        FrameHeader {
            kind,
            log_offset: pos,
            commit_seq: at.seq,
            pgno,
            payload_len: payload.len() as u32,
            payload_crc,
        }
        .encode(db_id, &mut header);
        frames_crc = chain_frame_crc(frames_crc, FrameHeader::stored_crc(&header));
        push_frame(buf, &header, payload);
        pos += frame_len(payload.len());
        if buf.len() >= STAGE_CHUNK_BYTES {
            sink(chunk_start, buf)?;
            chunk_start = pos;
            buf.clear();
        }
    }
    let payload = CommitPayload {
        first_frame_offset: at.log_offset,
        epoch: at.epoch,
        durable_hint: at.durable_hint,
        written_hint: at.written_hint,
        boot_tag: at.boot_tag,
        frames_crc,
    }
    .encode();
    FrameHeader {
        kind: FrameKind::Commit,
        log_offset: pos,
        commit_seq: at.seq,
        pgno: writes.len() as u32,
        payload_len: COMMIT_PAYLOAD_BYTES as u32,
        payload_crc: crate::format::crc32c(&payload),
    }
    .encode(db_id, &mut header);
    push_frame(buf, &header, &payload);
    sink(chunk_start, buf)?;
    debug_assert_eq!(
        pos + frame_len(COMMIT_PAYLOAD_BYTES),
        at.log_offset + commit_log_len(writes)
    );
    Ok(())
}

fn push_frame(buf: &mut Vec<u8>, header: &[u8; FRAME_HEADER_BYTES], payload: &[u8]) {
    buf.extend_from_slice(header);
    buf.extend_from_slice(payload);
    let padded = align_up(payload.len() as u64) as usize;
    buf.resize(buf.len() + (padded - payload.len()), 0);
}

/// Log offset of the payload of each page frame, in page order.
pub fn payload_offsets(writes: &WriteSet, log_offset: u64) -> impl Iterator<Item = u64> + '_ {
    let mut pos = log_offset;
    writes.values().map(move |w| {
        let here = pos + FRAME_HEADER_BYTES as u64;
        pos += frame_len(w.as_ref().map_or(0, |s| s.page.len()));
        here
    })
}
