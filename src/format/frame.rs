//! Log frames: the frame header, the commit payload and the chained
//! CRC that ties a commit's frames to its commit record.

use super::bytes::{crc32c, crc32c_append, get_u32, get_u64, put_u32, put_u64};
use super::limits::{
    align_up, COMMIT_PAYLOAD_BYTES, COUNTER_MAX, FRAME_HEADER_BYTES, FRAME_MAGIC,
    MARKER_PAYLOAD_BYTES,
};

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// A page image (payload = the image).
    Page = 1,
    /// A page deletion (no payload).
    Delete = 2,
    /// The end of a commit (payload = [`CommitPayload`]).
    Commit = 3,
    /// A seal written at clean shutdown: every commit up to `commit_seq`
    /// was written (and synced, where the sync mode syncs) before it. No
    /// payload; `pgno` is 0.
    Seal = 4,
    /// NATIVE mode: commits the capsule its payload names (payload =
    /// `capsule::MarkerPayload`); `pgno` is the capsule's page count.
    Marker = 5,
    /// Voids the log range of a commit whose write failed for lack of
    /// space, spanning the whole range it had reserved. With the failed
    /// commit's own seq it is an empty commit (later commits had already
    /// been numbered); with the seq before it, it is padding and the seq
    /// went to the next commit. Its payload is whatever the failed write
    /// left and is not checked (`payload_crc` is 0, `pgno` is 0).
    Void = 6,
}

impl FrameKind {
    fn from_u8(v: u8) -> Option<FrameKind> {
        match v {
            1 => Some(FrameKind::Page),
            2 => Some(FrameKind::Delete),
            3 => Some(FrameKind::Commit),
            4 => Some(FrameKind::Seal),
            5 => Some(FrameKind::Marker),
            6 => Some(FrameKind::Void),
            _ => None,
        }
    }
}

/// A decoded frame header.
///
/// Layout (40 bytes): magic u32 | kind u8 | 3 zero bytes | log_offset u64 |
/// commit_seq u64 | pgno (or page count) u32 | payload_len u32 |
/// payload_crc u32 | header_crc u32. `header_crc` covers the database id
/// followed by bytes 0..36, so frames of another database, or stale frames
/// of a recycled segment (whose log_offset differs), never validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: FrameKind,
    /// Where this frame starts in the logical log.
    pub log_offset: u64,
    pub commit_seq: u64,
    /// Page number; for a commit frame, the number of page frames.
    pub pgno: u32,
    pub payload_len: u32,
    pub payload_crc: u32,
}

impl FrameHeader {
    /// Bytes this frame occupies in the log, payload padding included.
    pub fn frame_len(&self) -> u64 {
        frame_len(self.payload_len as usize)
    }

    pub fn encode(&self, db_id: u64, out: &mut [u8; FRAME_HEADER_BYTES]) {
        out.fill(0);
        put_u32(out, 0, FRAME_MAGIC);
        out[4] = self.kind as u8;
        put_u64(out, 8, self.log_offset);
        put_u64(out, 16, self.commit_seq);
        put_u32(out, 24, self.pgno);
        put_u32(out, 28, self.payload_len);
        put_u32(out, 32, self.payload_crc);
        let crc = header_crc(db_id, &out[..36]);
        put_u32(out, 36, crc);
    }

    /// Decodes and verifies a header read at `log_offset`. `None` when it is
    /// not a valid frame of this database at this position.
    pub fn decode(db_id: u64, log_offset: u64, buf: &[u8]) -> Option<FrameHeader> {
        if buf.len() < FRAME_HEADER_BYTES || get_u32(buf, 0) != FRAME_MAGIC {
            return None;
        }
        if header_crc(db_id, &buf[..36]) != get_u32(buf, 36) || buf[5..8] != [0, 0, 0] {
            return None;
        }
        let h = FrameHeader {
            kind: FrameKind::from_u8(buf[4])?,
            log_offset: get_u64(buf, 8),
            commit_seq: get_u64(buf, 16),
            pgno: get_u32(buf, 24),
            payload_len: get_u32(buf, 28),
            payload_crc: get_u32(buf, 32),
        };
        // A void may pad before the first commit (seq 0); nothing else may.
        if h.log_offset != log_offset
            || (h.commit_seq == 0 && h.kind != FrameKind::Void)
            || h.commit_seq > COUNTER_MAX
        {
            return None;
        }
        let shape_ok = match h.kind {
            FrameKind::Page => h.pgno != 0,
            FrameKind::Delete => h.pgno != 0 && h.payload_len == 0,
            FrameKind::Commit => h.payload_len as usize == COMMIT_PAYLOAD_BYTES,
            FrameKind::Seal => h.pgno == 0 && h.payload_len == 0,
            FrameKind::Marker => h.payload_len as usize == MARKER_PAYLOAD_BYTES,
            FrameKind::Void => h.pgno == 0 && h.payload_crc == 0,
        };
        shape_ok.then_some(h)
    }

    /// The header's own checksum, as stored (used to chain a commit's frames).
    pub fn stored_crc(buf: &[u8; FRAME_HEADER_BYTES]) -> u32 {
        get_u32(buf, 36)
    }
}

fn header_crc(db_id: u64, bytes: &[u8]) -> u32 {
    crc32c_append(crc32c(&db_id.to_le_bytes()), bytes)
}

/// Bytes a frame with `payload_len` payload bytes occupies in the log.
pub fn frame_len(payload_len: usize) -> u64 {
    FRAME_HEADER_BYTES as u64 + align_up(payload_len as u64)
}

/// Bits of the stored boot-tag word that hold the boot's tag.
pub const BOOT_TAG_MASK: u32 = 0x7FFF_FFFF;
/// The top bit of the stored boot-tag word: the writer acknowledges
/// commits once written (its database runs below sync FULL).
const ACKS_WRITTEN_BIT: u32 = 1 << 31;

/// The payload of a commit frame (40 bytes): first_frame_offset u64 |
/// epoch u64 | durable_hint u64 | written_hint u64 | boot_tag u31 with
/// acks_written in the top bit | frames_crc u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitPayload {
    /// Log offset of the commit's first frame.
    pub first_frame_offset: u64,
    /// Group-commit generation the commit was sequenced in.
    pub epoch: u64,
    /// The durable commit_seq when this commit was sequenced: every commit
    /// <= it had been synced. Recovery uses it to tell a torn tail (no
    /// later commit vouches for the missing one) from corruption.
    pub durable_hint: u64,
    /// The written commit_seq when this commit was sequenced: every commit
    /// <= it had been fully handed to the OS. Not evidence of anything
    /// durable (unsynced bytes can vanish within a boot too); recovery uses
    /// it, with `boot_tag`, only to say why it cut the log.
    pub written_hint: u64,
    /// Tag of the machine boot the commit was written in (0 = unknown;
    /// 31 bits, see [`BOOT_TAG_MASK`]).
    pub boot_tag: u32,
    /// Its writer acknowledges commits once written, before any sync
    /// (sync NORMAL or OFF): a written commit it saw was acknowledged.
    pub acks_written: bool,
    /// CRC32C over the stored header CRCs of the commit's page frames.
    pub frames_crc: u32,
}

impl CommitPayload {
    pub fn encode(&self) -> [u8; COMMIT_PAYLOAD_BYTES] {
        let mut out = [0u8; COMMIT_PAYLOAD_BYTES];
        put_u64(&mut out, 0, self.first_frame_offset);
        put_u64(&mut out, 8, self.epoch);
        put_u64(&mut out, 16, self.durable_hint);
        put_u64(&mut out, 24, self.written_hint);
        let flag = if self.acks_written {
            ACKS_WRITTEN_BIT
        } else {
            0
        };
        put_u32(&mut out, 32, (self.boot_tag & BOOT_TAG_MASK) | flag);
        put_u32(&mut out, 36, self.frames_crc);
        out
    }

    pub fn decode(buf: &[u8]) -> Option<CommitPayload> {
        if buf.len() != COMMIT_PAYLOAD_BYTES {
            return None;
        }
        let c = CommitPayload {
            first_frame_offset: get_u64(buf, 0),
            epoch: get_u64(buf, 8),
            durable_hint: get_u64(buf, 16),
            written_hint: get_u64(buf, 24),
            boot_tag: get_u32(buf, 32) & BOOT_TAG_MASK,
            acks_written: get_u32(buf, 32) & ACKS_WRITTEN_BIT != 0,
            frames_crc: get_u32(buf, 36),
        };
        (c.durable_hint <= c.written_hint && c.epoch <= COUNTER_MAX).then_some(c)
    }

    /// True when this commit proves that commit `seq` was acknowledged
    /// and must be there: it had been synced, or - by a writer that
    /// acknowledges commits once written - written in the current boot
    /// `current_boot`. Bytes merely handed to the OS can vanish without a
    /// reboot (a failed write-back, a network disk that failed over), so
    /// under sync FULL being written proves nothing: no commit was
    /// acknowledged before its sync, and the hole is cut, not refused.
    pub fn vouches_for(&self, seq: u64, current_boot: u32) -> bool {
        self.durable_hint >= seq
            || (self.acks_written && self.saw_written_in_boot(seq, current_boot))
    }

    /// True when commit `seq` had been written (not necessarily synced) in
    /// the boot `current_boot` when this commit was: its loss then is
    /// unsynced data lost without a reboot, which the report names.
    pub fn saw_written_in_boot(&self, seq: u64, current_boot: u32) -> bool {
        let current = current_boot & BOOT_TAG_MASK;
        self.boot_tag != 0 && self.boot_tag == current && self.written_hint >= seq
    }
}

/// Running CRC over a commit's frame header CRCs.
pub fn chain_frame_crc(acc: u32, frame_header_crc: u32) -> u32 {
    crc32c_append(acc, &frame_header_crc.to_le_bytes())
}
