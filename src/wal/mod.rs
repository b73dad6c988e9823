//! The write-ahead log: segment files and the logical byte stream over them.

pub mod log;
pub mod segment;
mod sizing;
mod walk;

pub use log::{Log, LogConfig};
pub use segment::{
    classify, open_segment, read_image, read_segments, LogFileName, Segment, Stream, CORRUPT_SUFFIX,
};
pub use walk::{walk_frames, FrameSource};
