//! A snapshot's image, fetched and checked: its digest and size against
//! the marker, and the main-file header inside it against the marker's
//! checkpoint seq.

use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{MainHeader, MAIN_HEADER_BLOCK_BYTES, MAIN_HEADER_BYTES};
use crate::replica::{self, Snapshot, Store};
use crate::storage::{parent_dir, OpenMode, Storage};

/// The bytes that hold both main-file header copies.
const HEADS_BYTES: usize = 2 * MAIN_HEADER_BLOCK_BYTES as usize;

/// Streams the image of `snap` to `sink` and checks it; an error names
/// the image (or the marker) when anything disagrees.
pub(super) fn fetch(
    store: &Store,
    snap: &Snapshot,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let mut head = Vec::with_capacity(HEADS_BYTES);
    let got = replica::fetch_image(store, snap, |piece| {
        let want = HEADS_BYTES.saturating_sub(head.len()).min(piece.len());
        head.extend_from_slice(&piece[..want]);
        sink(piece)
    })?;
    let newest = (0..2usize)
        .filter_map(|copy| {
            let at = copy * MAIN_HEADER_BLOCK_BYTES as usize;
            head.get(at..at + MAIN_HEADER_BYTES)
                .and_then(|b| MainHeader::decode(b).ok())
        })
        .max_by_key(|h| h.generation);
    match newest {
        Some(h) if h.checkpoint_seq == snap.seq() && h.page_size == snap.header.page_size => {
            Ok(got)
        }
        _ => Err(Error::corrupt(format!(
            "replica snapshot {}: the image holds no main-file header at commit {}",
            snap.image_name(),
            snap.seq()
        ))),
    }
}

/// Writes the image of `snap` as the main file `dest` (which must not
/// exist) and makes it durable; on any error `dest` is removed again.
pub(super) fn write_main(
    storage: &dyn Storage,
    store: &Store,
    snap: &Snapshot,
    dest: &Path,
) -> Result<u64> {
    let file = storage
        .open(dest, OpenMode::CreateNew)
        .map_err(|e| Error::io("create restored main file", dest, e))?;
    let mut at = 0u64;
    let written = fetch(store, snap, |piece| {
        file.write_at(piece, at)
            .map_err(|e| Error::io("write restored main file", dest, e))?;
        at += piece.len() as u64;
        Ok(())
    })
    .and_then(|n| {
        file.sync_all()
            .map_err(|e| Error::io("sync restored main file", dest, e))?;
        storage
            .sync_dir(&parent_dir(dest))
            .map_err(|e| Error::io("sync directory of", dest, e))?;
        Ok(n)
    });
    if written.is_err() {
        drop(file);
        // What was written is not a database; the error says why.
        let _ = storage.remove(dest);
    }
    written
}
