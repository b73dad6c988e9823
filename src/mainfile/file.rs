//! The main file of an open database: opening or creating it, reading
//! pages through the cache, checkpointing into free slots, and adopting
//! the header another process wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::mutex::RwLock;

use crate::error::{Error, Result};
use crate::format::{
    crc32c, MainHeader, MapEntry, MAIN_HEADER_BLOCK_BYTES, MAIN_HEADER_BYTES, MAP_ENTRY_BYTES,
};
use crate::pagecache::PageCache;
use crate::storage::{OpenMode, Storage, StorageFile};
use crate::types::{CommitSeq, Page, Pgno};

use super::batch::WriteBatch;
use super::free::{map_slot_count, slot_offset, take_slot, FreeRuns};
use super::map;

/// Suffix of the temporary file a new main file is built in.
pub const MAIN_TMP_SUFFIX: &str = "-main-tmp";

/// The durable state the current header describes, plus free space.
struct State {
    header: MainHeader,
    /// Which header copy (0 or 1) holds `header`.
    copy: u64,
    map: HashMap<Pgno, MapEntry>,
    free: FreeRuns,
}

/// A page image for a checkpoint to write, or a deletion.
pub enum CheckpointPage {
    Write(Page),
    Delete,
}

/// The main file of an open database.
pub struct MainFile {
    path: PathBuf,
    file: Box<dyn StorageFile>,
    page_size: u32,
    state: RwLock<State>,
    cache: PageCache,
}

impl MainFile {
    /// Opens the main file at `path`, creating a new database there when
    /// the file is missing or empty (unless `read_only`).
    ///
    /// The main file is synced whatever the log's sync mode: a checkpoint
    /// lets the log before it go, so its header must be on disk first, and
    /// a header is rare enough to cost nothing. For the same reason a
    /// writer makes the header it finds durable before acting on it (see
    /// [`MainFile::make_current_durable`]).
    pub fn open(
        storage: &Arc<dyn Storage>,
        path: &Path,
        page_size: u32,
        read_only: bool,
    ) -> Result<MainFile> {
        let exists = storage
            .exists(path)
            .map_err(|e| Error::io("stat main file", path, e))?;
        if !exists {
            if read_only {
                return Err(Error::io(
                    "open read-only",
                    path,
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                ));
            }
            require_parent_dir(storage.as_ref(), path)?;
        }
        let is_empty = exists
            && storage
                .open(path, OpenMode::ReadOnly)
                .and_then(|f| f.len())
                .map_err(|e| Error::io("stat main file", path, e))?
                == 0;
        let created = (!exists || is_empty) && !read_only;
        if created {
            Self::create(storage, path, page_size)?;
        }
        let mode = if read_only {
            OpenMode::ReadOnly
        } else {
            OpenMode::ReadWrite
        };
        let file = storage
            .open(path, mode)
            .map_err(|e| Error::io("open main file", path, e))?;
        let len = file
            .len()
            .map_err(|e| Error::io("stat main file", path, e))?;
        if len == 0 {
            return Err(Error::corrupt(format!(
                "{}: empty file is not a database",
                path.display()
            )));
        }
        let state = Self::load(file.as_ref(), path, len, u64::MAX)?;
        if state.header.page_size != page_size {
            return Err(Error::invalid(format!(
                "{}: page_size {page_size} does not match the database's {}",
                path.display(),
                state.header.page_size
            )));
        }
        let main = MainFile {
            path: path.to_path_buf(),
            file,
            page_size,
            state: RwLock::new(state),
            cache: PageCache::new(0),
        };
        if !read_only && !created {
            main.make_current_durable()?;
        }
        Ok(main)
    }

    /// Makes the current header durable before anything acts on it (a
    /// writer removes the log before its `log_start`). The header read may
    /// live only in the page cache: written by a process that died before
    /// its sync, or - after a failed write-back - marked clean without
    /// being on disk, so that a sync alone would not write it. Writing the
    /// same bytes again dirties the page, and identical bytes cannot tear.
    /// Only a holder of the writer lease (or of the database) calls this:
    /// no checkpoint writes the header copies meanwhile.
    pub fn make_current_durable(&self) -> Result<()> {
        let st = self.state.read();
        self.file
            .write_at(&st.header.encode(), st.copy * MAIN_HEADER_BLOCK_BYTES)
            .map_err(|e| Error::io("rewrite main header", &self.path, e))?;
        self.sync_file("sync main header")
    }

    /// Keeps up to about `bytes` of verified pages in memory.
    pub fn with_cache(mut self, bytes: u64) -> MainFile {
        self.cache = PageCache::new(bytes);
        self
    }

    /// The page size recorded in the database at `path` (for offline tools
    /// that do not know it).
    pub fn probe_page_size(storage: &Arc<dyn Storage>, path: &Path) -> Result<u32> {
        let file = storage
            .open(path, OpenMode::ReadOnly)
            .map_err(|e| Error::io("open main file", path, e))?;
        let len = file
            .len()
            .map_err(|e| Error::io("stat main file", path, e))?;
        Ok(Self::load(file.as_ref(), path, len, u64::MAX)?
            .header
            .page_size)
    }

    /// Builds a new, empty main file under a temporary name and renames
    /// it into place, so a crash never leaves a file at `path` without a
    /// valid header (which would never open again).
    fn create(storage: &Arc<dyn Storage>, path: &Path, page_size: u32) -> Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(MAIN_TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        let file = storage
            .open(&tmp, OpenMode::Create)
            .map_err(|e| Error::io("create main file", &tmp, e))?;
        file.set_len(0)
            .map_err(|e| Error::io("create main file", &tmp, e))?;
        Self::initialize(file.as_ref(), &tmp, page_size)?;
        drop(file);
        storage
            .rename(&tmp, path)
            .map_err(|e| Error::io("rename new main file", path, e))?;
        let dir = crate::storage::parent_dir(path);
        storage
            .sync_dir(&dir)
            .map_err(|e| Error::io("sync directory", &dir, e))
    }

    fn initialize(file: &dyn StorageFile, path: &Path, page_size: u32) -> Result<State> {
        let header = MainHeader {
            page_size,
            generation: 1,
            db_id: new_db_id(path),
            checkpoint_seq: 0,
            log_start: 0,
            slot_count: 0,
            map_slot: 0,
            map_entries: 0,
            map_crc: crc32c(&[]),
        };
        let mut block = vec![0u8; (MAIN_HEADER_BLOCK_BYTES * 2) as usize];
        block[..MAIN_HEADER_BYTES].copy_from_slice(&header.encode());
        let io = |e| Error::io("initialize main file", path, e);
        file.write_at(&block, 0).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(State {
            header,
            copy: 0,
            map: HashMap::new(),
            free: FreeRuns::default(),
        })
    }

    /// Loads the state of the newest valid header copy whose generation is
    /// at most `max_generation`.
    fn load(file: &dyn StorageFile, path: &Path, len: u64, max_generation: u64) -> Result<State> {
        let not_db = || Error::corrupt(format!("{}: not a libcommit database", path.display()));
        if len < MAIN_HEADER_BYTES as u64 {
            return Err(not_db());
        }
        let mut best: Option<(MainHeader, u64)> = None;
        let mut reasons = Vec::new();
        for copy in 0..2u64 {
            let mut buf = [0u8; MAIN_HEADER_BYTES];
            let off = copy * MAIN_HEADER_BLOCK_BYTES;
            if off + MAIN_HEADER_BYTES as u64 > len {
                continue;
            }
            file.read_at(&mut buf, off)
                .map_err(|e| Error::io("read main header", path, e))?;
            match MainHeader::decode(&buf) {
                Ok(h) if h.generation > max_generation => {}
                Ok(h) if best.is_none_or(|(b, _)| h.generation > b.generation) => {
                    best = Some((h, copy));
                }
                Ok(_) => {}
                Err(why) => reasons.push(format!("copy {copy}: {why}")),
            }
        }
        let Some((header, copy)) = best else {
            // No valid copy: a foreign file, or a database with both headers
            // damaged. Either way, touch nothing.
            return Err(if reasons.iter().all(|r| r.contains("magic")) {
                not_db()
            } else {
                Error::corrupt(format!(
                    "{}: both main-file headers are damaged ({})",
                    path.display(),
                    reasons.join("; ")
                ))
            });
        };
        let (map, free) = map::load(file, path, &header)?;
        Ok(State {
            header,
            copy,
            map,
            free,
        })
    }

    /// The generation of the newest valid header on disk (another process
    /// may have checkpointed); 0 when neither copy reads back valid.
    pub fn disk_generation(&self) -> Result<u64> {
        let mut best = 0;
        for copy in 0..2u64 {
            let mut buf = [0u8; MAIN_HEADER_BYTES];
            match self.file.read_at(&mut buf, copy * MAIN_HEADER_BLOCK_BYTES) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => continue,
                Err(e) => return Err(Error::io("read main header", &self.path, e)),
            }
            if let Ok(h) = MainHeader::decode(&buf) {
                best = best.max(h.generation);
            }
        }
        Ok(best)
    }

    /// Loads the state another process's checkpoint left on disk, if it is
    /// newer than ours; returns its header then. A checkpoint running in
    /// another process meanwhile can make what we read inconsistent: that
    /// shows as a checksum error, and the caller retries.
    ///
    /// Only generations up to `max_generation` are taken: a newer header
    /// on disk may belong to a checkpoint still running, or to one whose
    /// maker died before syncing it - nothing to act on unless made
    /// durable first ([`MainFile::make_current_durable`]).
    pub fn reload(&self, max_generation: u64) -> Result<Option<MainHeader>> {
        let len = self
            .file
            .len()
            .map_err(|e| Error::io("stat main file", &self.path, e))?;
        let fresh = Self::load(self.file.as_ref(), &self.path, len, max_generation)?;
        let mut st = self.state.write();
        if fresh.header.generation <= st.header.generation {
            return Ok(None);
        }
        *st = fresh;
        Ok(Some(st.header))
    }

    pub fn header(&self) -> MainHeader {
        self.state.read().header
    }

    /// Checkpointed page numbers, sorted.
    pub fn pgnos(&self) -> Vec<Pgno> {
        let mut v: Vec<Pgno> = self.state.read().map.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Checkpointed pages.
    pub fn page_count(&self) -> u64 {
        self.state.read().map.len() as u64
    }

    /// Where `pgno`'s image lies in the file.
    pub fn slot_offset_of(&self, pgno: Pgno) -> Option<u64> {
        let st = self.state.read();
        st.map
            .get(&pgno)
            .map(|e| slot_offset(e.slot, self.page_size))
    }

    /// Reads the checkpointed image of `pgno`, verified.
    pub fn read(&self, pgno: Pgno) -> Result<Option<Page>> {
        // Hold the state shared across the read so a checkpoint cannot free
        // and reuse the slot under us.
        let st = self.state.read();
        let Some(e) = st.map.get(&pgno).copied() else {
            return Ok(None);
        };
        let generation = st.header.generation;
        if let Some(p) = self.cache.get(pgno, generation) {
            return Ok(Some(p));
        }
        let mut buf = vec![0u8; e.len as usize];
        self.file
            .read_at(&mut buf, slot_offset(e.slot, self.page_size))
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::corrupt(format!(
                    "{}: page {pgno} lies past the end of the file",
                    self.path.display()
                )),
                _ => Error::io(&format!("read page {pgno} from"), &self.path, err),
            })?;
        if crc32c(&buf) != e.crc {
            return Err(Error::corrupt(format!(
                "{}: checksum mismatch on page {pgno}",
                self.path.display()
            )));
        }
        let page = Page::from(buf);
        self.cache.insert(pgno, generation, &page);
        Ok(Some(page))
    }

    /// Applies a checkpoint: `pages` (sorted by pgno, each page at most
    /// once) become the main file's content as of `checkpoint_seq`, and
    /// replay will start at `log_start`. Returns the images written.
    /// `fetch` turns a log-resident image into bytes.
    pub fn checkpoint(
        &self,
        pages: impl Iterator<Item = Result<(Pgno, CheckpointPage)>>,
        checkpoint_seq: CommitSeq,
        log_start: u64,
    ) -> Result<u64> {
        // Only checkpoints write the state, and the engine runs one at a
        // time; readers keep using the old state until the swap.
        let (old_header, mut draft, copy) = {
            let st = self.state.read();
            let draft = Draft {
                map: st.map.clone(),
                free: FreeRuns {
                    runs: st.free.runs.clone(),
                },
                slot_count: st.header.slot_count,
                newly_used: Vec::new(),
                to_free: Vec::new(),
            };
            (st.header, draft, st.copy ^ 1)
        };
        let written = self.write_pages(pages, &mut draft)?;
        let (map_slot, map_slots, map_entries, map_crc) = self.write_map(&mut draft)?;
        self.sync_file("sync main file")?;
        let header = MainHeader {
            page_size: self.page_size,
            generation: old_header.generation + 1,
            db_id: old_header.db_id,
            checkpoint_seq,
            log_start,
            slot_count: draft.slot_count,
            map_slot,
            map_entries,
            map_crc,
        };
        // Never the copy the current header is in: a torn write leaves it.
        debug_assert_ne!(copy, self.state.read().copy);
        self.file
            .write_at(&header.encode(), copy * MAIN_HEADER_BLOCK_BYTES)
            .map_err(|e| Error::io("write main header", &self.path, e))?;
        self.sync_file("sync main header")?;
        // Durable: swap in the new state and free what the old one used.
        let mut st = self.state.write();
        let old_map_slots = map_slot_count(st.header.map_entries, self.page_size);
        let mut free = std::mem::take(&mut st.free);
        for s in &draft.newly_used {
            take_slot(&mut free, *s);
        }
        for s in map_slot..map_slot + map_slots {
            take_slot(&mut free, s);
        }
        for s in draft.to_free {
            free.free(s, 1);
        }
        free.free(st.header.map_slot, old_map_slots);
        st.free = free;
        st.header = header;
        st.copy = copy;
        st.map = draft.map;
        Ok(written)
    }

    /// Writes the checkpoint's images into free slots (never one the
    /// current header reaches) and updates the draft map; returns how many.
    fn write_pages(
        &self,
        pages: impl Iterator<Item = Result<(Pgno, CheckpointPage)>>,
        draft: &mut Draft,
    ) -> Result<u64> {
        let mut batch = WriteBatch::new(&*self.file, &self.path, self.page_size);
        let mut written = 0u64;
        for item in pages {
            let (pgno, page) = item?;
            let image = match page {
                CheckpointPage::Delete => {
                    if let Some(old) = draft.map.remove(&pgno) {
                        draft.to_free.push(old.slot);
                    }
                    continue;
                }
                CheckpointPage::Write(image) => image,
            };
            assert!(
                image.len() <= self.page_size as usize,
                "page {pgno}: image larger than a page"
            );
            let slot = draft.take_slots(1);
            draft.newly_used.push(slot);
            let entry = MapEntry {
                pgno,
                len: image.len() as u32,
                slot,
                crc: crc32c(&image),
            };
            if let Some(old) = draft.map.insert(pgno, entry) {
                draft.to_free.push(old.slot);
            }
            batch.push(slot, image)?;
            written += 1;
        }
        batch.flush()?;
        Ok(written)
    }

    /// Writes the draft's page map into a fresh run of slots: (first slot,
    /// slots, entries, CRC) for the new header.
    fn write_map(&self, draft: &mut Draft) -> Result<(u64, u64, u64, u32)> {
        let mut entries: Vec<MapEntry> = draft.map.values().copied().collect();
        entries.sort_unstable_by_key(|e| e.pgno);
        let mut map_bytes = vec![0u8; entries.len() * MAP_ENTRY_BYTES];
        for (e, out) in entries
            .iter()
            .zip(map_bytes.chunks_exact_mut(MAP_ENTRY_BYTES))
        {
            e.encode_into(out);
        }
        let map_slots = map_slot_count(entries.len() as u64, self.page_size);
        let map_slot = if map_slots == 0 {
            0
        } else {
            draft.take_slots(map_slots)
        };
        if !map_bytes.is_empty() {
            self.file
                .write_at(&map_bytes, slot_offset(map_slot, self.page_size))
                .map_err(|e| Error::io("write page map", &self.path, e))?;
        }
        Ok((
            map_slot,
            map_slots,
            entries.len() as u64,
            crc32c(&map_bytes),
        ))
    }

    fn sync_file(&self, what: &str) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(what, &self.path, e))
    }
}

/// Fails with an I/O error (NotFound) when the directory `path` would
/// live in does not exist: a database is never created by making one.
pub fn require_parent_dir(storage: &dyn Storage, path: &Path) -> Result<()> {
    let dir = crate::storage::parent_dir(path);
    if storage
        .dir_exists(&dir)
        .map_err(|e| Error::io("stat directory", &dir, e))?
    {
        return Ok(());
    }
    Err(Error::io(
        "open database",
        path,
        std::io::Error::new(std::io::ErrorKind::NotFound, "directory does not exist"),
    ))
}

/// A database id unlikely to repeat: time, pid, address entropy and path,
/// mixed. It only needs to differ between databases whose files might be
/// mixed up, not to be secret.
fn new_db_id(path: &Path) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    path.hash(&mut h);
    std::process::id().hash(&mut h);
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .hash(&mut h);
    h.finish() | 1
}

/// The state a checkpoint builds before its header makes it current.
struct Draft {
    map: HashMap<Pgno, MapEntry>,
    /// Slots free in both the old state and this draft.
    free: FreeRuns,
    slot_count: u64,
    /// Slots this checkpoint wrote.
    newly_used: Vec<u64>,
    /// Slots the old state used that the new one does not.
    to_free: Vec<u64>,
}

impl Draft {
    /// `n` contiguous free slots, past the end of the file if need be.
    fn take_slots(&mut self, n: u64) -> u64 {
        self.free.take(n).unwrap_or_else(|| {
            self.slot_count += n;
            self.slot_count - n
        })
    }
}
