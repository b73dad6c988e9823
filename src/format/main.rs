//! The main file's header copies and its page-map entries.

use super::bytes::{crc32c, get_u32, get_u64, put_u32, put_u64};
use super::limits::{
    page_size_ok, COUNTER_MAX, FORMAT_VERSION, FRAME_ALIGN_BYTES, LOG_OFFSET_MAX_BYTES,
    MAIN_HEADER_BYTES, MAIN_MAGIC, MAP_ENTRY_BYTES,
};

/// One of the two header copies of the main page file; the valid copy with
/// the higher generation is current.
///
/// Layout (128 bytes, then zeros to 4096): magic [8] | version u32 |
/// page_size u32 | generation u64 | db_id u64 | checkpoint_seq u64 |
/// log_start u64 | slot_count u64 | map_slot u64 | map_entries u64 |
/// map_crc u32 | 52 zero bytes | crc u32 (over 0..124).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MainHeader {
    pub page_size: u32,
    /// Incremented by every checkpoint; selects the current copy.
    pub generation: u64,
    /// Random id tying WAL segments to this database.
    pub db_id: u64,
    /// Every commit <= this is in the main file.
    pub checkpoint_seq: u64,
    /// Logical log offset where commits after `checkpoint_seq` begin.
    pub log_start: u64,
    /// Slots in use or free below the high-water mark.
    pub slot_count: u64,
    /// First slot of the page map (contiguous slots).
    pub map_slot: u64,
    pub map_entries: u64,
    pub map_crc: u32,
}

impl MainHeader {
    pub fn encode(&self) -> [u8; MAIN_HEADER_BYTES] {
        let mut out = [0u8; MAIN_HEADER_BYTES];
        out[..8].copy_from_slice(&MAIN_MAGIC);
        put_u32(&mut out, 8, FORMAT_VERSION);
        put_u32(&mut out, 12, self.page_size);
        put_u64(&mut out, 16, self.generation);
        put_u64(&mut out, 24, self.db_id);
        put_u64(&mut out, 32, self.checkpoint_seq);
        put_u64(&mut out, 40, self.log_start);
        put_u64(&mut out, 48, self.slot_count);
        put_u64(&mut out, 56, self.map_slot);
        put_u64(&mut out, 64, self.map_entries);
        put_u32(&mut out, 72, self.map_crc);
        let crc = crc32c(&out[..124]);
        put_u32(&mut out, 124, crc);
        out
    }

    pub fn decode(buf: &[u8]) -> Result<MainHeader, &'static str> {
        if buf.len() < MAIN_HEADER_BYTES || buf[..8] != MAIN_MAGIC {
            return Err("bad main-file magic");
        }
        if crc32c(&buf[..124]) != get_u32(buf, 124) || buf[76..124].iter().any(|&b| b != 0) {
            return Err("main-file header checksum mismatch");
        }
        if get_u32(buf, 8) != FORMAT_VERSION {
            return Err("unsupported main-file format version");
        }
        let h = MainHeader {
            page_size: get_u32(buf, 12),
            generation: get_u64(buf, 16),
            db_id: get_u64(buf, 24),
            checkpoint_seq: get_u64(buf, 32),
            log_start: get_u64(buf, 40),
            slot_count: get_u64(buf, 48),
            map_slot: get_u64(buf, 56),
            map_entries: get_u64(buf, 64),
            map_crc: get_u32(buf, 72),
        };
        if !page_size_ok(h.page_size) {
            return Err("main-file page_size out of range");
        }
        if h.generation > COUNTER_MAX
            || h.checkpoint_seq > COUNTER_MAX
            || h.log_start > LOG_OFFSET_MAX_BYTES
        {
            return Err("main-file generation, checkpoint_seq or log_start out of range");
        }
        // Bounds the map by the slots; the caller bounds the slots by the
        // file (only it knows the file's length).
        let map_slots_ok = h
            .map_entries
            .checked_mul(MAP_ENTRY_BYTES as u64)
            .map(|b| b.div_ceil(u64::from(h.page_size)))
            .and_then(|n| h.map_slot.checked_add(n))
            .is_some_and(|end| end <= h.slot_count);
        if h.log_start % FRAME_ALIGN_BYTES != 0 || !map_slots_ok {
            return Err("main-file header fields out of range");
        }
        Ok(h)
    }
}

/// One page-map entry: where a checkpointed page lives in the main file.
///
/// Layout (24 bytes): pgno u32 | len u32 | slot u64 | crc u32 (of the
/// image) | 4 zero bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapEntry {
    pub pgno: u32,
    pub len: u32,
    pub slot: u64,
    pub crc: u32,
}

impl MapEntry {
    pub fn encode_into(&self, out: &mut [u8]) {
        out[..MAP_ENTRY_BYTES].fill(0);
        put_u32(out, 0, self.pgno);
        put_u32(out, 4, self.len);
        put_u64(out, 8, self.slot);
        put_u32(out, 16, self.crc);
    }

    pub fn decode(buf: &[u8]) -> Option<MapEntry> {
        if buf.len() < MAP_ENTRY_BYTES || get_u32(buf, 20) != 0 {
            return None;
        }
        let e = MapEntry {
            pgno: get_u32(buf, 0),
            len: get_u32(buf, 4),
            slot: get_u64(buf, 8),
            crc: get_u32(buf, 16),
        };
        (e.pgno != 0).then_some(e)
    }
}
