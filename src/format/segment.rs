//! The header of a log segment file.

use super::bytes::{crc32c, get_u32, get_u64, put_u32, put_u64};
use super::limits::{
    page_size_ok, COUNTER_MAX, FORMAT_VERSION, FRAME_ALIGN_BYTES, LOG_OFFSET_MAX_BYTES,
    SEGMENT_CAPACITY_MAX_BYTES, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC,
};

/// Header of a WAL segment file.
///
/// Layout (64 bytes, then zeros to 4096): magic [8] | version u32 |
/// page_size u32 | db_id u64 | first_epoch u64 | log_start u64 |
/// capacity u64 | resume_offset u64 | 4 zero bytes | crc u32 (over 0..60).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub page_size: u32,
    pub db_id: u64,
    /// The epoch in the file's name.
    pub first_epoch: u64,
    /// Logical log offset of the first data byte.
    pub log_start: u64,
    /// Data bytes the segment holds after its header block.
    pub capacity: u64,
    /// Where valid data in earlier segments ends. Equal to `log_start` for
    /// a plain continuation; smaller when a writer restarted after a crash
    /// and abandoned a torn tail: earlier bytes at or past it are void.
    pub resume_offset: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut out = [0u8; SEGMENT_HEADER_BYTES];
        out[..8].copy_from_slice(&SEGMENT_MAGIC);
        put_u32(&mut out, 8, FORMAT_VERSION);
        put_u32(&mut out, 12, self.page_size);
        put_u64(&mut out, 16, self.db_id);
        put_u64(&mut out, 24, self.first_epoch);
        put_u64(&mut out, 32, self.log_start);
        put_u64(&mut out, 40, self.capacity);
        put_u64(&mut out, 48, self.resume_offset);
        let crc = crc32c(&out[..60]);
        put_u32(&mut out, 60, crc);
        out
    }

    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, &'static str> {
        if buf.len() < SEGMENT_HEADER_BYTES || buf[..8] != SEGMENT_MAGIC {
            return Err("bad segment magic");
        }
        if crc32c(&buf[..60]) != get_u32(buf, 60) || get_u32(buf, 56) != 0 {
            return Err("segment header checksum mismatch");
        }
        if get_u32(buf, 8) != FORMAT_VERSION {
            return Err("unsupported segment format version");
        }
        let h = SegmentHeader {
            page_size: get_u32(buf, 12),
            db_id: get_u64(buf, 16),
            first_epoch: get_u64(buf, 24),
            log_start: get_u64(buf, 32),
            capacity: get_u64(buf, 40),
            resume_offset: get_u64(buf, 48),
        };
        if !page_size_ok(h.page_size) {
            return Err("segment page_size out of range");
        }
        if h.capacity > SEGMENT_CAPACITY_MAX_BYTES
            || h.log_start > LOG_OFFSET_MAX_BYTES
            || h.first_epoch > COUNTER_MAX
        {
            return Err("segment capacity, log_start or epoch out of range");
        }
        if h.log_start % FRAME_ALIGN_BYTES != 0
            || h.capacity % FRAME_ALIGN_BYTES != 0
            || h.capacity == 0
            || h.resume_offset > h.log_start
        {
            return Err("segment header fields out of range");
        }
        Ok(h)
    }
}
