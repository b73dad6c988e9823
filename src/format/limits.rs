//! The format's sizes, magics and limits: every constant that a byte on
//! disk depends on, and the checks that tie them together.

/// Smallest accepted page size.
pub const PAGE_SIZE_MIN_BYTES: u32 = 512;
/// Largest accepted page size.
pub const PAGE_SIZE_MAX_BYTES: u32 = 65536;
/// Page size of a new database unless told otherwise.
pub const PAGE_SIZE_DEFAULT_BYTES: u32 = 4096;
/// Largest segment accepted.
pub const SEGMENT_SIZE_MAX_BYTES: u64 = 1 << 30;

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
const _: () = assert!(SEGMENT_HEADER_BLOCK_BYTES % FRAME_ALIGN_BYTES == 0);
// Room past the furthest window for any u32-sized length.
const _: () = assert!(LOG_OFFSET_MAX_BYTES + SEGMENT_CAPACITY_MAX_BYTES <= u64::MAX / 2);

/// A page size the engine can have made: a power of two in
/// `PAGE_SIZE_MIN_BYTES..=PAGE_SIZE_MAX_BYTES`.
pub fn page_size_ok(page_size: u32) -> bool {
    page_size.is_power_of_two() && (PAGE_SIZE_MIN_BYTES..=PAGE_SIZE_MAX_BYTES).contains(&page_size)
}

/// Rounds `n` up to the frame alignment.
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(FRAME_ALIGN_BYTES) * FRAME_ALIGN_BYTES
}
