//! Stage: turn a write set into log bytes, outside any lock.
//!
//! Page images are checksummed when they enter a transaction
//! ([`StagedPage`]); once the sequencer has placed the commit, [`encode`]
//! lays out the frames - one per page write or delete, then the commit
//! frame - and hands them to a sink in bounded chunks, so a commit of any
//! size streams through a lane buffer of fixed size.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::mutex::Mutex;

use crate::error::Result;
use crate::format::{
    align_up, chain_frame_crc, frame_len, CommitPayload, FrameHeader, FrameKind,
    COMMIT_PAYLOAD_BYTES, FRAME_HEADER_BYTES,
};
use crate::spill::SpillFile;
use crate::storage::Storage;
use crate::types::{CommitSeq, Page, Pgno};

/// Chunk size at which the encoder hands bytes to the sink.
pub const STAGE_CHUNK_BYTES: usize = 1 << 20;

/// Where a staged image lives.
#[derive(Clone)]
pub enum Image {
    /// In memory.
    Mem(Page),
    /// In the write set's spill file, at this offset.
    Spilled(Arc<SpillFile>, u64),
}

/// A page image checksummed on entry.
#[derive(Clone)]
pub struct StagedPage {
    pub image: Image,
    pub len: u32,
    /// CRC32C of the image.
    pub crc: u32,
}

impl std::fmt::Debug for StagedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match self.image {
            Image::Mem(_) => "memory",
            Image::Spilled(..) => "spill file",
        };
        write!(f, "StagedPage({} bytes in {place})", self.len)
    }
}

impl StagedPage {
    pub fn new(page: Page) -> StagedPage {
        let crc = crate::format::crc32c(&page);
        StagedPage {
            len: page.len() as u32,
            image: Image::Mem(page),
            crc,
        }
    }

    /// The image (read back and verified if spilled).
    pub fn page(&self) -> Result<Page> {
        match &self.image {
            Image::Mem(p) => Ok(p.clone()),
            Image::Spilled(file, at) => {
                let mut buf = vec![0u8; self.len as usize];
                file.read_into(*at, self.crc, &mut buf)?;
                Ok(Page::from(buf))
            }
        }
    }

    /// Appends the image to `out`.
    pub fn append_to(&self, out: &mut Vec<u8>) -> Result<()> {
        match &self.image {
            Image::Mem(p) => out.extend_from_slice(p),
            Image::Spilled(file, at) => {
                let start = out.len();
                out.resize(start + self.len as usize, 0);
                file.read_into(*at, self.crc, &mut out[start..])?;
            }
        }
        Ok(())
    }
}

/// Where and when a write set spills.
#[derive(Clone)]
pub struct SpillPolicy {
    pub storage: Arc<dyn Storage>,
    pub db_path: PathBuf,
    /// Image bytes kept in memory before further images spill.
    pub threshold_bytes: u64,
}

/// Pages a commit writes (`Some`) or deletes (`None`), in page order.
#[derive(Default)]
pub struct WriteSet {
    pages: BTreeMap<Pgno, Option<StagedPage>>,
    mem_bytes: u64,
    spill: Option<Arc<SpillFile>>,
}

impl std::fmt::Debug for WriteSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSet")
            .field("pages", &self.pages.len())
            .field("mem_bytes", &self.mem_bytes)
            .field("spilled", &self.spill.is_some())
            .finish()
    }
}

impl WriteSet {
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    /// Stages `data` (already validated) as the image of `pgno`, or a
    /// delete when `None`, spilling past the policy's threshold.
    pub fn put(&mut self, policy: &SpillPolicy, pgno: Pgno, data: Option<&[u8]>) -> Result<()> {
        let staged = match data {
            None => None,
            Some(d) if self.mem_bytes + d.len() as u64 <= policy.threshold_bytes => {
                self.mem_bytes += d.len() as u64;
                Some(StagedPage::new(Page::from(d)))
            }
            Some(d) => {
                if self.spill.is_none() {
                    self.spill = Some(Arc::new(SpillFile::create(
                        &policy.storage,
                        &policy.db_path,
                    )?));
                }
                let file = Arc::clone(self.spill.as_ref().expect("created above"));
                let at = file.append(d)?;
                Some(StagedPage {
                    image: Image::Spilled(file, at),
                    len: d.len() as u32,
                    crc: crate::format::crc32c(d),
                })
            }
        };
        if let Some(Some(StagedPage {
            image: Image::Mem(old),
            ..
        })) = self.pages.insert(pgno, staged)
        {
            self.mem_bytes -= old.len() as u64;
        }
        Ok(())
    }

    pub fn get(&self, pgno: Pgno) -> Option<&Option<StagedPage>> {
        self.pages.get(&pgno)
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &Pgno> + Clone {
        self.pages.keys()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Pgno, &Option<StagedPage>)> {
        self.pages.iter()
    }
}

/// Log bytes a commit of `writes` occupies.
pub fn commit_log_len(writes: &WriteSet) -> u64 {
    let pages: u64 = writes
        .pages
        .values()
        .map(|w| frame_len(w.as_ref().map_or(0, |s| s.len as usize)))
        .sum();
    pages + frame_len(COMMIT_PAYLOAD_BYTES)
}

/// Where the sequencer placed a commit.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub seq: CommitSeq,
    pub log_offset: u64,
    pub epoch: u64,
    pub durable_hint: CommitSeq,
    pub written_hint: CommitSeq,
    pub boot_tag: u32,
    /// The writer acknowledges commits once written (below sync FULL).
    pub acks_written: bool,
}

/// Encodes `writes` as placed, passing `(log_offset, bytes)` chunks to
/// `sink` in order. `buf` is a reusable staging buffer (a lane's).
pub fn encode(
    db_id: u64,
    writes: &WriteSet,
    at: Placement,
    buf: &mut Vec<u8>,
    mut sink: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    buf.clear();
    let mut chunk_start = at.log_offset;
    let mut pos = at.log_offset;
    let mut frames_crc = 0u32;
    let mut header = [0u8; FRAME_HEADER_BYTES];
    for (&pgno, write) in writes.iter() {
        let (kind, len, payload_crc) = match write {
            Some(s) => (FrameKind::Page, s.len, s.crc),
            None => (FrameKind::Delete, 0, 0),
        };
        FrameHeader {
            kind,
            log_offset: pos,
            commit_seq: at.seq,
            pgno,
            payload_len: len,
            payload_crc,
        }
        .encode(db_id, &mut header);
        debug_assert!(
            FrameHeader::decode(db_id, pos, &header)
                .is_some_and(|h| h.pgno == pgno && h.commit_seq == at.seq && h.payload_len == len),
            "page {pgno}: its frame header does not decode back"
        );
        frames_crc = chain_frame_crc(frames_crc, FrameHeader::stored_crc(&header));
        buf.extend_from_slice(&header);
        if let Some(s) = write {
            s.append_to(buf)?;
        }
        pad(buf, len as usize);
        pos += frame_len(len as usize);
        if buf.len() >= STAGE_CHUNK_BYTES {
            sink(chunk_start, buf)?;
            chunk_start = pos;
            buf.clear();
        }
    }
    let payload = commit_frame(db_id, &at, pos, writes.len(), frames_crc, &mut header);
    buf.extend_from_slice(&header);
    buf.extend_from_slice(&payload);
    pad(buf, payload.len());
    sink(chunk_start, buf)?;
    debug_assert_eq!(
        pos + frame_len(COMMIT_PAYLOAD_BYTES),
        at.log_offset + commit_log_len(writes)
    );
    Ok(())
}

/// The commit record of the commit placed at `at`, whose `pages` frames
/// end at `pos` with chained CRC `frames_crc`: its frame header goes into
/// `header`, its payload is returned.
fn commit_frame(
    db_id: u64,
    at: &Placement,
    pos: u64,
    pages: usize,
    frames_crc: u32,
    header: &mut [u8; FRAME_HEADER_BYTES],
) -> [u8; COMMIT_PAYLOAD_BYTES] {
    let payload = CommitPayload {
        first_frame_offset: at.log_offset,
        epoch: at.epoch,
        durable_hint: at.durable_hint,
        written_hint: at.written_hint,
        boot_tag: at.boot_tag,
        acks_written: at.acks_written,
        frames_crc,
    }
    .encode();
    FrameHeader {
        kind: FrameKind::Commit,
        log_offset: pos,
        commit_seq: at.seq,
        pgno: pages as u32,
        payload_len: COMMIT_PAYLOAD_BYTES as u32,
        payload_crc: crate::format::crc32c(&payload),
    }
    .encode(db_id, header);
    debug_assert!(
        CommitPayload::decode(&payload)
            .is_some_and(|c| c.frames_crc == frames_crc && c.first_frame_offset == at.log_offset),
        "commit {}: its record does not decode back",
        at.seq
    );
    payload
}

/// Zero padding after a payload of `len` bytes, to the frame alignment.
fn pad(buf: &mut Vec<u8>, len: usize) {
    let padded = align_up(len as u64) as usize;
    buf.resize(buf.len() + (padded - len), 0);
}

/// Log offset of the payload of each page frame, in page order.
pub fn payload_offsets(writes: &WriteSet, log_offset: u64) -> impl Iterator<Item = u64> + '_ {
    let mut pos = log_offset;
    writes.pages.values().map(move |w| {
        let here = pos + FRAME_HEADER_BYTES as u64;
        pos += frame_len(w.as_ref().map_or(0, |s| s.len as usize));
        here
    })
}

/// Staging buffers that committers encode into, one per lane: as many
/// commits encode at once as there are lanes (`lanes = 1` serializes
/// encoding). A committer takes a free lane, or waits for one.
pub struct Lanes {
    bufs: Vec<Mutex<Vec<u8>>>,
    next: AtomicU64,
}

impl Lanes {
    pub fn new(n: usize) -> Lanes {
        Lanes {
            bufs: (0..n.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
            next: AtomicU64::new(0),
        }
    }

    pub fn acquire(&self) -> crate::mutex::MutexGuard<'_, Vec<u8>> {
        let n = self.bufs.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) as usize % n;
        for i in 0..n {
            if let Some(g) = self.bufs[(start + i) % n].try_lock() {
                return g;
            }
        }
        self.bufs[start].lock()
    }
}

/// The header of a void frame at `log_offset` covering a payload of
/// `payload_len` bytes: it keeps the log continuous over the range of a
/// commit whose bytes could not be written. `commit_seq` is the seq it
/// stands in for (an empty commit), or the one before (padding).
pub fn void_frame(
    db_id: u64,
    log_offset: u64,
    commit_seq: CommitSeq,
    payload_len: u32,
) -> [u8; FRAME_HEADER_BYTES] {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    FrameHeader {
        kind: FrameKind::Void,
        log_offset,
        commit_seq,
        pgno: 0,
        payload_len,
        payload_crc: 0,
    }
    .encode(db_id, &mut header);
    header
}

/// The seal at `log_offset`, vouching for every commit up to `last_seq`.
pub fn seal_frame(db_id: u64, log_offset: u64, last_seq: CommitSeq) -> [u8; FRAME_HEADER_BYTES] {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    FrameHeader {
        kind: FrameKind::Seal,
        log_offset,
        commit_seq: last_seq,
        pgno: 0,
        payload_len: 0,
        payload_crc: crate::format::crc32c(&[]),
    }
    .encode(db_id, &mut header);
    header
}
