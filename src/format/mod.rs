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

mod bytes;
mod frame;
mod limits;
mod main;
mod segment;
#[cfg(test)]
mod tests;

pub use bytes::{crc32c, crc32c_append};
pub use frame::*;
pub use limits::*;
pub use main::*;
pub use segment::*;
