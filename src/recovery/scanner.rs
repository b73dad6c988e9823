//! The scanner: a sequential reader over the valid ranges of the log,
//! with read-ahead, that hands out frame headers and verified payloads.

use crate::error::{Error, Result};
use crate::format::{crc32c, FrameHeader, FrameKind, FRAME_HEADER_BYTES};
use crate::prefetch::Prefetched;
use crate::types::CommitSeq;
use crate::wal::{FrameSource, Segment};

/// Where read-ahead bytes the scanner served now are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Served {
    /// In `buf`, the chunk they lie in.
    InBuf,
    /// In `scratch`: a frame across two chunks of one segment.
    InScratch,
}

/// Bytes read from a segment at a time while scanning.
const SCAN_CHUNK_BYTES: usize = 1 << 20;

#[derive(Default, Clone, Copy)]
pub(super) struct Kept {
    pub(super) frames: u64,
    pub(super) has_epoch: bool,
    pub(super) epoch_min: u64,
    pub(super) epoch_max: u64,
}

pub(super) struct Outcome {
    pub(super) stop_pos: u64,
    pub(super) stop_reason: Option<String>,
    pub(super) dropped_frames: u64,
    pub(super) corrupt: bool,
    pub(super) valid_after_end: bool,
    /// Why what was cut is known never to have been synced, when it is.
    pub(super) never_synced: Option<String>,
}

impl Outcome {
    /// Stopped at `pos` on reaching the commit it was asked to stop after.
    pub(super) fn reached(pos: u64) -> Outcome {
        Outcome {
            stop_pos: pos,
            stop_reason: None,
            dropped_frames: 0,
            corrupt: false,
            valid_after_end: false,
            never_synced: None,
        }
    }
}

/// Sequential reader over the valid ranges of the log.
pub(super) struct Scanner<'a> {
    pub(super) segs: Vec<&'a Segment>,
    pub(super) capsules: Vec<&'a Segment>,
    /// End of valid data in each segment (a later restart may void a tail).
    pub(super) valid_end: Vec<u64>,
    pub(super) db_id: u64,
    pub(super) page_size: u32,
    pub(super) buf: Vec<u8>,
    pub(super) buf_start: u64,
    pub(super) scratch: Vec<u8>,
    pub(super) bytes_read: u64,
    pub(super) kept: Vec<Kept>,
    /// The current boot's tag (see `Storage::boot_tag`).
    pub(super) boot_tag: u32,
    /// Stop once this commit is replayed (catching up to a published tip,
    /// past which another process may be writing right now).
    pub(super) stop_after: Option<CommitSeq>,
    /// Look past the end for evidence (recovery, or after a writer died);
    /// false when the log is known to end cleanly where frames stop.
    pub(super) judge_tail: bool,
    pub(super) chunk: usize,
    /// Chunks a reader thread reads ahead (recovery only).
    pub(super) prefetch: Option<Prefetched>,
    /// The segment `buf` came from (`usize::MAX`: unknown).
    pub(super) buf_seg: usize,
    /// See [`Scanner::first_candidate`].
    pub(super) cursor: std::cell::Cell<usize>,
    pub(super) cursor_pos: std::cell::Cell<u64>,
    /// Each segment's window ends before the next one's begins (always,
    /// unless files were tampered with): only then may the cursor skip.
    pub(super) disjoint: bool,
    /// Only the log before this offset is known durable (see [`scan`]).
    pub(super) durable_limit: Option<u64>,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(
        segs: Vec<&'a Segment>,
        capsules: Vec<&'a Segment>,
        db_id: u64,
        page_size: u32,
        boot_tag: u32,
    ) -> Scanner<'a> {
        // Only what a file holds is scanned, however large a window its
        // header claims. A failed stat keeps the window: every read past
        // it stats again and reports the failure.
        let mut valid_end: Vec<u64> = segs
            .iter()
            .map(|s| s.held_end().unwrap_or_else(|_| s.window_end()))
            .collect();
        let kept = vec![Kept::default(); segs.len()];
        let disjoint = segs
            .windows(2)
            .all(|w| w[0].window_end() <= w[1].header.log_start);
        let mut min_resume = u64::MAX;
        for i in (0..segs.len()).rev() {
            valid_end[i] = valid_end[i].min(min_resume).max(segs[i].header.log_start);
            min_resume = min_resume.min(segs[i].header.resume_offset);
        }
        Scanner {
            segs,
            capsules,
            valid_end,
            db_id,
            page_size,
            buf: Vec::new(),
            buf_start: 0,
            scratch: Vec::new(),
            bytes_read: 0,
            kept,
            boot_tag,
            stop_after: None,
            judge_tail: true,
            chunk: SCAN_CHUNK_BYTES,
            prefetch: None,
            buf_seg: usize::MAX,
            cursor: std::cell::Cell::new(0),
            cursor_pos: std::cell::Cell::new(0),
            disjoint,
            durable_limit: None,
        }
    }

    /// True when a commit ending at `end` lies past what a failed sync
    /// left known durable.
    pub(super) fn past_durable_limit(&self, end: u64) -> bool {
        self.durable_limit.is_some_and(|limit| end > limit)
    }

    /// Where a search over the segments for `pos` may start. The scan
    /// moves forward, and a segment passed for one position is passed for
    /// every later one, so each frame costs O(1) instead of a walk over
    /// all segments; a position behind the last one starts over.
    pub(super) fn first_candidate(&self, pos: u64) -> usize {
        if !self.disjoint || pos < self.cursor_pos.get() {
            self.cursor.set(0);
        }
        self.cursor_pos.set(pos);
        self.cursor.get()
    }

    pub(super) fn index_of(&self, pos: u64) -> Option<usize> {
        let from = self.first_candidate(pos);
        match self.segs[from..].iter().position(|s| s.contains(pos)) {
            Some(i) => {
                self.cursor.set(from + i);
                Some(from + i)
            }
            // Past the last window: attribute to the last segment.
            None => self.segs.len().checked_sub(1),
        }
    }

    /// Moves `pos` over a void (the abandoned tail before a restart) to
    /// where data continues; `None` at the end of the log.
    pub(super) fn normalize(&self, pos: u64) -> Option<u64> {
        let from = self.first_candidate(pos);
        for (i, s) in self.segs.iter().enumerate().skip(from) {
            if self.valid_end[i] <= s.header.log_start {
                // Wholly void: a spare a writer prepared before it died,
                // abandoned by the restart segment that follows.
                continue;
            }
            if pos < s.header.log_start {
                return Some(s.header.log_start);
            }
            if pos < self.valid_end[i] {
                self.cursor.set(i);
                return Some(pos);
            }
        }
        None
    }

    /// `len` bytes at `pos`, if all of them lie in valid, present data.
    pub(super) fn fetch(&mut self, pos: u64, len: usize) -> Result<Option<&[u8]>> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos >= self.buf_start && pos + len as u64 <= buf_end {
            let at = (pos - self.buf_start) as usize;
            return Ok(Some(&self.buf[at..at + len]));
        }
        if let Some(served) = self.serve_prefetched(pos, len) {
            if served == Served::InScratch {
                return Ok(Some(&self.scratch));
            }
            let at = (pos - self.buf_start) as usize;
            return Ok(Some(&self.buf[at..at + len]));
        }
        let Some(i) = self.segs.iter().position(|s| s.contains(pos)) else {
            return Ok(None);
        };
        if pos + len as u64 <= self.valid_end[i] {
            let seg = &self.segs[i];
            let want = (self.valid_end[i] - pos).min(self.chunk.max(len) as u64) as usize;
            let avail = self.present(i, pos, want)?;
            if avail < len {
                return Ok(None);
            }
            self.buf.resize(avail, 0);
            seg.file
                .read_at(&mut self.buf, seg.file_offset(pos))
                .map_err(|e| Error::io("read segment", &seg.path, e))?;
            self.bytes_read += avail as u64;
            self.buf_start = pos;
            self.buf_seg = i;
            return Ok(Some(&self.buf[..len]));
        }
        // Spans into the next segment: only if it continues the log here.
        if self.valid_end[i] != self.segs[i].window_end() || i + 1 >= self.segs.len() {
            return Ok(None);
        }
        let first = (self.valid_end[i] - pos) as usize;
        let mut out = vec![0u8; len];
        let parts = [(i, pos, 0..first), (i + 1, self.valid_end[i], first..len)];
        for (j, at, range) in parts {
            let n = range.len();
            if at + n as u64 > self.valid_end[j] || self.present(j, at, n)? < n {
                return Ok(None);
            }
            let seg = &self.segs[j];
            seg.file
                .read_at(&mut out[range], seg.file_offset(at))
                .map_err(|e| Error::io("read segment", &seg.path, e))?;
            self.bytes_read += n as u64;
        }
        self.scratch = out;
        Ok(Some(&self.scratch))
    }

    /// Serves `len` bytes at `pos` from the chunks read ahead; None when
    /// the scan must read them itself.
    pub(super) fn serve_prefetched(&mut self, pos: u64, len: usize) -> Option<Served> {
        if !self.disjoint {
            // Chunks name their segment; with overlapping windows the scan
            // must pick the segment itself.
            return None;
        }
        let end = pos + len as u64;
        let pf = self.prefetch.as_mut()?;
        let c = pf.upcoming(pos)?;
        if c.pos <= pos && end <= c.end() {
            let c = pf.take().expect("upcoming");
            self.bytes_read += c.bytes.len() as u64;
            let old = std::mem::replace(&mut self.buf, c.bytes);
            pf.recycle(old);
            (self.buf_start, self.buf_seg) = (c.pos, c.seg);
            return Some(Served::InBuf);
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        let straddles = c.seg == self.buf_seg
            && c.pos == buf_end
            && (self.buf_start..buf_end).contains(&pos)
            && end <= c.end();
        if !straddles {
            return None;
        }
        let c = pf.take().expect("upcoming");
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.buf[(pos - self.buf_start) as usize..]);
        out.extend_from_slice(&c.bytes[..(end - c.pos) as usize]);
        self.bytes_read += c.bytes.len() as u64;
        let old = std::mem::replace(&mut self.buf, c.bytes);
        pf.recycle(old);
        (self.buf_start, self.buf_seg) = (c.pos, c.seg);
        self.scratch = out;
        Some(Served::InScratch)
    }

    /// How many of `want` bytes at `pos` the segment file actually holds
    /// (a file may have been truncated).
    pub(super) fn present(&self, i: usize, pos: u64, want: usize) -> Result<usize> {
        let seg = &self.segs[i];
        let flen = seg
            .file
            .len()
            .map_err(|e| Error::io("stat segment", &seg.path, e))?;
        let off = seg.file_offset(pos);
        Ok(flen.saturating_sub(off).min(want as u64) as usize)
    }

    pub(super) fn frame_at(&mut self, pos: u64) -> Result<Option<(FrameHeader, u32)>> {
        let db_id = self.db_id;
        let Some(bytes) = self.fetch(pos, FRAME_HEADER_BYTES)? else {
            return Ok(None);
        };
        let Some(h) = FrameHeader::decode(db_id, pos, bytes) else {
            return Ok(None);
        };
        let arr: &[u8; FRAME_HEADER_BYTES] = bytes.try_into().expect("header size");
        Ok(Some((h, FrameHeader::stored_crc(arr))))
    }

    pub(super) fn payload_ok(&mut self, h: &FrameHeader) -> Result<Option<Vec<u8>>> {
        let at = h.log_offset + FRAME_HEADER_BYTES as u64;
        let crc = h.payload_crc;
        let keep = matches!(h.kind, FrameKind::Commit | FrameKind::Marker);
        match self.fetch(at, h.payload_len as usize)? {
            Some(p) if crc32c(p) == crc => Ok(Some(if keep { p.to_vec() } else { Vec::new() })),
            _ => Ok(None),
        }
    }
}

impl FrameSource for Scanner<'_> {
    fn resume(&mut self, pos: u64) -> Option<u64> {
        self.normalize(pos)
    }

    fn header_at(&mut self, pos: u64) -> Result<Option<FrameHeader>> {
        Ok(self.frame_at(pos)?.map(|(h, _)| h))
    }
}
