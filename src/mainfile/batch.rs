//! Checkpoint writes: images gathered into contiguous slot runs and
//! written in large pieces, with write-behind so the final sync is short.

use std::path::Path;

use crate::error::{Error, Result};
use crate::storage::WRITE_BEHIND_STEP_BYTES;
use crate::types::Page;

use super::free::slot_offset;
use crate::storage::StorageFile;

/// Upper bound on bytes gathered into one write during a checkpoint: one
/// write-behind step.
const CHECKPOINT_WRITE_MAX_BYTES: usize = WRITE_BEHIND_STEP_BYTES;

/// Images gathered into contiguous slot runs, written in large pieces.
pub(super) struct WriteBatch<'a> {
    file: &'a dyn StorageFile,
    path: &'a Path,
    page_size: u32,
    start_slot: u64,
    bytes: Vec<u8>,
    slots: u64,
    /// Bytes written since the last write-behind.
    unpaced: usize,
}

impl<'a> WriteBatch<'a> {
    pub(super) fn new(file: &'a dyn StorageFile, path: &'a Path, page_size: u32) -> Self {
        WriteBatch {
            file,
            path,
            page_size,
            start_slot: 0,
            bytes: Vec::new(),
            slots: 0,
            unpaced: 0,
        }
    }

    pub(super) fn push(&mut self, slot: u64, image: Page) -> Result<()> {
        let ps = self.page_size as usize;
        if self.slots > 0
            && (slot != self.start_slot + self.slots
                || self.bytes.len() >= CHECKPOINT_WRITE_MAX_BYTES)
        {
            self.flush()?;
        }
        if self.slots == 0 {
            self.start_slot = slot;
        }
        // Copy the image, then zero only the rest of the slot.
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&image);
        self.bytes.resize(at + ps, 0);
        self.slots += 1;
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<()> {
        if self.slots == 0 {
            return Ok(());
        }
        self.file
            .write_at(&self.bytes, slot_offset(self.start_slot, self.page_size))
            .map_err(|e| Error::io("write checkpoint pages", self.path, e))?;
        self.unpaced += self.bytes.len();
        self.bytes.clear();
        self.slots = 0;
        if self.unpaced >= WRITE_BEHIND_STEP_BYTES {
            self.file
                .write_behind()
                .map_err(|e| Error::io("write out checkpoint pages", self.path, e))?;
            self.unpaced = 0;
        }
        Ok(())
    }
}
