//! The one walk over the frames of a stretch of log: at each aligned
//! position a header that verifies is a frame (the walk steps over it),
//! anything else is skipped one alignment unit at a time. Recovery's
//! evidence check (what lies past a cut) and inspect's dump both walk
//! with it; only the source of the bytes differs.

use std::ops::ControlFlow;

use crate::error::Result;
use crate::format::{FrameHeader, FRAME_ALIGN_BYTES};

/// Where a walk reads frame headers from.
pub trait FrameSource {
    /// The first position at or after `pos` that holds log bytes to look
    /// at (skipping what lies between segments); None at the end.
    fn resume(&mut self, pos: u64) -> Option<u64>;
    /// The frame header at `pos`, if one verifies there.
    fn header_at(&mut self, pos: u64) -> Result<Option<FrameHeader>>;
}

/// Calls `each` with every frame that verifies from `start` on, in log
/// order, until the source ends or `each` breaks.
pub fn walk_frames<S: FrameSource>(
    src: &mut S,
    start: u64,
    mut each: impl FnMut(&mut S, &FrameHeader) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let mut pos = start;
    while let Some(p) = src.resume(pos) {
        debug_assert!(p >= pos, "a walk never goes back");
        pos = p;
        match src.header_at(pos)? {
            Some(h) => {
                debug_assert_eq!(h.log_offset, pos, "a header names its own offset");
                if each(src, &h)?.is_break() {
                    return Ok(());
                }
                pos += h.frame_len();
            }
            None => pos += FRAME_ALIGN_BYTES,
        }
    }
    Ok(())
}
