//! How big the next segment is, whether it is zero-filled, and how far
//! ahead of the tail the background keeps segments prepared - all from
//! the size of recent commits.
//!
//! Back of the envelope, for 16 MiB commits on 16 MiB segments: each
//! commit used up more than the segment the background had ready, so the
//! committer prepared the next one itself, zero fill included - 16 MiB
//! written twice, inside the commit. Sized to hold two such commits and
//! kept two commits ahead, segments are ready (recycled, or allocated by
//! the background) before a commit needs them, and a commit crosses a
//! segment boundary (two fdatasyncs instead of one) at most every other
//! commit.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::{FRAME_ALIGN_BYTES, SEGMENT_HEADER_BLOCK_BYTES};

/// Largest segment file made to fit large commits (a larger configured
/// size is kept as it is). Larger commits span several segments: past
/// this, fewer files no longer buy fewer syncs worth the disk a recycled
/// pool of them holds.
pub const ADAPTIVE_SEGMENT_SIZE_MAX_BYTES: u64 = 256 << 20;
/// A new segment is sized (and kept prepared) for this many of the recent
/// largest commits.
const COMMITS_AHEAD: u64 = 2;
/// A fresh segment is zero-filled only when it will take at least this
/// many of the recent commits: zeros spare each small commit's fdatasync
/// an extent conversion, but a segment that a few large commits overwrite
/// whole would be written twice for little gain.
const ZERO_FILL_COMMITS_MIN: u64 = 16;
/// Each commit shrinks the remembered size by 1/this of itself, so a
/// single huge commit stops sizing segments after a few dozen small ones.
const HINT_DECAY_DIVISOR: u64 = 8;

/// The size of recent commits, as log bytes: a decaying maximum.
#[derive(Default)]
pub struct CommitSizeHint(AtomicU64);

impl CommitSizeHint {
    /// Records a commit of `len` log bytes (about to be sequenced).
    pub fn note(&self, len: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(len.max(old - old / HINT_DECAY_DIVISOR))
            });
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Data capacity of the next new segment: the configured capacity, or
/// more when recent commits are large (a power-of-two file, bounded).
pub fn capacity_for(configured: u64, hint: u64) -> u64 {
    let wanted = hint
        .saturating_mul(COMMITS_AHEAD)
        .saturating_add(SEGMENT_HEADER_BLOCK_BYTES);
    let file = wanted
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
        .min(ADAPTIVE_SEGMENT_SIZE_MAX_BYTES);
    let adaptive = file - SEGMENT_HEADER_BLOCK_BYTES;
    debug_assert!(adaptive % FRAME_ALIGN_BYTES == 0);
    configured.max(adaptive)
}

/// Whether a fresh segment of `capacity` is worth zero-filling.
pub fn zero_fill(capacity: u64, hint: u64) -> bool {
    hint.saturating_mul(ZERO_FILL_COMMITS_MIN) <= capacity
}

/// Log bytes the background keeps prepared past the tail.
pub fn headroom(configured: u64, hint: u64) -> u64 {
    (configured / 2).max(hint.saturating_mul(COMMITS_AHEAD))
}

/// Whether a retired segment of `capacity` may be reused where one of
/// `wanted` would be made: big enough, and not holding more than twice
/// the disk it is needed for.
pub fn recyclable(capacity: u64, wanted: u64) -> bool {
    capacity >= wanted && capacity / 2 <= wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn small_commits_keep_the_configured_size_and_zero_fill() {
        let configured = 16 * MIB - SEGMENT_HEADER_BLOCK_BYTES;
        assert_eq!(capacity_for(configured, 4216), configured);
        assert!(zero_fill(configured, 4216));
        assert_eq!(headroom(configured, 4216), configured / 2);
    }

    #[test]
    fn large_commits_get_segments_holding_two_and_no_zero_fill() {
        let configured = 16 * MIB - SEGMENT_HEADER_BLOCK_BYTES;
        let commit = 4096 * 4136 + 80; // 16 MiB of pages, as frames
        let cap = capacity_for(configured, commit);
        assert_eq!(cap, 64 * MIB - SEGMENT_HEADER_BLOCK_BYTES);
        assert!(cap >= 2 * commit);
        assert!(!zero_fill(cap, commit));
        assert_eq!(headroom(configured, commit), 2 * commit);
        let huge = capacity_for(configured, 1 << 40);
        assert_eq!(
            huge,
            ADAPTIVE_SEGMENT_SIZE_MAX_BYTES - SEGMENT_HEADER_BLOCK_BYTES
        );
        assert_eq!(capacity_for(1 << 29, commit), 1 << 29);
    }

    #[test]
    fn the_hint_decays() {
        let h = CommitSizeHint::default();
        h.note(64 * MIB);
        for _ in 0..64 {
            h.note(4096);
        }
        assert!(h.get() < MIB, "{}", h.get());
    }

    #[test]
    fn recycling_takes_a_file_neither_too_small_nor_too_big() {
        assert!(recyclable(64, 64));
        assert!(recyclable(128, 64));
        assert!(!recyclable(32, 64));
        assert!(!recyclable(256, 64));
    }
}
