//! Sequence: the short serialized section of a commit.
//!
//! Under one mutex it validates first-committer-wins against the page ->
//! last commit_seq index, allocates the next commit_seq and reserves the
//! commit's byte range in the log. It touches no page bytes and does no
//! I/O: callers stage before and write after.

use std::collections::HashMap;

use crate::types::{CommitSeq, Pgno};

/// The coordinator's state, kept under the engine's sequencer mutex.
pub struct Sequencer {
    next_seq: CommitSeq,
    /// Next free logical log offset.
    tail: u64,
    /// Last commit_seq that wrote each page, for commits a live or future
    /// snapshot could conflict with.
    last_writer: HashMap<Pgno, CommitSeq>,
}

/// The previous writer of each page a commit wrote.
pub type Undo = Vec<(Pgno, Option<CommitSeq>)>;

/// The outcome of sequencing a commit.
#[derive(Debug, PartialEq, Eq)]
pub enum Sequenced {
    /// Placed: `seq` owns `[log_offset, log_offset + len)`. `undo` holds
    /// each written page's previous writer, for [`Sequencer::undo`].
    Placed {
        seq: CommitSeq,
        log_offset: u64,
        undo: Undo,
    },
    /// Pages written after the snapshot; `newest` is the newest such commit.
    Conflict { pages: Vec<Pgno>, newest: CommitSeq },
    /// The log has no prepared space up to `end`; prepare it and retry.
    NeedSpace { end: u64 },
}

impl Sequencer {
    /// A sequencer whose next commit is `last_seq + 1`, placed at `tail`.
    pub fn new(last_seq: CommitSeq, tail: u64) -> Sequencer {
        Sequencer {
            next_seq: last_seq + 1,
            tail,
            last_writer: HashMap::new(),
        }
    }

    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// Validates and places a commit. `snapshot` is `None` for a blind
    /// batch. `checked` are the pages to validate (write set, plus read set
    /// under SERIALIZABLE); `written` the pages the commit writes.
    pub fn sequence<'a>(
        &mut self,
        snapshot: Option<CommitSeq>,
        checked: impl Iterator<Item = Pgno>,
        written: impl Iterator<Item = &'a Pgno> + Clone,
        len: u64,
        prepared_end: u64,
    ) -> Sequenced {
        if let Some(snap) = snapshot {
            if let Some((pages, newest)) = self.conflicts(snap, checked) {
                return Sequenced::Conflict { pages, newest };
            }
        }
        let end = self.tail + len;
        if end > prepared_end {
            return Sequenced::NeedSpace { end };
        }
        let seq = self.next_seq;
        let log_offset = self.tail;
        self.next_seq += 1;
        self.tail = end;
        let undo = written
            .map(|&pgno| (pgno, self.last_writer.insert(pgno, seq)))
            .collect();
        debug_assert!(log_offset % crate::format::FRAME_ALIGN_BYTES == 0);
        Sequenced::Placed {
            seq,
            log_offset,
            undo,
        }
    }

    /// Commit `seq` failed before any of its bytes counted: its index
    /// entries go, and when no later commit has been numbered yet the seq
    /// itself is handed to the next commit (true), keeping commit_seq
    /// dense. Its log range stays used.
    pub fn abandon(&mut self, seq: CommitSeq, undo: Undo) -> bool {
        self.undo(seq, undo);
        if self.next_seq == seq + 1 {
            self.next_seq = seq;
            return true;
        }
        false
    }

    /// Takes back the conflict-index entries of commit `seq`, which never
    /// happened (its write failed and its range was voided), so that it
    /// causes no conflicts. Pages a later commit wrote keep that writer.
    pub fn undo(&mut self, seq: CommitSeq, undo: Undo) {
        for (pgno, prev) in undo {
            if self.last_writer.get(&pgno) == Some(&seq) {
                match prev {
                    Some(p) => self.last_writer.insert(pgno, p),
                    None => self.last_writer.remove(&pgno),
                };
            }
        }
    }

    /// Continues after commits another process made: the next commit is
    /// `last_seq + 1`, placed at `tail`.
    pub fn adopt(&mut self, last_seq: CommitSeq, tail: u64) {
        assert!(
            last_seq + 1 >= self.next_seq && tail >= self.tail,
            "the log went backwards: commit {last_seq} at {tail} after {} at {}",
            self.next_seq - 1,
            self.tail
        );
        self.next_seq = last_seq + 1;
        self.tail = tail;
    }

    /// Records that commit `seq` wrote `pgno` (rebuilding the index from
    /// recovered commits, which arrive in seq order).
    pub fn note_writer(&mut self, pgno: Pgno, seq: CommitSeq) {
        let e = self.last_writer.entry(pgno).or_insert(seq);
        *e = (*e).max(seq);
    }

    /// The last commit_seq handed out.
    pub fn next_seq_hint(&self) -> CommitSeq {
        self.next_seq - 1
    }

    /// The pages among `checked` written after `snapshot`, and the newest
    /// such commit; `None` when there are none.
    pub fn conflicts(
        &self,
        snapshot: CommitSeq,
        checked: impl Iterator<Item = Pgno>,
    ) -> Option<(Vec<Pgno>, CommitSeq)> {
        let mut pages = Vec::new();
        let mut newest = 0;
        for pgno in checked {
            if let Some(&seq) = self.last_writer.get(&pgno) {
                if seq > snapshot {
                    pages.push(pgno);
                    newest = newest.max(seq);
                }
            }
        }
        if pages.is_empty() {
            return None;
        }
        pages.sort_unstable();
        pages.dedup();
        Some((pages, newest))
    }

    /// Reserves `len` log bytes for a seal (no commit_seq); returns its
    /// offset and the last commit_seq, or `None` when the log needs space.
    pub fn reserve_seal(&mut self, len: u64, prepared_end: u64) -> Option<(u64, CommitSeq)> {
        let end = self.tail + len;
        if end > prepared_end {
            return None;
        }
        let at = self.tail;
        self.tail = end;
        Some((at, self.next_seq - 1))
    }

    /// Forgets writers no snapshot that can still commit is older than:
    /// every live or future snapshot is >= `oldest_snapshot`.
    pub fn prune(&mut self, oldest_snapshot: CommitSeq) {
        self.last_writer.retain(|_, seq| *seq > oldest_snapshot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::many_single_char_names)] // commits a, b, c, ...
    fn first_committer_wins_and_seqs_are_dense() {
        let mut s = Sequencer::new(0, 0);
        let p = [1u32, 2];
        let a = s.sequence(Some(0), p.iter().copied(), p.iter(), 100, 1000);
        assert_eq!(
            a,
            Sequenced::Placed {
                seq: 1,
                log_offset: 0,
                undo: vec![(1, None), (2, None)],
            }
        );
        // A transaction that also started at snapshot 0 and writes page 2 loses.
        let q = [2u32, 3];
        let b = s.sequence(Some(0), q.iter().copied(), q.iter(), 100, 1000);
        assert_eq!(
            b,
            Sequenced::Conflict {
                pages: vec![2],
                newest: 1
            }
        );
        // Its retry at snapshot 1 wins and gets the next number.
        let c = s.sequence(Some(1), q.iter().copied(), q.iter(), 100, 1000);
        assert_eq!(
            c,
            Sequenced::Placed {
                seq: 2,
                log_offset: 100,
                undo: vec![(2, Some(1)), (3, None)],
            }
        );
        // Blind writes never conflict.
        let d = s.sequence(None, q.iter().copied(), q.iter(), 100, 1000);
        assert_eq!(
            d,
            Sequenced::Placed {
                seq: 3,
                log_offset: 200,
                undo: vec![(2, Some(2)), (3, Some(2))],
            }
        );
        // No space: nothing allocated.
        let e = s.sequence(None, q.iter().copied(), q.iter(), 900, 1000);
        assert_eq!(e, Sequenced::NeedSpace { end: 1200 });
        assert_eq!(s.next_seq, 4);
        // Commit 4 fails and is voided: its index entries are taken back.
        let r = [9u32];
        let Sequenced::Placed { seq, undo, .. } =
            s.sequence(None, r.iter().copied(), r.iter(), 8, 1000)
        else {
            panic!("placed");
        };
        s.undo(seq, undo);
        assert_eq!(
            s.conflicts(0, r.iter().copied()),
            None,
            "a voided commit conflicts with nothing"
        );
        s.prune(3);
        let f = s.sequence(Some(0), q.iter().copied(), q.iter(), 8, 1000);
        assert!(
            matches!(f, Sequenced::Placed { seq: 5, .. }),
            "pruned index forgets old writers"
        );
    }

    #[test]
    fn the_index_rebuilt_from_recovered_commits_validates_old_snapshots() {
        // Recovered: commit 5 wrote page 7, commit 8 wrote pages 7 and 9.
        let mut s = Sequencer::new(8, 4096);
        for (pgno, seq) in [(7, 5), (7, 8), (9, 8)] {
            s.note_writer(pgno, seq);
        }
        assert_eq!(
            s.conflicts(6, [7u32, 9, 10].into_iter()),
            Some((vec![7, 9], 8))
        );
        assert_eq!(s.conflicts(8, [7u32, 9].into_iter()), None);
    }
}
