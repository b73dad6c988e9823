//! Reading the log ahead of recovery's scan, on a second thread.
//!
//! Recovery reads every byte of the log once, in order, and checks each
//! frame. On one thread the disk and the checks take turns, and copying
//! out of the page cache alone is a third of the work. A reader thread
//! reads the valid part of each segment in chunks, a few ahead of the scan
//! (a bounded channel), so reading and checking overlap on two cores. The
//! scan takes a chunk when it reaches it and otherwise reads for itself as
//! before: the chunks are an optimization, never the only way to the
//! bytes.

use std::sync::mpsc::{channel as unbounded, sync_channel, Receiver, Sender, SyncSender};

use crate::wal::Segment;

/// Chunks read ahead of the scan at most.
const CHUNKS_AHEAD: usize = 4;

/// `bytes` of segment `seg` from log offset `pos`.
pub struct Chunk {
    pub seg: usize,
    pub pos: u64,
    pub bytes: Vec<u8>,
}

impl Chunk {
    pub fn end(&self) -> u64 {
        self.pos + self.bytes.len() as u64
    }
}

/// The scan's end of the channel.
pub struct Prefetched {
    rx: Receiver<Chunk>,
    next: Option<Chunk>,
    /// Buffers the scan is done with, back to the reader: fresh 1 MiB
    /// allocations cost page faults and zeroing every time.
    spent: Sender<Vec<u8>>,
}

/// The reader thread's end: chunks out, spent buffers back.
pub struct Reader {
    tx: SyncSender<Chunk>,
    spent: Receiver<Vec<u8>>,
}

/// A channel for a reader thread that runs [`read_ahead`].
pub fn channel() -> (Reader, Prefetched) {
    let (tx, rx) = sync_channel(CHUNKS_AHEAD);
    let (spent_tx, spent_rx) = unbounded();
    (
        Reader {
            tx,
            spent: spent_rx,
        },
        Prefetched {
            rx,
            next: None,
            spent: spent_tx,
        },
    )
}

impl Prefetched {
    /// The first chunk that ends after `pos`, dropping those before it;
    /// `None` when the reader has stopped (done, or a read failed).
    /// Waits for the reader when it is behind.
    pub fn upcoming(&mut self, pos: u64) -> Option<&Chunk> {
        loop {
            if self.next.is_none() {
                self.next = Some(self.rx.recv().ok()?);
            }
            if self.next.as_ref().is_some_and(|c| c.end() <= pos) {
                self.next = None;
                continue;
            }
            return self.next.as_ref();
        }
    }

    /// Takes the chunk [`Prefetched::upcoming`] returned.
    pub fn take(&mut self) -> Option<Chunk> {
        self.next.take()
    }

    /// Hands a buffer the scan no longer needs back to the reader.
    pub fn recycle(&self, buf: Vec<u8>) {
        // The reader may have stopped; then the buffer is simply dropped.
        let _ = self.spent.send(buf);
    }
}

/// The reader: segment by segment from `start`, the bytes before each
/// one's `valid_end` that its file holds, in `chunk`-byte pieces. Stops at
/// the end, at a failed read (the scan then reads, and reports, itself) or
/// when the scan hangs up.
pub fn read_ahead(segs: &[&Segment], valid_end: &[u64], start: u64, chunk: usize, reader: Reader) {
    for (i, seg) in segs.iter().enumerate() {
        let Ok(held_end) = seg.held_end() else {
            return;
        };
        let end = valid_end[i].min(held_end);
        let mut pos = start.max(seg.header.log_start);
        while pos < end {
            let n = (end - pos).min(chunk as u64) as usize;
            let mut bytes = reader.spent.try_recv().unwrap_or_default();
            bytes.resize(n, 0);
            if seg.file.read_at(&mut bytes, seg.file_offset(pos)).is_err() {
                return;
            }
            if reader.tx.send(Chunk { seg: i, pos, bytes }).is_err() {
                return;
            }
            pos += n as u64;
        }
    }
}
