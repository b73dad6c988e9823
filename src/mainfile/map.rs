//! Loading the page map a main header names, with every size the header
//! gives bounded by what the file holds before it sizes anything: the
//! header's extent is checked against the file's length, the map is read
//! and checked in bounded pieces, and the free slots are derived from the
//! used ones (memory follows the map, not `slot_count`).

use std::collections::HashMap;
use std::path::Path;

use super::free::{map_slot_count, slot_offset, FreeRuns};
use crate::error::{Error, Result};
use crate::format::{crc32c_append, MainHeader, MapEntry, MAIN_SLOTS_OFFSET, MAP_ENTRY_BYTES};
use crate::storage::StorageFile;
use crate::types::Pgno;

/// Page-map entries read (and checked) at a time: what `map_entries`
/// claims never sizes an allocation by itself.
const MAP_READ_CHUNK_ENTRIES: usize = 1 << 16;

/// The page map and free slots of header `h`, just read from `file`.
pub(super) fn load(
    file: &dyn StorageFile,
    path: &Path,
    h: &MainHeader,
) -> Result<(HashMap<Pgno, MapEntry>, FreeRuns)> {
    // Stat after reading the header: a checkpoint of another process may
    // have grown the file meanwhile, but only before writing the header.
    let len = file
        .len()
        .map_err(|e| Error::io("stat main file", path, e))?;
    check_extent(h, len, path)?;
    let map = read(file, path, h)?;
    let free = free_slots(h, &map, path)?;
    Ok((map, free))
}

/// Bounds what header `h` names by what the file (`len` bytes) holds. A
/// checkpoint writes every slot below its `slot_count` before the header
/// naming it - in full, except the map's last slot, which ends where the
/// map does - and the file never shrinks: in a file that header came from,
/// every slot below `slot_count` starts inside the file, and the map ends
/// inside it.
fn check_extent(h: &MainHeader, len: u64, path: &Path) -> Result<()> {
    let slot_bytes = len.saturating_sub(MAIN_SLOTS_OFFSET);
    let slots_held = slot_bytes.div_ceil(u64::from(h.page_size));
    if h.slot_count > slots_held {
        return Err(Error::corrupt(format!(
            "{}: header names {} slots, the file holds {slots_held}",
            path.display(),
            h.slot_count
        )));
    }
    // No overflow: map_slot <= slot_count <= slots_held, and the map fits
    // its slots (MainHeader::decode).
    let map_end = slot_offset(h.map_slot, h.page_size) + h.map_entries * MAP_ENTRY_BYTES as u64;
    if h.map_entries > 0 && map_end > len {
        return Err(Error::corrupt(format!(
            "{}: page map ends at byte {map_end}, past the end of the file ({len})",
            path.display()
        )));
    }
    Ok(())
}

/// Reads the page map in bounded pieces, checking its checksum and each
/// entry.
fn read(file: &dyn StorageFile, path: &Path, h: &MainHeader) -> Result<HashMap<Pgno, MapEntry>> {
    let entries_per_chunk = MAP_READ_CHUNK_ENTRIES.min(h.map_entries as usize);
    let mut chunk = vec![0u8; entries_per_chunk * MAP_ENTRY_BYTES];
    let mut map = HashMap::with_capacity(entries_per_chunk);
    let mut crc = 0;
    // A bad entry is reported only once the checksum has matched, so
    // damaged bytes read as a checksum mismatch.
    let mut bad_entry: Option<Error> = None;
    let mut at = slot_offset(h.map_slot, h.page_size);
    let mut left = h.map_entries;
    while left > 0 {
        let n = left.min(entries_per_chunk as u64) as usize;
        let bytes = &mut chunk[..n * MAP_ENTRY_BYTES];
        file.read_at(bytes, at).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                Error::corrupt(format!("{}: page map truncated", path.display()))
            }
            _ => Error::io("read page map", path, e),
        })?;
        crc = crc32c_append(crc, bytes);
        for raw in bytes.chunks_exact(MAP_ENTRY_BYTES) {
            if bad_entry.is_some() {
                break;
            }
            bad_entry = match MapEntry::decode(raw) {
                None => Some(Error::corrupt(format!(
                    "{}: bad page map entry",
                    path.display()
                ))),
                Some(e) => map.insert(e.pgno, e).map(|_| {
                    Error::corrupt(format!(
                        "{}: page {} appears twice in the page map",
                        path.display(),
                        e.pgno
                    ))
                }),
            };
        }
        at += bytes.len() as u64;
        left -= n as u64;
    }
    if crc != h.map_crc {
        return Err(Error::corrupt(format!(
            "{}: page map checksum mismatch",
            path.display()
        )));
    }
    match bad_entry {
        Some(e) => Err(e),
        None => Ok(map),
    }
}

/// The free slots of header `h` with page map `map`: those below
/// `slot_count` that no entry and not the map uses.
fn free_slots(h: &MainHeader, map: &HashMap<Pgno, MapEntry>, path: &Path) -> Result<FreeRuns> {
    let invalid = |pgno: Pgno| {
        Error::corrupt(format!(
            "{}: page map entry for page {pgno} is invalid",
            path.display()
        ))
    };
    let mut entries: Vec<(u64, Pgno)> = Vec::with_capacity(map.len());
    for e in map.values() {
        if e.slot >= h.slot_count || e.len > h.page_size {
            return Err(invalid(e.pgno));
        }
        entries.push((e.slot, e.pgno));
    }
    entries.sort_unstable();
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(invalid(w[1].1));
    }
    // Used runs [start, end): each entry's slot, and the map's run (which
    // an entry may overlap, as before: that entry's image then fails its
    // checksum when read).
    let mut used: Vec<(u64, u64)> = entries.iter().map(|&(s, _)| (s, s + 1)).collect();
    used.push((
        h.map_slot,
        h.map_slot + map_slot_count(h.map_entries, h.page_size),
    ));
    used.sort_unstable();
    let mut free = FreeRuns::default();
    let mut next = 0;
    for (start, end) in used.into_iter().chain([(h.slot_count, h.slot_count)]) {
        if start > next {
            free.free(next, start - next);
        }
        next = next.max(end);
    }
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(slot_count: u64, map_slot: u64, map_entries: u64) -> MainHeader {
        MainHeader {
            page_size: 512,
            generation: 1,
            db_id: 1,
            checkpoint_seq: 0,
            log_start: 0,
            slot_count,
            map_slot,
            map_entries,
            map_crc: 0,
        }
    }

    fn entry(pgno: Pgno, slot: u64) -> (Pgno, MapEntry) {
        let e = MapEntry {
            pgno,
            len: 10,
            slot,
            crc: 0,
        };
        (pgno, e)
    }

    #[test]
    fn free_slots_are_the_gaps_below_the_high_water_mark() {
        // Slots 0..12: entries in 1, 2 and 7, the map (30 entries = 2 slots)
        // in 4..6; free: 0, 3, 6, 8..12.
        let map: HashMap<Pgno, MapEntry> = [entry(5, 1), entry(6, 2), entry(9, 7)].into();
        let free = free_slots(&header(12, 4, 30), &map, Path::new("db")).unwrap();
        let runs: Vec<(u64, u64)> = free.runs.into_iter().collect();
        assert_eq!(runs, vec![(0, 1), (3, 1), (6, 1), (8, 4)]);
        let twice: HashMap<Pgno, MapEntry> = [entry(5, 1), entry(6, 1)].into();
        assert!(free_slots(&header(12, 4, 30), &twice, Path::new("db")).is_err());
        let past: HashMap<Pgno, MapEntry> = [entry(5, 12)].into();
        assert!(free_slots(&header(12, 4, 30), &past, Path::new("db")).is_err());
    }

    #[test]
    fn the_header_may_name_only_what_the_file_holds() {
        let path = Path::new("db");
        let slots = |n: u64| MAIN_SLOTS_OFFSET + n * 512;
        // 3 slots, the map's 24 bytes at the start of the last one.
        let h = header(3, 2, 1);
        assert!(check_extent(&h, slots(2) + 24, path).is_ok());
        assert!(check_extent(&h, slots(2) + 23, path).is_err(), "map cut");
        assert!(check_extent(&h, slots(2), path).is_err(), "slot 2 missing");
        assert!(check_extent(&header(0, 0, 0), MAIN_SLOTS_OFFSET, path).is_ok());
        assert!(check_extent(&header(u64::MAX, 0, 0), slots(1), path).is_err());
    }
}
