//! Free slots of the main file, kept as runs (start -> length), and where
//! a slot lies in the file.

use std::collections::BTreeMap;

use crate::format::{MAIN_SLOTS_OFFSET, MAP_ENTRY_BYTES};

/// Free slots as runs: start -> length.
#[derive(Default, Debug)]
pub(super) struct FreeRuns {
    pub(super) runs: BTreeMap<u64, u64>,
}

impl FreeRuns {
    pub(super) fn free(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let (mut start, mut len) = (start, len);
        if let Some((&s, &l)) = self.runs.range(..start).next_back() {
            debug_assert!(s + l <= start, "slot freed twice");
            if s + l == start {
                self.runs.remove(&s);
                start = s;
                len += l;
            }
        }
        if let Some(&l) = self.runs.get(&(start + len)) {
            self.runs.remove(&(start + len));
            len += l;
        }
        self.runs.insert(start, len);
    }

    /// First fit of `n` contiguous slots.
    pub(super) fn take(&mut self, n: u64) -> Option<u64> {
        let (&s, &l) = self.runs.iter().find(|(_, &l)| l >= n)?;
        self.runs.remove(&s);
        if l > n {
            self.runs.insert(s + n, l - n);
        }
        Some(s)
    }
}

/// Removes one slot from the free runs (it may or may not be in them:
/// slots past the old high-water mark never were).
pub(super) fn take_slot(free: &mut FreeRuns, slot: u64) {
    let Some((&s, &l)) = free.runs.range(..=slot).next_back() else {
        return;
    };
    if slot >= s + l {
        return;
    }
    free.runs.remove(&s);
    if slot > s {
        free.runs.insert(s, slot - s);
    }
    if slot + 1 < s + l {
        free.runs.insert(slot + 1, s + l - slot - 1);
    }
}

pub(super) fn slot_offset(slot: u64, page_size: u32) -> u64 {
    MAIN_SLOTS_OFFSET + slot * u64::from(page_size)
}

pub(super) fn map_slot_count(entries: u64, page_size: u32) -> u64 {
    (entries * MAP_ENTRY_BYTES as u64).div_ceil(u64::from(page_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_runs_coalesce_and_first_fit() {
        let mut f = FreeRuns::default();
        f.free(5, 1);
        f.free(3, 2);
        f.free(6, 2);
        assert_eq!(f.runs.len(), 1);
        assert_eq!(f.take(4), Some(3));
        assert_eq!(f.take(2), None);
        assert_eq!(f.take(1), Some(7));
        take_slot(&mut f, 100);
        assert!(f.runs.is_empty());
    }
}
