//! Every on-disk byte: encoders and decoders for the WAL segment header,
//! log frames, commit payloads, the main-file header and the page map.
//! docs/FORMAT.md describes the same layouts in prose.
//!
//! All integers are little-endian and fixed width; every unit carries a
//! CRC32C; padding is zero. Decoders are total: any input returns a value
//! or `None`/an error, never panics, and never allocates more than the
//! input implies. A checksum only proves the bytes are as written, not
//! that whoever wrote them was this engine, so decoders also bound every
//! size, position and counter they return (the `*_MAX` constants below):
//! callers size buffers and loops from them.

use crate::options::{PAGE_SIZE_MAX_BYTES, PAGE_SIZE_MIN_BYTES, SEGMENT_SIZE_MAX_BYTES};

/// Log frames start at multiples of this in the logical log.
pub const FRAME_ALIGN_BYTES: u64 = 8;
/// Size of a frame header.
pub const FRAME_HEADER_BYTES: usize = 40;
/// Size of a commit frame's payload.
pub const COMMIT_PAYLOAD_BYTES: usize = 40;
/// Magic number opening every frame ("LCF1").
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"LCF1");

/// Size of the header block at the start of each segment file; data
/// starts after it, so page images in the log stay 4 KiB aligned.
pub const SEGMENT_HEADER_BLOCK_BYTES: u64 = 4096;
/// Bytes of the segment header that carry data (the rest of the block is zero).
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// Magic opening every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"LCWALSG1";

/// Each main-file header copy occupies one block; there are two.
pub const MAIN_HEADER_BLOCK_BYTES: u64 = 4096;
/// Number of header copies at the start of the main file.
pub const MAIN_HEADER_COPIES: u64 = 2;
/// Bytes of a main header that carry data.
pub const MAIN_HEADER_BYTES: usize = 128;
/// Magic opening the main file.
pub const MAIN_MAGIC: [u8; 8] = *b"LCMAIN01";
/// Offset of the first page slot in the main file.
pub const MAIN_SLOTS_OFFSET: u64 = MAIN_HEADER_BLOCK_BYTES * MAIN_HEADER_COPIES;
/// Size of one page-map entry.
pub const MAP_ENTRY_BYTES: usize = 24;

/// On-disk format version of every file.
pub const FORMAT_VERSION: u32 = 1;
/// Largest data window of a segment: the largest segment the engine makes,
/// less its header block.
pub const SEGMENT_CAPACITY_MAX_BYTES: u64 = SEGMENT_SIZE_MAX_BYTES - SEGMENT_HEADER_BLOCK_BYTES;
/// Logical log offsets (and capsule stream offsets) in headers stay below
/// this, so that a position plus any frame or capsule length never
/// overflows. At 1 GB/s a log takes 146 years to get here.
pub const LOG_OFFSET_MAX_BYTES: u64 = 1 << 62;
/// Commit seqs, epochs and generations in headers stay at or below this,
/// so that the next one is always representable. At a billion a second a
/// counter takes 146 years to get here.
pub const COUNTER_MAX: u64 = 1 << 62;
/// Size of a NATIVE-mode marker frame's payload.
pub const MARKER_PAYLOAD_BYTES: usize = COMMIT_PAYLOAD_BYTES + 48;

const _: () = assert!(FRAME_HEADER_BYTES as u64 % FRAME_ALIGN_BYTES == 0);
const _: () = assert!(COMMIT_PAYLOAD_BYTES as u64 % FRAME_ALIGN_BYTES == 0);
const _: () = assert!(SEGMENT_HEADER_BYTES as u64 <= SEGMENT_HEADER_BLOCK_BYTES);
const _: () = assert!(MAIN_HEADER_BYTES as u64 <= MAIN_HEADER_BLOCK_BYTES);
const _: () = assert!(SEGMENT_CAPACITY_MAX_BYTES % FRAME_ALIGN_BYTES == 0);
// Room past the furthest window for any u32-sized length.
const _: () = assert!(LOG_OFFSET_MAX_BYTES + SEGMENT_CAPACITY_MAX_BYTES <= u64::MAX / 2);

/// A page size the engine can have made: a power of two in
/// `PAGE_SIZE_MIN_BYTES..=PAGE_SIZE_MAX_BYTES`.
pub fn page_size_ok(page_size: u32) -> bool {
    page_size.is_power_of_two() && (PAGE_SIZE_MIN_BYTES..=PAGE_SIZE_MAX_BYTES).contains(&page_size)
}

pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// Continues `crc` (a CRC32C of earlier bytes; 0 for none) over `bytes`.
pub fn crc32c_append(crc: u32, bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, bytes)
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Rounds `n` up to the frame alignment.
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(FRAME_ALIGN_BYTES) * FRAME_ALIGN_BYTES
}

// ---------------------------------------------------------------------------
// Frames

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

// ---------------------------------------------------------------------------
// Segment header

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

// ---------------------------------------------------------------------------
// Main file

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_round_trips_and_rejects_any_flip() {
        let h = FrameHeader {
            kind: FrameKind::Page,
            log_offset: 4096,
            commit_seq: 7,
            pgno: 42,
            payload_len: 100,
            payload_crc: 0xdead_beef,
        };
        let mut buf = [0u8; FRAME_HEADER_BYTES];
        h.encode(99, &mut buf);
        assert_eq!(FrameHeader::decode(99, 4096, &buf), Some(h));
        assert_eq!(FrameHeader::decode(98, 4096, &buf), None, "other database");
        assert_eq!(FrameHeader::decode(99, 4104, &buf), None, "other position");
        for i in 0..FRAME_HEADER_BYTES {
            for bit in 0..8 {
                let mut bad = buf;
                bad[i] ^= 1 << bit;
                assert_eq!(FrameHeader::decode(99, 4096, &bad), None, "flip {i}:{bit}");
            }
        }
    }

    #[test]
    fn headers_round_trip() {
        let s = segment_header();
        assert_eq!(SegmentHeader::decode(&s.encode()), Ok(s));
        let m = main_header();
        assert_eq!(MainHeader::decode(&m.encode()), Ok(m));
        let e = MapEntry {
            pgno: 3,
            len: 10,
            slot: 4,
            crc: 5,
        };
        let mut buf = [0u8; MAP_ENTRY_BYTES];
        e.encode_into(&mut buf);
        assert_eq!(MapEntry::decode(&buf), Some(e));
    }

    fn main_header() -> MainHeader {
        MainHeader {
            page_size: 4096,
            generation: 3,
            db_id: 5,
            checkpoint_seq: 77,
            log_start: 8,
            slot_count: 10,
            map_slot: 8,
            map_entries: 3,
            map_crc: 1,
        }
    }

    fn segment_header() -> SegmentHeader {
        SegmentHeader {
            page_size: 4096,
            db_id: 5,
            first_epoch: 9,
            log_start: 1 << 20,
            capacity: 1 << 20,
            resume_offset: 1000,
        }
    }

    #[test]
    fn main_header_bounds_its_page_size_counters_and_map() {
        let decodes = |edit: &dyn Fn(&mut MainHeader)| {
            let mut h = main_header();
            edit(&mut h);
            MainHeader::decode(&h.encode()).is_ok()
        };
        for page_size in [512, 1024, 65536] {
            assert!(decodes(&|h| h.page_size = page_size), "{page_size}");
        }
        for page_size in [0, 3, 256, 511, 768, 131072, 1 << 30, u32::MAX] {
            assert!(!decodes(&|h| h.page_size = page_size), "{page_size}");
        }
        assert!(decodes(
            &|h| (h.generation, h.checkpoint_seq) = (COUNTER_MAX, COUNTER_MAX)
        ));
        assert!(!decodes(&|h| h.generation = COUNTER_MAX + 1));
        assert!(!decodes(&|h| h.checkpoint_seq = u64::MAX));
        assert!(decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES));
        assert!(!decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES + 8));
        // The map must fit the slots below slot_count (the file's length
        // bounds slot_count: mainfile/map.rs).
        assert!(decodes(&|h| h.map_entries = 2 * 4096 / 24));
        assert!(!decodes(&|h| h.map_entries = 2 * 4096 / 24 + 1));
        assert!(!decodes(
            &|h| (h.map_entries, h.slot_count) = (u64::MAX / 24 + 1, u64::MAX)
        ));
    }

    #[test]
    fn segment_header_bounds_its_page_size_window_and_epoch() {
        let decodes = |edit: &dyn Fn(&mut SegmentHeader)| {
            let mut h = segment_header();
            edit(&mut h);
            SegmentHeader::decode(&h.encode()).is_ok()
        };
        assert!(decodes(&|h| h.capacity = SEGMENT_CAPACITY_MAX_BYTES));
        assert!(!decodes(&|h| h.capacity = SEGMENT_CAPACITY_MAX_BYTES + 8));
        assert!(!decodes(&|h| h.capacity = 1 << 60));
        assert!(decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES));
        assert!(!decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES + 8));
        assert!(decodes(&|h| h.first_epoch = COUNTER_MAX));
        assert!(!decodes(&|h| h.first_epoch = u64::MAX));
        for page_size in [0, 256, 3, 1 << 17] {
            assert!(!decodes(&|h| h.page_size = page_size), "{page_size}");
        }
    }

    #[test]
    fn frames_and_commit_payloads_bound_their_counters() {
        let frame = |commit_seq| {
            let h = FrameHeader {
                kind: FrameKind::Seal,
                log_offset: 8,
                commit_seq,
                pgno: 0,
                payload_len: 0,
                payload_crc: 0,
            };
            let mut buf = [0u8; FRAME_HEADER_BYTES];
            h.encode(1, &mut buf);
            FrameHeader::decode(1, 8, &buf)
        };
        assert!(frame(COUNTER_MAX).is_some());
        assert!(frame(COUNTER_MAX + 1).is_none());
        assert!(frame(u64::MAX).is_none());
        let payload = |epoch| {
            CommitPayload::decode(
                &CommitPayload {
                    first_frame_offset: 0,
                    epoch,
                    durable_hint: 1,
                    written_hint: 2,
                    boot_tag: 0,
                    acks_written: false,
                    frames_crc: 0,
                }
                .encode(),
            )
        };
        assert!(payload(COUNTER_MAX).is_some());
        assert!(payload(COUNTER_MAX + 1).is_none());
    }
}
